package dhcp6

import (
	"context"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ApplyOptions adjusts Apply.
type ApplyOptions struct {
	// NoDAD adds the address without duplicate address detection: usable
	// at once, but a duplicate goes unnoticed.
	NoDAD bool
}

// Apply adds the lease's address to its interface as a /128, as DHCPv6
// gives it (systemd-networkd and NetworkManager do the same; dracut's
// dhclient-script adds dhclient's prefix length, 128 by default). The
// on-link prefix and the default route are the kernel's, from router
// advertisements (accept_ra=1, the default; EnableRA sets it): DHCPv6
// carries neither. The address is kept without a lifetime, like
// pkg/dhcp's: the real OS's DHCPv6 client takes the lease over, and a
// diskless root must not lose its address when nobody renews it in
// between. Unless NoDAD, Apply waits (bounded by ctx) until duplicate
// address detection is over, so the address is usable as a source when
// it returns; a duplicate is a *DADError, and the address is removed.
func Apply(ctx context.Context, l *Lease, o ApplyOptions) error {
	link, err := netlink.LinkByName(l.Interface)
	if err != nil {
		return fmt.Errorf("dhcp6: %s: %w", l.Interface, err)
	}
	a := l.Address.Addr()
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(l.Address.Bits(), 128)}}
	if o.NoDAD {
		addr.Flags = unix.IFA_F_NODAD
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("dhcp6: adding %s to %s: %w", l.Address, l.Interface, err)
	}
	if o.NoDAD {
		return nil
	}
	if err := WaitDAD(ctx, l.Interface, a); err != nil {
		if _, dup := err.(*DADError); dup {
			netlink.AddrDel(link, addr)
		}
		return fmt.Errorf("dhcp6: %w", err)
	}
	return nil
}
