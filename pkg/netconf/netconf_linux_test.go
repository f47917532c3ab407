package netconf

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAllInSysfs(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"eth0", "eth1"} {
		if err := os.Mkdir(filepath.Join(dir, n), 0o755); err != nil {
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
		if got := allInSysfs(dir, tc.names); got != tc.want {
			t.Errorf("allInSysfs(%q) = %v, want %v", tc.names, got, tc.want)
		}
	}
}

// TestWaitLinks runs against the host's own namespace: its loopback is
// there (answered from sysfs), a made-up name never comes (netlink, until
// the deadline).
func TestWaitLinks(t *testing.T) {
	if _, err := os.Stat(sysClassNet + "/lo"); err != nil {
		t.Skipf("no %s/lo: %v", sysClassNet, err)
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
}
