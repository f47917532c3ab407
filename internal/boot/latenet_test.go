package boot

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/osnet"
)

// leasesOS is the kernel's view of two NICs configured by DHCP: eth1 is
// on the root's path once its lease was applied. Its first RootPath
// closes read; the shutdown role is fakeOS's.
type leasesOS struct {
	*fakeOS
	r    *pathsRig
	once sync.Once
	read chan struct{}
}

func (o *leasesOS) RootPath(netip.Addr) ([]osnet.Link, error) {
	o.once.Do(func() { close(o.read) })
	mac0, _ := net.ParseMAC("52:54:00:77:00:10")
	mac1, _ := net.ParseMAC("52:54:00:77:00:11")
	links := []osnet.Link{{Name: "eth0", MAC: mac0, PermanentMAC: mac0, Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.150/24")}}}
	if len(o.r.called("apply lease eth1")) > 0 {
		links = append(links, osnet.Link{Name: "eth1", MAC: mac1, PermanentMAC: mac1, Addresses: []netip.Prefix{netip.MustParsePrefix("10.78.0.150/24")}})
	}
	return links, nil
}

// gatedDisks mounts once gate returns.
type gatedDisks struct {
	Disks
	gate func()
}

func (d gatedDisks) Mount(source, target, fstype string, flags blockdev.MountFlags, data string) error {
	d.gate()
	return d.Disks.Mount(source, target, fstype, flags, data)
}

// TestWaitNetLateLeaseTellsTheOS: with rd.iscsi.waitnet=0, a lease
// configured after osconfig wrote the real OS's files has them written
// again with its interface, and resolv.conf with its servers — else the
// real OS's stack would treat the interface as its own; a lease
// still missing at switch_root is said to be left to the real OS.
func TestWaitNetLateLeaseTellsTheOS(t *testing.T) {
	const cmdline = "ip=eth0:dhcp ip=eth1:dhcp rd.iscsi.waitnet=0 rd.retry=20 rd.shell=0 netroot=iscsi:10.77.0.1::3260:1:" + targetIQN + " " + rootArgs
	eth1Network := osnet.SystemdDir + "/" + osnet.Prefix + "eth1.network"
	newRig := func(t *testing.T) (*pathsRig, *leasesOS) {
		r := newPathsRig(t)
		r.leases = twoSubnetLeases()
		r.leases["eth1"].DNS = []netip.Addr{netip.MustParseAddr("10.78.0.53")}
		o := &leasesOS{fakeOS: &fakeOS{m: r.machine}, r: r, read: make(chan struct{})}
		r.envHook = func(e Env) Env {
			e.OS = o
			return e
		}
		return r, o
	}
	t.Run("after the files", func(t *testing.T) {
		r, o := newRig(t)
		// eth1's lease comes once osconfig read the path, and the root is
		// mounted once it is applied: between the files and switch_root.
		r.dhcpGate = map[string]chan struct{}{"eth1": o.read}
		hook := r.envHook
		r.envHook = func(e Env) Env {
			e = hook(e)
			e.Disks = gatedDisks{Disks: e.Disks, gate: func() {
				if len(r.calledAtLeast("apply lease eth1", 1, 5*time.Second)) == 0 {
					t.Error("eth1's lease was not applied")
				}
			}}
			return e
		}
		if _, err := r.boot(cmdline); err != nil {
			t.Fatalf("Run: %v\n%s", err, r.screen)
		}
		screen := r.screen.String()
		if !strings.Contains(screen, "ip: eth1: no lease yet; rd.iscsi.waitnet=0") {
			t.Fatalf("eth1's lease was not late:\n%s", screen)
		}
		network, err := r.files.ReadFile(eth1Network)
		if err != nil || !strings.Contains(string(network), "DHCP=ipv4") || !strings.Contains(string(network), "KeepConfiguration=yes") {
			t.Errorf("eth1's network file %q (%v)", network, err)
		}
		if nm, err := r.files.ReadFile(osnet.NMConfFile); err != nil || !strings.Contains(string(nm), "eth1") {
			t.Errorf("NetworkManager leaves eth1 managed: %q %v", nm, err)
		}
		if resolv, err := r.files.ReadFile(runDir + "/resolv.conf"); err != nil || !strings.Contains(string(resolv), "nameserver 10.78.0.53") {
			t.Errorf("resolv.conf without eth1's server: %q %v", resolv, err)
		}
		for _, want := range []string{
			"osconfig: 5 files for eth0; shutdown role in /run/initramfs",
			"osconfig: 9 files for eth0 eth1, again: eth1's lease came after them (rd.iscsi.waitnet=0)",
			"ip: eth1 10.78.0.150/24",
		} {
			if !strings.Contains(screen, want) {
				t.Errorf("no %q:\n%s", want, screen)
			}
		}
		if strings.Contains(screen, "still has no lease") {
			t.Errorf("eth1 said to be without a lease:\n%s", screen)
		}
	})
	t.Run("after switch_root", func(t *testing.T) {
		r, _ := newRig(t)
		r.dhcpGate = map[string]chan struct{}{"eth1": make(chan struct{})} // never
		if _, err := r.boot(cmdline); err != nil {
			t.Fatalf("Run: %v\n%s", err, r.screen)
		}
		screen := r.screen.String()
		want := "ip: eth1 still has no lease as the root is switched to (rd.iscsi.waitnet=0): its DHCP ends with /init; " +
			"the paths through it stay down until the real OS's network stack configures it"
		if !strings.Contains(screen, want) {
			t.Errorf("no %q:\n%s", want, screen)
		}
		if _, err := r.files.ReadFile(eth1Network); err == nil {
			t.Errorf("%s written for an interface without an address", eth1Network)
		}
		if strings.Contains(screen, ", again:") {
			t.Errorf("the files written again without a lease:\n%s", screen)
		}
	})
}

// TestOSNet: the order of late leases against the real OS's files.
func TestOSNet(t *testing.T) {
	lease := &dhcp.Lease{Interface: "eth1"}
	type call struct{ apply, resolv, rewrite bool }
	for _, tc := range []struct {
		name    string
		written bool // osconfig wrote its files before the lease
		closed  bool // switch_root began before it
		lease   *dhcp.Lease
		apply   error
		want    call
		wantErr error
		pending []string // at close, after the lease
	}{
		{name: "before the files", lease: lease, want: call{apply: true, resolv: true}},
		{name: "after the files", written: true, lease: lease, want: call{apply: true, resolv: true, rewrite: true}},
		{name: "after switch_root began", written: true, closed: true, lease: lease, wantErr: errSwitching},
		{name: "no lease", written: true, want: call{}},
		{name: "failed apply", written: true, lease: lease, apply: errors.New("netlink: file exists"), want: call{apply: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o osNet
			var got call
			o.resolv = func(l []*dhcp.Lease) { got.resolv = slices.Equal(l, []*dhcp.Lease{lease}) }
			o.wait("eth1")
			o.wait("eth2")
			if tc.written {
				o.write(func() {}, func(iface string) { got.rewrite = iface == "eth1" })
			}
			if tc.closed {
				if p := o.close(); !slices.Equal(p, []string{"eth1", "eth2"}) {
					t.Errorf("pending at close %q", p)
				}
			}
			err := o.late("eth1", tc.lease, func() error { got.apply = true; return tc.apply })
			want := tc.wantErr
			if want == nil {
				want = tc.apply
			}
			if err != want {
				t.Errorf("late = %v, want %v", err, want)
			}
			if got != tc.want {
				t.Errorf("calls %+v, want %+v", got, tc.want)
			}
			if p := o.close(); !slices.Equal(p, []string{"eth2"}) {
				t.Errorf("pending after eth1's end %q, want eth2", p)
			}
		})
	}
}
