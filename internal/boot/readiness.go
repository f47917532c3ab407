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

// carrierGrace bounds the wait for the other interfaces' carrier once one
// of them is ready (a link negotiates in a few seconds). A variable for
// the tests.
var carrierGrace = 3 * time.Second

// readiness is the group's work: a DHCP lease, nil for a carrier.
type readiness = task.Graced[*dhcp.Lease]

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
	for _, ip := range ips {
		if v4, _ := ipMethods(ip); !v4 || ip.Interface == "" {
			continue
		}
		o := dhcp.Options{Interface: ip.Interface, Hostname: ip.Hostname, Logf: b.log.Printf}
		g.Go(ctx, ip.Interface, dhcpGrace, func(ctx context.Context) (*dhcp.Lease, error) {
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
// group.
func startCarrier(ctx context.Context, g *readiness, addrs Addrs, iface string) {
	g.Go(ctx, iface, carrierGrace, func(ctx context.Context) (*dhcp.Lease, error) {
		return nil, addrs.WaitCarrier(ctx, iface)
	})
}

// awaitCarriers waits for the carrier of the group's static interfaces,
// after the last ip step, as the "carrier" step. One without carrier
// while another interface is up is reported and left; the boot fails only
// when none is.
func (b *Boot) awaitCarriers(ctx context.Context, g *readiness, ips []config.IPConfig) error {
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
			b.log.Warnf("ip: %s has no carrier %s after another interface came up; going on without it (the root's paths through it answer once it has) — check its cable/switch port", i, carrierGrace)
		default:
			failed, errs = append(failed, i), append(errs, err)
		}
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
