package dhcp6

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/limit"
	"github.com/netroot/netroot/pkg/netconf"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// SLAACOptions configures WaitSLAAC.
type SLAACOptions struct {
	// Interface to autoconfigure (a NIC, a bond or a VLAN).
	Interface string
	// Reach, when valid, is the address the root is reached at (the
	// iSCSI portal): the wait then also needs a route to it through
	// Interface, on-link from an advertised prefix or via an advertised
	// router. Without it the wait needs a default route from a router
	// advertisement, as dracut's wait_for_ipv6_auto does.
	Reach netip.Addr
	// Logf receives notes (a router solicitation sent); nil discards them.
	Logf func(format string, args ...any)
}

// SLAACResult is what stateless autoconfiguration gave the interface.
type SLAACResult struct {
	Interface string
	// Addresses are the usable global addresses the kernel made from
	// router advertisements.
	Addresses []netip.Prefix
	// Router is the default router an advertisement gave, if any.
	Router netip.Addr
}

// String is a one-line summary, e.g. "fd77::5054:ff:fe77:10/64 gw fe80::1".
func (r *SLAACResult) String() string {
	s := make([]string, len(r.Addresses))
	for i, a := range r.Addresses {
		s[i] = a.String()
	}
	out := strings.Join(s, ", ")
	if r.Router.IsValid() {
		out += " gw " + r.Router.String()
	}
	return out
}

// WaitSLAAC turns on router advertisements and autoconf for the interface
// (EnableRA), brings it up and waits, on rtnetlink address and route
// events, until the kernel has made a usable global address from a router
// advertisement and the route SLAACOptions.Reach asks for exists, or ctx
// ends: the error then names the interface, what was missing and what
// there was. It is dracut's ip=auto6.
func WaitSLAAC(ctx context.Context, o SLAACOptions) (*SLAACResult, error) {
	start := time.Now()
	iface := o.Interface
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("slaac: %s: %w", iface, err)
	}
	wasUp := link.Attrs().Flags&net.FlagUp != 0
	raChanged, err := EnableRA(iface)
	if err != nil {
		return nil, fmt.Errorf("slaac: %s: %w", iface, err)
	}
	if err := netconf.LinkUp(iface); err != nil {
		return nil, fmt.Errorf("slaac: bringing %s up: %w", iface, err)
	}
	solicited := !(wasUp && raChanged)
	var res *SLAACResult
	var missing string
	err = netconf.WaitEvents(ctx, netconf.AddrEvents|netconf.RouteEvents|netconf.LinkEvents, func() (bool, error) {
		r, miss, err := slaacState(iface, o.Reach)
		if err != nil {
			return false, err
		}
		if !solicited {
			// The kernel solicited routers when the link came up, before
			// it accepted advertisements: ask again, from a usable
			// link-local address.
			if sent, err := solicitRouters(iface); err != nil {
				logf("slaac: %s: router solicitation: %v", iface, err)
				solicited = true
			} else if sent {
				logf("slaac: %s: sent a router solicitation (accept_ra was off while the link was up)", iface)
				solicited = true
			}
		}
		res, missing = r, miss
		return miss == "", nil
	})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, &WaitError{
				Interface: iface, What: missing, Elapsed: time.Since(start),
				State: describeAddrs(iface) + "; " + describeRoutes(iface) + "; " + confSummary(iface),
				Hint:  "is a router advertising on this link (radvd, dnsmasq --enable-ra; a prefix with the autonomous flag; the switch port's VLAN)?" + limit.BoundsTheWait(limit.Ended(ctx)),
				Err:   ctx.Err(),
			}
		}
		return nil, fmt.Errorf("slaac: %s: %w", iface, err)
	}
	return res, nil
}

// slaacState reads the interface's addresses and routes; missing says
// what is still missing ("" when nothing).
func slaacState(iface string, reach netip.Addr) (_ *SLAACResult, missing string, _ error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", iface, err)
	}
	addrs, err := netconf.Addrs(link, netlink.FAMILY_V6)
	if err != nil {
		return nil, "", err
	}
	r := &SLAACResult{Interface: iface}
	for _, a := range addrs {
		ip := addrOf(a)
		// Addresses added by hand (or by Apply) are permanent; the
		// kernel's SLAAC addresses are not.
		if !ip.IsGlobalUnicast() || ip.IsLinkLocalUnicast() || a.Flags&unix.IFA_F_PERMANENT != 0 || !addrUsable(a) {
			continue
		}
		ones, _ := a.Mask.Size()
		r.Addresses = append(r.Addresses, netip.PrefixFrom(ip, ones))
	}
	r.Router = raDefaultRouter(link)
	var miss []string
	if len(r.Addresses) == 0 {
		miss = append(miss, "usable global address from a router advertisement")
	}
	switch {
	case reach.IsValid():
		if !routesVia(link, reach) {
			miss = append(miss, "route to "+reach.String()+" through "+iface)
		}
	case !r.Router.IsValid():
		miss = append(miss, "default route from a router advertisement")
	}
	return r, strings.Join(miss, " and "), nil
}

// raDefaultRouter returns the gateway of the interface's default route
// learnt from a router advertisement (proto ra), if any.
func raDefaultRouter(link netlink.Link) netip.Addr {
	routes, err := ownRoutes(link)
	if err != nil {
		return netip.Addr{}
	}
	for _, rt := range routes {
		if rt.Protocol != unix.RTPROT_RA {
			continue
		}
		if rt.Dst != nil {
			if ones, _ := rt.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if gw, ok := netip.AddrFromSlice(rt.Gw); ok {
			return gw
		}
	}
	return netip.Addr{}
}

// routesVia reports whether the kernel would send to dst through link.
func routesVia(link netlink.Link, dst netip.Addr) bool {
	routes, err := netlink.RouteGet(dst.AsSlice())
	if err != nil || len(routes) == 0 {
		return false
	}
	return routes[0].LinkIndex == link.Attrs().Index
}

// WaitRoute waits until the kernel routes dst through the interface: after
// Apply, a DHCPv6 /128 reaches an on-link portal only once a router
// advertisement gave the prefix, and an off-link one once it gave a
// default router.
func WaitRoute(ctx context.Context, iface string, dst netip.Addr) error {
	start := time.Now()
	err := netconf.WaitEvents(ctx, netconf.RouteEvents|netconf.AddrEvents, func() (bool, error) {
		link, err := netlink.LinkByName(iface)
		if err != nil {
			return false, fmt.Errorf("%s: %w", iface, err)
		}
		return routesVia(link, dst), nil
	})
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return &WaitError{Interface: iface, What: "route to " + dst.String(), Elapsed: time.Since(start),
			State: describeRoutes(iface) + "; " + confSummary(iface),
			Hint:  "DHCPv6 gives no routes: a router advertisement must give the on-link prefix or a default router (radvd, dnsmasq --enable-ra); or give the address with ip= statically",
			Err:   ctx.Err()}
	}
	return err
}

// describeRoutes lists the interface's IPv6 routes, e.g. "routes
// fd77::/64 (ra), default via fe80::1 (ra)".
func describeRoutes(iface string) string {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return "routes: " + err.Error()
	}
	routes, err := ownRoutes(link)
	if err != nil {
		return "routes: " + err.Error()
	}
	var out []string
	for _, rt := range routes {
		dst := "default"
		if rt.Dst != nil {
			if rt.Dst.IP.IsLinkLocalUnicast() || rt.Dst.IP.IsMulticast() {
				continue // fe80::/64 and ff00::/8 are on every interface
			}
			if ones, _ := rt.Dst.Mask.Size(); ones != 0 {
				dst = rt.Dst.String()
			}
		}
		s := dst
		if rt.Gw != nil {
			s += " via " + rt.Gw.String()
		}
		if rt.Protocol == unix.RTPROT_RA {
			s += " (ra)"
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "no IPv6 route"
	}
	return "routes " + strings.Join(out, ", ")
}

// solicitRouters sends one router solicitation (RFC 4861 6.3.7) from the
// interface's usable link-local address; sent is false while it has none
// (the caller tries again on the next address event).
func solicitRouters(iface string) (sent bool, err error) {
	addrs, err := ipv6Addrs(iface)
	if err != nil {
		return false, err
	}
	var ll netip.Addr
	for _, a := range addrs {
		if ip := addrOf(a); ip.IsLinkLocalUnicast() && addrUsable(a) {
			ll = ip
			break
		}
	}
	if !ll.IsValid() {
		return false, nil
	}
	mac, _ := netconf.HardwareAddr(iface)
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", ll.String()+"%"+iface)
	if err != nil {
		return false, err
	}
	defer c.Close()
	// Routers drop solicitations that may have crossed a router.
	if err := c.IPv6PacketConn().SetMulticastHopLimit(255); err != nil {
		return false, err
	}
	body := make([]byte, 4, 12)
	if len(mac) == 6 {
		body = append(body, 1, 1) // source link-layer address option, 8 bytes
		body = append(body, mac...)
	}
	msg := icmp.Message{Type: ipv6.ICMPTypeRouterSolicitation, Body: &icmp.RawBody{Data: body}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return false, err
	}
	if _, err := c.WriteTo(b, &net.IPAddr{IP: net.ParseIP("ff02::2"), Zone: iface}); err != nil {
		return false, err
	}
	return true, nil
}

// ownRoutes lists link's IPv6 routes.
func ownRoutes(link netlink.Link) ([]netlink.Route, error) {
	return netconf.Dump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{LinkIndex: link.Attrs().Index}, netlink.RT_FILTER_OIF)
	})
}
