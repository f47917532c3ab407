package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/netconf"
	"github.com/vishvananda/netlink"
)

// network brings up interfaces, bonds, VLANs and addresses as the plan
// says.
func (b *boot) network(ctx context.Context) error {
	n := b.plan.Net
	if len(n.IP) == 0 && len(n.Bonds) == 0 && len(b.plan.ISCSI.Targets) == 0 && !n.NeedNet {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.plan.Boot.Retry)
	defer cancel()

	st := b.log.Begin("links")
	for _, r := range n.Renames {
		// The NIC's driver may still be probing: wait for its MAC.
		if err := waitMAC(ctx, r.MAC); err != nil {
			st.Fail(err)
			return fail("ifname", fmt.Errorf("ifname=%s:%s: %w", r.Name, r.MAC, err), "check ifname=<name>:<MAC>, and that the NIC's driver (and, for a USB NIC, its host controller's) is in the initramfs: netroot build -drivers")
		}
		if err := netconf.Rename(r.MAC, r.Name); err != nil {
			st.Fail(err)
			return fail("ifname", err, "check ifname=<name>:<MAC>")
		}
	}
	nics := physicalInterfaces(b.plan)
	if err := netconf.WaitLinks(ctx, nics); err != nil {
		st.Fail(err)
		return fail("links", err, "")
	}
	bootif := ""
	if len(n.BootIF) > 0 {
		// With the plan's NICs present, a BOOTIF NIC that is not there
		// yet gets a short grace; with none named, it is the NIC to use.
		wctx, wcancel := ctx, context.CancelFunc(func() {})
		if len(nics) > 0 {
			wctx, wcancel = context.WithTimeout(ctx, 10*time.Second)
		}
		err := waitMAC(wctx, n.BootIF)
		wcancel()
		name, err2 := netconf.ByMAC(n.BootIF)
		if err != nil || err2 != nil {
			b.log.Warnf("BOOTIF=%s: %v", n.BootIF, errors.Join(err, err2))
		} else {
			bootif = name
		}
	}
	st.Done("%s present%s", orNone(strings.Join(nics, ", ")), ifNonEmpty(bootif, "; PXE interface "+bootif+" ("+n.BootIF.String()+")"))

	for _, bc := range n.Bonds {
		st := b.log.Begin("bond")
		primary := ""
		for _, s := range bc.Slaves {
			if s == bootif {
				// Enslaved first, so the bond takes the PXE MAC and the
				// DHCP reservation for it matches.
				primary = s
			}
		}
		bd, err := b.bond(bc)
		var res *bond.Result
		if err == nil {
			res, err = bd.Enslave(ctx, bc.Slaves, primary)
		}
		if err != nil {
			st.Fail(err)
			return fail("bond", fmt.Errorf("%s: %w", bc.Name, err), "check bond= and the slaves' links")
		}
		for _, s := range res.Slaves {
			if !s.Up {
				b.log.Warnf("bond: slave %s of %s is down (no carrier); the bond runs on the others — check its cable/switch port", s.Name, res.Name)
			}
		}
		if res.Mode == "802.3ad" {
			if err := b.checkLACP(ctx, res.Name); err != nil {
				st.Fail(err)
				return fail("bond", err, "")
			}
			res, _ = bond.Inspect(res.Name)
		}
		st.Done("%s", res)
	}
	for _, v := range n.VLANs {
		st := b.log.Begin("vlan")
		if err := addVLAN(v); err != nil {
			st.Fail(err)
			return fail("vlan", err, "check vlan=<name>:<parent>")
		}
		st.Done("%s on %s, id %d", v.Name, v.Parent, v.ID)
	}
	ns := &netState{}
	for _, ip := range n.IP {
		st := b.log.Begin("ip")
		var (
			detail string
			err    error
		)
		if ip.Method == config.IPStatic {
			detail, err = b.configureIP(ctx, ip)
		} else {
			detail, err = b.dhcpIP(ctx, ns, ip, bootif)
		}
		if err != nil {
			st.Fail(err)
			return fail("ip", err, "check ip=")
		}
		st.Done("%s", detail)
	}
	for _, r := range n.Routes {
		if err := netconf.AddRoute(netconf.Route{Destination: r.Destination, Gateway: r.Gateway, Interface: r.Interface}); err != nil {
			return fail("route", err, "check rd.route=")
		}
	}
	if err := b.writeResolvConf(ns); err != nil {
		b.log.Warnf("writing %s/resolv.conf: %v", runDir, err)
	}
	if b.plan.ISCSI.FromDHCP && !ns.dhcpTarget {
		return fail("dhcp", errors.New("netroot=dhcp (or root=dhcp), but no DHCP answer carried a root-path (option 17)"),
			`have the DHCP server send option 17, e.g. dnsmasq --dhcp-option=17,"iscsi:<server>::3260:<lun>:<target>"`)
	}
	return nil
}

// preparedBonds are the plan's bonds, created while the NICs' drivers
// probe (prepareBonds): each bond= entry's bond, or why it could not be
// made.
type preparedBonds struct {
	done  chan struct{}
	bonds map[string]preparedBond
}

type preparedBond struct {
	bond *bond.Bond
	err  error
}

// prepareBonds creates the plan's bonds in the background, up and without
// slaves, as soon as the bonding module is loaded: creating a bond is tens
// of milliseconds of kernel work (more under emulation) that then overlaps
// with the NIC drivers' probes instead of following them. The network
// step enslaves the NICs (bond). Not done when rd.break=pre-net asks to
// stop before the network is touched.
func (b *boot) prepareBonds() {
	if len(b.plan.Net.Bonds) == 0 || slices.Contains(b.plan.Boot.Breaks, "pre-net") {
		return
	}
	p := &preparedBonds{done: make(chan struct{}), bonds: map[string]preparedBond{}}
	b.bonds = p
	go func() {
		defer close(p.done)
		for _, bc := range b.plan.Net.Bonds {
			var pb preparedBond
			pb.err = recovered(func() (err error) {
				pb.bond, err = bond.Create(bondConfig(bc))
				return err
			})
			p.bonds[bc.Name] = pb
		}
	}()
}

// bond returns the bond bc describes: the one prepareBonds created, or,
// when none were prepared, a new one.
func (b *boot) bond(bc config.Bond) (*bond.Bond, error) {
	if p := b.bonds; p != nil {
		<-p.done
		pb := p.bonds[bc.Name]
		return pb.bond, pb.err
	}
	return bond.Create(bondConfig(bc))
}

// bondConfig translates a bond= entry.
func bondConfig(bc config.Bond) bond.Config {
	cfg := bond.Config{Name: bc.Name, MTU: bc.MTU}
	for _, o := range bc.Options {
		cfg.Options = append(cfg.Options, bond.Option{Name: o.Name, Value: o.Value})
	}
	return cfg
}

// lacpWait bounds the wait for an 802.3ad partner: a switch answers the
// bond's first LACPDU at once, whatever its lacp_rate.
const lacpWait = 5 * time.Second

// checkLACP makes an 802.3ad bond count as up only when its active
// aggregator has a port, and says plainly when LACP did not negotiate
// (the kernel may then run on one partnerless aggregator: it works, but
// it is not the aggregate that was configured).
func (b *boot) checkLACP(ctx context.Context, name string) error {
	wctx, cancel := context.WithTimeout(ctx, lacpWait)
	defer cancel()
	l, err := waitLACP(wctx, name)
	if err != nil {
		return err
	}
	switch {
	case l.Negotiated():
		b.log.Printf("bond: %s 802.3ad: LACP negotiated: aggregator %s with %d port(s), partner %s", name, l.Aggregator, l.Ports, l.Partner)
	case !l.Usable():
		return fmt.Errorf("%s 802.3ad: no port in an active aggregator after %s (aggregator %s, partner %s): LACP did not negotiate — the switch ports must be in an LACP port-channel (or the switch may need LACP fallback); ports need a known speed and full duplex",
			name, lacpWait, orNone(l.Aggregator), orNone(l.Partner))
	default:
		b.log.Warnf("bond: %s 802.3ad: LACP did not negotiate within %s (aggregator %s with %d port(s) has no partner, partner MAC %s); running on that aggregator alone — the switch may need LACP configured on these ports, or LACP fallback",
			name, lacpWait, l.Aggregator, l.Ports, orNone(l.Partner))
	}
	return nil
}

// configureIP applies one ip= entry.
func (b *boot) configureIP(ctx context.Context, ip config.IPConfig) (string, error) {
	switch ip.Method {
	case config.IPStatic:
		if ip.Interface == "" {
			return "", fmt.Errorf("a static ip= needs an interface name")
		}
		if err := netconf.ApplyStatic(netconf.Static{
			Interface: ip.Interface, Address: ip.Address, Peer: ip.Peer, Gateway: ip.Gateway, MTU: ip.MTU,
		}); err != nil {
			return "", err
		}
		if ip.Hostname != "" {
			if err := netconf.SetHostname(ip.Hostname); err != nil {
				b.log.Warnf("hostname %s: %v", ip.Hostname, err)
			}
		}
		if err := netconf.WaitCarrier(ctx, ip.Interface); err != nil {
			return "", err
		}
		d := fmt.Sprintf("%s %s", ip.Interface, ip.Address)
		if ip.Gateway.IsValid() {
			d += " gw " + ip.Gateway.String()
		}
		return d, nil
	}
	return "", fmt.Errorf("ip=%s on %q is not supported yet: use a static ip=<client-IP>::<gw>:<netmask>:<host>:<iface>:none", ip.Method, ip.Interface)
}

// physicalInterfaces lists the NICs the plan uses directly: bond slaves,
// VLAN parents and ip= interfaces that the plan does not create itself.
func physicalInterfaces(p *config.Plan) []string {
	created := map[string]bool{}
	for _, b := range p.Net.Bonds {
		created[b.Name] = true
	}
	for _, v := range p.Net.VLANs {
		created[v.Name] = true
	}
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if n != "" && !created[n] && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, b := range p.Net.Bonds {
		for _, s := range b.Slaves {
			add(s)
		}
	}
	for _, v := range p.Net.VLANs {
		add(v.Parent)
	}
	for _, ip := range p.Net.IP {
		add(ip.Interface)
	}
	return out
}

func addVLAN(v config.VLAN) error {
	parent, err := netlink.LinkByName(v.Parent)
	if err != nil {
		return fmt.Errorf("VLAN %s: parent %s: %w", v.Name, v.Parent, err)
	}
	if err := netlink.LinkSetUp(parent); err != nil {
		return err
	}
	link := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: parent.Attrs().Index}, VlanId: v.ID}
	if err := netlink.LinkAdd(link); err != nil {
		return fmt.Errorf("creating VLAN %s (id %d on %s): %w", v.Name, v.ID, v.Parent, err)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func ifNonEmpty(s, text string) string {
	if s == "" {
		return ""
	}
	return text
}
