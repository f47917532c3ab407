package boot

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/dhcp6"
	"github.com/netroot/netroot/pkg/hint"
)

// IPv6 configures IPv6 on an interface (a NIC, a bond or a VLAN):
// pkg/dhcp6.
type IPv6 interface {
	// AcquireDHCP6 runs DHCPv6 until a lease or ctx's end (ip=dhcp6).
	AcquireDHCP6(ctx context.Context, o dhcp6.Options) (*dhcp6.Lease, error)
	// ApplyLease6 adds the lease's address; it is usable (duplicate
	// address detection over) when it returns.
	ApplyLease6(ctx context.Context, l *dhcp6.Lease) error
	// WaitSLAAC waits for an address and a route from router
	// advertisements (ip=auto6).
	WaitSLAAC(ctx context.Context, o dhcp6.SLAACOptions) (*dhcp6.SLAACResult, error)
	// Either6 races DHCPv6 and SLAAC (ip=either6).
	Either6(ctx context.Context, d dhcp6.Options, s dhcp6.SLAACOptions) (*dhcp6.EitherResult, error)
	// LinkLocal6 turns IPv6 on, brings the interface up and waits for its
	// link-local address (ip=link6).
	LinkLocal6(ctx context.Context, iface string) (netip.Addr, error)
	// WaitRoute6 waits until dst is routed through iface.
	WaitRoute6(ctx context.Context, iface string, dst netip.Addr) error
}

// ipv6Methods are the IPv6 methods of an ip= entry, in order.
func ipv6Methods(ip config.IPConfig) []config.IPMethod {
	var out []config.IPMethod
	for _, m := range append([]config.IPMethod{ip.Method}, ip.MoreMethods...) {
		switch m {
		case config.IPDHCP6, config.IPAuto6, config.IPEither6, config.IPLink6:
			out = append(out, m)
		}
	}
	return out
}

// hasIPv4Method reports whether the entry also has a static address or a
// DHCPv4 method.
func hasIPv4Method(ip config.IPConfig) bool {
	return slices.ContainsFunc(append([]config.IPMethod{ip.Method}, ip.MoreMethods...), func(m config.IPMethod) bool {
		return m == config.IPStatic || m == config.IPDHCP || m == config.IPSingleDHCP
	})
}

// reach6 is the address whose route an IPv6 method waits for on its
// interface: the first IPv6 portal among targets, when the plan
// configures IPv6 through one ip= entry only (with several, which one
// leads to the portal is the routes' business; the login's retries cover
// it). Invalid when none.
func reach6(p *config.Plan, targets []config.Target) netip.Addr {
	if len(slices.DeleteFunc(slices.Clone(p.Net.IP), func(c config.IPConfig) bool { return len(ipv6Methods(c)) == 0 })) > 1 {
		return netip.Addr{}
	}
	for _, t := range targets {
		if a, err := netip.ParseAddr(t.Server); err == nil && a.Is6() && !a.Is4In6() {
			return a
		}
	}
	return netip.Addr{}
}

// ip6 is the ip step of an entry's IPv6 methods, each in turn on the
// entry's interface (or, without one, on the candidates dhcpTargets
// picks, first answer winning). A DHCPv6 lease with a boot file URL gives
// netroot=dhcp6 its target (res.rootPath6).
func (b *Boot) ip6(ctx context.Context, p *config.Plan, ip config.IPConfig, bootif string, targets []config.Target,
	links Links, addrs Addrs, v6 IPv6, files Files, res *netResult) error {
	st := b.log.Begin("ip")
	detail, err := b.runIPv6(ctx, p, ip, bootif, targets, links, addrs, v6, files, res)
	if err != nil {
		st.Fail(err)
		return fail("ip", err, "check ip= and the network's router advertisements / DHCPv6 server")
	}
	st.Done("%s", detail)
	return nil
}

func (b *Boot) runIPv6(ctx context.Context, p *config.Plan, ip config.IPConfig, bootif string, targets []config.Target,
	links Links, addrs Addrs, v6 IPv6, files Files, res *netResult) (string, error) {
	methods := ipv6Methods(ip)
	param := "ip=" + methodList(ip)
	if ip.Interface != "" {
		param = "ip=" + ip.Interface + ":" + methodList(ip)
	}
	if v6 == nil {
		return "", fmt.Errorf("%s: this machine has no IPv6 support", param)
	}
	var nics []string
	if needsFreeNICs(p, ip, bootif) {
		var err error
		if nics, err = links.FreeNICs(ctx); err != nil {
			return "", err
		}
	}
	ifaces := dhcpTargets(p, ip, bootif, nics)
	if ip.Interface == "" {
		b.log.Printf("ip: %s on %s", param, strings.Join(ifaces, ", "))
	}
	reach := reach6(p, targets)
	var details []string
	for _, m := range methods {
		var d string
		var err error
		switch m {
		case config.IPDHCP6:
			d, err = b.dhcp6(ctx, p, ip, ifaces, reach, v6, addrs, files, res, false)
		case config.IPEither6:
			d, err = b.dhcp6(ctx, p, ip, ifaces, reach, v6, addrs, files, res, true)
		case config.IPAuto6:
			var r *dhcp6.SLAACResult
			r, err = race(ctx, ifaces, func(ctx context.Context, iface string) (*dhcp6.SLAACResult, error) {
				return v6.WaitSLAAC(ctx, dhcp6.SLAACOptions{Interface: iface, Reach: reach, Logf: b.log.Debugf})
			})
			if err == nil {
				d = fmt.Sprintf("%s %s (SLAAC)", r.Interface, r)
			}
		case config.IPLink6:
			var a netip.Addr
			var iface string
			iface, a, err = raceNamed(ctx, ifaces, v6.LinkLocal6)
			if err == nil {
				d = fmt.Sprintf("%s %s (link-local only)", iface, a)
			}
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", param, err)
		}
		details = append(details, d)
	}
	return strings.Join(details, "; "), nil
}

// methodList is the entry's methods as ip= writes them.
func methodList(ip config.IPConfig) string {
	ms := []string{string(ip.Method)}
	for _, m := range ip.MoreMethods {
		ms = append(ms, string(m))
	}
	return strings.Join(ms, ",")
}

// dhcp6 runs DHCPv6 (or, with either, DHCPv6 and SLAAC at once), applies
// the lease, leaves it in /run/netroot and waits for the route to reach.
func (b *Boot) dhcp6(ctx context.Context, p *config.Plan, ip config.IPConfig, ifaces []string, reach netip.Addr, v6 IPv6,
	addrs Addrs, files Files, res *netResult, either bool) (string, error) {
	var lease *dhcp6.Lease
	if either {
		r, err := race(ctx, ifaces, func(ctx context.Context, iface string) (*dhcp6.EitherResult, error) {
			return v6.Either6(ctx, dhcp6.Options{Interface: iface, Hostname: ip.Hostname, Logf: b.log.Debugf},
				dhcp6.SLAACOptions{Interface: iface, Reach: reach, Logf: b.log.Debugf})
		})
		if err != nil {
			return "", err
		}
		if r.Lease == nil {
			return fmt.Sprintf("%s %s (SLAAC, before DHCPv6)", r.SLAAC.Interface, r.SLAAC), nil
		}
		lease = r.Lease
	} else {
		var err error
		lease, err = race(ctx, ifaces, func(ctx context.Context, iface string) (*dhcp6.Lease, error) {
			return v6.AcquireDHCP6(ctx, dhcp6.Options{Interface: iface, Hostname: ip.Hostname, Logf: b.log.Debugf})
		})
		if err != nil {
			return "", err
		}
	}
	for _, ig := range lease.Ignored {
		b.log.Warnf("dhcp6: %s: ignored %s", lease.Interface, ig)
	}
	if err := v6.ApplyLease6(ctx, lease); err != nil {
		return "", err
	}
	res.leases6 = append(res.leases6, lease)
	if err := writeLease6(files, lease); err != nil {
		b.log.Warnf("dhcp6: writing the lease to %s: %v", runDir, err)
	}
	if ip.Hostname == "" && lease.Hostname != "" {
		if err := addrs.SetHostname(lease.Hostname); err != nil {
			b.log.Warnf("hostname %s: %v", lease.Hostname, err)
		}
	}
	if p.ISCSI.FromDHCP6 && res.rootPath6 == nil {
		t, ok, err := bootFileTarget(lease, p.ISCSI.Global)
		if err != nil {
			return "", err
		}
		if ok {
			res.rootPath6 = &t
			if !slices.ContainsFunc(p.ISCSI.Targets, func(o config.Target) bool { return sameLUN(o, t) }) {
				res.targets = append(res.targets, t)
				b.log.Printf("dhcp6: netroot=dhcp6: boot file URL from %s: target %s %s LUN %d (auth %s)", lease.Server, t.Portal(), t.Name, t.LUN, t.Auth.Method())
			}
			if a, err := netip.ParseAddr(t.Server); err == nil && a.Is6() && !reach.IsValid() {
				reach = a
			}
		} else {
			b.log.Warnf("dhcp6: netroot=dhcp6, but the answer on %s carried no boot file URL (option 59)", lease.Interface)
		}
	}
	d := fmt.Sprintf("%s %s (DHCPv6)", lease.Interface, lease)
	if reach.IsValid() {
		if err := v6.WaitRoute6(ctx, lease.Interface, reach); err != nil {
			if ctx.Err() != nil {
				err = hint.Errorf("the on-link prefix and the routers come from router advertisements (DHCPv6 gives neither): is a router advertising on this link?",
					"no route to %s through %s after the DHCPv6 lease %s", reach, lease.Interface, lease.Address)
			}
			return "", err
		}
		d += ", route to " + reach.String()
	}
	return d, nil
}

// bootFileTarget is the iSCSI target of a DHCPv6 boot file URL (option
// 59, netroot=dhcp6), completed as rootPathTarget does; ok is false when
// the lease has none.
func bootFileTarget(l *dhcp6.Lease, global config.Auth) (config.Target, bool, error) {
	// The DHCPv4 root-path's checks, whose messages never echo
	// credentials.
	return offeredTarget(dhcp6Root, l.Server, l.Interface, l.BootFileURL, global)
}

// writeLease6 leaves the DHCPv6 lease for the real OS:
// dhcp6-<iface>.json and a dhclient -6 style dhcp6-<iface>.env (the boot
// file URL's CHAP passwords redacted).
func writeLease6(files Files, l *dhcp6.Lease) error {
	return writeLeaseFiles(files, l, "dhcp6-"+l.Interface+".json", "dhcp6-"+l.Interface+".env")
}

// dnsOf6 are the DHCPv6 leases' DNS servers and search lists as DHCP
// leases, for resolv.conf.
func dnsOf6(leases []*dhcp6.Lease) []*dhcp.Lease {
	var out []*dhcp.Lease
	for _, l := range leases {
		out = append(out, &dhcp.Lease{Interface: l.Interface, DNS: l.DNS, Search: l.Search})
	}
	return out
}

// race runs fn on every interface at once; the first success wins and
// stops the others.
func race[T any](ctx context.Context, ifaces []string, fn func(ctx context.Context, iface string) (T, error)) (T, error) {
	_, v, err := raceNamed(ctx, ifaces, fn)
	return v, err
}

// raceNamed is race, also returning the winning interface.
func raceNamed[T any](ctx context.Context, ifaces []string, fn func(ctx context.Context, iface string) (T, error)) (string, T, error) {
	var zero T
	if len(ifaces) == 0 {
		return "", zero, errors.New("no interface to configure")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended := make(chan int, len(ifaces))
	runs := make([]*task.Task[T], len(ifaces))
	for i, iface := range ifaces {
		runs[i] = task.Go(ctx, func(ctx context.Context) (T, error) {
			defer func() { ended <- i }()
			return fn(ctx, iface)
		})
	}
	var errs []error
	for range ifaces {
		i := <-ended
		v, err := runs[i].Wait(context.Background())
		if err == nil {
			return ifaces[i], v, nil
		}
		errs = append(errs, err)
	}
	return "", zero, errors.Join(errs...)
}
