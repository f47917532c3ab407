package rig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/netname"
	"github.com/netroot/netroot/pkg/netname/netnametest"
)

// TestNICLayoutsMatchCaptures checks each layout against its sysfs capture
// in pkg/netname/testdata: the capture was made with these very devices,
// and the names recorded here are the ones udev exported over it (its .udev
// file) and the ones netname picks.
func TestNICLayoutsMatchCaptures(t *testing.T) {
	hub := func(i int, id string) string { return "hubport,id=" + id + ",hubid=0" }
	for _, l := range NICLayouts {
		t.Run(l.Name, func(t *testing.T) {
			base := filepath.Join("..", "..", "pkg", "netname", "testdata", l.Name)
			text, err := os.ReadFile(base + ".sysfs")
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitN(string(text), "\n", 3)
			if lines[0] != "# "+l.Name+": "+l.Doc {
				t.Errorf("capture says %q, layout %q", lines[0], l.Doc)
			}
			if args := strings.Join(l.QEMUArgs(hub), " "); !strings.HasSuffix(lines[1], " with: "+args) {
				t.Errorf("capture was booted with\n%s\nthe layout is now\n%s", lines[1], args)
			}
			sys, err := netnametest.Parse(string(text))
			if err != nil {
				t.Fatal(err)
			}
			udev, err := netnametest.LoadUdev(base + ".udev")
			if err != nil {
				t.Fatal(err)
			}
			ifs, err := netname.Interfaces(sys)
			if err != nil {
				t.Fatal(err)
			}
			if len(ifs) != len(l.NICs) {
				t.Fatalf("capture has %v, layout %d NICs", ifs, len(l.NICs))
			}
			for _, nic := range l.NICs {
				macName := "enx" + strings.ReplaceAll(nic.MAC, ":", "")
				var n, deb netname.Names
				for _, ifname := range ifs {
					if n, _ = netname.Predictable(sys, ifname, netname.V257, netname.DefaultPolicy(netname.V257)); n.MAC == macName {
						deb, _ = netname.Predictable(sys, ifname, netname.V257, netname.DebianPolicy(netname.V257))
						break
					}
				}
				if n.MAC != macName {
					t.Errorf("%s: no interface with this MAC in the capture", nic.MAC)
					continue
				}
				got := LayoutNIC{MAC: nic.MAC, Onboard: n.Onboard, Slot: n.Slot, Path: n.Path, MACName: n.MAC,
					V252: nic.V252, Name: n.Name, DebianName: deb.Name}
				if !sameNIC(got, nic) {
					t.Errorf("%s (%s): netname gives %+v, the layout says %+v", nic.MAC, n.Interface, got, nic)
				}
				for scheme, build := range map[string]string{"v257": "257", "v252": "252"} {
					want := map[string]string{"ONBOARD": nic.Onboard, "SLOT": nic.Slot, "PATH": nic.Path}
					if scheme == "v252" {
						for k, v := range nic.V252 {
							want[k] = v
						}
					}
					p := udev.Get(build, scheme, n.Interface, false)
					for k, v := range want {
						if p["ID_NET_NAME_"+k] != v {
							t.Errorf("%s (%s): udev %s exported ID_NET_NAME_%s=%q, the layout says %q", nic.MAC, n.Interface, scheme, k, p["ID_NET_NAME_"+k], v)
						}
					}
					if p["ID_NET_NAME_MAC"] != nic.MACName {
						t.Errorf("%s: udev's MAC name %q", nic.MAC, p["ID_NET_NAME_MAC"])
					}
				}
			}
		})
	}
}

func sameNIC(a, b LayoutNIC) bool {
	if len(a.V252) != len(b.V252) {
		return false
	}
	for k, v := range a.V252 {
		if b.V252[k] != v {
			return false
		}
	}
	a.V252, b.V252 = nil, nil
	return a.MAC == b.MAC && a.Onboard == b.Onboard && a.Slot == b.Slot && a.Path == b.Path &&
		a.MACName == b.MACName && a.Name == b.Name && a.DebianName == b.DebianName
}

func TestNICLayoutQEMUArgs(t *testing.T) {
	l, ok := NICLayoutByName("q35-e1000e")
	if !ok {
		t.Fatal("no q35-e1000e")
	}
	got := strings.Join(l.QEMUArgs(func(i int, id string) string { return "tap,id=" + id + ",ifname=tap" + id }), " ")
	want := "-machine q35 -netdev tap,id=n0,ifname=tapn0 -netdev tap,id=n1,ifname=tapn1 -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=4,addr=4 -device e1000e,netdev=n0,mac=52:54:00:77:01:60,bus=rp1 -device virtio-net-pci,netdev=n1,mac=52:54:00:77:01:61,addr=2"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, ok := NICLayoutByName("nope"); ok {
		t.Error("found a layout that does not exist")
	}
	seen := map[string]bool{}
	for _, l := range NICLayouts {
		for _, n := range l.NICs {
			if seen[n.MAC] {
				t.Errorf("MAC %s used twice", n.MAC)
			}
			seen[n.MAC] = true
		}
	}
}
