package rig

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBlackHoleAndRefusedPortals: in a namespace of the rig, a connect to
// a black-hole portal gets no answer (it times out), one to an address
// nobody serves is refused at once, and a second bridge carries its own
// subnet.
func TestBlackHoleAndRefusedPortals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := NewNet(ctx, HostAddr+"/24", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, a := range []string{"10.77.0.2/24", "10.77.0.3/24"} {
		if err := n.AddAddr(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.AddBridge(ctx, "br1", "10.78.0.1/24", "tap1"); err != nil {
		t.Fatal(err)
	}
	closeHole, err := n.BlackHole("10.77.0.3:3260")
	if err != nil {
		t.Fatal(err)
	}
	defer closeHole()
	connect := func(addr string) (string, time.Duration) {
		start := time.Now()
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		defer ccancel()
		out, err := n.Command(cctx, "bash", "-c", "echo > /dev/tcp/"+strings.ReplaceAll(addr, ":", "/")).CombinedOutput()
		if err != nil {
			out = append(out, " "+err.Error()...)
		}
		return string(out), time.Since(start)
	}
	if out, took := connect("10.77.0.3:3260"); took < 1900*time.Millisecond || strings.Contains(out, "refused") {
		t.Errorf("black hole: %q after %v, want no answer until the timeout", out, took)
	}
	if out, took := connect("10.77.0.2:3260"); took > time.Second || !strings.Contains(out, "refused") {
		t.Errorf("unserved portal: %q after %v, want refused at once", out, took)
	}
	if out, err := n.Run(ctx, "ip", "-br", "addr", "show", "br1"); err != nil || !strings.Contains(out, "10.78.0.1/24") {
		t.Errorf("br1: %q %v", out, err)
	}
	if out, err := n.Run(ctx, "ip", "-br", "link", "show", "master", "br1"); err != nil || !strings.Contains(out, "tap1") {
		t.Errorf("br1's ports: %q %v", out, err)
	}
}
