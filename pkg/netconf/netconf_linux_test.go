package netconf

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/sysfs"
)

func TestAllInSysfs(t *testing.T) {
	sys := sysfs.FS{Root: t.TempDir()}
	dir := filepath.Join(sys.Root, "class", "net")
	for _, n := range []string{"eth0", "eth1"} {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "eth0", "device"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		want  bool
	}{
		{[]string{"eth0"}, true},
		{[]string{"eth0", "eth1"}, true},
		{[]string{"eth0", "eth2"}, false},
		{[]string{"eth2"}, false},
		// Not interface names: left to netlink, never "present".
		{[]string{"eth0/device"}, false},
		{[]string{"."}, false},
		{[]string{".."}, false},
		{[]string{""}, false},
	} {
		if got := allInSysfs(sys, tc.names); got != tc.want {
			t.Errorf("allInSysfs(%q) = %v, want %v", tc.names, got, tc.want)
		}
	}
}

// TestWaitLinks runs against the host's own namespace: its loopback is
// there (answered from sysfs), a made-up name never comes (netlink, until
// the deadline).
func TestWaitLinks(t *testing.T) {
	if !sysfs.Sys.Exists("class/net/lo") {
		t.Skipf("no %s", sysfs.Sys.Path("class/net/lo"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := WaitLinks(ctx, []string{"lo"}); err != nil {
		t.Fatalf("WaitLinks(lo): %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := WaitLinks(ctx, []string{"lo", "nrtest-absent0"})
	if err == nil || !strings.Contains(err.Error(), "no interface nrtest-absent0") {
		t.Fatalf("WaitLinks(lo, nrtest-absent0) = %v, want the missing name in the error", err)
	}
	if h := hint.Of(err); !strings.Contains(h, "NIC driver") {
		t.Errorf("WaitLinks' error hints %q, want the NIC driver named", h)
	}
}

// TestWaitFor runs against the host's own namespace: subscribing to link
// events needs no privilege; no event is made, so only the first check
// and the deadline are exercised.
func TestWaitFor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	calls := 0
	if err := WaitFor(ctx, func() (bool, error) { calls++; return true, nil }); err != nil || calls != 1 {
		t.Fatalf("done at once: err %v after %d checks, want nil after 1", err, calls)
	}
	boom := errors.New("boom")
	if err := WaitFor(ctx, func() (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("failing check: %v, want %v", err, boom)
	}
	short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if err := WaitFor(short, func() (bool, error) { return false, nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("never done: %v, want the deadline", err)
	}
}
