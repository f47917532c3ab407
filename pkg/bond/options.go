// Package bond builds a Linux bonding interface over netlink: it creates
// the bond with its mode and options and brings it up (Create: that needs
// only the bonding module, so it can run while the NICs' drivers probe),
// then enslaves the NICs and waits on link events until it carries
// traffic (Bond.Enslave).
//
// Options use the bonding driver's own names and values (miimon=100,
// mode=active-backup, arp_ip_target=10.0.0.1;10.0.0.2 …) as dracut's bond=
// passes them. One table, Specs, describes them as the kernel's
// bond_options.c does (kinds, names in the order of their values, ranges,
// the modes each applies to, the netlink attribute each sets); CheckOptions
// validates a bond's options against it, as netroot check does through
// pkg/config, and Translate turns them into netlink attributes, so that
// whatever passes the check is what Create applies. Both are pure and
// unit-tested; the netlink side is proven in the QEMU boot tests.
package bond

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// Option is one bonding driver option, e.g. {"miimon", "100"}.
type Option struct {
	Name  string
	Value string
}

// Kind is how an option's value is written.
type Kind int

// The kinds of option values.
const (
	// KindEnum is one of Names, or its number (its index in Names).
	KindEnum Kind = iota
	// KindNumber is a decimal number in [Min, Max], or one of Named.
	KindNumber
	// KindMAC is an Ethernet address.
	KindMAC
	// KindIPv4Targets is up to 16 IPv4 addresses separated by ';'.
	KindIPv4Targets
	// KindIPv6Targets is up to 16 IPv6 addresses separated by ';'.
	KindIPv6Targets
	// KindSlave names one of the bond's slaves.
	KindSlave
)

// The bonding modes, in the order of their numbers.
const (
	ModeBalanceRR = iota
	ModeActiveBackup
	ModeBalanceXOR
	ModeBroadcast
	Mode8023AD
	ModeBalanceTLB
	ModeBalanceALB
)

// modeNames are the bonding modes' names, in the order of their numbers.
var modeNames = []string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}

// modeSet is a set of modes, bit n standing for mode n.
type modeSet uint8

func modes(ms ...int) modeSet {
	var s modeSet
	for _, m := range ms {
		s |= 1 << m
	}
	return s
}

func (s modeSet) has(mode int) bool { return s == 0 || s&(1<<mode) != 0 }

func (s modeSet) String() string {
	var names []string
	for m, n := range modeNames {
		if s&(1<<m) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// Spec describes one bonding driver option as drivers/net/bonding/
// bond_options.c and bond_netlink.c do (checked against the bonding
// modules of Debian 12's 6.1 and Debian 13's 6.12 kernels, whose option
// tables are the same).
type Spec struct {
	Name string
	Kind Kind
	// Names are a KindEnum's names in the order of their values.
	Names []string
	// Min and Max bound a KindNumber; Named are the names the kernel
	// accepts for some of its numbers ("off", "maxval" …).
	Min, Max int
	Named    map[string]int
	// Default is the value the kernel's table flags as the default,
	// which "default" names; -1 when none is.
	Default int
	// Modes are the bonding modes the option applies to (the kernel
	// refuses it in the others); empty means every mode.
	Modes modeSet
	// NeedsMIIMon is set for the delays the kernel refuses unless MII
	// monitoring is on (miimon > 0).
	NeedsMIIMon bool
	// Attr is the IFLA_BOND_* attribute the option sets, Size its width
	// in bytes for numbers; Attr is 0 for the options set through sysfs
	// once the slaves are enslaved (they name a slave).
	Attr uint16
	Size int
	// field sets the option on netlink.Bond; nil when netlink.Bond lacks
	// it and the attribute is sent by itself after creation.
	field func(b *netlink.Bond, v int)
}

// onOff is the kernel's off/on table.
var onOff = []string{"off", "on"}

// intMax is the kernel's "off"/"maxval" table (bond_intmax_tbl).
var intMax = map[string]int{"off": 0, "maxval": 1<<31 - 1}

// peerNotif is bond_num_peer_notif_tbl (and bond_resend_igmp_tbl).
var peerNotif = map[string]int{"off": 0, "maxval": 255}

var specs = []Spec{
	{Name: "mode", Kind: KindEnum, Names: modeNames, Attr: iflaBondMode, Size: 1,
		field: func(b *netlink.Bond, v int) { b.Mode = netlink.BondMode(v) }},
	{Name: "packets_per_slave", Kind: KindNumber, Min: 0, Max: 65535, Named: map[string]int{"maxval": 65535}, Default: 1,
		Modes: modes(ModeBalanceRR), Attr: iflaBondPacketsPerSlave, Size: 4,
		field: func(b *netlink.Bond, v int) { b.PacketsPerSlave = v }},
	{Name: "xmit_hash_policy", Kind: KindEnum, Names: []string{"layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"},
		Attr: iflaBondXmitHashPolicy, Size: 1,
		field: func(b *netlink.Bond, v int) { b.XmitHashPolicy = netlink.BondXmitHashPolicy(v) }},
	{Name: "arp_validate", Kind: KindEnum, Names: []string{"none", "active", "backup", "all", "filter", "filter_active", "filter_backup"},
		Modes: modes(ModeBalanceRR, ModeActiveBackup, ModeBalanceXOR, ModeBroadcast), Attr: iflaBondArpValidate, Size: 4,
		field: func(b *netlink.Bond, v int) { b.ArpValidate = netlink.BondArpValidate(v) }},
	{Name: "arp_all_targets", Kind: KindEnum, Names: []string{"any", "all"}, Attr: iflaBondArpAllTargets, Size: 4,
		field: func(b *netlink.Bond, v int) { b.ArpAllTargets = netlink.BondArpAllTargets(v) }},
	{Name: "fail_over_mac", Kind: KindEnum, Names: []string{"none", "active", "follow"}, Attr: iflaBondFailOverMac, Size: 1,
		field: func(b *netlink.Bond, v int) { b.FailOverMac = netlink.BondFailOverMac(v) }},
	{Name: "arp_interval", Kind: KindNumber, Min: 0, Max: 1<<31 - 1, Named: intMax,
		Modes: modes(ModeBalanceRR, ModeActiveBackup, ModeBalanceXOR, ModeBroadcast), Attr: iflaBondArpInterval, Size: 4,
		field: func(b *netlink.Bond, v int) { b.ArpInterval = v }},
	{Name: "arp_ip_target", Kind: KindIPv4Targets, Attr: iflaBondArpIPTarget},
	{Name: "downdelay", Kind: KindNumber, Min: 0, Max: 1<<31 - 1, Named: intMax, NeedsMIIMon: true, Attr: iflaBondDowndelay, Size: 4,
		field: func(b *netlink.Bond, v int) { b.DownDelay = v }},
	{Name: "updelay", Kind: KindNumber, Min: 0, Max: 1<<31 - 1, Named: intMax, NeedsMIIMon: true, Attr: iflaBondUpdelay, Size: 4,
		field: func(b *netlink.Bond, v int) { b.UpDelay = v }},
	{Name: "lacp_rate", Kind: KindEnum, Names: []string{"slow", "fast"}, Default: -1, Modes: modes(Mode8023AD), Attr: iflaBondAdLacpRate, Size: 1,
		field: func(b *netlink.Bond, v int) { b.LacpRate = netlink.BondLacpRate(v) }},
	{Name: "min_links", Kind: KindNumber, Min: 0, Max: 1<<31 - 1, Named: intMax, Attr: iflaBondMinLinks, Size: 4,
		field: func(b *netlink.Bond, v int) { b.MinLinks = v }},
	// ad_select=actor_port_prio (Linux 6.18) is in neither Debian kernel.
	{Name: "ad_select", Kind: KindEnum, Names: []string{"stable", "bandwidth", "count"}, Attr: iflaBondAdSelect, Size: 1,
		field: func(b *netlink.Bond, v int) { b.AdSelect = netlink.BondAdSelect(v) }},
	// num_grat_arp and num_unsol_na are one setting (IFLA_BOND_NUM_PEER_NOTIF).
	{Name: "num_unsol_na", Kind: KindNumber, Min: 0, Max: 255, Named: peerNotif, Default: 1,
		Attr: iflaBondNumPeerNotif, Size: 1, field: func(b *netlink.Bond, v int) { b.NumPeerNotif = v }},
	{Name: "num_grat_arp", Kind: KindNumber, Min: 0, Max: 255, Named: peerNotif, Default: 1,
		Attr: iflaBondNumPeerNotif, Size: 1, field: func(b *netlink.Bond, v int) { b.NumPeerNotif = v }},
	{Name: "miimon", Kind: KindNumber, Min: 0, Max: 1<<31 - 1, Named: intMax, Attr: iflaBondMiimon, Size: 4,
		field: func(b *netlink.Bond, v int) { b.Miimon = v }},
	{Name: "primary", Kind: KindSlave, Modes: modes(ModeActiveBackup, ModeBalanceTLB, ModeBalanceALB)},
	{Name: "primary_reselect", Kind: KindEnum, Names: []string{"always", "better", "failure"}, Attr: iflaBondPrimaryReselect, Size: 1,
		field: func(b *netlink.Bond, v int) { b.PrimaryReselect = netlink.BondPrimaryReselect(v) }},
	{Name: "use_carrier", Kind: KindEnum, Names: onOff, Default: 1, Attr: iflaBondUseCarrier, Size: 1,
		field: func(b *netlink.Bond, v int) { b.UseCarrier = v }},
	{Name: "active_slave", Kind: KindSlave, Modes: modes(ModeActiveBackup, ModeBalanceTLB, ModeBalanceALB)},
	{Name: "all_slaves_active", Kind: KindEnum, Names: onOff, Attr: iflaBondAllSlavesActive, Size: 1,
		field: func(b *netlink.Bond, v int) { b.AllSlavesActive = v }},
	{Name: "resend_igmp", Kind: KindNumber, Min: 0, Max: 255, Named: peerNotif, Default: 1,
		Attr: iflaBondResendIgmp, Size: 4, field: func(b *netlink.Bond, v int) { b.ResendIgmp = v }},
	{Name: "lp_interval", Kind: KindNumber, Min: 1, Max: 1<<31 - 1, Named: map[string]int{"minval": 1, "maxval": 1<<31 - 1}, Default: 1,
		Attr: iflaBondLpInterval, Size: 4, field: func(b *netlink.Bond, v int) { b.LpInterval = v }},
	{Name: "tlb_dynamic_lb", Kind: KindEnum, Names: onOff, Default: 1, Modes: modes(ModeBalanceTLB, ModeBalanceALB), Attr: iflaBondTlbDynamicLb, Size: 1,
		field: func(b *netlink.Bond, v int) { b.TlbDynamicLb = v }},
	{Name: "ad_actor_sys_prio", Kind: KindNumber, Min: 1, Max: 65535, Named: map[string]int{"minval": 1, "maxval": 65535}, Default: 65535,
		Modes: modes(Mode8023AD), Attr: iflaBondAdActorSysPrio, Size: 2,
		field: func(b *netlink.Bond, v int) { b.AdActorSysPrio = v }},
	{Name: "ad_actor_system", Kind: KindMAC, Modes: modes(Mode8023AD), Attr: iflaBondAdActorSystem},
	{Name: "ad_user_port_key", Kind: KindNumber, Min: 0, Max: 1023, Named: map[string]int{"minval": 0, "maxval": 1023},
		Modes: modes(Mode8023AD), Attr: iflaBondAdUserPortKey, Size: 2,
		field: func(b *netlink.Bond, v int) { b.AdUserPortKey = v }},
	// The options below are newer than netlink.Bond: Create sends them
	// in a request of their own before the bond goes up.
	{Name: "peer_notif_delay", Kind: KindNumber, Min: 0, Max: 300000, Named: map[string]int{"off": 0, "maxval": 300000}, Default: -1,
		NeedsMIIMon: true, Attr: iflaBondPeerNotifDelay, Size: 4},
	{Name: "lacp_active", Kind: KindEnum, Names: onOff, Default: 1, Modes: modes(Mode8023AD), Attr: iflaBondAdLacpActive, Size: 1},
	{Name: "arp_missed_max", Kind: KindNumber, Min: 1, Max: 255, Named: map[string]int{"minval": 1, "maxval": 255}, Default: 2,
		Modes: modes(ModeBalanceRR, ModeActiveBackup, ModeBalanceXOR, ModeBroadcast), Attr: iflaBondMissedMax, Size: 1},
	{Name: "ns_ip6_target", Kind: KindIPv6Targets, Attr: iflaBondNsIP6Target},
	{Name: "coupled_control", Kind: KindEnum, Names: onOff, Default: 1, Modes: modes(Mode8023AD), Attr: iflaBondCoupledControl, Size: 1},
}

// notBondOptions are names bond_options.c knows that bond= cannot set,
// with why.
var notBondOptions = map[string]string{
	"slaves":          "the slaves are bond='s second field",
	"queue_id":        "it is a per-slave option",
	"prio":            "it is a per-slave option",
	"actor_port_prio": "it is a per-slave option",
	"missed_max":      "the bonding driver calls it arp_missed_max",
	// The option tables of Debian 12's and 13's bonding modules have it,
	// but their netlink policies end at IFLA_BOND_COUPLED_CONTROL and
	// their sysfs has no file for it: nothing can set it there.
	"broadcast_neighbor": "the Debian 12 and 13 kernels take it neither over netlink nor through sysfs",
	"max_bonds":          "it is a parameter of the bonding module (bonding.max_bonds=)",
	"tx_queues":          "it is a parameter of the bonding module (bonding.tx_queues=)",
}

// Specs returns the table of the bonding options bond= may set.
func Specs() []Spec { return append([]Spec(nil), specs...) }

// Lookup returns the option named name.
func Lookup(name string) (Spec, bool) {
	for _, s := range specs {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// ModesString names the modes the option applies to, "" for every mode.
func (s Spec) ModesString() string { return s.Modes.String() }

// maxTargets is BOND_MAX_ARP_TARGETS (and BOND_MAX_NS_TARGETS).
const maxTargets = 16

// Value returns the numeric value of an enum or number option as the
// kernel's bond_opt_parse reads it: a name from its table, "default" where
// the table flags one, or digits (an enum's number, or a number in range).
func (s Spec) Value(value string) (int, error) {
	if value == "default" && s.Default >= 0 && (s.Kind == KindEnum || s.Kind == KindNumber) {
		return s.Default, nil
	}
	switch s.Kind {
	case KindEnum:
		for i, n := range s.Names {
			if value == n {
				return i, nil
			}
		}
		if isDigits(value) {
			if n, err := strconv.Atoi(value); err == nil && n < len(s.Names) {
				return n, nil
			}
		}
		return 0, fmt.Errorf("bond option %s=%q: want one of %s (or 0-%d)", s.Name, value, strings.Join(s.Names, ", "), len(s.Names)-1)
	case KindNumber:
		if n, ok := s.Named[value]; ok {
			return n, nil
		}
		if isDigits(value) {
			if n, err := strconv.Atoi(value); err == nil && n >= s.Min && n <= s.Max {
				return n, nil
			}
		}
		return 0, fmt.Errorf("bond option %s=%q: want a number from %d to %d", s.Name, value, s.Min, s.Max)
	}
	return 0, fmt.Errorf("bond option %s is not a number", s.Name)
}

// Canonical validates value and returns it as the table spells it: an
// enum's name, a number in decimal, a MAC address in lower case, targets
// separated by ';'.
func (s Spec) Canonical(value string) (string, error) {
	switch s.Kind {
	case KindEnum:
		v, err := s.Value(value)
		if err != nil {
			return "", err
		}
		return s.Names[v], nil
	case KindNumber:
		v, err := s.Value(value)
		if err != nil {
			return "", err
		}
		return strconv.Itoa(v), nil
	case KindMAC:
		m, err := net.ParseMAC(value)
		if err != nil || len(m) != 6 {
			return "", fmt.Errorf("bond option %s=%q: want an Ethernet MAC address", s.Name, value)
		}
		if m[0]&1 != 0 || isZero(m) {
			// bond_option_ad_actor_system_set: is_multicast_ether_addr
			return "", fmt.Errorf("bond option %s=%s: want a unicast MAC address", s.Name, m)
		}
		return m.String(), nil
	case KindIPv4Targets, KindIPv6Targets:
		addrs, err := s.targets(value)
		if err != nil {
			return "", err
		}
		out := make([]string, len(addrs))
		for i, a := range addrs {
			out[i] = a.String()
		}
		return strings.Join(out, ";"), nil
	case KindSlave:
		if value == "" || len(value) > 15 || strings.ContainsAny(value, "/: \t") {
			return "", fmt.Errorf("bond option %s=%q: want an interface name", s.Name, value)
		}
		return value, nil
	}
	return "", fmt.Errorf("bond option %s: unknown kind", s.Name)
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// targets parses a ';'-separated list of ARP (IPv4) or NS (IPv6) targets
// as bond_options.c accepts them: no broadcast or 0.0.0.0/8 ARP target,
// no unspecified, loopback or multicast NS target, no repeats, at most 16.
func (s Spec) targets(value string) ([]netip.Addr, error) {
	fields := strings.Split(value, ";")
	if len(fields) > maxTargets {
		return nil, fmt.Errorf("bond option %s: more than %d targets", s.Name, maxTargets)
	}
	v4 := s.Kind == KindIPv4Targets
	var out []netip.Addr
	for _, f := range fields {
		a, err := netip.ParseAddr(strings.Trim(f, "[]"))
		switch {
		case err != nil || a.Zone() != "" || a.Is4() != v4 || a.Is4In6():
			fam := "IPv4"
			if !v4 {
				fam = "IPv6"
			}
			return nil, fmt.Errorf("bond option %s: %q is not an %s address", s.Name, f, fam)
		case v4 && (a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || a.As4()[0] == 0):
			return nil, fmt.Errorf("bond option %s: %s cannot be an ARP target", s.Name, a)
		case !v4 && (a.IsUnspecified() || a.IsLoopback() || a.IsMulticast()):
			return nil, fmt.Errorf("bond option %s: %s cannot be an NS target", s.Name, a)
		}
		for _, o := range out {
			if o == a {
				return nil, fmt.Errorf("bond option %s: %s is listed twice", s.Name, a)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ModeName returns the kernel's name of a mode given by name or number.
func ModeName(value string) (string, error) {
	s, _ := Lookup("mode")
	return s.Canonical(value)
}

// CheckOptions validates a bond's options as Create will apply them: each
// option's name and value, no option twice, and the rules the kernel
// enforces between them: the modes an option applies to (the default
// mode is balance-rr), no MII monitoring together with ARP monitoring or
// ARP validation (bond_netlink.c refuses both in one request), delays
// only with MII monitoring, ARP monitoring only with a target, and
// primary/active_slave among the slaves (when slaves is not nil). It
// returns every problem, each naming its option.
func CheckOptions(opts []Option, slaves []string) []error {
	var errs []error
	seen := map[string]bool{}
	vals := map[string]int{}
	mode := ModeBalanceRR
	modeSpec, _ := Lookup("mode")
	for _, o := range opts {
		if o.Name == "mode" {
			if v, err := modeSpec.Value(o.Value); err == nil {
				mode = v
			}
		}
	}
	for _, o := range opts {
		s, ok := Lookup(o.Name)
		if !ok {
			if why, known := notBondOptions[o.Name]; known {
				errs = append(errs, fmt.Errorf("bond option %s cannot be set by bond=: %s", o.Name, why))
			} else {
				errs = append(errs, fmt.Errorf("unknown bond option %q", o.Name))
			}
			continue
		}
		if seen[o.Name] {
			errs = append(errs, fmt.Errorf("bond option %s given twice", o.Name))
			continue
		}
		seen[o.Name] = true
		if _, err := s.Canonical(o.Value); err != nil {
			errs = append(errs, err)
			continue
		}
		if !s.Modes.has(mode) {
			errs = append(errs, fmt.Errorf("bond option %s applies only to mode %s; the kernel refuses it in mode %s",
				o.Name, strings.ReplaceAll(s.Modes.String(), ", ", " or "), modeNames[mode]))
			continue
		}
		if s.Kind == KindEnum || s.Kind == KindNumber {
			vals[o.Name], _ = s.Value(o.Value)
		}
		if s.Kind == KindSlave && slaves != nil && !contains(slaves, o.Value) {
			errs = append(errs, fmt.Errorf("bond option %s=%s is not one of the slaves %s", o.Name, o.Value, strings.Join(slaves, ",")))
		}
	}
	if seen["num_grat_arp"] && seen["num_unsol_na"] && vals["num_grat_arp"] != vals["num_unsol_na"] {
		errs = append(errs, fmt.Errorf("bond options num_grat_arp and num_unsol_na are one setting; give one value"))
	}
	miimon := vals["miimon"]
	if miimon > 0 && vals["arp_interval"] > 0 {
		errs = append(errs, fmt.Errorf("bond options miimon and arp_interval exclude each other (the kernel refuses both): choose MII or ARP monitoring"))
	}
	if miimon > 0 && vals["arp_validate"] > 0 {
		errs = append(errs, fmt.Errorf("bond option arp_validate needs ARP monitoring, not miimon (the kernel refuses both)"))
	}
	for _, s := range specs {
		if s.NeedsMIIMon && seen[s.Name] && miimon == 0 {
			errs = append(errs, fmt.Errorf("bond option %s needs miimon > 0 (the kernel refuses a delay without MII monitoring)", s.Name))
		}
	}
	if vals["arp_interval"] > 0 && !seen["arp_ip_target"] && !seen["ns_ip6_target"] {
		errs = append(errs, fmt.Errorf("bond option arp_interval needs arp_ip_target (or ns_ip6_target): without a target every slave counts as down"))
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// Attr is one IFLA_BOND_* attribute netlink.Bond cannot carry.
type Attr struct {
	// Option is the option's name, for errors.
	Option string
	Type   uint16
	// Value is the attribute's payload; Nested, when set, are the
	// payloads of its nested attributes, numbered from 0 (a target list).
	Value  []byte
	Nested [][]byte
}

// Translation is what Create applies for a bond's options.
type Translation struct {
	// Link carries the attributes netlink.Bond knows, sent with the bond's
	// creation.
	Link *netlink.Bond
	// Extra are the attributes netlink.Bond lacks, sent in one request
	// once the bond exists, before it goes up.
	Extra []Attr
	// ByName are the options naming a slave (primary, active_slave), set
	// through sysfs once the slaves are enslaved.
	ByName map[string]string
}

// Translate validates opts (CheckOptions, without the slaves) and returns
// the bond's netlink attributes.
func Translate(name string, opts []Option) (*Translation, error) {
	if errs := CheckOptions(opts, nil); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	t := &Translation{Link: netlink.NewLinkBond(netlink.LinkAttrs{Name: name}), ByName: map[string]string{}}
	for _, o := range opts {
		s, _ := Lookup(o.Name)
		switch s.Kind {
		case KindSlave:
			t.ByName[o.Name] = o.Value
		case KindMAC:
			m, _ := net.ParseMAC(o.Value)
			t.Link.AdActorSystem = m
		case KindIPv4Targets:
			addrs, _ := s.targets(o.Value)
			for _, a := range addrs {
				b := a.As4()
				t.Link.ArpIpTargets = append(t.Link.ArpIpTargets, net.IP(b[:]))
			}
		case KindIPv6Targets:
			addrs, _ := s.targets(o.Value)
			at := Attr{Option: o.Name, Type: s.Attr}
			for _, a := range addrs {
				b := a.As16()
				at.Nested = append(at.Nested, b[:])
			}
			t.Extra = append(t.Extra, at)
		default:
			v, _ := s.Value(o.Value)
			if s.field != nil {
				s.field(t.Link, v)
				continue
			}
			t.Extra = append(t.Extra, Attr{Option: o.Name, Type: s.Attr, Value: encode(v, s.Size)})
		}
	}
	return t, nil
}

// encode writes v in the host's byte order, as netlink numbers are.
func encode(v, size int) []byte {
	b := make([]byte, size)
	switch size {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.NativeEndian.PutUint16(b, uint16(v))
	default:
		binary.NativeEndian.PutUint32(b, uint32(v))
	}
	return b
}
