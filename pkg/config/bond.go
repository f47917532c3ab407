package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

const grammarBond = "<bondname>[:<bondslaves>[:<options>[:<mtu>]]] (slaves and options comma-separated, arp_ip_target values ';'-separated)"

// bondEnums lists, for each bonding option taking a name, its names in the
// order of their numeric values (drivers/net/bonding/bond_options.c).
var bondEnums = map[string][]string{
	"mode":             {"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"},
	"xmit_hash_policy": {"layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"},
	"arp_validate":     {"none", "active", "backup", "all", "filter", "filter_active", "filter_backup"},
	"arp_all_targets":  {"any", "all"},
	"fail_over_mac":    {"none", "active", "follow"},
	"lacp_rate":        {"slow", "fast"},
	"lacp_active":      {"off", "on"},
	"ad_select":        {"stable", "bandwidth", "count", "actor_port_prio"},
	"primary_reselect": {"always", "better", "failure"},
	"use_carrier":      {"off", "on"},
}

// bondRanges lists the bonding options taking a number, with its range.
var bondRanges = map[string][2]int{
	"miimon":            {0, 1<<31 - 1},
	"updelay":           {0, 1<<31 - 1},
	"downdelay":         {0, 1<<31 - 1},
	"peer_notif_delay":  {0, 300000},
	"arp_interval":      {0, 1<<31 - 1},
	"min_links":         {0, 1<<31 - 1},
	"num_grat_arp":      {0, 255},
	"num_unsol_na":      {0, 255},
	"packets_per_slave": {0, 65535},
	"resend_igmp":       {0, 255},
	"lp_interval":       {1, 1<<31 - 1},
	"ad_actor_sys_prio": {1, 65535},
	"ad_user_port_key":  {0, 1023},
	"missed_max":        {1, 255},
	"all_slaves_active": {0, 1},
	"tlb_dynamic_lb":    {0, 1},
	"coupled_control":   {0, 1},
}

// maxARPTargets is BOND_MAX_ARP_TARGETS (and BOND_MAX_NS_TARGETS).
const maxARPTargets = 16

// normaliseBondOption validates one option and returns its canonical value:
// enum options given by number become their name.
func normaliseBondOption(name, value string, slaves []string) (string, error) {
	if names, ok := bondEnums[name]; ok {
		for _, n := range names {
			if value == n {
				return n, nil
			}
		}
		if isDigits(value) {
			n, err := parseUint(value, 0, len(names)-1)
			if err == nil {
				return names[n], nil
			}
		}
		return "", fmt.Errorf("%w: bond option %s=%q: want one of %s or 0-%d", ErrSyntax, name, value, strings.Join(names, ", "), len(names)-1)
	}
	if r, ok := bondRanges[name]; ok {
		n, err := parseUint(value, r[0], r[1])
		if err != nil {
			return "", fmt.Errorf("bond option %s: %w", name, err)
		}
		return strconv.Itoa(n), nil
	}
	switch name {
	case "primary", "active_slave":
		if err := checkIfname(value, false); err != nil {
			return "", fmt.Errorf("bond option %s: %w", name, err)
		}
		for _, s := range slaves {
			if s == value {
				return value, nil
			}
		}
		return "", fmt.Errorf("%w: bond option %s=%s is not one of the slaves %s", ErrConflict, name, value, strings.Join(slaves, ","))
	case "arp_ip_target", "ns_ip6_target":
		targets := strings.Split(value, ";")
		if len(targets) > maxARPTargets {
			return "", fmt.Errorf("%w: bond option %s: more than %d targets", ErrSyntax, name, maxARPTargets)
		}
		for _, t := range targets {
			a, err := netip.ParseAddr(strings.Trim(t, "[]"))
			if err != nil || (name == "arp_ip_target") != a.Is4() || a.Zone() != "" {
				fam := "IPv4"
				if name == "ns_ip6_target" {
					fam = "IPv6"
				}
				return "", fmt.Errorf("%w: bond option %s: %q is not an %s address", ErrSyntax, name, t, fam)
			}
		}
		return value, nil
	case "ad_actor_system":
		m, err := parseMAC(value)
		if err != nil || len(m) != 6 {
			return "", fmt.Errorf("%w: bond option %s: %q is not a MAC address", ErrSyntax, name, value)
		}
		return m.String(), nil
	}
	return "", fmt.Errorf("%w: unknown bond option %q", ErrSyntax, name)
}

// ParseBond parses the value of bond=. A bare "bond" (value "") is
// bond0:eth0,eth1:mode=balance-rr, as dracut.cmdline(7) says; a name alone
// gets the slaves eth0,eth1 (parse-bond.sh). Options are validated against
// the kernel's bonding option names and values; mode and the other named
// options given as numbers are normalised to their names, and mode, when
// set, comes first.
func ParseBond(value string) (Bond, error) {
	b := Bond{Name: "bond0", Slaves: []string{"eth0", "eth1"}}
	if value == "" {
		b.Options = []BondOption{{Name: "mode", Value: "balance-rr"}}
		return b, nil
	}
	f := strings.Split(value, ":")
	if len(f) > 4 {
		return b, fmt.Errorf("%w: bond= takes at most four fields, got %d", ErrSyntax, len(f))
	}
	if err := checkIfname(f[0], false); err != nil {
		return b, fmt.Errorf("bondname: %w", err)
	}
	b.Name = f[0]
	if len(f) > 1 {
		b.Slaves = nil
		seen := map[string]bool{}
		for _, s := range strings.Split(f[1], ",") {
			if err := checkIfname(s, false); err != nil {
				return b, fmt.Errorf("bondslaves: %w", err)
			}
			if s == b.Name {
				return b, fmt.Errorf("%w: bond %s cannot be its own slave", ErrConflict, s)
			}
			if seen[s] {
				return b, fmt.Errorf("%w: slave %s listed twice", ErrConflict, s)
			}
			seen[s] = true
			b.Slaves = append(b.Slaves, s)
		}
	}
	if len(f) > 2 && f[2] != "" {
		// Every bad option is reported, not just the first.
		seen := map[string]bool{}
		var errs []error
		for _, o := range strings.Split(f[2], ",") {
			name, val, ok := strings.Cut(o, "=")
			if !ok || name == "" || val == "" {
				errs = append(errs, fmt.Errorf("%w: bond option %q is not name=value", ErrSyntax, o))
				continue
			}
			if seen[name] {
				errs = append(errs, fmt.Errorf("%w: bond option %s given twice", ErrConflict, name))
				continue
			}
			seen[name] = true
			v, err := normaliseBondOption(name, val, b.Slaves)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			opt := BondOption{Name: name, Value: v}
			if name == "mode" {
				b.Options = append([]BondOption{opt}, b.Options...)
			} else {
				b.Options = append(b.Options, opt)
			}
		}
		if err := joinCauses(errs); err != nil {
			return b, err
		}
	}
	if len(f) > 3 && f[3] != "" {
		mtu, err := parseMTU(f[3])
		if err != nil {
			return b, err
		}
		b.MTU = mtu
	}
	return b, nil
}
