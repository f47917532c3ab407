package config

import (
	"fmt"
	"strings"

	"github.com/netroot/netroot/pkg/bond"
)

const grammarBond = "<bondname>[:<bondslaves>[:<options>[:<mtu>]]] (slaves and options comma-separated, arp_ip_target values ';'-separated)"

// ParseBond parses the value of bond=. A bare "bond" (value "") is
// bond0:eth0,eth1:mode=balance-rr, as dracut.cmdline(7) says; a name alone
// gets the slaves eth0,eth1 (parse-bond.sh). Options are validated with
// pkg/bond's table, the one the bond step applies them with: names and
// values, the modes each applies to and the rules between them
// (bond.CheckOptions). Values are normalised (enums to their names,
// numbers to decimal), and mode, when set, comes first.
func ParseBond(value string) (Bond, error) {
	b := Bond{Name: "bond0", Slaves: []string{"eth0", "eth1"}}
	if value == "" {
		b.Options = []BondOption{{Name: "mode", Value: "balance-rr"}}
		return b, nil
	}
	f := strings.Split(value, ":")
	if len(f) > 4 {
		hint := ""
		if strings.Contains(value, "ns_ip6_target") {
			hint = " (an IPv6 ns_ip6_target cannot be written in bond=, whose fields ':' separates)"
		}
		return b, fmt.Errorf("%w: bond= takes at most four fields, got %d%s", ErrSyntax, len(f), hint)
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
			spec, ok := bond.Lookup(name)
			if !ok {
				for _, e := range bond.CheckOptions([]bond.Option{{Name: name, Value: val}}, nil) {
					errs = append(errs, fmt.Errorf("%w: %w", ErrSyntax, e))
				}
				continue
			}
			v, err := spec.Canonical(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %w", ErrSyntax, err))
				continue
			}
			opt := BondOption{Name: name, Value: v}
			if name == "mode" {
				b.Options = append([]BondOption{opt}, b.Options...)
			} else {
				b.Options = append(b.Options, opt)
			}
		}
		if len(errs) == 0 {
			opts := make([]bond.Option, len(b.Options))
			for i, o := range b.Options {
				opts[i] = bond.Option{Name: o.Name, Value: o.Value}
			}
			for _, e := range bond.CheckOptions(opts, b.Slaves) {
				errs = append(errs, fmt.Errorf("%w: %w", ErrConflict, e))
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
