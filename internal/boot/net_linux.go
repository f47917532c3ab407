package boot

import (
	"context"
	"net"

	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/netconf"
	"github.com/netroot/netroot/pkg/sysfs"
)

type linuxLinks struct{}

func (linuxLinks) WaitMAC(ctx context.Context, mac net.HardwareAddr) (string, error) {
	return netconf.WaitMAC(ctx, mac)
}

func (linuxLinks) Rename(mac net.HardwareAddr, name string) error { return netconf.Rename(mac, name) }

func (linuxLinks) WaitLinks(ctx context.Context, names []string) error {
	return netconf.WaitLinks(ctx, names)
}

func (linuxLinks) FreeNICs(ctx context.Context) ([]string, error) { return netconf.FreeNICs(ctx) }

func (linuxLinks) HardwareAddr(name string) (net.HardwareAddr, error) {
	return netconf.HardwareAddr(name)
}

func (linuxLinks) CreateBond(cfg bond.Config) (Bond, error) {
	b, err := bond.Create(cfg)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (linuxLinks) InspectBond(name string) (*bond.Result, error) { return bond.Inspect(name) }

// WaitLACP waits on link events (ports joining or leaving the active
// aggregator change the slaves' lower state).
func (linuxLinks) WaitLACP(ctx context.Context, name string) (LACP, error) {
	var l LACP
	err := netconf.WaitFor(ctx, func() (bool, error) {
		l = readLACP(sysfs.Sys, name)
		return l.Negotiated(), nil
	})
	if err != nil && ctx.Err() != nil {
		return readLACP(sysfs.Sys, name), nil
	}
	return l, err
}

func (linuxLinks) AddVLAN(v config.VLAN) error { return netconf.AddVLAN(v.Name, v.Parent, v.ID) }

func (linuxLinks) SetMAC(iface string, mac net.HardwareAddr) error { return netconf.SetMAC(iface, mac) }

type linuxAddrs struct{}

func (linuxAddrs) ApplyStatic(s netconf.Static) error { return netconf.ApplyStatic(s) }

func (linuxAddrs) WaitCarrier(ctx context.Context, iface string) error {
	return netconf.WaitCarrier(ctx, iface)
}

func (linuxAddrs) AddRoute(r netconf.Route) error { return netconf.AddRoute(r) }

func (linuxAddrs) SetHostname(name string) error { return netconf.SetHostname(name) }

func (linuxAddrs) AcquireDHCP(ctx context.Context, o dhcp.Options) (*dhcp.Lease, error) {
	l, err := dhcp.Acquire(ctx, o)
	return l, unembedHint(err)
}

func (linuxAddrs) ApplyLease(l *dhcp.Lease, o dhcp.ApplyOptions) error { return dhcp.Apply(l, o) }

func (linuxAddrs) Addresses(iface string) []string {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil
	}
	addrs, _ := ifc.Addrs()
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}
