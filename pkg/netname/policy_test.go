package netname

import (
	"errors"
	"io/fs"
	"maps"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/netroot/netroot/pkg/netname/netnametest"
)

func load(t *testing.T, layout string) fstest.MapFS {
	t.Helper()
	sys, err := netnametest.Load("testdata/" + layout + ".sysfs")
	if err != nil {
		t.Fatal(err)
	}
	return sys
}

// TestPlanLayouts: the renames udev makes on each captured QEMU layout and
// synthetic tree, by naming scheme and policy.
func TestPlanLayouts(t *testing.T) {
	for _, tc := range []struct {
		layout string
		scheme Scheme
		policy Policy
		want   map[string]string
	}{
		{"virtio-root", V252, DefaultPolicy(V252), map[string]string{"eth0": "ens2", "eth1": "ens3"}},
		{"virtio-root", V257, DefaultPolicy(V257), map[string]string{"eth0": "ens2", "eth1": "ens3"}},
		{"virtio-root", V257, Policy{Names: []Kind{Path}}, map[string]string{"eth0": "enp0s2", "eth1": "enp0s3"}},
		{"virtio-root", V257, Policy{Names: []Kind{MAC}}, map[string]string{"eth0": "enx525400770110", "eth1": "enx525400770111"}},
		{"virtio-root", V257, Policy{Names: []Kind{Database}}, map[string]string{}},
		{"virtio-root", V257, Policy{Names: DefaultPolicy(V257).Names, Off: true}, map[string]string{}},
		// v257 reads the ACPI _SUN of the device behind the bridge; v252
		// finds no numbered hotplug slot for it (its slot is "2-2").
		{"virtio-bridge", V252, DefaultPolicy(V252), map[string]string{"eth0": "ens1", "eth1": "enp1s2"}},
		{"virtio-bridge", V257, DefaultPolicy(V257), map[string]string{"eth0": "ens1", "eth1": "ens2"}},
		{"virtio-multifunction", V252, DefaultPolicy(V252), map[string]string{"eth0": "ens4f0", "eth1": "ens4f1"}},
		{"virtio-multifunction", V257, DefaultPolicy(V257), map[string]string{"eth0": "ens4f0", "eth1": "ens4f1"}},
		// Only function 0 has an ACPI node, so only it gets v257's slot name.
		{"virtio-bridge-multifunction", V252, DefaultPolicy(V252), map[string]string{"eth0": "enp1s3f0", "eth1": "enp1s3f1"}},
		{"virtio-bridge-multifunction", V257, DefaultPolicy(V257), map[string]string{"eth0": "ens3f0", "eth1": "enp1s3f1"}},
		{"virtio-acpi-index", V252, DefaultPolicy(V252), map[string]string{"eth0": "eno3", "eth1": "ens3"}},
		{"virtio-acpi-index", V257, DefaultPolicy(V257), map[string]string{"eth0": "eno3", "eth1": "ens3"}},
		{"virtio-smbios-index", V257, DefaultPolicy(V257), map[string]string{"eth0": "eno1", "eth1": "ens3"}},
		// The root port's ACPI slot number is 0: no slot names on q35.
		{"q35-e1000e", V252, DefaultPolicy(V252), map[string]string{"eth0": "enp0s2", "eth1": "enp1s0"}},
		{"q35-e1000e", V257, DefaultPolicy(V257), map[string]string{"eth0": "enp0s2", "eth1": "enp1s0"}},
		{"usb-net", V257, DefaultPolicy(V257), map[string]string{"usb0": "ens6u1", "usb1": "ens6u2u1"}},
		{"usb-net", V252, DebianPolicy(V252), map[string]string{"usb0": "enx525400770170", "usb1": "enx525400770171"}},
		{"usb-net", V257, DebianPolicy(V257), map[string]string{"usb0": "enx525400770170", "usb1": "enx525400770171"}},
		// usb0 has a random MAC: Debian 12's USB rule leaves it alone,
		// Debian 13's hands it to 99-default.link. usb1's host controller
		// is not on PCI: a path name only from v253.
		{"usb-edge", V252, DebianPolicy(V252), map[string]string{"usb1": "enx00e04c000001"}},
		{"usb-edge", V257, DebianPolicy(V257), map[string]string{"usb0": "enp0s20u3c2i1", "usb1": "enx00e04c000001"}},
		{"usb-edge", V252, DefaultPolicy(V252), map[string]string{"usb0": "enp0s20u3c2i1"}},
		{"usb-edge", V257, DefaultPolicy(V257), map[string]string{"usb0": "enp0s20u3c2i1", "usb1": "enu1"}},
		// lan4 was renamed by userspace (keep; before v240 nothing renames
		// it), eth9 has a name the kernel calls predictable (kernel); index
		// 0 counts from v240, 20000 from v249 (16 bits), 16777215 never.
		{"onboard-index", V252, DefaultPolicy(V252), map[string]string{"eth0": "eno0", "eth1": "eno20000", "eth2": "enp0s4"}},
		{"onboard-index", V247, DefaultPolicy(V247), map[string]string{"eth0": "eno0", "eth1": "enp0s3", "eth2": "enp0s4"}},
		{"onboard-index", V239, DefaultPolicy(V239), map[string]string{"eth0": "enp0s2", "eth1": "enp0s3", "eth2": "enp0s4"}},
		{"onboard-index", V257, Policy{Names: []Kind{Onboard, Path}}, map[string]string{"eth0": "eno0", "eth1": "eno20000", "eth2": "enp0s4", "lan4": "eno4", "eth9": "enp0s6"}},
		// The VF representor is eth1: "r1" from v254, its port name before.
		{"sriov", V252, DefaultPolicy(V252), map[string]string{"eth0": "eno1np0", "eth1": "eno1npf0vf1", "eth2": "eno1v0", "eth3": "eno1v1"}},
		{"sriov", V257, DefaultPolicy(V257), map[string]string{"eth0": "eno1np0", "eth1": "eno1r1", "eth2": "eno1v0", "eth3": "eno1v1"}},
		{"sriov", V238, DefaultPolicy(V238), map[string]string{"eth0": "eno1np0", "eth1": "eno1npf0vf1", "eth2": "enp59s2", "eth3": "enp59s2f1"}},
		{"multiport", V257, DefaultPolicy(V257), map[string]string{"eth0": "eno2", "eth1": "eno2d1"}},
		// enP12345p255s31f7d12 does not fit an interface name.
		{"domain-ari", V257, DefaultPolicy(V257), map[string]string{"eth0": "enP1p5s1f10"}},
		{"domain-ari", V238, DefaultPolicy(V238), map[string]string{"eth0": "enP1p5s1f2"}},
		{"types", V252, DefaultPolicy(V252), map[string]string{"ib0": "ibp0s16", "wlan0": "wlp0s17", "wwan0": "wwp0s18", "sl0": "slp0s19"}},
		{"types", V257, DefaultPolicy(V257), map[string]string{"ib0": "ibp0s16d1", "wlan0": "wlp0s17", "wwan0": "wwp0s18", "sl0": "slp0s19"}},
		{"types", V239, DefaultPolicy(V239), map[string]string{"wlan0": "wlp0s17", "wwan0": "wwp0s18", "sl0": "slp0s19"}},
		{"virtual", V257, DefaultPolicy(V257), map[string]string{"eth0": "enp0s2"}},
		{"s390-function-id", V257, DefaultPolicy(V257), map[string]string{"eth0": "ens291"}},
		// Before v249 the slot directory "00000123" reads as octal 83 and
		// keeps the domain.
		{"s390-function-id", V247, DefaultPolicy(V247), map[string]string{"eth0": "enP2s83"}},
		{"bridge-slot", V252, DefaultPolicy(V252), map[string]string{"eth0": "ens3f0", "eth1": "ens3f1", "eth2": "enp6s0"}},
		{"bridge-slot", V257, DefaultPolicy(V257), map[string]string{"eth0": "enp4s0f0", "eth1": "enp4s0f1", "eth2": "enp6s0"}},
		{"bridge-slot", V245, DefaultPolicy(V245), map[string]string{"eth0": "ens3f0", "eth1": "ens3f1", "eth2": "ens5"}},
		{"xen-platform", V257, DefaultPolicy(V257), map[string]string{"eth0": "enX0", "eth1": "enahisic2i3"}},
		{"xen-platform", V249, DefaultPolicy(V249), map[string]string{"eth1": "enahisic2i3"}},
	} {
		t.Run(tc.layout+"/"+tc.scheme.String(), func(t *testing.T) {
			got, err := Plan(load(t, tc.layout), tc.scheme, tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPredictableDetails(t *testing.T) {
	sys := load(t, "virtio-root")
	n, err := Predictable(sys, "eth0", V257, DefaultPolicy(V257))
	if err != nil {
		t.Fatal(err)
	}
	want := Names{
		Interface: "eth0", Scheme: V257, Prefix: "en", Slot: "ens2", Path: "enp0s2", MAC: "enx525400770110",
		AssignType: AssignEnum, Name: "ens2", By: "slot", AltNames: []string{"enp0s2", "enx525400770110"},
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("got %+v\nwant %+v", n, want)
	}
	if got := n.String(); got != "eth0 → ens2 (slot; v257: slot ens2, path enp0s2, mac enx525400770110)" {
		t.Errorf("String: %s", got)
	}
	if n, _ := Predictable(load(t, "virtual"), "lo", V257, DefaultPolicy(V257)); n.String() != "lo keeps its name (no policy entry yielded a name; v257: net_id names nothing)" {
		t.Errorf("String: %s", n)
	}
	// v252's 99-default.link has no mac among its alternative names.
	if n, _ := Predictable(sys, "eth0", V252, DefaultPolicy(V252)); !reflect.DeepEqual(n.AltNames, []string{"enp0s2"}) {
		t.Errorf("v252 alternative names %v", n.AltNames)
	}
	// net.ifnames=0 renames nothing but still adds alternative names.
	off := DefaultPolicy(V257)
	off.Off = true
	if n, _ := Predictable(sys, "eth0", V257, off); n.Renamed() || n.By != "net.ifnames=0" || len(n.AltNames) != 3 {
		t.Errorf("net.ifnames=0: %+v", n)
	}
	// A name too long for an interface is still an alternative name.
	n, _ = Predictable(load(t, "domain-ari"), "eth1", V257, DefaultPolicy(V257))
	if n.Renamed() || n.Path != "enP12345p255s31f7d12" || !contains(n.AltNames, n.Path) {
		t.Errorf("long path name: %+v", n)
	}
	// Devices net_id leaves alone: loopback (not Ethernet), a VLAN
	// (stacked), a bond (Ethernet, but on no bus, its MAC not its own).
	for _, ifname := range []string{"lo", "eth0.100", "bond0"} {
		n, err := Predictable(load(t, "virtual"), ifname, V257, DefaultPolicy(V257))
		if err != nil || n.Prefix != "" && ifname != "bond0" || n.Renamed() || n.MAC != "" || len(n.AltNames) > 0 {
			t.Errorf("%s: %+v, %v", ifname, n, err)
		}
	}
	if n, _ := Predictable(load(t, "virtio-smbios-index"), "eth0", V257, DefaultPolicy(V257)); n.Label != "Onboard LAN 1" {
		t.Errorf("label %q", n.Label)
	}
}

func TestPredictableErrors(t *testing.T) {
	sys := load(t, "virtual")
	for _, ifname := range []string{"eth7", "", "..", "a/b", "bonding_masters"} {
		if _, err := Predictable(sys, ifname, V257, DefaultPolicy(V257)); !errors.Is(err, ErrNoInterface) {
			t.Errorf("%q: got %v, want ErrNoInterface", ifname, err)
		}
	}
	if _, err := Predictable(sys, "eth0", Scheme{}, DefaultPolicy(V257)); err == nil {
		t.Error("zero scheme accepted")
	}
	// A link out of the tree or in a loop is an error, not a name.
	loop := fstest.MapFS{
		"class/net/eth0": {Mode: fs.ModeSymlink, Data: []byte("../../devices/x/net/eth0")},
		"devices/x/net":  {Mode: fs.ModeSymlink, Data: []byte("../x/net")},
		"class/net/eth1": {Mode: fs.ModeSymlink, Data: []byte("../../../../etc/passwd")},
		"class/net/eth2": {Mode: fs.ModeSymlink, Data: []byte("/etc/passwd")},
	}
	for _, ifname := range []string{"eth0", "eth1", "eth2"} {
		if _, err := Predictable(loop, ifname, V257, DefaultPolicy(V257)); err == nil {
			t.Errorf("%s: no error", ifname)
		}
	}
	if _, err := Plan(loop, V257, DefaultPolicy(V257)); err == nil {
		t.Error("Plan: no error")
	}
	if _, err := Interfaces(fstest.MapFS{}); err == nil {
		t.Error("Interfaces of an empty tree: no error")
	}
}

func TestPlanConflict(t *testing.T) {
	sys := load(t, "virtio-root")
	// Both NICs claim onboard index 1.
	sys["devices/pci0000:00/0000:00:02.0/acpi_index"] = &fstest.MapFile{Data: []byte("1\n")}
	sys["devices/pci0000:00/0000:00:03.0/acpi_index"] = &fstest.MapFile{Data: []byte("1\n")}
	plan, err := Plan(sys, V257, DefaultPolicy(V257))
	var ce *ConflictError
	if !errors.As(err, &ce) || !reflect.DeepEqual(ce.Names, map[string][]string{"eno1": {"eth0", "eth1"}}) {
		t.Fatalf("got %v", err)
	}
	if len(plan) != 0 {
		t.Errorf("conflicting renames kept: %v", plan)
	}
	// A new name another interface already has.
	sys = load(t, "virtio-root")
	sys["class/net/ens2"] = &fstest.MapFile{Mode: fs.ModeSymlink, Data: []byte("../../devices/virtual/net/ens2")}
	sys["devices/virtual/net/ens2/uevent"] = &fstest.MapFile{Data: []byte("INTERFACE=ens2\nIFINDEX=9\n")}
	plan, err = Plan(sys, V257, DefaultPolicy(V257))
	if !errors.As(err, &ce) || !reflect.DeepEqual(ce.Names, map[string][]string{"ens2": {"ens2", "eth0"}}) ||
		!maps.Equal(plan, map[string]string{"eth1": "ens3"}) {
		t.Errorf("taken name: %v %v", plan, err)
	}
}

func TestParseKinds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Kind
		ok   bool
	}{
		{"keep kernel database onboard slot path", []Kind{Keep, Kernel, Database, Onboard, Slot, Path}, true},
		{"onboard,slot, mac", []Kind{Onboard, Slot, MAC}, true},
		{"", nil, false},
		{"slot bios", nil, false},
		{"Slot", nil, false},
	} {
		got, err := ParseKinds(tc.in)
		if (err == nil) != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v, %v", tc.in, got, err)
		}
	}
	if Kind(9).String() != "Kind(9)" || MAC.String() != "mac" {
		t.Error("Kind.String")
	}
}

func TestParseIfnames(t *testing.T) {
	for in, want := range map[string]bool{"": true, "1": true, "yes": true, "ON": true, "0": false, "no": false, "false": false, "off": false} {
		if got, err := ParseIfnames(in); err != nil || got != want {
			t.Errorf("%q: got %v, %v", in, got, err)
		}
	}
	if got, err := ParseIfnames("2"); err == nil || !got {
		t.Errorf(`"2": got %v, %v; udev keeps names on`, got, err)
	}
}

func TestParseScheme(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Scheme
	}{{"v252", V252}, {"v257", V257}, {"latest", Latest}, {"v238", V238}} {
		if got, err := ParseScheme(tc.in); err != nil || got != tc.want {
			t.Errorf("%q: got %v, %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{"", "v256", "252", "V252", "rhel-9.0"} {
		if _, err := ParseScheme(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !V257.atLeast(V252) || V252.atLeast(V257) || !V252.atLeast(V252) {
		t.Error("atLeast")
	}
	if V255.has(bridgeMultifunction) || !V252.has(bridgeMultifunction) || !V257.has(firmwareNodeSun) {
		t.Error("v255 drops the bridge multi-function rule; v257 adds _SUN")
	}
	if (Scheme{}).Valid() || (Scheme{}).String() != "(no scheme)" || len(Schemes()) != 15 {
		t.Error("Scheme basics")
	}
}

func TestValidIfname(t *testing.T) {
	for in, want := range map[string]bool{
		"ens2": true, "enP12345p255s31": true, "enP12345p255s31f": false, "": false, ".": false, "all": false,
		"default": false, "123": false, "a:b": false, "a b": false, "a/b": false, "a%d": false, "e\x7f": false,
	} {
		if got := validIfname(in); got != want {
			t.Errorf("%q: got %v", in, got)
		}
	}
}
