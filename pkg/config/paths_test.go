package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseDiscoveryTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Target
	}{
		// dracut's parse_iscsi_root leaves the name empty here.
		{"iscsi:10.0.0.1::3260:1:", Target{Server: "10.0.0.1", Port: 3260, Group: 1, LUN: 1}},
		{"iscsi:10.0.0.1::3260::", Target{AnyLUN: true, Server: "10.0.0.1", Port: 3260, Group: 1}},
		{"iscsi:10.0.0.1::3260:2", Target{Server: "10.0.0.1", Port: 3260, Group: 1, LUN: 2}},
		{"iscsi:[fd77::1]::3261:1:", Target{Server: "fd77::1", Port: 3261, Group: 1, LUN: 1}},
		{"iscsi:u:p@10.0.0.1::3260:1:", Target{Server: "10.0.0.1", Port: 3260, Group: 1, LUN: 1, Auth: Auth{Username: "u", Password: NewSecret("p")}}},
	} {
		got, err := ParseISCSIRoot(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) || !got.Discovery() {
			t.Errorf("ParseISCSIRoot(%q) = %+v, %v; want %+v (discovery)", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"iscsi:10.0.0.1", "iscsi:10.0.0.1:", "iscsi:10.0.0.1::", "iscsi:::3260:1:", "iscsi:10.0.0.1::3260:x:"} {
		if tg, err := ParseISCSIRoot(in); err == nil {
			t.Errorf("ParseISCSIRoot(%q) = %+v, want an error", in, tg)
		}
	}
	// root=iscsi: names the root's LUN: it needs the name.
	_, err := Parse(Source{Name: "/proc/cmdline", Text: "ip=dhcp root=iscsi:10.0.0.1::3260:1:"})
	if err == nil || !strings.Contains(err.Error(), "needs its <targetname>") {
		t.Errorf("root=iscsi: without a name: %v", err)
	}
	p, err := Parse(Source{Name: "/proc/cmdline", Text: "ip=dhcp netroot=iscsi:10.0.0.1::3260:1: root=LABEL=r"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ISCSI.Targets) != 1 || !p.ISCSI.Targets[0].Discovery() {
		t.Errorf("targets %+v", p.ISCSI.Targets)
	}
	if d := p.Describe(); !strings.Contains(d, "targets: asked of portal 10.0.0.1:3260 (SendTargets discovery), lun 1") {
		t.Errorf("Describe:\n%s", d)
	}
}

func TestGroupTargets(t *testing.T) {
	a := Target{Server: "10.77.0.1", Port: 3260, LUN: 1, Name: "iqn.t:root", Group: 1}
	b := a
	b.Server = "10.78.0.1"
	c := a
	c.LUN = 2
	d := Target{Server: "10.77.0.1", Port: 3260, LUN: 1, Group: 1} // discovery
	other := Target{Server: "10.77.0.1", Port: 3260, LUN: 1, Name: "iqn.t:data", Group: 1}
	got := GroupTargets([]Target{a, other, b, c, a, d, d})
	want := []TargetPaths{
		{Name: "iqn.t:root", LUN: 1, Paths: []Target{a, b}},
		{Name: "iqn.t:data", LUN: 1, Paths: []Target{other}},
		{Name: "iqn.t:root", LUN: 2, Paths: []Target{c}},
		{LUN: 1, Paths: []Target{d}},
		{LUN: 1, Paths: []Target{d}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GroupTargets:\n got %+v\nwant %+v", got, want)
	}
	if !slices.Equal(got[0].Portals(), []string{"10.77.0.1:3260", "10.78.0.1:3260"}) || got[0].String() != "iqn.t:root LUN 1" {
		t.Errorf("Portals %q, String %q", got[0].Portals(), got[0])
	}
	if s := got[3].String(); s != "the targets 10.77.0.1:3260 offers" {
		t.Errorf("discovery String %q", s)
	}
}

func TestParseMultipath(t *testing.T) {
	const base = "ip=eth0:dhcp netroot=iscsi:10.77.0.1::3260:1:iqn.t:root netroot=iscsi:10.78.0.1::3260:1:iqn.t:root root=LABEL=r "
	for _, tc := range []struct {
		args    string
		on      bool
		warning string
	}{
		{"", false, ""},
		{"rd.multipath=default", true, ""},
		{"rd.multipath=0", false, ""},
		{"rd.netroot.multipath=1", true, ""},
		{"rd.netroot.multipath", true, ""},
		{"rd.netroot.multipath=0 rd.multipath=default", false, ""},
		{"rd.multipath=default rd.netroot.multipath=0", false, ""},
		{"rd.netroot.multipath=1 rd.netroot.keeper=0", true, "stays out of the map"},
	} {
		p, err := Parse(Source{Name: "/proc/cmdline", Text: base + tc.args})
		if err != nil {
			t.Errorf("%s: %v", tc.args, err)
			continue
		}
		if p.ISCSI.Multipath != tc.on {
			t.Errorf("%s: Multipath = %v, want %v", tc.args, p.ISCSI.Multipath, tc.on)
		}
		warned := strings.Join(p.Ignored, "\n")
		if tc.warning != "" && !strings.Contains(warned, tc.warning) || tc.warning == "" && warned != "" {
			t.Errorf("%s: warnings %q, want %q", tc.args, warned, tc.warning)
		}
		mods := p.NeededModules()
		for _, m := range MultipathModules {
			if slices.Contains(mods, m) != tc.on {
				t.Errorf("%s: modules %q, multipath %v", tc.args, mods, tc.on)
			}
		}
		d := p.Describe()
		if !strings.Contains(d, "    portal 10.78.0.1:3260, lun 1\n") {
			t.Errorf("%s: Describe lacks the second path:\n%s", tc.args, d)
		}
		want := "2 paths: logged in on all at once; the first to answer is kept"
		if tc.on {
			want = "2 paths: logged in on all at once, each kept as a path of the multipath map"
		}
		if !strings.Contains(d, want) {
			t.Errorf("%s: Describe lacks %q:\n%s", tc.args, want, d)
		}
	}
}
