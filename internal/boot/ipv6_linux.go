package boot

import (
	"context"
	"net/netip"

	"github.com/netroot/netroot/pkg/dhcp6"
	"github.com/netroot/netroot/pkg/netconf"
)

type linuxIPv6 struct{}

func (linuxIPv6) AcquireDHCP6(ctx context.Context, o dhcp6.Options) (*dhcp6.Lease, error) {
	l, err := dhcp6.Acquire(ctx, o)
	return l, unembedHint(err)
}

func (linuxIPv6) ApplyLease6(ctx context.Context, l *dhcp6.Lease) error {
	return dhcp6.Apply(ctx, l, dhcp6.ApplyOptions{})
}

func (linuxIPv6) WaitSLAAC(ctx context.Context, o dhcp6.SLAACOptions) (*dhcp6.SLAACResult, error) {
	r, err := dhcp6.WaitSLAAC(ctx, o)
	return r, unembedHint(err)
}

func (linuxIPv6) Either6(ctx context.Context, d dhcp6.Options, s dhcp6.SLAACOptions) (*dhcp6.EitherResult, error) {
	r, err := dhcp6.Either(ctx, d, s)
	return r, unembedHint(err)
}

func (linuxIPv6) LinkLocal6(ctx context.Context, iface string) (netip.Addr, error) {
	if err := dhcp6.EnableIPv6(iface); err != nil {
		return netip.Addr{}, err
	}
	if err := netconf.LinkUp(iface); err != nil {
		return netip.Addr{}, err
	}
	return dhcp6.WaitLinkLocal(ctx, iface)
}

func (linuxIPv6) WaitRoute6(ctx context.Context, iface string, dst netip.Addr) error {
	return dhcp6.WaitRoute(ctx, iface, dst)
}
