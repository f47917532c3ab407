package boot

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/iscsi"
)

// A dead path behind a bond: the active slave keeps its carrier, so
// miimon never fails over, but nothing it sends arrives (a switch that
// lost its uplink, a port that black-holes). Each connect over it would
// wait out its timeout (15 s) and each retry go the same way until
// rd.retry ran out. When the route to a portal leaves by an active-backup
// bond, /init's connects over it are given deadPathProbe to get an
// answer; a connect that gets none (no SYN-ACK, no ARP answer) makes the
// next slave with carrier active (bond.Failover) and connects again at
// once. The other bonding modes have no active slave: there /init only
// says so. The keeper does the same after switch_root (pkg/keeper).

// deadPathProbe is how long a connect over an active-backup bond may go
// unanswered before the active slave is taken for dead: a target on a
// working path answers in milliseconds, and the kernel gives up an ARP
// resolution after about three seconds. A variable for the tests.
var deadPathProbe = 3 * time.Second

// dialFunc opens a connection, as net.Dialer.DialContext.
type dialFunc = func(ctx context.Context, network, address string) (net.Conn, error)

// deadPaths switches the slaves of the plan's bonds when a connect over
// them gets no answer; it is shared by every login of the boot.
type deadPaths struct {
	b     *Boot
	p     *config.Plan
	links Links
	addrs Addrs

	mu        sync.Mutex
	failovers map[string]*bond.Failover
	warned    map[string]bool
}

func newDeadPaths(b *Boot, p *config.Plan, links Links, addrs Addrs) *deadPaths {
	return &deadPaths{b: b, p: p, links: links, addrs: addrs, failovers: map[string]*bond.Failover{}, warned: map[string]bool{}}
}

// bondOf is the plan's bond under an interface: the interface itself, or
// the parent of a VLAN on one; "" when none.
func bondOf(p *config.Plan, iface string) string {
	for _, v := range p.Net.VLANs {
		if v.Name == iface {
			iface = v.Parent
			break
		}
	}
	for _, bd := range p.Net.Bonds {
		if bd.Name == iface {
			return bd.Name
		}
	}
	return ""
}

// bondFor is the bond a connection to host leaves by, "" when none or
// when it cannot be told: the one under device when the connection is
// bound to it (netroot='s <netdev_name>), else the route's — the bond of
// the ip= interface whose subnet holds host, else of the one ip=
// interface with a gateway, else the one bond among the ip= interfaces.
func (d *deadPaths) bondFor(device, host string) string {
	if device != "" {
		return bondOf(d.p, device)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		addr = netip.Addr{}
	}
	var withGateway, all []string
	for _, ifc := range rootInterfaces(d.p) {
		bd := bondOf(d.p, ifc)
		if bd == "" {
			continue
		}
		if addr.IsValid() {
			for _, cidr := range d.addrs.Addresses(ifc) {
				if pfx, err := netip.ParsePrefix(cidr); err == nil && pfx.Contains(addr.Unmap()) {
					return bd
				}
			}
		}
		for _, ip := range d.p.Net.IP {
			if ip.Interface == ifc && ip.Gateway.IsValid() && !slices.Contains(withGateway, bd) {
				withGateway = append(withGateway, bd)
			}
		}
		if !slices.Contains(all, bd) {
			all = append(all, bd)
		}
	}
	switch {
	case len(withGateway) == 1:
		return withGateway[0]
	case len(all) == 1:
		return all[0]
	}
	return ""
}

// failover is bond name's Failover, one a bond for the whole boot.
func (d *deadPaths) failover(name string) *bond.Failover {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.failovers[name]
	if !ok {
		f = &bond.Failover{
			Bond:      name,
			Ports:     func() (string, []bond.Port, error) { return d.links.BondPorts(name) },
			SetActive: func(slave string) error { return d.links.SetActiveSlave(name, slave) },
		}
		d.failovers[name] = f
	}
	return f
}

// warnOnce logs a warning once per key.
func (d *deadPaths) warnOnce(key, format string, args ...any) {
	d.mu.Lock()
	seen := d.warned[key]
	d.warned[key] = true
	d.mu.Unlock()
	if !seen {
		d.b.log.Warnf(format, args...)
	}
}

// dial wraps base (nil: a net.Dialer) for the logins' connects: the bond
// is the one the route to the address dialed leaves by (a redirect's
// too, not the portal first named). Over an active-backup bond each
// connect gets deadPathProbe to be answered, and one that is not makes
// the next slave with carrier active and connects again at once, at most
// once per slave; the last try gets what is left of ctx. Over a bond of
// another mode a connect that gets no answer is only reported (once).
// Without a bond it is base.
func (d *deadPaths) dial(base dialFunc) dialFunc {
	if base == nil {
		base = iscsi.DialContext
	}
	if d == nil {
		return base
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		name := d.bondFor(iscsi.Device(ctx), portalHost(address))
		if name == "" {
			return base(ctx, network, address)
		}
		f := d.failover(name)
		mode, ports, err := f.Ports()
		if _, ok := bond.Standby(mode, ports); err != nil || !ok {
			c, err := base(ctx, network, address)
			if err != nil && !errors.Is(ctx.Err(), context.Canceled) && unanswered(err, false) {
				why := error(&bond.NoStandbyError{Bond: name, Mode: mode, Ports: ports})
				d.warnOnce("noswitch "+name, "login: no answer from %s over %s (%v); no other slave to make active: %v", address, name, err, why)
			}
			return c, err
		}
		for range ports {
			gen := f.Generation()
			pctx, cancel := context.WithTimeout(ctx, deadPathProbe)
			c, err := base(pctx, network, address)
			probeExpired := pctx.Err() != nil
			cancel()
			if err == nil || ctx.Err() != nil || !unanswered(err, probeExpired) {
				return c, err
			}
			sw, serr := f.Switch(gen)
			switch {
			case serr == nil:
				d.b.log.Warnf("login: no answer from %s over %s's active slave %s within %s although it has carrier (%v): made %s the active slave",
					address, name, sw.From, deadPathProbe, err, sw.To)
			case errors.Is(serr, bond.ErrSwitchedMeanwhile):
				// Another connect switched already: try the new slave.
			default:
				d.warnOnce("noswitch "+name, "login: no answer from %s over %s within %s (%v), and no slave to switch to: %v",
					address, name, deadPathProbe, err, serr)
				return base(ctx, network, address)
			}
		}
		return base(ctx, network, address)
	}
}

// unanswered reports whether a connect's error means that nothing came
// back over the path: the probe's deadline passed (no SYN-ACK), or the
// neighbour did not answer ARP (EHOSTUNREACH). A refusal is an answer.
func unanswered(err error, probeExpired bool) bool {
	if probeExpired || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EHOSTUNREACH)
}

// portalHost is the host of a "host:port" portal.
func portalHost(portal string) string {
	h, _, err := net.SplitHostPort(portal)
	if err != nil {
		return portal
	}
	return h
}

// keeperBond is the active-backup bond the route to the first of portals
// leaves by, for the keeper's own dead-path switching; "" when none.
func (d *deadPaths) keeperBond(device string, portals []string) string {
	if len(portals) == 0 {
		return ""
	}
	name := d.bondFor(device, portalHost(portals[0]))
	if name == "" {
		return ""
	}
	if mode, _, err := d.links.BondPorts(name); err != nil || mode != bond.ActiveBackup {
		return ""
	}
	return name
}
