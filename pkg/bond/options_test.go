package bond

import (
	"encoding/binary"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func TestTranslate(t *testing.T) {
	tr, err := Translate("bond0", []Option{
		{"mode", "802.3ad"}, {"miimon", "100"}, {"lacp_rate", "fast"},
		{"xmit_hash_policy", "layer3+4"}, {"ad_select", "2"},
		{"num_grat_arp", "3"}, {"min_links", "1"}, {"use_carrier", "on"},
		{"lacp_active", "off"}, {"coupled_control", "0"}, {"peer_notif_delay", "200"},
		{"ad_actor_system", "02:00:00:00:00:01"},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := tr.Link
	if b.Name != "bond0" || b.Mode != netlink.BOND_MODE_802_3AD || b.Miimon != 100 ||
		b.LacpRate != netlink.BOND_LACP_RATE_FAST || b.XmitHashPolicy != netlink.BOND_XMIT_HASH_POLICY_LAYER3_4 ||
		b.AdSelect != netlink.BOND_AD_SELECT_COUNT || b.NumPeerNotif != 3 || b.MinLinks != 1 || b.UseCarrier != 1 ||
		b.AdActorSystem.String() != "02:00:00:00:00:01" {
		t.Errorf("Link = %+v", b)
	}
	// Unset options stay at netlink's "not set" (-1) so the kernel default applies.
	if b.UpDelay != -1 || b.DownDelay != -1 || b.ArpInterval != -1 {
		t.Errorf("unset options changed: %+v", b)
	}
	want := []Attr{
		{Option: "lacp_active", Type: unix.IFLA_BOND_AD_LACP_ACTIVE, Value: []byte{0}},
		{Option: "coupled_control", Type: unix.IFLA_BOND_COUPLED_CONTROL, Value: []byte{0}},
		{Option: "peer_notif_delay", Type: unix.IFLA_BOND_PEER_NOTIF_DELAY, Value: binary.NativeEndian.AppendUint32(nil, 200)},
	}
	if len(tr.Extra) != len(want) {
		t.Fatalf("Extra = %+v", tr.Extra)
	}
	for i, w := range want {
		g := tr.Extra[i]
		if g.Option != w.Option || g.Type != w.Type || string(g.Value) != string(w.Value) {
			t.Errorf("Extra[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestTranslateARPAndSlaves(t *testing.T) {
	tr, err := Translate("bond0", []Option{
		{"mode", "1"}, {"arp_interval", "200"}, {"arp_ip_target", "10.0.0.1;10.0.0.2"},
		{"ns_ip6_target", "2001:db8::1"}, {"arp_missed_max", "default"}, {"primary", "eth1"}, {"arp_validate", "filter"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Link.Mode != netlink.BOND_MODE_ACTIVE_BACKUP || tr.Link.ArpInterval != 200 || tr.Link.ArpValidate != 4 {
		t.Errorf("Link = %+v", tr.Link)
	}
	if len(tr.Link.ArpIpTargets) != 2 || !tr.Link.ArpIpTargets[1].Equal(net.ParseIP("10.0.0.2")) {
		t.Errorf("arp targets = %v", tr.Link.ArpIpTargets)
	}
	if tr.ByName["primary"] != "eth1" {
		t.Errorf("ByName = %v", tr.ByName)
	}
	if len(tr.Extra) != 2 || tr.Extra[0].Type != unix.IFLA_BOND_NS_IP6_TARGET || len(tr.Extra[0].Nested) != 1 ||
		net.IP(tr.Extra[0].Nested[0]).String() != "2001:db8::1" || tr.Extra[1].Option != "arp_missed_max" || tr.Extra[1].Value[0] != 2 {
		t.Errorf("Extra = %+v", tr.Extra)
	}
}

func TestCheckOptions(t *testing.T) {
	for _, tc := range []struct {
		opts   []Option
		slaves []string
		want   string // "" = valid
	}{
		{[]Option{{"mode", "active-backup"}, {"miimon", "100"}}, nil, ""},
		{[]Option{{"mode", "balance-rr"}, {"use_carrier", "1"}, {"miimon", "off"}}, nil, ""},
		{[]Option{{"mode", "fastest"}}, nil, "want one of balance-rr, active-backup"},
		{[]Option{{"mode", "7"}}, nil, "mode"},
		{[]Option{{"miimon", "-1"}}, nil, "from 0 to 2147483647"},
		{[]Option{{"miimon", "1e3"}}, nil, "miimon"},
		{[]Option{{"use_carrier", "2"}}, nil, "use_carrier"},
		{[]Option{{"arp_ip_target", "10.0.0.1;fe80::1"}}, nil, "not an IPv4 address"},
		{[]Option{{"arp_ip_target", "10.0.0.1;10.0.0.1"}}, nil, "listed twice"},
		{[]Option{{"arp_ip_target", "255.255.255.255"}}, nil, "cannot be an ARP target"},
		{[]Option{{"ns_ip6_target", "ff02::1"}}, nil, "cannot be an NS target"},
		{[]Option{{"frobnicate", "1"}}, nil, `unknown bond option "frobnicate"`},
		{[]Option{{"missed_max", "3"}}, nil, "arp_missed_max"},
		{[]Option{{"queue_id", "3"}}, nil, "per-slave"},
		{[]Option{{"mode", "802.3ad"}, {"broadcast_neighbor", "on"}}, nil, "neither over netlink nor through sysfs"},
		{[]Option{{"ad_actor_system", "zz"}}, nil, "MAC"},
		{[]Option{{"mode", "802.3ad"}, {"ad_actor_system", "01:00:5e:00:00:01"}}, nil, "unicast"},
		{[]Option{{"mode", "802.3ad"}, {"ad_select", "actor_port_prio"}}, nil, "want one of stable, bandwidth, count"},
		{[]Option{{"mode", "active-backup"}, {"lacp_rate", "fast"}}, nil, "applies only to mode 802.3ad"},
		{[]Option{{"lacp_active", "on"}}, nil, "refuses it in mode balance-rr"},
		{[]Option{{"mode", "802.3ad"}, {"primary", "eth0"}}, nil, "applies only to mode active-backup or balance-tlb or balance-alb"},
		{[]Option{{"mode", "802.3ad"}, {"arp_interval", "100"}}, nil, "applies only to mode"},
		{[]Option{{"mode", "1"}, {"primary", "eth9"}}, []string{"eth0", "eth1"}, "not one of the slaves"},
		{[]Option{{"miimon", "100"}, {"arp_interval", "100"}, {"arp_ip_target", "10.0.0.1"}}, nil, "exclude each other"},
		{[]Option{{"miimon", "100"}, {"arp_validate", "all"}}, nil, "arp_validate needs ARP monitoring"},
		{[]Option{{"updelay", "200"}}, nil, "needs miimon > 0"},
		{[]Option{{"mode", "1"}, {"peer_notif_delay", "200"}}, nil, "needs miimon > 0"},
		{[]Option{{"arp_interval", "100"}}, nil, "needs arp_ip_target"},
		{[]Option{{"miimon", "100"}, {"miimon", "200"}}, nil, "given twice"},
		{[]Option{{"num_grat_arp", "1"}, {"num_unsol_na", "2"}}, nil, "one setting"},
		{[]Option{{"lacp_rate", "default"}}, nil, "lacp_rate"}, // no default flagged in the kernel's table
		{[]Option{{"peer_notif_delay", "default"}, {"miimon", "1"}}, nil, "peer_notif_delay"},
	} {
		errs := CheckOptions(tc.opts, tc.slaves)
		var msg []string
		for _, e := range errs {
			msg = append(msg, e.Error())
		}
		got := strings.Join(msg, "; ")
		switch {
		case tc.want == "" && got != "":
			t.Errorf("%v: %s", tc.opts, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("%v: got %q, want it to mention %q", tc.opts, got, tc.want)
		}
		if _, err := Translate("bond0", tc.opts); (err == nil) != (tc.want == "" || tc.slaves != nil) {
			t.Errorf("%v: Translate err = %v", tc.opts, err)
		}
	}
}

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"mode", "4", "802.3ad"}, {"mode", "default", "balance-rr"}, {"use_carrier", "default", "on"},
		{"coupled_control", "1", "on"}, {"miimon", "off", "0"}, {"miimon", "0100", "100"},
		{"arp_missed_max", "default", "2"}, {"ad_actor_sys_prio", "default", "65535"},
		{"ad_actor_system", "02-00-00-00-00-0A", "02:00:00:00:00:0a"},
		{"arp_ip_target", "10.0.0.1;[10.0.0.2]", "10.0.0.1;10.0.0.2"},
		{"ns_ip6_target", "[2001:DB8::1]", "2001:db8::1"},
	} {
		s, ok := Lookup(tc.name)
		if !ok {
			t.Fatalf("no option %s", tc.name)
		}
		got, err := s.Canonical(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s=%s: %q, %v; want %q", tc.name, tc.in, got, err, tc.want)
		}
	}
}

// TestSpecsNetlink checks that every option the table sets through
// netlink.Bond lands in a field netlink sends, and that the others carry
// an attribute of their own.
func TestSpecsNetlink(t *testing.T) {
	for _, s := range Specs() {
		if s.Kind == KindSlave {
			if s.Attr != 0 {
				t.Errorf("%s names a slave and is set through sysfs, yet has attribute %d", s.Name, s.Attr)
			}
			continue
		}
		if s.Attr == 0 {
			t.Errorf("%s: no netlink attribute", s.Name)
		}
		// The netlink policies of Debian 12's and 13's bonding modules
		// end at IFLA_BOND_COUPLED_CONTROL (33 entries, 528 bytes).
		if s.Attr > unix.IFLA_BOND_COUPLED_CONTROL {
			t.Errorf("%s: attribute %d is beyond what the Debian kernels take", s.Name, s.Attr)
		}
		if (s.Kind == KindEnum || s.Kind == KindNumber) && s.Size == 0 {
			t.Errorf("%s: no attribute size", s.Name)
		}
		if s.field == nil {
			continue
		}
		b := netlink.NewLinkBond(netlink.LinkAttrs{})
		s.field(b, 1)
		if reflect.DeepEqual(b, netlink.NewLinkBond(netlink.LinkAttrs{})) {
			t.Errorf("%s: its setter changed nothing", s.Name)
		}
	}
	// Names are unique.
	seen := map[string]bool{}
	for _, s := range Specs() {
		if seen[s.Name] {
			t.Errorf("%s twice", s.Name)
		}
		seen[s.Name] = true
	}
}

func TestInfoDataTypes(t *testing.T) {
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bond"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA|unix.NLA_F_NESTED, nil)
	data.AddRtAttr(unix.IFLA_BOND_MODE, []byte{4})
	data.AddRtAttr(unix.IFLA_BOND_AD_LACP_ACTIVE, []byte{1})
	n := data.AddRtAttr(unix.IFLA_BOND_NS_IP6_TARGET|unix.NLA_F_NESTED, nil)
	n.AddRtAttr(0, make([]byte, 16))
	b := append(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(1500)).Serialize(), info.Serialize()...)
	got, err := infoDataTypes(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got[unix.IFLA_BOND_MODE] || !got[unix.IFLA_BOND_AD_LACP_ACTIVE] || !got[unix.IFLA_BOND_NS_IP6_TARGET] || got[unix.IFLA_BOND_MISSED_MAX] || len(got) != 3 {
		t.Errorf("types = %v", got)
	}
	if _, err := infoDataTypes([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}); err == nil {
		t.Error("garbage: no error")
	}
}

func TestOrderSlaves(t *testing.T) {
	got := strings.Join(orderSlaves([]string{"eth0", "eth1", "eth2"}, "eth2"), ",")
	if got != "eth2,eth0,eth1" {
		t.Errorf("orderSlaves = %s", got)
	}
	got = strings.Join(orderSlaves([]string{"eth0", "eth1"}, ""), ",")
	if got != "eth0,eth1" {
		t.Errorf("orderSlaves without primary = %s", got)
	}
}

func TestResultString(t *testing.T) {
	r := &Result{Name: "bond0", Mode: "active-backup", MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x10},
		Slaves: []Slave{{Name: "eth0", Up: true, Active: true}, {Name: "eth1", Up: true}, {Name: "eth2"}}}
	want := "bond0 active-backup 52:54:00:77:00:10: eth0 active, eth1 backup, eth2 DOWN (no carrier)"
	if got := r.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// FuzzCheckOptions: options CheckOptions accepts, Translate turns into
// attributes, each of the right size.
func FuzzCheckOptions(f *testing.F) {
	f.Add("mode", "802.3ad", "lacp_active", "off")
	f.Add("mode", "1", "arp_ip_target", "10.0.0.1;10.0.0.2")
	f.Add("miimon", "100", "peer_notif_delay", "maxval")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		opts := []Option{{n1, v1}, {n2, v2}}
		if len(CheckOptions(opts, nil)) > 0 {
			return
		}
		tr, err := Translate("bond0", opts)
		if err != nil {
			t.Fatalf("%v: CheckOptions accepts, Translate refuses: %v", opts, err)
		}
		for _, a := range tr.Extra {
			s, _ := Lookup(a.Option)
			if a.Nested == nil && len(a.Value) != s.Size {
				t.Fatalf("%v: attribute %+v of size %d", opts, a, len(a.Value))
			}
		}
	})
}
