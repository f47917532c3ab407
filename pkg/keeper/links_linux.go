package keeper

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The rtnetlink subscriptions (tests replace them).
var (
	subscribeLinks = netlink.LinkSubscribeWithOptions
	subscribeAddrs = netlink.AddrSubscribeWithOptions
)

// watchLinks delivers the links that come up with carrier and the
// addresses that are added, until ctx ends. A subscription that breaks
// (a receive buffer overrun) is made again.
func watchLinks(ctx context.Context, out chan<- LinkEvent, logf func(string, ...any)) {
	pause := backoff.New(backoff.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Jitter: 0.25}, nil)
	up := map[int]bool{}
	failures := 0
	send := func(ev LinkEvent) {
		if ev.Name == "" {
			if ifc, err := net.InterfaceByIndex(ev.Index); err == nil {
				ev.Name = ifc.Name
			}
		}
		select {
		case out <- ev:
		default: // the loop is busy; a kick more or less changes little
		}
	}
	for ctx.Err() == nil {
		links := make(chan netlink.LinkUpdate, 32)
		addrs := make(chan netlink.AddrUpdate, 32)
		done := make(chan struct{})
		quiet := func(error) {}
		// A subscription closes its channel once done only if it was
		// made: only those are drained (a drain of one that failed
		// would wait for ever).
		var made []func()
		err := subscribeLinks(links, done, netlink.LinkSubscribeOptions{ErrorCallback: quiet})
		if err == nil {
			made = append(made, func() { drain(links) })
			err = subscribeAddrs(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: quiet})
		}
		if err == nil {
			made = append(made, func() { drain(addrs) })
			failures = 0
			pause.Reset()
			err = follow(ctx, links, addrs, up, send)
		}
		close(done)
		for _, d := range made {
			go d()
		}
		if ctx.Err() != nil {
			return
		}
		if failures++; failures <= 3 {
			logf("watching links: %v; subscribing again", err)
		}
		if _, werr := pause.Wait(ctx); werr != nil {
			return
		}
	}
}

// drain empties c until it is closed.
func drain[T any](c <-chan T) {
	for range c {
	}
}

// follow passes link and address updates on until a subscription ends.
func follow(ctx context.Context, links <-chan netlink.LinkUpdate, addrs <-chan netlink.AddrUpdate, up map[int]bool, send func(LinkEvent)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u, ok := <-links:
			if !ok {
				return fmt.Errorf("link subscription ended")
			}
			a := u.Link.Attrs()
			isUp := a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
			if isUp && !up[a.Index] {
				send(LinkEvent{Index: a.Index, MasterIndex: a.MasterIndex, Name: a.Name, Up: true})
			}
			up[a.Index] = isUp
		case u, ok := <-addrs:
			if !ok {
				return fmt.Errorf("address subscription ended")
			}
			if u.NewAddr {
				send(LinkEvent{Index: u.LinkIndex, Up: true})
			}
		}
	}
}

// routeInterface returns the index of the interface the route to addr
// leaves by.
func routeInterface(addr netip.Addr) (int, error) {
	routes, err := netlink.RouteGet(net.IP(addr.Unmap().AsSlice()))
	if err != nil {
		return 0, err
	}
	if len(routes) == 0 {
		return 0, fmt.Errorf("no route to %s", addr)
	}
	return routes[0].LinkIndex, nil
}
