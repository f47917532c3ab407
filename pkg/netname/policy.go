package netname

import (
	"fmt"
	"strings"
)

// Kind is one entry of a .link file's NamePolicy= or AlternativeNamesPolicy=.
type Kind int

// The policy entries, as systemd.link(5) spells them.
const (
	// Keep keeps a name userspace already gave (name_assign_type
	// NET_NAME_USER or NET_NAME_RENAMED).
	Keep Kind = iota
	// Kernel keeps a name the kernel calls predictable
	// (NET_NAME_PREDICTABLE).
	Kernel
	// Database is the hwdb's ID_NET_NAME_FROM_DATABASE. netroot carries no
	// hwdb: this entry never yields a name.
	Database
	// Onboard is ID_NET_NAME_ONBOARD (eno1).
	Onboard
	// Slot is ID_NET_NAME_SLOT (ens2).
	Slot
	// Path is ID_NET_NAME_PATH (enp0s2).
	Path
	// MAC is ID_NET_NAME_MAC (enx525400770110).
	MAC
)

var kindNames = [...]string{"keep", "kernel", "database", "onboard", "slot", "path", "mac"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// ParseKinds parses a NamePolicy= list ("keep kernel database onboard slot
// path", blanks or commas between entries).
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		k := -1
		for i, n := range kindNames {
			if n == f {
				k = i
			}
		}
		if k < 0 {
			return nil, fmt.Errorf("netname: unknown name policy %q (known: %s)", f, strings.Join(kindNames[:], ", "))
		}
		out = append(out, Kind(k))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("netname: empty name policy")
	}
	return out, nil
}

// USBRule is Debian's (and Ubuntu's) extra 73-usb-net-by-mac.link, which
// names NICs on USB by MAC, before 99-default.link is consulted.
type USBRule int

const (
	// NoUSBRule: USB NICs follow Names like any other (upstream systemd,
	// Fedora).
	NoUSBRule USBRule = iota
	// USBByMACOnly is Debian 12's file: a NIC on USB takes its MAC name
	// and, when it has none (a random MAC), keeps the kernel's name.
	USBByMACOnly
	// USBByMACFirst is Debian 13's file (Property=ID_NET_NAME_MAC=*): a NIC
	// on USB with a MAC name takes it; one without follows Names.
	USBByMACFirst
)

// Policy is how udev picks the name an interface is renamed to.
type Policy struct {
	// Names is NamePolicy=: the first entry that yields a valid name wins;
	// Keep and Kernel stop the search, keeping the current name.
	Names []Kind
	// AltNames is AlternativeNamesPolicy=: the names added as alternative
	// names (ip link property), which tools also accept.
	AltNames []Kind
	// USB is Debian's rule for NICs on USB.
	USB USBRule
	// Off is net.ifnames=0: no interface is renamed.
	Off bool
}

// DefaultPolicy is upstream's 99-default.link of the systemd release whose
// default scheme is s: NamePolicy=keep kernel database onboard slot path,
// and AlternativeNamesPolicy=database onboard slot path, plus mac since
// systemd 256 (taken here as schemes v257 and later).
func DefaultPolicy(s Scheme) Policy {
	p := Policy{
		Names:    []Kind{Keep, Kernel, Database, Onboard, Slot, Path},
		AltNames: []Kind{Database, Onboard, Slot, Path},
	}
	if s.atLeast(V257) {
		p.AltNames = append(p.AltNames, MAC)
	}
	return p
}

// DebianPolicy is DefaultPolicy with Debian's 73-usb-net-by-mac.link: the
// Debian 12 file for schemes up to v252, Debian 13's after.
func DebianPolicy(s Scheme) Policy {
	p := DefaultPolicy(s)
	p.USB = USBByMACFirst
	if !s.atLeast(V253) {
		p.USB = USBByMACOnly
	}
	return p
}

// ParseIfnames parses the value of net.ifnames= as udev does: 1/yes/true/on
// or 0/no/false/off; no value (or an empty one) means on.
func ParseIfnames(v string) (bool, error) {
	if v == "" {
		return true, nil
	}
	b, err := parseBool(v)
	if err != nil {
		return true, fmt.Errorf("netname: net.ifnames=%s: want 0 or 1", v)
	}
	return b, nil
}

// AssignType is the kernel's name_assign_type of an interface.
type AssignType int

// The name_assign_type values (NET_NAME_*).
const (
	AssignUnknown     AssignType = 0 // not exposed (older drivers)
	AssignEnum        AssignType = 1 // the kernel enumerated it (eth0)
	AssignPredictable AssignType = 2 // the kernel's name is predictable
	AssignUser        AssignType = 3 // userspace created it with this name
	AssignRenamed     AssignType = 4 // userspace renamed it
)

// choose applies the policy to n, setting n.Name, n.By and n.AltNames.
func (p Policy) choose(n *Names, usbNIC bool) {
	n.Name, n.By = n.Interface, ""
	names, alt := p.Names, p.AltNames
	if usbNIC && (p.USB == USBByMACOnly || p.USB == USBByMACFirst && n.MAC != "") {
		// 73-usb-net-by-mac.link applies: NamePolicy=mac, no alternative names.
		names, alt = []Kind{MAC}, nil
		n.By = "73-usb-net-by-mac.link"
	}
	// Alternative names are added even under net.ifnames=0.
	n.AltNames = nil
	for _, k := range alt {
		if v := n.kind(k); v != "" && validAltName(v) {
			n.AltNames = append(n.AltNames, v)
		}
	}
	defer n.dropAltNames()
	if p.Off {
		n.By = "net.ifnames=0"
		return
	}
	if (n.AssignType == AssignUser || n.AssignType == AssignRenamed) && !n.Scheme.has(allowRerenames) {
		n.By = "set by userspace"
		return
	}
	for _, k := range names {
		switch k {
		case Kernel:
			if n.AssignType == AssignPredictable {
				n.By = k.String()
				return
			}
		case Keep:
			if n.AssignType == AssignUser || n.AssignType == AssignRenamed {
				n.By = k.String()
				return
			}
		default:
			if v := n.kind(k); validIfname(v) {
				n.Name, n.By = v, k.String()
				return
			}
		}
	}
}

// kind returns the name n has of kind k ("" for none).
func (n *Names) kind(k Kind) string {
	switch k {
	case Onboard:
		return n.Onboard
	case Slot:
		return n.Slot
	case Path:
		return n.Path
	case MAC:
		return n.MAC
	}
	return ""
}

// dropAltNames removes the interface's own names and repeats, as udev
// does before it sets them.
func (n *Names) dropAltNames() {
	var out []string
	for _, a := range n.AltNames {
		if a != n.Name && a != n.Interface && !contains(out, a) {
			out = append(out, a)
		}
	}
	n.AltNames = out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const ifNamSiz = 16 // IFNAMSIZ, with its NUL

// validIfname is systemd's ifname_valid(): what the kernel accepts as an
// interface name, less names that read as numbers or sysctl directories.
func validIfname(s string) bool {
	return len(s) < ifNamSiz && validName(s)
}

func validAltName(s string) bool {
	return len(s) < altIfNamSiz && validName(s)
}

func validName(s string) bool {
	if s == "" || s == "." || s == ".." || s == "all" || s == "default" {
		return false
	}
	numeric := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ':' || c == '/' || c == '%' {
			return false
		}
		numeric = numeric && '0' <= c && c <= '9'
	}
	return !numeric
}
