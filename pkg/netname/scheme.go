package netname

import (
	"fmt"
	"strings"
)

// feature is one change of udev's naming logic; a scheme is the set of
// changes a systemd release made. Only the changes that touch the buses this
// package names are kept (SR-IOV, ARI, InfiniBand, onboard index, PCI slots,
// USB, Xen, the onboard label); the rest (netdevsim, nspawn, devicetree, …) change nothing here.
type feature uint32

const (
	srIOVv              feature = 1 << iota // v239: SR-IOV VFs named after their PF plus "v<n>"
	nparARI                                 // v239: ARI functions count slot*8+function
	infiniband                              // v240: "ib" names for InfiniBand
	zeroACPIIndex                           // v240: onboard index 0 is a valid index
	allowRerenames                          // v240: a name given by userspace may be renamed (only "keep" keeps it)
	labelNoPrefix                           // v243: ID_NET_LABEL_ONBOARD without the type prefix
	bridgeNoSlot                            // v247: a hotplug slot found on a PCI bridge is not used
	slotFunctionID                          // v249: s390 function_id names the hotplug slot
	onboard16Bit                            // v249: onboard indexes up to 65535 (else 16383)
	xenVIF                                  // v250: Xen netfront "X<n>" slot names
	bridgeMultifunction                     // v251–v254: …except for a multi-function device behind it
	usbHost                                 // v253: USB NICs without a PCI controller get "u<ports>" path names
	srIOVr                                  // v254: VF representors "r<n>" (phys_port_name pfXvfN)
	firmwareNodeSun                         // v257: the slot from the ACPI _SUN of firmware_node
)

// Scheme is one of systemd-udev's network naming schemes, as selected by
// the kernel command line's net.naming_scheme=: the naming rules of the
// systemd release of that name. Users' systems rename with the scheme of
// the systemd they run unless told otherwise (Debian 12: v252, Debian 13
// and Ubuntu 25.04: v257, Ubuntu 24.04 and Fedora 40: v255, Ubuntu 22.04:
// v249). The zero Scheme is not valid.
type Scheme struct {
	name  string
	flags feature
}

// The schemes, oldest first; each adds to the one before.
var (
	V238 = Scheme{"v238", 0}
	V239 = Scheme{"v239", V238.flags | srIOVv | nparARI}
	V240 = Scheme{"v240", V239.flags | infiniband | zeroACPIIndex | allowRerenames}
	V241 = Scheme{"v241", V240.flags}
	V243 = Scheme{"v243", V241.flags | labelNoPrefix}
	V245 = Scheme{"v245", V243.flags}
	V247 = Scheme{"v247", V245.flags | bridgeNoSlot}
	V249 = Scheme{"v249", V247.flags | slotFunctionID | onboard16Bit}
	V250 = Scheme{"v250", V249.flags | xenVIF}
	V251 = Scheme{"v251", V250.flags | bridgeMultifunction}
	V252 = Scheme{"v252", V251.flags}
	V253 = Scheme{"v253", V252.flags | usbHost}
	V254 = Scheme{"v254", V253.flags | srIOVr}
	// V255 drops the v251 rule for multi-function devices behind a bridge.
	V255 = Scheme{"v255", V254.flags &^ bridgeMultifunction}
	V257 = Scheme{"v257", V255.flags | firmwareNodeSun}

	// Latest is the newest scheme implemented, what "latest" selects.
	Latest = V257
)

var schemes = []Scheme{V238, V239, V240, V241, V243, V245, V247, V249, V250, V251, V252, V253, V254, V255, V257}

// Schemes returns every scheme implemented, oldest first.
func Schemes() []Scheme {
	return append([]Scheme(nil), schemes...)
}

// ParseScheme returns the scheme called name ("v252", …, or "latest").
func ParseScheme(name string) (Scheme, error) {
	if name == "latest" {
		return Latest, nil
	}
	for _, s := range schemes {
		if s.name == name {
			return s, nil
		}
	}
	names := make([]string, len(schemes))
	for i, s := range schemes {
		names[i] = s.name
	}
	return Scheme{}, fmt.Errorf("netname: unknown naming scheme %q (known: %s, latest)", name, strings.Join(names, ", "))
}

// String returns the scheme's name, e.g. "v252".
func (s Scheme) String() string {
	if s.name == "" {
		return "(no scheme)"
	}
	return s.name
}

// Valid reports whether s is one of the schemes (not the zero Scheme).
func (s Scheme) Valid() bool { return s.name != "" }

func (s Scheme) has(f feature) bool { return s.flags&f == f }

// atLeast reports whether s is o or newer.
func (s Scheme) atLeast(o Scheme) bool {
	for _, x := range schemes {
		switch x.name {
		case o.name:
			return true
		case s.name:
			return false
		}
	}
	return false
}
