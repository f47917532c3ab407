package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/netconf"
	"github.com/vishvananda/netlink"
)

// dhcpTargets decides where an ip= DHCP entry runs. An ip= naming an
// interface runs there. Without one (ip=dhcp, or dracut's implicit
// ip=dhcp when netroot= is set without ip=):
//  1. bootdev=, when given;
//  2. else the PXE NIC (BOOTIF=), or the bond it is a slave of;
//  3. else the interfaces the plan creates and leaves free for an
//     address: its VLANs and the bonds no VLAN sits on;
//  4. else every physical NIC present that is not enslaved (nics).
//
// With several candidates DHCP runs on all of them at once and the first
// lease wins, as dracut's ifup does for every interface.
func dhcpTargets(p *config.Plan, ip config.IPConfig, bootif string, nics []string) []string {
	if ip.Interface != "" {
		return []string{ip.Interface}
	}
	n := p.Net
	if n.BootDev != "" {
		return []string{n.BootDev}
	}
	if bootif != "" {
		for _, b := range n.Bonds {
			if slices.Contains(b.Slaves, bootif) {
				return []string{b.Name}
			}
		}
		return []string{bootif}
	}
	var out []string
	parents := map[string]bool{}
	for _, v := range n.VLANs {
		out = append(out, v.Name)
		parents[v.Parent] = true
	}
	for _, b := range n.Bonds {
		if !parents[b.Name] {
			out = append(out, b.Name)
		}
	}
	if len(out) > 0 {
		return out
	}
	return nics
}

// ipMethods returns whether the ip= entry asks for DHCPv4 (dhcp, on, any,
// single-dhcp, possibly among others) and the methods netroot does not
// implement.
func ipMethods(ip config.IPConfig) (v4 bool, unsupported []config.IPMethod) {
	for _, m := range append([]config.IPMethod{ip.Method}, ip.MoreMethods...) {
		switch m {
		case config.IPDHCP, config.IPSingleDHCP:
			v4 = true
		default:
			unsupported = append(unsupported, m)
		}
	}
	return v4, unsupported
}

// netState is what the network step learns on the way: the DHCP leases
// and whether netroot=dhcp's target has been added.
type netState struct {
	leases     []*dhcp.Lease
	dhcpTarget bool
}

// dhcpIP runs DHCP for one ip= entry and configures the winning lease.
func (b *boot) dhcpIP(ctx context.Context, ns *netState, ip config.IPConfig, bootif string) (string, error) {
	v4, unsupported := ipMethods(ip)
	param := "ip=" + string(ip.Method)
	if ip.Interface != "" {
		param = "ip=" + ip.Interface + ":" + string(ip.Method)
	}
	if !v4 {
		return "", fmt.Errorf("%s: IPv6 autoconfiguration (%v) is not supported by netroot — use ip=dhcp or a static ip=<address>…:none", param, unsupported)
	}
	if len(unsupported) > 0 {
		b.log.Warnf("ip: %v in %s is not supported by netroot; using DHCPv4 only", unsupported, param)
	}
	var nics []string
	if ip.Interface == "" && b.plan.Net.BootDev == "" && bootif == "" && len(b.plan.Net.Bonds) == 0 && len(b.plan.Net.VLANs) == 0 {
		var err error
		if nics, err = waitFreeNICs(ctx); err != nil {
			return "", err
		}
	}
	targets := dhcpTargets(b.plan, ip, bootif, nics)
	how := "ip=dhcp"
	if ip.Implicit {
		how = "no ip=, so DHCP as dracut does"
	}
	if ip.Interface == "" {
		b.log.Printf("ip: %s: DHCP on %s", how, strings.Join(targets, ", "))
	}
	lease, err := raceDHCP(ctx, targets, dhcp.Options{Hostname: ip.Hostname, Logf: b.log.Printf})
	if err != nil {
		return "", err
	}
	for _, ig := range lease.Ignored {
		b.log.Warnf("dhcp: %s: ignored %s", lease.Interface, ig)
	}
	if err := dhcp.Apply(lease, dhcp.ApplyOptions{MTU: ip.MTU}); err != nil {
		return "", err
	}
	host := ip.Hostname
	if host == "" {
		host = lease.Hostname
	}
	if host != "" {
		if err := netconf.SetHostname(host); err != nil {
			b.log.Warnf("hostname %s: %v", host, err)
		}
	}
	ns.leases = append(ns.leases, lease)
	if err := writeLease(runDir, lease); err != nil {
		b.log.Warnf("dhcp: writing the lease to %s: %v", runDir, err)
	}
	if b.plan.ISCSI.FromDHCP && !ns.dhcpTarget {
		if lease.RootPath == "" {
			b.log.Warnf("dhcp: netroot=dhcp, but the answer on %s carried no root-path (option 17)", lease.Interface)
		} else if err := b.addDHCPTarget(ns, lease); err != nil {
			return "", err
		}
	}
	mac, _ := netconf.HardwareAddr(lease.Interface)
	return fmt.Sprintf("%s %s (DHCP, MAC %s)", lease.Interface, lease, mac), nil
}

// addDHCPTarget adds the iSCSI target of a root-path (netroot=dhcp).
func (b *boot) addDHCPTarget(ns *netState, l *dhcp.Lease) error {
	if !strings.HasPrefix(l.RootPath, "iscsi:") {
		shown := l.RootPath
		if strings.Contains(shown, "@") { // may hold credentials
			shown, _, _ = strings.Cut(shown, ":")
			shown += ":…"
		}
		return fmt.Errorf("netroot=dhcp: the root-path from %s on %s is %q; netroot boots only iscsi:… roots — set the server's option 17 to iscsi:<server>::<port>:<lun>:<target> (without quotes)",
			l.Server, l.Interface, shown)
	}
	t, err := config.ParseISCSIRoot(l.RootPath)
	if err != nil {
		// Never echo the value: it may hold CHAP secrets.
		return fmt.Errorf("netroot=dhcp: the root-path from %s on %s: %w", l.Server, l.Interface, err)
	}
	for _, o := range b.plan.ISCSI.Targets {
		if o.Portal() == t.Portal() && o.Name == t.Name && o.LUN == t.LUN {
			ns.dhcpTarget = true
			return nil
		}
	}
	b.plan.ISCSI.Targets = append(b.plan.ISCSI.Targets, t)
	ns.dhcpTarget = true
	b.log.Printf("dhcp: netroot=dhcp: root-path from %s: target %s %s LUN %d (auth %s)", l.Server, t.Portal(), t.Name, t.LUN, t.Auth.Method())
	return nil
}

// raceDHCP runs DHCP on every interface at once; the first lease wins and
// stops the others.
func raceDHCP(ctx context.Context, ifaces []string, o dhcp.Options) (*dhcp.Lease, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("no interface to run DHCP on")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		lease *dhcp.Lease
		err   error
	}
	results := make(chan result, len(ifaces))
	for _, iface := range ifaces {
		go func() {
			var r result
			defer func() {
				if p := recover(); p != nil {
					r.err = fmt.Errorf("internal error in DHCP on %s: %v", iface, p)
				}
				results <- r
			}()
			oo := o
			oo.Interface = iface
			r.lease, r.err = dhcp.Acquire(ctx, oo)
		}()
	}
	var errs []error
	for range ifaces {
		r := <-results
		if r.err == nil {
			return r.lease, nil
		}
		errs = append(errs, r.err)
	}
	return nil, errors.Join(errs...)
}

// waitFreeNICs returns the physical Ethernet NICs present that are not
// enslaved, waiting on link events until there is at least one.
func waitFreeNICs(ctx context.Context) ([]string, error) {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{}); err != nil {
		return nil, fmt.Errorf("subscribing to link events: %w", err)
	}
	for {
		links, err := netlink.LinkList()
		if err != nil {
			return nil, err
		}
		var out []string
		for _, l := range links {
			a := l.Attrs()
			if l.Type() == "device" && len(a.HardwareAddr) == 6 && a.MasterIndex == 0 && a.Flags&net.FlagLoopback == 0 {
				out = append(out, a.Name)
			}
		}
		if len(out) > 0 {
			slices.Sort(out)
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no Ethernet interface appeared for ip=dhcp (interfaces present: %s) — is the NIC driver in the initramfs?", netconf.Describe())
		case _, ok := <-updates:
			if !ok {
				return nil, errors.New("link event subscription closed")
			}
		}
	}
}

// waitMAC waits on link events until an interface with the MAC exists
// (its driver may still be probing when the network step starts).
func waitMAC(ctx context.Context, mac net.HardwareAddr) error {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{}); err != nil {
		return fmt.Errorf("subscribing to link events: %w", err)
	}
	for {
		_, err := netconf.ByMAC(mac)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case _, ok := <-updates:
			if !ok {
				return errors.New("link event subscription closed")
			}
		}
	}
}

// writeLease leaves the lease for the real OS: dhcp-<iface>.json and a
// dracut/dhclient-style net.<iface>.env.
func writeLease(dir string, l *dhcp.Lease) error {
	j, err := l.JSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "dhcp-"+l.Interface+".json"), j, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "net."+l.Interface+".env"), []byte(l.EnvFile()), 0o644)
}

// writeResolvConf writes /run/netroot/resolv.conf from nameserver=, the
// ip= dns fields and (unless rd.peerdns=0) the DHCP leases, and the
// initramfs's own /etc/resolv.conf so names resolve before switch_root.
// The real root's /etc/resolv.conf is the OS's business: a root whose
// /etc/resolv.conf links to /run/netroot/resolv.conf picks it up, since
// /run moves across switch_root.
func (b *boot) writeResolvConf(ns *netState) error {
	n := b.plan.Net
	servers := slices.Clone(n.Nameservers)
	var search, sources []string
	if len(n.Nameservers) > 0 {
		sources = append(sources, "nameserver=")
	}
	for _, ip := range n.IP {
		if len(ip.DNS) > 0 {
			servers = append(servers, ip.DNS...)
			sources = append(sources, "ip= on "+ip.Interface)
		}
	}
	if n.PeerDNS {
		for _, l := range ns.leases {
			servers = append(servers, l.DNS...)
			if l.Domain != "" {
				search = append(search, l.Domain)
			}
			search = append(search, l.Search...)
			sources = append(sources, "DHCP on "+l.Interface)
		}
	}
	text := dhcp.ResolvConf(strings.Join(sources, ", "), servers, search)
	if text == "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(runDir, "resolv.conf"), []byte(text), 0o644); err != nil {
		return err
	}
	os.MkdirAll("/etc", 0o755)
	return os.WriteFile("/etc/resolv.conf", []byte(text), 0o644)
}

// lacp is an 802.3ad bond's state as sysfs shows it.
type lacp struct {
	// Aggregator is the active aggregator's ID, "" when none.
	Aggregator string
	// Ports is the number of its ports that carry traffic.
	Ports int
	// Partner is its LACP partner's MAC.
	Partner string
}

// readLACP reads an 802.3ad bond's active aggregator from sysfs. Ports
// counts the slaves in it that may transmit: bonding_slave/state
// "active" with mii_status "up". The kernel activates the ports of an
// aggregator without a partner too (so a bond works against a switch
// without LACP), but never a port whose speed or duplex it cannot read.
func readLACP(bond string) lacp {
	dir := "/sys/class/net/" + bond + "/bonding/"
	l := lacp{Aggregator: readTrim(dir + "ad_aggregator"), Partner: readTrim(dir + "ad_partner_mac")}
	for _, s := range strings.Fields(readTrim(dir + "slaves")) {
		sd := "/sys/class/net/" + s + "/bonding_slave/"
		if l.Aggregator != "" && readTrim(sd+"ad_aggregator_id") == l.Aggregator &&
			readTrim(sd+"state") == "active" && readTrim(sd+"mii_status") == "up" {
			l.Ports++
		}
	}
	return l
}

// Usable reports whether the active aggregator has a port to carry
// traffic. With min_links=0 the kernel raises the bond's carrier on an
// active aggregator with no port at all (ports whose speed or duplex is
// unknown cannot aggregate), so carrier alone does not mean "up".
func (l lacp) Usable() bool { return l.Aggregator != "" && l.Ports > 0 }

// Negotiated reports whether the active aggregator has an LACP partner.
// Against a switch that does not speak LACP the kernel may still activate
// an aggregator, but its partner stays 00:00:00:00:00:00.
func (l lacp) Negotiated() bool {
	return l.Usable() && l.Partner != "" && l.Partner != "00:00:00:00:00:00"
}

// waitLACP waits on link events (ports joining or leaving the active
// aggregator change the slaves' lower state) until the 802.3ad bond's
// active aggregator has a port and an LACP partner, or ctx ends. It
// returns the last state seen.
func waitLACP(ctx context.Context, bond string) (lacp, error) {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{}); err != nil {
		return lacp{}, fmt.Errorf("subscribing to link events: %w", err)
	}
	for {
		l := readLACP(bond)
		if l.Negotiated() {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return readLACP(bond), nil
		case _, ok := <-updates:
			if !ok {
				return l, errors.New("link event subscription closed")
			}
		}
	}
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
