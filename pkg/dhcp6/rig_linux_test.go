package dhcp6

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

// TestNetnsRigIPv6Root is the QEMU boot tests' IPv6 network without QEMU:
// the rig's namespace (bridge with fd77::1/64, dnsmasq serving DHCPv6,
// router advertisements and the root path as option 59, tgtd on
// [fd77::1]:3260), a veth port on the bridge standing in for the guest's
// NIC, and the client on its other end: it gets a lease, applies it, waits
// for the route to the portal and logs in over IPv6 from the leased
// address.
func TestNetnsRigIPv6Root(t *testing.T) {
	t.Parallel()
	needNetns(t)
	for _, tool := range []string{"tgtd", "tgtadm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("needs %s: %v", tool, err)
			}
			t.Skipf("needs %s (make deps installs tgt): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := rig.NewNet(ctx, "10.77.0.1/24", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.AddAddr6(ctx, "fd77::1/64"); err != nil {
		t.Fatal(err)
	}
	seq := linkSeq.Add(1)
	l := &link{srvNS: n.NS, cliNS: fmt.Sprintf("d6c%d-%d", os.Getpid(), seq), srvIf: fmt.Sprintf("d6b%d", seq), cliIf: fmt.Sprintf("d6c%d", seq)}
	ipCmd(t, "netns", "add", l.cliNS)
	t.Cleanup(func() { delNS(l.cliNS) })
	ipCmd(t, "link", "add", l.srvIf, "netns", n.NS, "type", "veth", "peer", "name", l.cliIf, "netns", l.cliNS)
	ipCmd(t, "-n", n.NS, "link", "set", l.srvIf, "master", n.Bridge)
	ipCmd(t, "-n", n.NS, "link", "set", l.srvIf, "up")
	ipCmd(t, "-n", l.cliNS, "link", "set", "lo", "up")

	dir := t.TempDir()
	const iqn = "iqn.2010-01.org.example:v6root"
	root := "iscsi:[fd77::1]::3260:1:" + iqn
	srv, err := rig.StartDHCPServer(ctx, n, rig.DHCPConfig{
		DHCPv6Range: "fd77::100,fd77::1ff,64,1h", RA: true,
		V6Options: []string{"23,[fd77::1]", "59," + root},
	}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Stop()
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", srv.Log())
		}
	}()
	lun := filepath.Join(dir, "lun.img")
	if err := os.WriteFile(lun, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(lun, 8<<20); err != nil {
		t.Fatal(err)
	}
	tgt, err := rig.StartTarget(ctx, n, rig.TargetConfig{Portal: "10.77.0.1:3260", Portals: []string{"[fd77::1]:3260"}, IQN: iqn, LUNs: []string{lun}},
		filepath.Join(dir, "tgtd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Stop()

	res := l.run(t, childJob{Mode: "dhcp6", Timeout: 60 * time.Second, Reach: portal, Login: "[fd77::1]:3260", IQN: iqn})
	if res.Err != "" {
		t.Fatalf("dhcp6 + login: %s", res.Err)
	}
	if res.Lease.BootFileURL != root {
		t.Errorf("boot file URL %q, want %q", res.Lease.BootFileURL, root)
	}
	if want := "[" + res.Lease.Address.Addr().String() + "]:"; !strings.HasPrefix(res.LoginFrom, want) {
		t.Errorf("logged in from %s, want the leased address %s", res.LoginFrom, res.Lease.Address)
	}
}
