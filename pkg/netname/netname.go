package netname

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
)

// Names are the names udev would give one network interface.
type Names struct {
	// Interface is the interface's current name (the kernel's, e.g. eth0).
	Interface string
	// Scheme is the naming scheme the names follow.
	Scheme Scheme
	// Prefix is the type's two letters: en (Ethernet), wl (WLAN), ww
	// (WWAN), ib (InfiniBand), sl (SLIP); "" when net_id names no interface
	// of this kind (loopback, bonds, VLANs and other stacked devices).
	Prefix string
	// Onboard, Slot, Path and MAC are what net_id exports as
	// ID_NET_NAME_ONBOARD (eno1), ID_NET_NAME_SLOT (ens2),
	// ID_NET_NAME_PATH (enp0s2) and ID_NET_NAME_MAC (enx…); "" for none.
	// They may be longer than an interface name allows, as udev's are.
	Onboard, Slot, Path, MAC string
	// Label is ID_NET_LABEL_ONBOARD, the firmware's label of an onboard
	// device ("" for none).
	Label string
	// AssignType is the kernel's name_assign_type.
	AssignType AssignType
	// Name is the name the policy gives the interface: Interface itself when
	// it keeps its name.
	Name string
	// By says what decided Name: the policy entry that yielded it ("slot",
	// "keep", "kernel", …), "73-usb-net-by-mac.link", "net.ifnames=0", or ""
	// when no entry yielded a name.
	By string
	// AltNames are the alternative names udev adds (AlternativeNamesPolicy=).
	AltNames []string
}

// Renamed reports whether the policy renames the interface.
func (n Names) Renamed() bool { return n.Name != n.Interface }

// String describes the outcome for a log line, e.g. "eth0 → ens2 (slot;
// v257: path enp0s2, mac enx525400770110)".
func (n Names) String() string {
	var b strings.Builder
	b.WriteString(n.Interface)
	if n.Renamed() {
		b.WriteString(" → " + n.Name)
	} else {
		b.WriteString(" keeps its name")
	}
	by := n.By
	if by == "" {
		by = "no policy entry yielded a name"
	}
	b.WriteString(" (" + by + "; " + n.Scheme.String())
	sep := ": "
	for _, k := range []Kind{Onboard, Slot, Path, MAC} {
		if v := n.kind(k); v != "" {
			b.WriteString(sep + k.String() + " " + v)
			sep = ", "
		}
	}
	if sep == ": " {
		b.WriteString(": net_id names nothing")
	}
	b.WriteString(")")
	return b.String()
}

// ErrNoInterface reports that sysfs has no such network interface.
var ErrNoInterface = errors.New("no such network interface")

// Predictable computes the names udev's net_id builtin gives the interface
// ifname under scheme, and the one policy picks, reading sys: a sysfs tree
// rooted at /sys (os.DirFS("/sys"), or a test tree). It fails only when the
// interface is not there or its sysfs entry cannot be resolved; a device
// net_id does not name gets Names with only Interface, Name and AssignType.
func Predictable(sys fs.FS, ifname string, scheme Scheme, policy Policy) (Names, error) {
	n := Names{Interface: ifname, Name: ifname, Scheme: scheme}
	if !scheme.Valid() {
		return n, fmt.Errorf("netname: %s: no naming scheme given", ifname)
	}
	if ifname == "" || ifname == "." || ifname == ".." || strings.Contains(ifname, "/") {
		return n, fmt.Errorf("netname: %q: %w", ifname, ErrNoInterface)
	}
	s := newSysfs(sys)
	dev, err := s.deviceAt("class/net/" + ifname)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("netname: %s: %w (%v)", ifname, ErrNoInterface, err)
		}
		return n, fmt.Errorf("netname: %s: %w", ifname, err)
	}
	if t, err := dev.uint("name_assign_type", 32); err == nil {
		n.AssignType = AssignType(t)
	}
	ids, ok := netID(dev, scheme)
	if ok {
		n.Prefix, n.Onboard, n.Slot, n.Path, n.MAC, n.Label = ids.prefix, ids.onboard, ids.slot, ids.path, ids.mac, ids.label
	}
	_, usb := dev.parentIn("usb", "")
	policy.choose(&n, usb)
	return n, nil
}

// Interfaces lists the network interfaces in sys (/sys/class/net), sorted.
func Interfaces(sys fs.FS) ([]string, error) {
	es, err := fs.ReadDir(sys, "class/net")
	if err != nil {
		return nil, fmt.Errorf("netname: listing network interfaces: %w", err)
	}
	var out []string
	for _, e := range es {
		if e.Type().IsRegular() {
			continue // bonding_masters
		}
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out, nil
}

// ConflictError reports interfaces the policy would give the same name,
// or a name another interface already has. udev renames one of them (which
// one depends on event timing) and the others keep their names; Plan
// renames none of them.
type ConflictError struct {
	// Names maps each contested name to the interfaces that would take it
	// (and the interface that has it, if any).
	Names map[string][]string
}

func (e *ConflictError) Error() string {
	var parts []string
	for _, name := range sortedKeys(e.Names) {
		parts = append(parts, fmt.Sprintf("%s wanted by %s", name, strings.Join(e.Names[name], " and ")))
	}
	return "netname: name conflict: " + strings.Join(parts, "; ") + " (pin the names with ifname=<name>:<mac>)"
}

// Plan returns the renames udev would make of the interfaces in sys:
// kernel name → new name, for every interface policy renames. On a
// conflict (see ConflictError) the conflicting interfaces are left out and
// the error is a *ConflictError; the map still holds the other renames.
func Plan(sys fs.FS, scheme Scheme, policy Policy) (map[string]string, error) {
	ifs, err := Interfaces(sys)
	if err != nil {
		return nil, err
	}
	plan := map[string]string{}
	var errs []error
	for _, ifname := range ifs {
		n, err := Predictable(sys, ifname, scheme, policy)
		switch {
		case errors.Is(err, ErrNoInterface):
			continue // gone meanwhile
		case err != nil:
			errs = append(errs, err)
			continue
		}
		if n.Renamed() {
			plan[ifname] = n.Name
		}
	}
	wanted := map[string][]string{}
	for from, to := range plan {
		wanted[to] = append(wanted[to], from)
	}
	conflicts := map[string][]string{}
	for to, froms := range wanted {
		_, taken := plan[to] // an interface that is itself renamed frees its name
		if contains(ifs, to) && !taken {
			froms = append(froms, to)
		}
		if len(froms) > 1 {
			sort.Strings(froms)
			conflicts[to] = froms
		}
	}
	for _, froms := range conflicts {
		for _, f := range froms {
			delete(plan, f)
		}
	}
	if len(conflicts) > 0 {
		errs = append(errs, &ConflictError{Names: conflicts})
	}
	return plan, errors.Join(errs...)
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// LooksPredictable reports whether name has the form of a name udev's
// net_id gives (ens2, enp0s31f6, eno1, enx525400123456, ibp0s3 …), as
// opposed to a kernel name (eth0) or one a user chose (lan0): a NIC a
// configuration names that way exists only once it is renamed.
//
// The form: a type prefix (en, ib, sl, wl, ww), then an onboard (o),
// hotplug slot (s), PCI path ([P]p…s), MAC (x), Xen (X), ACPI platform
// (a…i), s390 CCW (c), VIO (v), devicetree (d) or BCMA (b) name, or a USB
// port chain without a PCI controller (u), with whatever suffixes follow
// (f, d, n, u, c, i, v, r) — in letters, digits and "_.-". It is matched
// by hand, not with a regular expression: regexp's tables (unicode's
// category and script maps) would be built at the start of every process
// of netroot's binary (the keeper, its guard, the shutdown role).
func LooksPredictable(name string) bool {
	if len(name) < 3 || !slices.Contains(predictablePrefixes, name[:2]) || !validIfname(name) {
		return false // eth0, bond0, lan0
	}
	rest := name[2:]
	for i := 0; i < len(rest); i++ {
		if !isNameChar(rest[i]) {
			return false
		}
	}
	// Every character of the kinds below is a name character, so what
	// follows the kind's shortest form is the free suffix.
	kind, arg := rest[0], rest[1:]
	switch kind {
	case 'o', 's', 'u', 'X', 'd', 'b':
		return digits(arg) > 0
	case 'c', 'v':
		return hexDigits(arg) > 0
	case 'x':
		return hexDigits(arg) >= 12
	case 'p': // p<bus>s<slot>
		n := digits(arg)
		return n > 0 && len(arg) > n && arg[n] == 's' && digits(arg[n+1:]) > 0
	case 'P': // P<domain>[p<bus>]s<slot>
		n := digits(arg)
		if n == 0 || len(arg) == n {
			return false
		}
		arg = arg[n:]
		if arg[0] == 'p' {
			if m := digits(arg[1:]); m > 0 && len(arg) > m+1 && arg[m+1] == 's' && digits(arg[m+2:]) > 0 {
				return true
			}
		}
		return arg[0] == 's' && digits(arg[1:]) > 0
	case 'a': // a<vendor and model, lowercase>i<instance>
		for i := 1; i+1 < len(arg); i++ {
			c := arg[i-1]
			if !isDigit(c) && (c < 'a' || c > 'z') {
				return false
			}
			if arg[i] == 'i' && isDigit(arg[i+1]) {
				return true
			}
		}
	}
	return false
}

// predictablePrefixes are net_id's type prefixes.
var predictablePrefixes = []string{"en", "ib", "sl", "wl", "ww"}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isNameChar: a letter, a digit, or one of "_.-".
func isNameChar(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '.' || c == '-'
}

// digits counts the decimal digits s starts with.
func digits(s string) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

// hexDigits counts the lowercase hexadecimal digits s starts with.
func hexDigits(s string) int {
	n := 0
	for n < len(s) && (isDigit(s[n]) || 'a' <= s[n] && s[n] <= 'f') {
		n++
	}
	return n
}
