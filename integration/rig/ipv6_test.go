package rig

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/vishvananda/netns"
)

func TestDHCPArgsV6(t *testing.T) {
	got := dhcpArgs(DHCPConfig{
		DHCPv6Range: "fd77::100,fd77::1ff,64,1h",
		RA:          true,
		V6Options:   []string{"23,[fd77::1]", "59,iscsi:[fd77::1]::3260:1:iqn.x:root"},
	}, "br0", "/d")
	for _, want := range []string{"--dhcp-range=fd77::100,fd77::1ff,64,1h", "--enable-ra",
		"--dhcp-option=option6:23,[fd77::1]", "--dhcp-option=option6:59,iscsi:[fd77::1]::3260:1:iqn.x:root"} {
		if !slices.Contains(got, want) {
			t.Errorf("dhcpArgs lacks %q: %q", want, got)
		}
	}
	for _, a := range got {
		if a == "--dhcp-range=10.77.0.150,10.77.0.199,255.255.255.0,1h" {
			t.Errorf("a DHCPv6-only config got the DHCPv4 default range: %q", got)
		}
	}
	if l := readyLines(DHCPConfig{DHCPv6Range: "fd77::,ra-only,64", RA: true}); !slices.Equal(l, []string{"router advertisement on"}) {
		t.Errorf("readyLines(ra-only) = %q", l)
	}
	// The DHCPv4 default is untouched.
	v4 := dhcpArgs(DHCPConfig{}, "br0", "/d")
	if !slices.Contains(v4, "--dhcp-range=10.77.0.150,10.77.0.199,255.255.255.0,1h") || slices.Contains(v4, "--enable-ra") {
		t.Errorf("DHCPv4 default args changed: %q", v4)
	}
	if p := portalArg(TargetConfig{Portal: "10.77.0.1:3260", Portals: []string{"[fd77::1]:3260"}}); p != "portal=10.77.0.1:3260,portal=[fd77::1]:3260" {
		t.Errorf("portalArg = %q", p)
	}
}

// TestTargetIPv6Portal serves a target on an IPv4 and an IPv6 portal of
// the rig's namespace and logs in to both with pkg/iscsi from this
// process, its TCP connections made inside the namespace.
func TestTargetIPv6Portal(t *testing.T) {
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
	if err := n.AddAddr6(ctx, "fd77::1/64"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lun := filepath.Join(dir, "lun.img")
	if err := os.WriteFile(lun, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(lun, 8<<20); err != nil {
		t.Fatal(err)
	}
	const iqn = "iqn.2010-01.org.example:v6root"
	tgt, err := StartTarget(ctx, n, TargetConfig{Portal: "10.77.0.1:3260", Portals: []string{"[fd77::1]:3260"}, IQN: iqn, LUNs: []string{lun}},
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
	for _, portal := range []string{"[fd77::1]:3260", "10.77.0.1:3260"} {
		sess, conn, err := iscsi.Connect(ctx, iscsi.LoginConfig{
			InitiatorName: "iqn.2010-01.org.example:rig-test", TargetName: iqn, Portal: portal,
		}, iscsi.ConnectOptions{Dial: dialIn(ns), MaxAttempts: 3, AttemptTimeout: 10 * time.Second})
		if err != nil {
			b, _ := os.ReadFile(filepath.Join(dir, "tgtd.log"))
			t.Fatalf("login to %s: %v\ntgtd log:\n%s", portal, err, b)
		}
		if got := conn.RemoteAddr().String(); got != portal {
			t.Errorf("connected to %s, want %s", got, portal)
		}
		t.Logf("logged in to %s (%s, TSIH %d)", portal, sess.TargetName, sess.TSIH)
		conn.Close()
	}
}

// dialIn dials TCP from inside ns: the socket is made on a thread that
// joined ns, and stays in ns whichever thread uses it afterwards.
func dialIn(ns netns.NsHandle) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			return nil, err
		}
		defer netns.Set(orig)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
