package boot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/dhcp6"
	"github.com/netroot/netroot/pkg/limit"
	"github.com/netroot/netroot/pkg/netconf"
)

// netResult is what the network step learnt.
type netResult struct {
	// bootif is the PXE NIC's name (BOOTIF=), "" when none.
	bootif string
	// leases are the DHCP leases configured, in order.
	leases []*dhcp.Lease
	// targets are the iSCSI targets of a DHCP root-path (netroot=dhcp)
	// that the plan does not list already.
	targets []config.Target
	// rootPath is the target of the DHCP root-path, listed by the plan
	// or not, for a root that is its LUN (root=dhcp); nil when none.
	rootPath *config.Target
	// leases6 are the DHCPv6 leases configured, rootPath6 the target of
	// the first boot file URL (netroot=dhcp6), firmware the iBFT (ipv6.go,
	// ibft.go).
	leases6   []*dhcp6.Lease
	rootPath6 *config.Target
	firmware  *firmware
}

// bootifGrace bounds the wait for the BOOTIF NIC when the plan names its
// NICs and they are there.
const bootifGrace = 10 * time.Second

// network brings up interfaces, bonds, VLANs and addresses as the plan
// says.
func (b *Boot) network(ctx context.Context, p *config.Plan, links Links, addrs Addrs, files Files, bonds *task.Task[preparedBonds],
	nics NICs, v6 IPv6, fw *firmware) (netResult, error) {
	res := netResult{firmware: fw}
	if !p.RunsNetwork() {
		return res, nil
	}
	n := p.Net
	// rd.retry bounds the step and the readiness group's runs, which with
	// rd.iscsi.waitnet=0 outlive it (lateLeases ends them): the step's own
	// context is a child of theirs.
	groupCtx, groupCancel := limit.WithTimeout(ctx, p.Boot.Retry, p.Boot.RetryLimit())
	lateStarted := false
	defer func() {
		if !lateStarted {
			groupCancel()
		}
	}()
	ctx, cancel := context.WithCancel(groupCtx)
	defer cancel()

	bootif, err := b.links(ctx, p, links, nics)
	if err != nil {
		return res, err
	}
	res.bootif = bootif
	bootifStatic(p, bootif)
	fwn, err := b.firmwareNetwork(ctx, p, fw, links)
	if err != nil {
		return res, err
	}
	n.VLANs, n.IP, res.targets = slices.Concat(n.VLANs, fwn.vlans), slices.Concat(n.IP, fwn.ips), fwn.targets
	primary := bootif
	if primary == "" {
		primary = fwn.primary
	}
	for _, bc := range n.Bonds {
		if err := b.bond(ctx, bc, primary, links, bonds); err != nil {
			return res, err
		}
	}
	// A VLAN on a VLAN needs its parent first, wherever vlan= lists it.
	vlans, err := config.OrderVLANs(n.VLANs)
	if err != nil {
		return res, fail("vlan", err, "check vlan=<name>:<parent>")
	}
	for _, v := range vlans {
		st := b.log.Begin("vlan")
		if err := links.AddVLAN(v); err != nil {
			st.Fail(err)
			return res, fail("vlan", err, "check vlan=<name>:<parent>")
		}
		st.Done("%s on %s, id %d", v.Name, v.Parent, v.ID)
	}
	// ip=…:<macaddr> before any address or DHCP: dracut's ifup sets it
	// first, and a DHCP server sees the new one.
	for _, ip := range n.IP {
		if ip.MAC != nil {
			st := b.log.Begin("mac")
			if err := links.SetMAC(ip.Interface, ip.MAC); err != nil {
				st.Fail(err)
				return res, fail("mac", err, "check the <macaddr> field of ip= (a unicast MAC address the NIC's driver takes)")
			}
			st.Done("%s %s", ip.Interface, ip.MAC)
		}
	}
	var late []config.IPConfig
	ready := b.startReadiness(groupCtx, p, n.IP, addrs)
	rootPath := false // netroot=dhcp's target is known
	for _, ip := range n.IP {
		if len(ipv6Methods(ip)) > 0 {
			if err := b.ip6(ctx, p, ip, bootif, loginTargets(p, res), links, addrs, v6, files, &res); err != nil {
				return res, err
			}
			if !hasIPv4Method(ip) {
				continue
			}
		}
		st := b.log.Begin("ip")
		if ip.Method == config.IPStatic {
			detail, err := b.staticIP(ctx, p, addrs, ip, ready)
			if err != nil {
				st.Fail(err)
				return res, fail("ip", err, "check ip=")
			}
			st.Done("%s", detail)
			continue
		}
		lease, detail, isLate, err := b.dhcpIP(ctx, p, ip, bootif, links, addrs, files, ready)
		if err != nil {
			st.Fail(err)
			return res, fail("ip", err, "check ip=")
		}
		if isLate {
			late = append(late, ip)
		}
		if lease == nil { // left for another interface's, or late
			st.Done("%s", detail)
			continue
		}
		res.leases = append(res.leases, lease)
		if p.ISCSI.FromDHCP && !rootPath {
			t, ok, err := rootPathTarget(lease, p.ISCSI.Global)
			if err != nil {
				st.Fail(err)
				return res, fail("dhcp", err, "set the DHCP server's option 17 to iscsi:<server>::<port>:<lun>:<target>")
			}
			if !ok {
				b.log.Warnf("dhcp: netroot=dhcp, but the answer on %s carried no root-path (option 17)", lease.Interface)
			} else {
				rootPath = true
				res.rootPath = &t
				if !slices.ContainsFunc(p.ISCSI.Targets, func(o config.Target) bool { return sameLUN(o, t) }) {
					res.targets = append(res.targets, t)
					b.log.Printf("dhcp: netroot=dhcp: root-path from %s: target %s %s LUN %d (auth %s)", lease.Server, t.Portal(), t.Name, t.LUN, t.Auth.Method())
				}
			}
		}
		st.Done("%s", detail)
	}
	if ready != nil {
		if err := b.awaitCarriers(ctx, p, ready); err != nil {
			return res, fail("carrier", err, "check the NICs' cables and switch ports")
		}
	}
	for _, r := range n.Routes {
		if err := addrs.AddRoute(netconf.Route{Destination: r.Destination, Gateway: r.Gateway, Interface: r.Interface}); err != nil {
			return res, fail("route", err, "check rd.route=")
		}
	}
	leases := slices.Concat(res.leases, dnsOf6(res.leases6))
	if err := writeResolvConf(files, n, leases); err != nil {
		b.log.Warnf("writing %s/resolv.conf: %v", runDir, err)
	}
	b.osNet.setResolv(func(late []*dhcp.Lease) {
		leases = append(leases, late...)
		if err := writeResolvConf(files, n, leases); err != nil {
			b.log.Warnf("writing %s/resolv.conf: %v", runDir, err)
		}
	})
	if p.ISCSI.FromDHCP && !rootPath {
		return res, fail("dhcp", errors.New("netroot=dhcp (or root=dhcp), but no DHCP answer carried a root-path (option 17)"),
			`have the DHCP server send option 17, e.g. dnsmasq --dhcp-option=17,"iscsi:<server>::3260:<lun>:<target>"`)
	}
	if p.ISCSI.FromDHCP6 && res.rootPath6 == nil {
		return res, fail("dhcp6", errors.New("netroot=dhcp6, but no DHCPv6 answer carried a boot file URL (option 59)"),
			`have the DHCPv6 server send option 59, e.g. dnsmasq --dhcp-option=option6:59,"iscsi:[<server>]::3260:<lun>:<target>"`)
	}
	lateStarted = true
	b.lateLeases(groupCtx, late, links, addrs, files, ready, groupCancel)
	return res, nil
}

// links renames NICs (ifname=), waits for the NICs the plan names and
// finds the PXE NIC (BOOTIF=), whose name it returns.
func (b *Boot) links(ctx context.Context, p *config.Plan, links Links, nics NICs) (bootif string, err error) {
	n := p.Net
	st := b.log.Begin("links")
	for _, r := range n.Renames {
		// The NIC's driver may still be probing: wait for its MAC.
		if _, err := links.WaitMAC(ctx, r.MAC); err != nil {
			st.Fail(err)
			return "", fail("ifname", fmt.Errorf("ifname=%s:%s: %w", r.Name, r.MAC, err), "check ifname=<name>:<MAC>, and that the NIC's driver (and, for a USB NIC, its host controller's) is in the initramfs: netroot build -drivers")
		}
		if err := links.Rename(r.MAC, r.Name); err != nil {
			st.Fail(err)
			return "", fail("ifname", err, "check ifname=<name>:<MAC>")
		}
	}
	if err := b.nameNICs(ctx, p, nics); err != nil {
		st.Fail(err)
		return "", err
	}
	planned := physicalInterfaces(p)
	if err := links.WaitLinks(ctx, planned); err != nil {
		st.Fail(err)
		return "", fail("links", err, "")
	}
	if len(n.BootIF) > 0 {
		// With the plan's NICs present, a BOOTIF NIC that is not there
		// yet gets a short grace, and the boot goes on with the plan's
		// NICs without it. With none named, it is the NIC to boot from:
		// dracut then brings up that NIC only and waits for it, so its
		// absence fails the boot here, not DHCP on other NICs.
		wctx, wcancel := ctx, context.CancelFunc(func() {})
		if len(planned) > 0 {
			wctx, wcancel = context.WithTimeout(ctx, bootifGrace)
		}
		name, err := links.WaitMAC(wctx, n.BootIF)
		wcancel()
		switch {
		case err == nil:
			bootif = name
		case len(planned) > 0:
			b.log.Warnf("BOOTIF=%s: %v", n.BootIF, err)
		default:
			st.Fail(err)
			return "", fail("links", &bootIFError{mac: n.BootIF, err: err}, "is the PXE NIC's driver in the initramfs (netroot build -drivers)?")
		}
	}
	pxe := ""
	if bootif != "" {
		pxe = "; PXE interface " + bootif + " (" + n.BootIF.String() + ")"
	}
	st.Done("%s present%s", orNone(strings.Join(planned, ", ")), pxe)
	return bootif, nil
}

// bootifStatic gives the plan's static ip= that names no interface the
// PXE NIC found by BOOTIF= (the config left it so), as dracut's ifup
// applies such an ip= to the NIC it runs for.
func bootifStatic(p *config.Plan, bootif string) {
	if bootif == "" {
		return
	}
	for i := range p.Net.IP {
		if c := &p.Net.IP[i]; c.Method == config.IPStatic && c.Interface == "" {
			c.Interface = bootif
		}
	}
}

// bootIFError is the PXE NIC (BOOTIF=) that never appeared.
type bootIFError struct {
	mac net.HardwareAddr
	err error
}

func (e *bootIFError) Error() string {
	if nm, ok := errors.AsType[*netconf.NoMACError](e.err); ok {
		return fmt.Sprintf("BOOTIF=%s: no interface has that MAC (present: %s)", e.mac, nm.Present)
	}
	return fmt.Sprintf("BOOTIF=%s: %v", e.mac, e.err)
}

func (e *bootIFError) Unwrap() error { return e.err }

// bond enslaves a bond's NICs — the PXE NIC first, as its primary, so the
// bond takes the PXE MAC and the DHCP reservation for it matches — and
// checks an 802.3ad bond's LACP.
func (b *Boot) bond(ctx context.Context, bc config.Bond, bootif string, links Links, prepared *task.Task[preparedBonds]) error {
	st := b.log.Begin("bond")
	primary := ""
	if bootif != "" && slices.Contains(bc.Slaves, bootif) {
		primary = bootif
	}
	bd, err := makeBond(ctx, bc, links, prepared)
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
		if err := b.checkLACP(ctx, links, res.Name); err != nil {
			st.Fail(err)
			return fail("bond", err, "")
		}
		// The LACP state read again, when it can be: the ports as they
		// were enslaved otherwise.
		if again, err := links.InspectBond(res.Name); err == nil {
			res = again
		}
	}
	st.Done("%s", res)
	return nil
}

// makeBond returns the bond bc describes: the one prepareBonds created,
// or, when none were prepared, a new one.
func makeBond(ctx context.Context, bc config.Bond, links Links, prepared *task.Task[preparedBonds]) (Bond, error) {
	if prepared == nil {
		return links.CreateBond(bondConfig(bc))
	}
	bonds, err := prepared.Wait(ctx)
	if err != nil {
		return nil, err
	}
	pb, ok := bonds[bc.Name]
	if !ok {
		return nil, fmt.Errorf("bond %s was not prepared", bc.Name)
	}
	return pb.bond, pb.err
}

// lacpWait bounds the wait for an 802.3ad partner: a switch answers the
// bond's first LACPDU at once, whatever its lacp_rate.
const lacpWait = 5 * time.Second

// checkLACP makes an 802.3ad bond count as up only when its active
// aggregator has a port (lacpVerdict).
func (b *Boot) checkLACP(ctx context.Context, links Links, name string) error {
	wctx, cancel := context.WithTimeout(ctx, lacpWait)
	defer cancel()
	l, err := links.WaitLACP(wctx, name)
	if err != nil {
		return err
	}
	info, warning, err := lacpVerdict(name, l, lacpWait)
	if info != "" {
		b.log.Printf("%s", info)
	}
	if warning != "" {
		b.log.Warnf("%s", warning)
	}
	return err
}

// staticIP applies a static ip= entry and waits for its carrier — in the
// readiness group, when there is one (readiness.go).
func (b *Boot) staticIP(ctx context.Context, p *config.Plan, addrs Addrs, ip config.IPConfig, ready *readiness) (string, error) {
	if ip.Interface == "" {
		return "", fmt.Errorf("a static ip= needs an interface name")
	}
	if err := addrs.ApplyStatic(netconf.Static{
		Interface: ip.Interface, Address: ip.Address, Peer: ip.Peer, Gateway: ip.Gateway, MTU: ip.MTU,
	}); err != nil {
		return "", err
	}
	if ip.Hostname != "" {
		if err := addrs.SetHostname(ip.Hostname); err != nil {
			b.log.Warnf("hostname %s: %v", ip.Hostname, err)
		}
	}
	if ready != nil {
		_, grace := graces(p)
		startCarrier(ctx, ready, addrs, ip.Interface, grace)
	} else if err := addrs.WaitCarrier(ctx, ip.Interface); err != nil {
		return "", err
	}
	d := fmt.Sprintf("%s %s", ip.Interface, ip.Address)
	if ip.Gateway.IsValid() {
		d += " gw " + ip.Gateway.String()
	}
	return d, nil
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
	var out []string
	add := func(n string) {
		if n != "" && !created[n] && !slices.Contains(out, n) {
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
