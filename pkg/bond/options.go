// Package bond builds a Linux bonding interface over netlink: it creates
// the bond with its mode and options and brings it up (Create: that needs
// only the bonding module, so it can run while the NICs' drivers probe),
// then enslaves the NICs and waits on link events until it carries
// traffic (Bond.Enslave).
//
// Options use the bonding driver's own names and values (miimon=100,
// mode=active-backup, arp_ip_target=10.0.0.1;10.0.0.2 …) as dracut's bond=
// passes them; the translation to netlink attributes is pure and unit-tested,
// the netlink side is proven in the QEMU boot tests.
package bond

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// Option is one bonding driver option, e.g. {"miimon", "100"}.
type Option struct {
	Name  string
	Value string
}

// enumOption lists the names the kernel accepts for an option, in the
// order of their numeric values (bond_options.c); a number is accepted too.
var enumOptions = map[string][]string{
	"mode":             {"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"},
	"xmit_hash_policy": {"layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"},
	"lacp_rate":        {"slow", "fast"},
	"ad_select":        {"stable", "bandwidth", "count"},
	"fail_over_mac":    {"none", "active", "follow"},
	"primary_reselect": {"always", "better", "failure"},
	"arp_validate":     {"none", "active", "backup", "all", "filter", "filter_active", "filter_backup"},
	"arp_all_targets":  {"any", "all"},
}

// enumValue returns the numeric value of an enumerated option, accepting
// its name or its number.
func enumValue(name, value string) (int, error) {
	names := enumOptions[name]
	for i, n := range names {
		if value == n {
			return i, nil
		}
	}
	if i, err := strconv.Atoi(value); err == nil && i >= 0 && i < len(names) {
		return i, nil
	}
	return 0, fmt.Errorf("bond option %s=%q: want one of %s", name, value, strings.Join(names, ", "))
}

// ModeName returns the kernel's name of a mode given by name or number.
func ModeName(value string) (string, error) {
	i, err := enumValue("mode", value)
	if err != nil {
		return "", err
	}
	return enumOptions["mode"][i], nil
}

func intValue(name, value string, min, max int) (int, error) {
	i, err := strconv.Atoi(value)
	if err != nil || i < min || i > max {
		return 0, fmt.Errorf("bond option %s=%q: want an integer from %d to %d", name, value, min, max)
	}
	return i, nil
}

// Attrs translates options to netlink's bond attributes. Options that
// name an interface (primary, active_slave) are returned in byName, to be
// set once the slaves exist.
func Attrs(name string, opts []Option) (b *netlink.Bond, byName map[string]string, err error) {
	b = netlink.NewLinkBond(netlink.LinkAttrs{Name: name})
	byName = map[string]string{}
	const maxInt = 1<<31 - 1
	for _, o := range opts {
		var (
			i   int
			err error
		)
		switch o.Name {
		case "mode":
			i, err = enumValue(o.Name, o.Value)
			b.Mode = netlink.BondMode(i)
		case "xmit_hash_policy":
			i, err = enumValue(o.Name, o.Value)
			b.XmitHashPolicy = netlink.BondXmitHashPolicy(i)
		case "lacp_rate":
			i, err = enumValue(o.Name, o.Value)
			b.LacpRate = netlink.BondLacpRate(i)
		case "ad_select":
			i, err = enumValue(o.Name, o.Value)
			b.AdSelect = netlink.BondAdSelect(i)
		case "fail_over_mac":
			i, err = enumValue(o.Name, o.Value)
			b.FailOverMac = netlink.BondFailOverMac(i)
		case "primary_reselect":
			i, err = enumValue(o.Name, o.Value)
			b.PrimaryReselect = netlink.BondPrimaryReselect(i)
		case "arp_validate":
			i, err = enumValue(o.Name, o.Value)
			b.ArpValidate = netlink.BondArpValidate(i)
		case "arp_all_targets":
			i, err = enumValue(o.Name, o.Value)
			b.ArpAllTargets = netlink.BondArpAllTargets(i)
		case "miimon":
			b.Miimon, err = intValue(o.Name, o.Value, 0, maxInt)
		case "updelay":
			b.UpDelay, err = intValue(o.Name, o.Value, 0, maxInt)
		case "downdelay":
			b.DownDelay, err = intValue(o.Name, o.Value, 0, maxInt)
		case "use_carrier":
			b.UseCarrier, err = intValue(o.Name, o.Value, 0, 1)
		case "arp_interval":
			b.ArpInterval, err = intValue(o.Name, o.Value, 0, maxInt)
		case "arp_ip_target":
			for _, t := range strings.FieldsFunc(o.Value, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
				ip := net.ParseIP(t).To4()
				if ip == nil {
					return nil, nil, fmt.Errorf("bond option arp_ip_target=%q: %q is not an IPv4 address", o.Value, t)
				}
				b.ArpIpTargets = append(b.ArpIpTargets, ip)
			}
			if len(b.ArpIpTargets) > 16 {
				return nil, nil, fmt.Errorf("bond option arp_ip_target=%q: at most 16 targets", o.Value)
			}
		case "resend_igmp":
			b.ResendIgmp, err = intValue(o.Name, o.Value, 0, 255)
		case "num_grat_arp", "num_unsol_na":
			b.NumPeerNotif, err = intValue(o.Name, o.Value, 0, 255)
		case "all_slaves_active":
			b.AllSlavesActive, err = intValue(o.Name, o.Value, 0, 1)
		case "min_links":
			b.MinLinks, err = intValue(o.Name, o.Value, 0, maxInt)
		case "lp_interval":
			b.LpInterval, err = intValue(o.Name, o.Value, 1, maxInt)
		case "packets_per_slave":
			b.PacketsPerSlave, err = intValue(o.Name, o.Value, 0, 65535)
		case "ad_actor_sys_prio":
			b.AdActorSysPrio, err = intValue(o.Name, o.Value, 1, 65535)
		case "ad_user_port_key":
			b.AdUserPortKey, err = intValue(o.Name, o.Value, 0, 1023)
		case "ad_actor_system":
			b.AdActorSystem, err = net.ParseMAC(o.Value)
			if err != nil {
				err = fmt.Errorf("bond option ad_actor_system=%q: want a MAC address", o.Value)
			}
		case "tlb_dynamic_lb":
			b.TlbDynamicLb, err = intValue(o.Name, o.Value, 0, 1)
		case "primary", "active_slave":
			byName[o.Name] = o.Value
		default:
			return nil, nil, fmt.Errorf("bond option %q is not a bonding driver option", o.Name)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return b, byName, nil
}
