package osnet

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/netroot/netroot/pkg/netconf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Inspect reads the root's path from the kernel: every interface that is
// up and has a global address (at switch_root, only /init configured
// any), the one routed to rootServer first, then their lower interfaces
// (a bond's slaves, a VLAN's parent, recursively). Methods (DHCP4 …) are
// left for the caller, who knows how the addresses were obtained.
func Inspect(rootServer netip.Addr) ([]Link, error) {
	all, err := netconf.Dump(netlink.LinkList)
	if err != nil {
		return nil, fmt.Errorf("osnet: listing interfaces: %w", err)
	}
	byIndex := map[int]netlink.Link{}
	for _, l := range all {
		byIndex[l.Attrs().Index] = l
	}
	// One dump of every address, not one per interface (netlink.AddrList
	// dumps them all and filters in user space).
	addrs := map[int][]netlink.Addr{}
	if as, err := netconf.Addrs(nil, unix.AF_UNSPEC); err == nil {
		for _, a := range as {
			addrs[a.LinkIndex] = append(addrs[a.LinkIndex], a)
		}
	}
	first := 0
	if rootServer.IsValid() {
		if rs, err := netlink.RouteGet(rootServer.AsSlice()); err == nil && len(rs) > 0 {
			first = rs[0].LinkIndex
		}
	}
	var tops []int
	for _, l := range all {
		a := l.Attrs()
		if a.Flags&unix.IFF_LOOPBACK != 0 || a.Flags&unix.IFF_UP == 0 {
			continue
		}
		if len(globalAddrs(addrs[a.Index], false)) > 0 {
			tops = append(tops, a.Index)
		}
	}
	slices.SortStableFunc(tops, func(a, b int) int {
		switch {
		case a == first && b != first:
			return -1
		case b == first && a != first:
			return 1
		}
		return 0
	})
	var order []int
	var visit func(i int)
	visit = func(i int) {
		if slices.Contains(order, i) {
			return
		}
		order = append(order, i)
		l := byIndex[i]
		if l == nil {
			return
		}
		if v, ok := l.(*netlink.Vlan); ok && v.ParentIndex != 0 {
			visit(v.ParentIndex)
		}
		if _, ok := l.(*netlink.Bond); ok {
			for _, s := range all {
				if s.Attrs().MasterIndex == i {
					visit(s.Attrs().Index)
				}
			}
		}
	}
	for _, i := range tops {
		visit(i)
	}
	routes, _ := netconf.Dump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(unix.AF_UNSPEC, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	var out []Link
	for _, i := range order {
		l := byIndex[i]
		if l == nil {
			continue
		}
		a := l.Attrs()
		ol := Link{Name: a.Name, MAC: a.HardwareAddr, PermanentMAC: a.PermHWAddr, Addresses: globalAddrs(addrs[i], true)}
		switch v := l.(type) {
		case *netlink.Bond:
			ol.Kind, ol.PermanentMAC = Bond, nil
		case *netlink.Vlan:
			ol.Kind, ol.PermanentMAC, ol.VLANID = VLAN, nil, v.VlanId
			if p := byIndex[v.ParentIndex]; p != nil {
				ol.Parent = p.Attrs().Name
			}
		default:
			if l.Type() != "device" {
				// Another virtual kind: matched by name only.
				ol.Kind, ol.PermanentMAC = Kind(l.Type()), nil
			}
		}
		if m := byIndex[a.MasterIndex]; m != nil && a.MasterIndex != 0 {
			ol.Master = m.Attrs().Name
		}
		for _, r := range routes {
			if r.LinkIndex != i || r.Gw == nil || (r.Dst != nil && !isDefault(r.Dst.String())) {
				continue
			}
			if g, ok := netip.AddrFromSlice(r.Gw); ok {
				ol.Gateways = append(ol.Gateways, g.Unmap())
			}
		}
		out = append(out, ol)
	}
	return out, nil
}

func isDefault(dst string) bool { return dst == "0.0.0.0/0" || dst == "::/0" }

// globalAddrs are the addresses of global scope among one link's addrs;
// permanent: only those without a lifetime — the ones /init set, not the
// kernel's SLAAC ones.
func globalAddrs(addrs []netlink.Addr, permanent bool) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range addrs {
		if a.Scope != unix.RT_SCOPE_UNIVERSE || a.IPNet == nil || (permanent && a.Flags&unix.IFA_F_PERMANENT == 0) {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out
}
