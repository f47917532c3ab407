package boot

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/hint"
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

// needsFreeNICs reports whether dhcpTargets falls back to the NICs
// present (its case 4), which must then be listed.
func needsFreeNICs(p *config.Plan, ip config.IPConfig, bootif string) bool {
	return ip.Interface == "" && p.Net.BootDev == "" && bootif == "" && len(p.Net.Bonds) == 0 && len(p.Net.VLANs) == 0
}

// dhcpGrace bounds the wait for the other interfaces' leases once one of
// several ip=<interface>:dhcp got its own (a server answers a DISCOVER,
// or its first retransmission, within it). A variable for the tests.
var dhcpGrace = 10 * time.Second

// ipMethods returns whether the ip= entry asks for DHCPv4 (dhcp, on, any,
// single-dhcp, possibly among others) and the methods netroot does not
// implement (the IPv6 ones are ip6's).
func ipMethods(ip config.IPConfig) (v4 bool, unsupported []config.IPMethod) {
	for _, m := range append([]config.IPMethod{ip.Method}, ip.MoreMethods...) {
		switch m {
		case config.IPDHCP, config.IPSingleDHCP:
			v4 = true
		case config.IPDHCP6, config.IPAuto6, config.IPEither6, config.IPLink6:
		default:
			unsupported = append(unsupported, m)
		}
	}
	return v4, unsupported
}

// dhcpIP runs DHCP for one ip= entry — or takes its run from the
// readiness group — and configures the winning lease; it returns the lease
// and the step's line, no lease when the group left the interface or
// (late) its lease is to be configured when it comes.
func (b *Boot) dhcpIP(ctx context.Context, p *config.Plan, ip config.IPConfig, bootif string, links Links, addrs Addrs, files Files,
	ready *readiness) (lease *dhcp.Lease, detail string, late bool, err error) {
	v4, unsupported := ipMethods(ip)
	param := "ip=" + string(ip.Method)
	if ip.Interface != "" {
		param = "ip=" + ip.Interface + ":" + string(ip.Method)
	}
	if !v4 {
		return nil, "", false, hint.Errorf("use ip=dhcp or a static ip=<address>…:none",
			"%s: IPv6 autoconfiguration (%v) is not supported by netroot", param, unsupported)
	}
	if len(unsupported) > 0 {
		b.log.Warnf("ip: %v in %s is not supported by netroot; using DHCPv4 only", unsupported, param)
	}
	var nics []string
	if needsFreeNICs(p, ip, bootif) {
		var err error
		if nics, err = links.FreeNICs(ctx); err != nil {
			return nil, "", false, err
		}
	}
	ifaces := dhcpTargets(p, ip, bootif, nics)
	how := "ip=dhcp"
	if ip.Implicit {
		how = "no ip=, so DHCP as dracut does"
	}
	if ip.Interface == "" {
		b.log.Printf("ip: %s: DHCP on %s", how, strings.Join(ifaces, ", "))
	}
	if ready != nil && ready.Started(ip.Interface) {
		// rd.iscsi.waitnet=0: once another interface is up, this one's
		// lease is configured whenever it comes, beside the logins (which
		// retry a portal without a route yet), as dracut logs in on each
		// interface's arrival.
		if p.ISCSI.WaitNet == config.WaitNetOff {
			if _, ended, _ := ready.Race(ctx, ip.Interface); !ended {
				return nil, ip.Interface + ": no lease yet; rd.iscsi.waitnet=0: the logins go on, its lease is configured when it comes", true, nil
			}
		}
		lease, err = ready.Wait(ctx, ip.Interface) // at once if the race ended
		switch {
		case errors.Is(err, errNoRootPath):
			err = nil // configured; netroot=dhcp says it lacks the root-path
		case err != nil && ctx.Err() != nil:
			// No interface came up: each says why.
			err = errors.Join(append([]error{err}, ready.Others(ctx, ip.Interface)...)...)
		}
		if errors.Is(err, task.ErrLeft) {
			grace, _ := graces(p)
			b.log.Warnf("%s", leftLine(ip.Interface, "DHCP lease", grace,
				"(the root's paths through it fail; the real OS's DHCP client may configure it later) — check its cable/switch port and that a DHCP server answers there"))
			return nil, ip.Interface + ": no lease, left", false, nil
		}
		if err != nil && p.ISCSI.WaitNet == config.WaitNetAll {
			err = hint.Wrap(err, waitAllHint)
		}
	} else {
		lease, err = raceDHCP(ctx, addrs, ifaces, dhcp.Options{Hostname: ip.Hostname, Logf: b.log.Printf})
	}
	if err != nil {
		return nil, "", false, err
	}
	detail, err = b.applyLease(ip, lease, links, addrs, files)
	if err != nil {
		return nil, "", false, err
	}
	return lease, detail, false, nil
}

// applyLease configures lease for the ip= entry ip and returns the ip
// step's line.
func (b *Boot) applyLease(ip config.IPConfig, lease *dhcp.Lease, links Links, addrs Addrs, files Files) (string, error) {
	for _, ig := range lease.Ignored {
		b.log.Warnf("dhcp: %s: ignored %s", lease.Interface, ig)
	}
	if err := addrs.ApplyLease(lease, dhcp.ApplyOptions{MTU: ip.MTU}); err != nil {
		return "", err
	}
	host := ip.Hostname
	if host == "" {
		host = lease.Hostname
	}
	if host != "" {
		if err := addrs.SetHostname(host); err != nil {
			b.log.Warnf("hostname %s: %v", host, err)
		}
	}
	if err := writeLease(files, lease); err != nil {
		b.log.Warnf("dhcp: writing the lease to %s: %v", runDir, err)
	}
	mac, _ := links.HardwareAddr(lease.Interface)
	return fmt.Sprintf("%s %s (DHCP, MAC %s)", lease.Interface, lease, mac), nil
}

// lateLeases configures, in the background, the leases of the ip=
// entries late whose interfaces had none when the logins began
// (rd.iscsi.waitnet=0), each when its DHCP run in the readiness group
// ends: a background "ip" step, or a warning when it ends without one.
// done is called once they all ended. The real OS is told of each lease
// configured before switch_root (osNet).
func (b *Boot) lateLeases(ctx context.Context, late []config.IPConfig, links Links, addrs Addrs, files Files, ready *readiness, done func()) {
	if len(late) == 0 {
		done()
		return
	}
	var wg sync.WaitGroup
	for _, ip := range late {
		st := b.log.BeginBackground("ip")
		b.osNet.wait(ip.Interface)
		wg.Add(1)
		goTask(b, ctx, "ip "+ip.Interface, func(ctx context.Context) (struct{}, error) {
			defer wg.Done()
			lease, err := ready.Wait(ctx, ip.Interface)
			if errors.Is(err, errNoRootPath) {
				err = nil // configured all the same
			}
			if err != nil {
				lease = nil
			}
			var detail string
			if lerr := b.osNet.late(ip.Interface, lease, func() (err error) {
				detail, err = b.applyLease(ip, lease, links, addrs, files)
				return err
			}); err == nil {
				err = lerr
			}
			switch {
			case errors.Is(err, errSwitching):
				st.Fail(err) // told at switch_root
			case err != nil:
				st.Fail(err)
				if !errors.Is(ctx.Err(), context.Canceled) { // not the boot's end
					b.log.Warnf("ip: %s: %v; the boot went on without it (rd.iscsi.waitnet=0)", ip.Interface, err)
				}
			default:
				st.Done("%s, after the logins began (rd.iscsi.waitnet=0)", detail)
			}
			return struct{}{}, nil
		})
	}
	go func() {
		wg.Wait()
		done()
	}()
}

// raceDHCP runs DHCP on every interface at once; the first lease wins and
// stops the others. Failures are told in the order of the interfaces, not
// of their ends, so that a boot's lines read the same each time.
func raceDHCP(ctx context.Context, addrs Addrs, ifaces []string, o dhcp.Options) (*dhcp.Lease, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("no interface to run DHCP on")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended := make(chan int, len(ifaces))
	runs := make([]*task.Task[*dhcp.Lease], len(ifaces))
	for i, iface := range ifaces {
		runs[i] = task.Go(ctx, func(ctx context.Context) (*dhcp.Lease, error) {
			defer func() { ended <- i }()
			oo := o
			oo.Interface = iface
			return addrs.AcquireDHCP(ctx, oo)
		})
	}
	errs := make([]error, len(ifaces))
	for range ifaces {
		i := <-ended
		lease, err := runs[i].Wait(context.Background())
		if err == nil {
			return lease, nil
		}
		errs[i] = err
	}
	return nil, errors.Join(errs...)
}

// rootSource names where a root path came from, for the messages.
type rootSource struct{ param, what, option string }

var (
	dhcp4Root = rootSource{"netroot=dhcp", "root-path", "option 17"}
	dhcp6Root = rootSource{"netroot=dhcp6", "boot file URL", "option 59"}
)

// rootPathTarget is the iSCSI target of a lease's root-path (option 17,
// netroot=dhcp), with the credentials it lacks from global (the plan's
// rd.iscsi.username= & co.); ok is false when the lease has none.
func rootPathTarget(l *dhcp.Lease, global config.Auth) (config.Target, bool, error) {
	return offeredTarget(dhcp4Root, l.Server, l.Interface, l.RootPath, global)
}

// offeredTarget is the iSCSI target of root path v that server sent on
// iface, as rootPathTarget says.
func offeredTarget(src rootSource, server netip.Addr, iface, v string, global config.Auth) (t config.Target, ok bool, err error) {
	if v == "" {
		return t, false, nil
	}
	if !strings.HasPrefix(v, "iscsi:") {
		shown := config.RedactRootPath(v) // it may hold credentials
		return t, false, hint.Errorf("set the server's "+src.option+" to iscsi:<server>::<port>:<lun>:<target> (without quotes)",
			"%s: the %s from %s on %s is %q; netroot boots only iscsi:… roots", src.param, src.what, server, iface, shown)
	}
	t, err = config.ParseDHCPRootPath(v, global)
	if err != nil {
		// Never echo the value: it may hold CHAP secrets.
		return t, false, fmt.Errorf("%s: the %s from %s on %s: %w", src.param, src.what, server, iface, err)
	}
	return t, true, nil
}

// sameLUN reports whether two targets name the same LUN: a login to
// either is a login to both.
func sameLUN(a, b config.Target) bool {
	return a.Portal() == b.Portal() && a.Name == b.Name && a.LUN == b.LUN
}

// loginTargets are the targets to log in to: the plan's, then those the
// network step found in a DHCP root-path.
func loginTargets(p *config.Plan, n netResult) []config.Target {
	return slices.Concat(p.ISCSI.Targets, n.targets)
}

// writeLease leaves the lease for the real OS: dhcp-<iface>.json and a
// dracut/dhclient-style net.<iface>.env.
func writeLease(files Files, l *dhcp.Lease) error {
	return writeLeaseFiles(files, l, "dhcp-"+l.Interface+".json", "net."+l.Interface+".env")
}

// leaseFiles renders a DHCPv4 or DHCPv6 lease for the real OS.
type leaseFiles interface {
	JSON() ([]byte, error)
	EnvFile() string
}

// writeLeaseFiles writes l under runDir as jsonName and envName.
func writeLeaseFiles(files Files, l leaseFiles, jsonName, envName string) error {
	j, err := l.JSON()
	if err != nil {
		return err
	}
	if err := files.WriteFile(path.Join(runDir, jsonName), j, 0o644); err != nil {
		return err
	}
	return files.WriteFile(path.Join(runDir, envName), []byte(l.EnvFile()), 0o644)
}

// resolvConf is /run/netroot/resolv.conf's text from nameserver=, the ip=
// dns fields and (unless rd.peerdns=0) the DHCP leases; "" when there is
// no server.
func resolvConf(n config.Net, leases []*dhcp.Lease) string {
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
		for _, l := range leases {
			servers = append(servers, l.DNS...)
			if l.Domain != "" {
				search = append(search, l.Domain)
			}
			search = append(search, l.Search...)
			sources = append(sources, "DHCP on "+l.Interface)
		}
	}
	return dhcp.ResolvConf(strings.Join(sources, ", "), servers, search)
}

// writeResolvConf writes resolvConf to /run/netroot/resolv.conf and the
// initramfs's own /etc/resolv.conf, so names resolve before switch_root.
// The real root's /etc/resolv.conf is the OS's business: a root whose
// /etc/resolv.conf links to /run/netroot/resolv.conf picks it up, since
// /run moves across switch_root.
func writeResolvConf(files Files, n config.Net, leases []*dhcp.Lease) error {
	text := resolvConf(n, leases)
	if text == "" {
		return nil
	}
	if err := files.WriteFile(path.Join(runDir, "resolv.conf"), []byte(text), 0o644); err != nil {
		return err
	}
	return files.WriteFile("/etc/resolv.conf", []byte(text), 0o644)
}
