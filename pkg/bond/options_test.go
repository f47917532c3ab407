package bond

import (
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestAttrs(t *testing.T) {
	b, byName, err := Attrs("bond0", []Option{
		{"mode", "802.3ad"}, {"miimon", "100"}, {"lacp_rate", "fast"},
		{"xmit_hash_policy", "layer3+4"}, {"arp_ip_target", "10.0.0.1;10.0.0.2"},
		{"primary", "eth1"}, {"arp_validate", "filter"}, {"ad_select", "2"},
		{"num_grat_arp", "3"}, {"min_links", "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "bond0" || b.Mode != netlink.BOND_MODE_802_3AD || b.Miimon != 100 ||
		b.LacpRate != netlink.BOND_LACP_RATE_FAST || b.XmitHashPolicy != netlink.BOND_XMIT_HASH_POLICY_LAYER3_4 ||
		b.ArpValidate != 4 || b.AdSelect != netlink.BOND_AD_SELECT_COUNT || b.NumPeerNotif != 3 || b.MinLinks != 1 {
		t.Errorf("Attrs = %+v", b)
	}
	if len(b.ArpIpTargets) != 2 || !b.ArpIpTargets[1].Equal(net.ParseIP("10.0.0.2")) {
		t.Errorf("arp targets = %v", b.ArpIpTargets)
	}
	if byName["primary"] != "eth1" {
		t.Errorf("byName = %v", byName)
	}
	// Unset options stay at netlink's "not set" (-1) so the kernel default applies.
	if b.UpDelay != -1 || b.DownDelay != -1 {
		t.Errorf("unset options changed: updelay %d downdelay %d", b.UpDelay, b.DownDelay)
	}
}

func TestAttrsModeByNumber(t *testing.T) {
	b, _, err := Attrs("bond0", []Option{{"mode", "1"}})
	if err != nil || b.Mode != netlink.BOND_MODE_ACTIVE_BACKUP {
		t.Fatalf("mode=1: %v %v", b.Mode, err)
	}
}

func TestAttrsErrors(t *testing.T) {
	for _, tc := range []struct {
		opt  Option
		want string
	}{
		{Option{"mode", "fastest"}, "want one of balance-rr, active-backup"},
		{Option{"mode", "7"}, "mode"},
		{Option{"miimon", "-1"}, "miimon"},
		{Option{"miimon", "1e3"}, "integer"},
		{Option{"use_carrier", "2"}, "from 0 to 1"},
		{Option{"arp_ip_target", "10.0.0.1;fe80::1"}, "not an IPv4 address"},
		{Option{"frobnicate", "1"}, `"frobnicate" is not a bonding driver option`},
		{Option{"ad_actor_system", "zz"}, "MAC"},
	} {
		_, _, err := Attrs("bond0", []Option{tc.opt})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.opt, err, tc.want)
		}
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
