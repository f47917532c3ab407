package dhcp6

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/netconf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// WaitError is a wait that ended (its deadline, or a cancel) before what
// it waited for held.
type WaitError struct {
	// Interface is the interface waited on.
	Interface string
	// What is what was waited for, e.g. "a global address from a router
	// advertisement".
	What string
	// Elapsed is how long the wait lasted.
	Elapsed time.Duration
	// State is what there was at the end (addresses, routes, settings).
	State string
	// Hint says what to check.
	Hint string
	// Err is the context's error.
	Err error
}

func (e *WaitError) Error() string {
	s := fmt.Sprintf("%s: no %s after %s", e.Interface, e.What, e.Elapsed.Round(100*time.Millisecond))
	if e.State != "" {
		s += " (" + e.State + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		s += " — " + e.Hint
	}
	return s
}

// Unwrap returns the context's error.
func (e *WaitError) Unwrap() error { return e.Err }

// DADError is an address that failed duplicate address detection: another
// host on the link has it.
type DADError struct {
	Interface string
	Address   netip.Addr
}

func (e *DADError) Error() string {
	return fmt.Sprintf("%s: duplicate address detection failed for %s: another host on the link uses it", e.Interface, e.Address)
}

// Hint says what to look for.
func (e *DADError) Hint() string {
	return "look for a clone of this machine's MAC or a static assignment of the address"
}

// addrUsable reports whether the kernel lets an address be used: not
// tentative (duplicate address detection is over), or optimistic (RFC
// 4429), and not failed.
func addrUsable(a netlink.Addr) bool {
	f := a.Flags
	if f&unix.IFA_F_DADFAILED != 0 {
		return false
	}
	return f&unix.IFA_F_TENTATIVE == 0 || f&unix.IFA_F_OPTIMISTIC != 0
}

// ipv6Addrs lists the interface's IPv6 addresses.
func ipv6Addrs(iface string) ([]netlink.Addr, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", iface, err)
	}
	return netconf.Addrs(l, netlink.FAMILY_V6)
}

func addrOf(a netlink.Addr) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.IP)
	return ip.Unmap()
}

// describeAddrs lists the interface's IPv6 addresses with their states,
// e.g. "fe80::5054:ff:fe77:10/64 tentative".
func describeAddrs(iface string) string {
	addrs, err := ipv6Addrs(iface)
	if err != nil {
		return "addresses: " + err.Error()
	}
	var out []string
	for _, a := range addrs {
		s := a.IPNet.String()
		for _, f := range []struct {
			bit  int
			name string
		}{{unix.IFA_F_TENTATIVE, "tentative"}, {unix.IFA_F_OPTIMISTIC, "optimistic"}, {unix.IFA_F_DADFAILED, "dadfailed"}, {unix.IFA_F_DEPRECATED, "deprecated"}} {
			if a.Flags&f.bit != 0 {
				s += " " + f.name
			}
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "no IPv6 address"
	}
	return "addresses " + strings.Join(out, ", ")
}

// WaitLinkLocal waits until the interface has a usable link-local address
// (duplicate address detection over, RFC 4862), the source address
// DHCPv6 requires, and returns it. The kernel makes that address when an
// interface with IPv6 enabled comes up.
func WaitLinkLocal(ctx context.Context, iface string) (netip.Addr, error) {
	start := time.Now()
	var ll netip.Addr
	err := netconf.WaitEvents(ctx, netconf.AddrEvents|netconf.LinkEvents, func() (bool, error) {
		addrs, err := ipv6Addrs(iface)
		if err != nil {
			return false, err
		}
		for _, a := range addrs {
			ip := addrOf(a)
			if !ip.IsLinkLocalUnicast() {
				continue
			}
			if a.Flags&unix.IFA_F_DADFAILED != 0 {
				return false, &DADError{Interface: iface, Address: ip}
			}
			if addrUsable(a) {
				ll = ip
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil && ctx.Err() != nil {
		return netip.Addr{}, &WaitError{
			Interface: iface, What: "usable link-local address (duplicate address detection not over)",
			Elapsed: time.Since(start), State: describeAddrs(iface) + "; " + confSummary(iface),
			Hint: "is the link up with IPv6 on (disable_ipv6=0, addr_gen_mode not 1)?", Err: ctx.Err(),
		}
	}
	return ll, err
}

// WaitDAD waits until addr on the interface has passed duplicate address
// detection.
func WaitDAD(ctx context.Context, iface string, addr netip.Addr) error {
	start := time.Now()
	err := netconf.WaitEvents(ctx, netconf.AddrEvents, func() (bool, error) {
		addrs, err := ipv6Addrs(iface)
		if err != nil {
			return false, err
		}
		for _, a := range addrs {
			if addrOf(a) != addr {
				continue
			}
			if a.Flags&unix.IFA_F_DADFAILED != 0 {
				return false, &DADError{Interface: iface, Address: addr}
			}
			return addrUsable(a), nil
		}
		return false, fmt.Errorf("%s: address %s is gone", iface, addr)
	})
	if err != nil && ctx.Err() != nil && !errors.As(err, new(*DADError)) {
		return &WaitError{Interface: iface, What: "end of duplicate address detection for " + addr.String(),
			Elapsed: time.Since(start), State: describeAddrs(iface), Err: ctx.Err()}
	}
	return err
}
