// Package netconf configures addresses and routes on an interface over
// netlink and waits, on link events, for interfaces to appear and carry
// traffic. It never sleeps: every wait is an event wait with a deadline.
package netconf

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/sysfs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Static is a static address assignment.
type Static struct {
	// Interface receives the address.
	Interface string
	// Address with prefix length, e.g. 10.0.0.10/24.
	Address netip.Prefix
	// Peer is the optional point-to-point peer address.
	Peer netip.Addr
	// Gateway is the default gateway; invalid for none.
	Gateway netip.Addr
	// MTU is set when non-zero.
	MTU int
}

// Route is a static route.
type Route struct {
	Destination netip.Prefix
	Gateway     netip.Addr
	Interface   string // empty: the kernel picks by the gateway
}

// LinkUp brings an interface up.
func LinkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return netlink.LinkSetUp(l)
}

// ApplyStatic brings the interface up and configures its address, MTU and
// default gateway. IPv6 addresses skip duplicate address detection so they
// are usable at once.
func ApplyStatic(s Static) error {
	l, err := netlink.LinkByName(s.Interface)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Interface, err)
	}
	if s.MTU > 0 {
		if err := netlink.LinkSetMTU(l, s.MTU); err != nil {
			return fmt.Errorf("setting MTU %d on %s: %w", s.MTU, s.Interface, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bringing %s up: %w", s.Interface, err)
	}
	addr := &netlink.Addr{IPNet: prefixNet(s.Address)}
	if s.Peer.IsValid() {
		addr.Peer = prefixNet(netip.PrefixFrom(s.Peer, s.Peer.BitLen()))
	}
	if s.Address.Addr().Is6() {
		addr.Flags = unix.IFA_F_NODAD
	}
	if err := netlink.AddrReplace(l, addr); err != nil {
		return fmt.Errorf("adding %s to %s: %w", s.Address, s.Interface, err)
	}
	if s.Gateway.IsValid() {
		if err := AddRoute(Route{Gateway: s.Gateway, Interface: s.Interface}); err != nil {
			return err
		}
	}
	return nil
}

// AddRoute adds (or replaces) a route. A zero Destination is the default
// route of the gateway's family.
func AddRoute(r Route) error {
	rt := &netlink.Route{Gw: r.Gateway.AsSlice()}
	if r.Destination.IsValid() {
		rt.Dst = prefixNet(r.Destination)
	} else if r.Gateway.Is4() {
		rt.Dst = &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}
	} else {
		rt.Dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	if r.Interface != "" {
		l, err := netlink.LinkByName(r.Interface)
		if err != nil {
			return fmt.Errorf("route via %s: %w", r.Interface, err)
		}
		rt.LinkIndex = l.Attrs().Index
	}
	if err := netlink.RouteReplace(rt); err != nil {
		return fmt.Errorf("adding route %s via %s: %w", rt.Dst, r.Gateway, err)
	}
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// SetHostname sets the kernel hostname.
func SetHostname(name string) error {
	return unix.Sethostname([]byte(name))
}

// WaitFor is WaitEvents on link events: check runs at once and after
// every link notification until it reports done or fails, or ctx ends.
func WaitFor(ctx context.Context, check func() (done bool, err error)) error {
	return WaitEvents(ctx, LinkEvents, check)
}

// WaitLinks waits until every named interface exists (NIC drivers create
// them while probing), or ctx ends; the error then lists the interfaces
// that do exist with their MACs.
func WaitLinks(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	// Usually the drivers have made them by now: a stat each, no netlink
	// subscription (a socket, a goroutine and a request per name).
	if allInSysfs(sysfs.Sys, names) {
		return nil
	}
	var missing []string
	err := WaitFor(ctx, func() (bool, error) {
		missing = missing[:0]
		for _, n := range names {
			if _, err := netlink.LinkByName(n); err != nil {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil && ctx.Err() != nil {
		return hint.Errorf("is the NIC driver in the initramfs?", "no interface %s (interfaces present: %s)", strings.Join(missing, ", "), Describe())
	}
	return err
}

// allInSysfs reports whether every name is an entry of sys's class/net.
// A name that is no plain file name (a '/', "." or "..") counts as absent,
// so it is left to netlink to judge.
func allInSysfs(sys sysfs.FS, names []string) bool {
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.ContainsRune(n, '/') {
			return false
		}
		if !sys.Exists("class/net/" + n) {
			return false
		}
	}
	return true
}

// WaitCarrier waits until the interface has carrier (IFF_RUNNING and
// IFF_LOWER_UP).
func WaitCarrier(ctx context.Context, name string) error {
	err := WaitFor(ctx, func() (bool, error) {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return false, fmt.Errorf("%s: %w", name, err)
		}
		// IFF_RUNNING alone lies for a NIC whose carrier was off from
		// its probe on (virtio_net): its operstate is still "unknown",
		// which counts as running, until linkwatch first runs.
		f := l.Attrs().RawFlags
		return f&unix.IFF_RUNNING != 0 && f&unix.IFF_LOWER_UP != 0, nil
	})
	if err != nil && ctx.Err() != nil {
		return hint.Wrap(fmt.Errorf("%s has no carrier: %w", name, ctx.Err()), "check the cable/switch port")
	}
	return err
}

// WaitMAC waits until an interface has the MAC (its driver may still be
// probing) and returns its name; when ctx ends first, the error lists the
// interfaces present.
func WaitMAC(ctx context.Context, mac net.HardwareAddr) (string, error) {
	var name string
	var last error
	err := WaitFor(ctx, func() (bool, error) {
		name, last = ByMAC(mac)
		return last == nil, nil
	})
	if err != nil && ctx.Err() != nil && last != nil {
		return "", last
	}
	return name, err
}

// FreeNICs waits until there is at least one physical Ethernet NIC that
// is not enslaved, and returns them all, sorted.
func FreeNICs(ctx context.Context) ([]string, error) {
	var out []string
	err := WaitFor(ctx, func() (bool, error) {
		links, err := Dump(netlink.LinkList)
		if err != nil {
			return false, err
		}
		out = out[:0]
		for _, l := range links {
			a := l.Attrs()
			if l.Type() == "device" && len(a.HardwareAddr) == 6 && a.MasterIndex == 0 && a.Flags&net.FlagLoopback == 0 {
				out = append(out, a.Name)
			}
		}
		return len(out) > 0, nil
	})
	if err != nil && ctx.Err() != nil {
		return nil, hint.Errorf("is the NIC driver in the initramfs?", "no Ethernet interface appeared for ip=dhcp (interfaces present: %s)", Describe())
	}
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// AddVLAN creates the VLAN interface name with id on parent, bringing the
// parent up first.
func AddVLAN(name, parent string, id int) error {
	p, err := netlink.LinkByName(parent)
	if err != nil {
		return fmt.Errorf("VLAN %s: parent %s: %w", name, parent, err)
	}
	if err := netlink.LinkSetUp(p); err != nil {
		return err
	}
	link := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: p.Attrs().Index}, VlanId: id}
	if err := netlink.LinkAdd(link); err != nil {
		return fmt.Errorf("creating VLAN %s (id %d on %s): %w", name, id, parent, err)
	}
	return nil
}

// Describe lists the interfaces present as "eth0 52:54:00:…, eth1 …".
func Describe() string {
	links, err := Dump(netlink.LinkList)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	var out []string
	for _, l := range links {
		a := l.Attrs()
		if a.Name == "lo" {
			continue
		}
		s := a.Name
		if len(a.HardwareAddr) > 0 {
			s += " " + a.HardwareAddr.String()
		}
		out = append(out, s)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// ByMAC returns the name of the interface with the given MAC address
// (bond and VLAN interfaces, which copy a slave's MAC, are skipped).
func ByMAC(mac net.HardwareAddr) (string, error) {
	links, err := Dump(netlink.LinkList)
	if err != nil {
		return "", err
	}
	for _, l := range links {
		switch l.Type() {
		case "bond", "vlan", "bridge":
			continue
		}
		if l.Attrs().HardwareAddr.String() == mac.String() {
			return l.Attrs().Name, nil
		}
	}
	return "", &NoMACError{MAC: mac, Present: Describe()}
}

// NoMACError is a MAC address no interface has.
type NoMACError struct {
	MAC net.HardwareAddr
	// Present lists the interfaces there are, as Describe does.
	Present string
}

func (e *NoMACError) Error() string {
	return fmt.Sprintf("no interface has MAC %s (interfaces present: %s)", e.MAC, e.Present)
}

// Rename renames the interface with the given MAC to name (ifname=).
func Rename(mac net.HardwareAddr, name string) error {
	cur, err := ByMAC(mac)
	if err != nil {
		return err
	}
	if cur == name {
		return nil
	}
	l, err := netlink.LinkByName(cur)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetDown(l); err != nil {
		return err
	}
	if err := netlink.LinkSetName(l, name); err != nil {
		return fmt.Errorf("renaming %s (%s) to %s: %w", cur, mac, name, err)
	}
	return nil
}

// SetMAC gives interface name the MAC address mac (ip=…:<macaddr>, ip
// link set address): taken down for the change, as not every driver
// takes a new address while up, and brought up again if it was.
func SetMAC(name string, mac net.HardwareAddr) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if bytes.Equal(l.Attrs().HardwareAddr, mac) {
		return nil
	}
	up := l.Attrs().RawFlags&unix.IFF_UP != 0
	if up {
		if err := netlink.LinkSetDown(l); err != nil {
			return fmt.Errorf("%s: taking it down to set its MAC address: %w", name, err)
		}
	}
	if err := netlink.LinkSetHardwareAddr(l, mac); err != nil {
		return fmt.Errorf("%s: setting MAC address %s: %w", name, mac, err)
	}
	if up {
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("%s: bringing it up again after setting its MAC address: %w", name, err)
		}
	}
	return nil
}

// HardwareAddr returns an interface's MAC address.
func HardwareAddr(name string) (net.HardwareAddr, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	return l.Attrs().HardwareAddr, nil
}
