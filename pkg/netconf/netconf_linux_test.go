package netconf

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/sysfs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
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

// TestSetMAC sets a veth's MAC address in a namespace of its own, down
// and up: it stays down when it was, comes up again when it was up.
func TestSetMAC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (a network namespace)")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New() // and enters it, on this thread only
	if err != nil {
		t.Fatalf("new namespace: %v", err)
	}
	defer ns.Close()
	defer netns.Set(orig)
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "mac0"}, PeerName: "mac1"}); err != nil {
		t.Fatalf("veth: %v", err)
	}
	for _, up := range []bool{false, true} {
		mac := net.HardwareAddr{0x02, 0, 0, 0, 0x77, 0x10}
		if up {
			mac[5] = 0x11
			l, _ := netlink.LinkByName("mac0")
			if err := netlink.LinkSetUp(l); err != nil {
				t.Fatal(err)
			}
		}
		if err := SetMAC("mac0", mac); err != nil {
			t.Fatalf("SetMAC (up %v): %v", up, err)
		}
		l, err := netlink.LinkByName("mac0")
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Attrs().HardwareAddr; got.String() != mac.String() {
			t.Errorf("up %v: MAC %s, want %s", up, got, mac)
		}
		if isUp := l.Attrs().RawFlags&unix.IFF_UP != 0; isUp != up {
			t.Errorf("up %v: the link is up=%v after SetMAC", up, isUp)
		}
	}
	if err := SetMAC("nonesuch", net.HardwareAddr{2, 0, 0, 0, 0, 1}); err == nil {
		t.Error("SetMAC on no interface: no error")
	}
}
