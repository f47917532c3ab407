package boot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/hint"
)

// Paths on several NICs (two subnets, two switches, no bond): a NIC whose
// cable is out, or whose DHCP server does not answer, must not hold the
// boot in the ip step until rd.retry runs out, since the root's other
// paths do not need it. With several ip= interfaces that stand on their
// own — a static address, or DHCPv4 on a named interface — each one's
// readiness is work of one task.Graced group: the DHCP runs all start at
// once, before the first ip step; a static interface's carrier wait
// starts at its ip step (its address is set regardless) and is awaited
// after the last. Once one interface is ready the others get their grace
// (carrierGrace, dhcpGrace), and one still not ready then is reported and
// left — the logins over it fail or wait while the others answer. With
// netroot=dhcp only a lease carrying the root-path counts as ready.
// rd.iscsi.waitnet=0 lets the logins begin once one is up (the others'
// leases configured when they come), rd.iscsi.waitnet=1 waits for every
// one (graces).

// carrierGrace bounds the wait for the other interfaces' carrier once one
// of them is ready (a link negotiates in a few seconds). A variable for
// the tests.
var carrierGrace = 3 * time.Second

// readiness is the group's work: a DHCP lease, nil for a carrier.
type readiness = task.Graced[*dhcp.Lease]

// graces are the group's graces for a lease and for carrier, as
// rd.iscsi.waitnet asks: =0 none for carrier (a static interface's
// address is set whatever its carrier) and no limit for a lease (it is
// configured when it comes: see dhcpIP), =1 no limit (waited for until
// rd.retry), else netroot's own.
func graces(p *config.Plan) (lease, carrier time.Duration) {
	switch p.ISCSI.WaitNet {
	case config.WaitNetOff:
		return task.NoGrace, 0
	case config.WaitNetAll:
		return task.NoGrace, task.NoGrace
	}
	return dhcpGrace, carrierGrace
}

// leftLine is the warning for an interface the group left without what
// it waited for (what: "DHCP lease", "carrier") grace after another one
// came up; more is the warning's tail with a grace, why it was left.
func leftLine(iface, what string, grace time.Duration, more string) string {
	if grace == 0 {
		return fmt.Sprintf("ip: %s has no %s as another interface came up; rd.iscsi.waitnet=0: going on without it", iface, what)
	}
	return fmt.Sprintf("ip: %s has no %s %s after another interface came up; going on without it %s", iface, what, grace, more)
}

// waitAllHint is the hint of a boot that failed for an interface
// rd.iscsi.waitnet=1 made it wait for.
const waitAllHint = "rd.iscsi.waitnet=1 waits for every ip= interface: check that one's cable, switch port and DHCP server, or drop rd.iscsi.waitnet=1 to boot over the others"

// groupInterfaces are the interfaces of ips that stand on their own: a
// static address, or DHCPv4 on a named interface.
func groupInterfaces(ips []config.IPConfig) []string {
	var out []string
	for _, ip := range ips {
		if ip.Interface == "" || slices.Contains(out, ip.Interface) {
			continue
		}
		if v4, _ := ipMethods(ip); v4 || ip.Method == config.IPStatic {
			out = append(out, ip.Interface)
		}
	}
	return out
}

// errNoRootPath is a lease of the group without the root-path
// netroot=dhcp needs: configured all the same, but not an interface up
// for the others' grace, whose leases may carry it.
var errNoRootPath = errors.New("a lease without a root-path")

// startReadiness returns the readiness group when ips name several
// interfaces (nil otherwise), their DHCP runs started.
func (b *Boot) startReadiness(ctx context.Context, p *config.Plan, ips []config.IPConfig, addrs Addrs) *readiness {
	if len(groupInterfaces(ips)) < 2 {
		return nil
	}
	g := task.NewGraced[*dhcp.Lease]()
	grace, _ := graces(p)
	for _, ip := range ips {
		if v4, _ := ipMethods(ip); !v4 || ip.Interface == "" {
			continue
		}
		o := dhcp.Options{Interface: ip.Interface, Hostname: ip.Hostname, Logf: b.log.Printf}
		g.Go(ctx, ip.Interface, grace, func(ctx context.Context) (*dhcp.Lease, error) {
			l, err := addrs.AcquireDHCP(ctx, o)
			if err == nil && p.ISCSI.FromDHCP && l.RootPath == "" {
				return l, errNoRootPath
			}
			return l, err
		})
	}
	return g
}

// startCarrier starts the wait for a static interface's carrier in the
// group, with grace.
func startCarrier(ctx context.Context, g *readiness, addrs Addrs, iface string, grace time.Duration) {
	g.Go(ctx, iface, grace, func(ctx context.Context) (*dhcp.Lease, error) {
		return nil, addrs.WaitCarrier(ctx, iface)
	})
}

// awaitCarriers waits for the carrier of the group's static interfaces,
// after the last ip step, as the "carrier" step. One without carrier
// while another interface is up is reported and left; the boot fails only
// when none is — or, with rd.iscsi.waitnet=1, when one is not.
func (b *Boot) awaitCarriers(ctx context.Context, p *config.Plan, g *readiness) error {
	ips := p.Net.IP
	var statics []string
	for _, ip := range ips {
		if ip.Method == config.IPStatic && g.Started(ip.Interface) && !slices.Contains(statics, ip.Interface) {
			statics = append(statics, ip.Interface)
		}
	}
	if len(statics) == 0 {
		return nil
	}
	st := b.log.Begin("carrier")
	// A DHCP interface of the group had its lease applied, or was left
	// because another interface came up.
	up := len(statics) < len(groupInterfaces(ips))
	var have, failed []string
	var errs []error
	for _, i := range statics {
		switch _, err := g.Wait(ctx, i); {
		case err == nil:
			have = append(have, i)
		case errors.Is(err, task.ErrLeft):
			_, grace := graces(p)
			b.log.Warnf("%s", leftLine(i, "carrier", grace, "(the root's paths through it answer once it has) — check its cable/switch port"))
		default:
			failed, errs = append(failed, i), append(errs, err)
		}
	}
	if len(errs) > 0 && p.ISCSI.WaitNet == config.WaitNetAll {
		err := hint.Wrap(errors.Join(errs...), waitAllHint)
		st.Fail(err)
		return err
	}
	if !up && len(have) == 0 {
		err := fmt.Errorf("no interface has carrier: %w", errors.Join(errs...))
		st.Fail(err)
		return err
	}
	for k, err := range errs {
		b.log.Warnf("ip: %s: %v; going on without it", failed[k], err)
	}
	st.Done("%s", orNone(strings.Join(have, ", ")))
	return nil
}
