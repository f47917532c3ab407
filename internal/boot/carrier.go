package boot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/netroot/netroot/pkg/config"
)

// Paths on several NICs (two subnets, two switches, no bond): a NIC whose
// cable is out must not hold the boot in the ip step until rd.retry runs
// out, since the root's other paths do not need it. With several static
// ip= interfaces their carrier is awaited together, at the last one's ip
// step (the others are up by then): once one has carrier, the others get
// carrierGrace, and one still without carrier then is reported and left —
// the logins over it fail or wait while the others answer.

// carrierGrace bounds the wait for the other interfaces' carrier once one
// of them has it (a link negotiates in a few seconds). A variable for the
// tests.
var carrierGrace = 3 * time.Second

// carriers are the concurrent carrier waits of the static interfaces.
type carriers struct {
	first chan struct{} // closed once one has carrier
	once  sync.Once
	wg    sync.WaitGroup
	mu    sync.Mutex
	done  map[string]chan struct{}
	errs  map[string]error
}

// staticInterfaces are the interfaces of the plan's static ip= entries.
func staticInterfaces(p *config.Plan) []string {
	var out []string
	for _, ip := range p.Net.IP {
		if ip.Method == config.IPStatic && ip.Interface != "" && !slices.Contains(out, ip.Interface) {
			out = append(out, ip.Interface)
		}
	}
	return out
}

// waitCarrier waits for iface's carrier (staticIP): alone, as long as ctx
// lets it; beside other static interfaces, it starts the wait and, at
// the last of them, waits until one has carrier and then up to
// carrierGrace for the others.
func (b *Boot) waitCarrier(ctx context.Context, p *config.Plan, addrs Addrs, iface string) error {
	ifaces := staticInterfaces(p)
	if len(ifaces) < 2 || !slices.Contains(ifaces, iface) {
		return addrs.WaitCarrier(ctx, iface)
	}
	if b.carriers == nil {
		b.carriers = &carriers{first: make(chan struct{}), done: map[string]chan struct{}{}, errs: map[string]error{}}
	}
	c := b.carriers
	c.mu.Lock()
	if _, started := c.done[iface]; !started {
		done := make(chan struct{})
		c.done[iface] = done
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			err := addrs.WaitCarrier(ctx, iface)
			c.mu.Lock()
			c.errs[iface] = err
			c.mu.Unlock()
			close(done)
			if err == nil {
				c.once.Do(func() { close(c.first) })
			}
		}()
	}
	c.mu.Unlock()
	if iface != ifaces[len(ifaces)-1] {
		return nil // awaited with the last
	}
	all := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(all)
	}()
	select {
	case <-c.first:
	case <-all:
		c.mu.Lock()
		defer c.mu.Unlock()
		var errs []error
		for _, i := range ifaces {
			if c.errs[i] != nil {
				errs = append(errs, c.errs[i])
			}
		}
		if len(errs) == 0 {
			return nil
		}
		return fmt.Errorf("no interface has carrier: %w", errors.Join(errs...))
	}
	t := time.NewTimer(carrierGrace)
	defer t.Stop()
	expired := false
	for _, i := range ifaces {
		c.mu.Lock()
		done := c.done[i]
		c.mu.Unlock()
		if done == nil {
			continue
		}
		if !expired {
			select {
			case <-done:
			case <-t.C:
				expired = true
			}
		}
		up := false
		select {
		case <-done:
			c.mu.Lock()
			up = c.errs[i] == nil
			c.mu.Unlock()
		default:
		}
		if !up {
			b.log.Warnf("ip: %s has no carrier %s after another interface got it; going on without it (the root's paths through it answer once it has) — check its cable/switch port", i, carrierGrace)
		}
	}
	return nil
}
