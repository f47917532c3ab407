package rig

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/vishvananda/netns"
)

// TestTargetInitiatorACL: a target with Initiators admits those names
// only.
func TestTargetInitiatorACL(t *testing.T) {
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "tgtd", "tgtadm"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip("needs %s (run `make deps`): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := NewNet(ctx, "10.77.0.1/24", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dir := t.TempDir()
	lun := filepath.Join(dir, "lun.img")
	if err := os.WriteFile(lun, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(lun, 8<<20); err != nil {
		t.Fatal(err)
	}
	const iqn, allowed = "iqn.2010-01.org.example:acl", "iqn.2010-01.org.example:allowed"
	tgt, err := StartTarget(ctx, n, TargetConfig{Portal: "10.77.0.1:3260", IQN: iqn, LUNs: []string{lun}, Initiators: []string{allowed}},
		filepath.Join(dir, "tgtd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Stop()
	ns, err := netns.GetFromName(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	for _, tc := range []struct {
		initiator string
		ok        bool
	}{{allowed, true}, {"iqn.2010-01.org.example:other", false}} {
		_, conn, err := iscsi.Connect(ctx, iscsi.LoginConfig{InitiatorName: tc.initiator, TargetName: iqn, Portal: "10.77.0.1:3260"},
			iscsi.ConnectOptions{Dial: dialIn(ns), MaxAttempts: 1, AttemptTimeout: 10 * time.Second})
		if conn != nil {
			conn.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("login as %s: %v, want it accepted: %v", tc.initiator, err, tc.ok)
		}
		t.Logf("login as %s: %v", tc.initiator, err)
	}
}
