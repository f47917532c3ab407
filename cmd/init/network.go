package main

import (
	"context"
	"fmt"
	"strings"

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
		name, err := netconf.ByMAC(n.BootIF)
		if err != nil {
			b.log.Warnf("BOOTIF=%s: %v", n.BootIF, err)
		} else {
			bootif = name
		}
	}
	st.Done("%s present%s", strings.Join(nics, ", "), ifNonEmpty(bootif, "; PXE interface "+bootif))

	for _, bc := range n.Bonds {
		st := b.log.Begin("bond")
		cfg := bond.Config{Name: bc.Name, Slaves: bc.Slaves, MTU: bc.MTU}
		for _, o := range bc.Options {
			cfg.Options = append(cfg.Options, bond.Option{Name: o.Name, Value: o.Value})
		}
		for _, s := range bc.Slaves {
			if s == bootif {
				cfg.Primary = s
			}
		}
		res, err := bond.Setup(ctx, cfg)
		if err != nil {
			st.Fail(err)
			return fail("bond", fmt.Errorf("%s: %w", bc.Name, err), "check bond= and the slaves' links")
		}
		for _, s := range res.Slaves {
			if !s.Up {
				b.log.Warnf("bond: slave %s of %s has no carrier; the bond runs on the others", s.Name, res.Name)
			}
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
	for _, ip := range n.IP {
		st := b.log.Begin("ip")
		detail, err := b.configureIP(ctx, ip)
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

func ifNonEmpty(s, text string) string {
	if s == "" {
		return ""
	}
	return text
}
