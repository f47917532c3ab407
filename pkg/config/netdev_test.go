package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseBond(t *testing.T) {
	tests := []struct {
		in   string
		want Bond
	}{
		{"", Bond{Name: "bond0", Slaves: []string{"eth0", "eth1"}, Options: []BondOption{{"mode", "balance-rr"}}}},
		{"bond1", Bond{Name: "bond1", Slaves: []string{"eth0", "eth1"}}},
		{"bond0:eno1,eno2", Bond{Name: "bond0", Slaves: []string{"eno1", "eno2"}}},
		{"bond0:eno1,eno2:miimon=100,mode=4,lacp_rate=1,xmit_hash_policy=layer3+4:9000", Bond{
			Name: "bond0", Slaves: []string{"eno1", "eno2"}, MTU: 9000,
			Options: []BondOption{{"mode", "802.3ad"}, {"miimon", "100"}, {"lacp_rate", "fast"}, {"xmit_hash_policy", "layer3+4"}},
		}},
		{"bond0:a,b:mode=active-backup,primary=b,fail_over_mac=2,arp_interval=200,arp_ip_target=10.0.0.1;10.0.0.2,arp_validate=all",
			Bond{Name: "bond0", Slaves: []string{"a", "b"}, Options: []BondOption{
				{"mode", "active-backup"}, {"primary", "b"}, {"fail_over_mac", "follow"}, {"arp_interval", "200"},
				{"arp_ip_target", "10.0.0.1;10.0.0.2"}, {"arp_validate", "all"}}}},
		{"bond0:a,b:mode=6,miimon=100,updelay=0200,ad_select=bandwidth,primary_reselect=failure,arp_all_targets=all", Bond{
			Name: "bond0", Slaves: []string{"a", "b"}, Options: []BondOption{
				{"mode", "balance-alb"}, {"miimon", "100"}, {"updelay", "200"}, {"ad_select", "bandwidth"}, {"primary_reselect", "failure"}, {"arp_all_targets", "all"}}}},
		// The options netlink.Bond lacks, and on/off options by number.
		{"bond0:a,b:mode=802.3ad,miimon=100,lacp_active=off,coupled_control=0,peer_notif_delay=200,use_carrier=1", Bond{
			Name: "bond0", Slaves: []string{"a", "b"}, Options: []BondOption{
				{"mode", "802.3ad"}, {"miimon", "100"}, {"lacp_active", "off"}, {"coupled_control", "off"}, {"peer_notif_delay", "200"},
				{"use_carrier", "on"}}}},
		{"bond0:a,b:mode=1,arp_interval=100,arp_ip_target=10.0.0.1,arp_missed_max=3", Bond{
			Name: "bond0", Slaves: []string{"a", "b"}, Options: []BondOption{
				{"mode", "active-backup"}, {"arp_interval", "100"}, {"arp_ip_target", "10.0.0.1"}, {"arp_missed_max", "3"}}}},
	}
	for _, tt := range tests {
		got, err := ParseBond(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseBond(%q) = %+v, %v\nwant %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"bond0:a,b:mode=7", "bond0:a,b:mode=fast", "bond0:a,b:miimon=-1", "bond0:a,b:miimon=x",
		"bond0:a,b:frobnicate=1", "bond0:a,b:primary=c", "bond0:a,b:arp_ip_target=10.0.0.1;fe80::1",
		"bond0:a,b:mode", "bond0:a,b:mode=1,mode=2", "bond0:a,a", "bond0:bond0,a", "bond0:a,b::10",
		"bond0:a,b:mode=1:9000:x", "bond0:", "bond0:a,,b", ":a,b", "bond0:a,b:xmit_hash_policy=layer5",
		"bond0:a,b:lacp_rate=2", "bond0:a,b:num_grat_arp=256",
		// What the kernel refuses over netlink, or pkg/bond cannot set.
		"bond0:a,b:mode=1,lacp_rate=fast", "bond0:a,b:lacp_active=on", "bond0:a,b:use_carrier=2",
		"bond0:a,b:missed_max=2", "bond0:a,b:mode=4,ad_select=actor_port_prio", "bond0:a,b:mode=4,miimon=100,primary=a",
		"bond0:a,b:miimon=100,arp_interval=100,arp_ip_target=10.0.0.1", "bond0:a,b:miimon=100,arp_validate=all",
		"bond0:a,b:updelay=100", "bond0:a,b:mode=1,arp_interval=100", "bond0:a,b:queue_id=1",
		"bond0:a,b:arp_ip_target=0.0.0.0", "bond0:a,b:mode=1,coupled_control=off",
	} {
		if b, err := ParseBond(in); err == nil {
			t.Errorf("ParseBond(%q) = %+v, want an error", in, b)
		}
	}
}

func TestParseVLAN(t *testing.T) {
	tests := map[string]VLAN{
		"vlan0005:eth0":   {"vlan0005", "eth0", 5},
		"vlan5:eth0":      {"vlan5", "eth0", 5},
		"eth0.5:eth0":     {"eth0.5", "eth0", 5},
		"eth0.0005:eth0":  {"eth0.0005", "eth0", 5},
		"bond0.100:bond0": {"bond0.100", "bond0", 100},
	}
	for in, want := range tests {
		if got, err := ParseVLAN(in); err != nil || got != want {
			t.Errorf("ParseVLAN(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "vlan5", "vlan5:eth0:x", "foo:eth0", "vlan4095:eth0", "eth0.x:eth0", "vlan5:vlan5"} {
		if v, err := ParseVLAN(in); err == nil {
			t.Errorf("ParseVLAN(%q) = %+v, want an error", in, v)
		}
	}
}

func TestParseRenameAndBootIF(t *testing.T) {
	r, err := ParseRename("bootnet:4A:3F:4C:04:F8:D7")
	if err != nil || r.Name != "bootnet" || r.MAC.String() != "4a:3f:4c:04:f8:d7" {
		t.Errorf("ParseRename = %+v, %v", r, err)
	}
	for _, in := range []string{"bootnet", "bootnet:4a:3f", ":4a:3f:4c:04:f8:d7"} {
		if _, err := ParseRename(in); err == nil {
			t.Errorf("ParseRename(%q): want an error", in)
		}
	}
	for in, want := range map[string]string{
		"01-52-54-00-12-34-56": "52:54:00:12:34:56",
		"52-54-00-12-34-56":    "52:54:00:12:34:56",
		"52:54:00:12:34:56":    "52:54:00:12:34:56",
		"01-AA-BB-CC-DD-EE-FF": "aa:bb:cc:dd:ee:ff",
	} {
		if m, err := ParseBootIF(in); err != nil || m.String() != want {
			t.Errorf("ParseBootIF(%q) = %v, %v; want %s", in, m, err, want)
		}
	}
	if _, err := ParseBootIF("01-52-54"); err == nil {
		t.Error("ParseBootIF(01-52-54): want an error")
	}
}

func TestParseBondReportsEveryBadOption(t *testing.T) {
	_, err := ParseBond("bond0:eth0,eth1:mode=nope,miimon=abc,miimon=100,foo=1,xyz")
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, ErrSyntax) || !errors.Is(err, ErrConflict) {
		t.Errorf("err %v: want both ErrSyntax and ErrConflict", err)
	}
	for _, want := range []string{`mode="nope"`, `"abc"`, "miimon given twice", `"foo"`, `"xyz" is not name=value`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("err spans lines: %q", err)
	}
}

func TestOrderVLANs(t *testing.T) {
	v := func(name, parent string) VLAN { return VLAN{Name: name, Parent: parent} }
	names := func(vs []VLAN) string {
		var out []string
		for _, x := range vs {
			out = append(out, x.Name)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		in        []VLAN
		want, err string
	}{
		{nil, "", ""},
		{[]VLAN{v("eth0.5", "eth0"), v("eth1.5", "eth1")}, "eth0.5 eth1.5", ""},
		{[]VLAN{v("eth0.5.6", "eth0.5"), v("eth0.5", "eth0")}, "eth0.5 eth0.5.6", ""},
		{[]VLAN{v("vlan7", "eth0.5.6"), v("eth2.9", "eth2"), v("eth0.5.6", "eth0.5"), v("eth0.5", "bond0")}, "eth0.5 eth0.5.6 vlan7 eth2.9", ""},
		{[]VLAN{v("a.5", "b.6"), v("b.6", "a.5")}, "", "cycle (a.5 on b.6 on a.5)"},
		{[]VLAN{v("c.1", "a.5"), v("a.5", "b.6"), v("b.6", "a.5")}, "", "cycle (a.5 on b.6 on a.5)"},
	} {
		got, err := OrderVLANs(tc.in)
		switch {
		case tc.err != "" && (err == nil || !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("OrderVLANs(%s): err = %v, want %q", names(tc.in), err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("OrderVLANs(%s): %v", names(tc.in), err)
		case tc.err == "" && names(got) != tc.want:
			t.Errorf("OrderVLANs(%s) = %s, want %s", names(tc.in), names(got), tc.want)
		}
	}
}
