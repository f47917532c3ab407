package keeper

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
	"github.com/netroot/netroot/pkg/netconf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// watchLinks delivers the links that come up with carrier and the
// addresses that are added (or change, as an IPv6 address whose duplicate
// detection ends), until ctx ends. It is netconf.WaitEvents' loop with a
// check that compares the links and addresses with those it saw last: a
// change while a broken subscription (a receive buffer overrun) was being
// made again is found by the next check, not lost.
func watchLinks(ctx context.Context, out chan<- LinkEvent, logf func(string, ...any)) {
	pause := backoff.New(backoff.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Jitter: 0.25}, nil)
	w := linkWatch{}
	failures := 0
	check := func() (bool, error) {
		links, err := netconf.Dump(netlink.LinkList)
		if err != nil {
			return false, fmt.Errorf("listing links: %w", err)
		}
		addrs, err := netconf.Addrs(nil, netlink.FAMILY_ALL)
		if err != nil {
			return false, fmt.Errorf("listing addresses: %w", err)
		}
		failures = 0 // the subscriptions work
		pause.Reset()
		for _, ev := range w.changes(linkStates(links), addrKeys(addrs)) {
			select {
			case out <- ev:
			default: // the loop is busy; a kick more or less changes little
			}
		}
		return false, nil
	}
	for ctx.Err() == nil {
		err := netconf.WaitEvents(ctx, netconf.LinkEvents|netconf.AddrEvents, check)
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

// linkState is what the watch compares of a link.
type linkState struct {
	Index, MasterIndex int
	Name               string
	Up                 bool // up with carrier
}

// addrKey is an address as the watch compares it: a change of its flags
// (tentative to usable) counts as a new address.
type addrKey struct {
	Index  int
	Prefix string
	Flags  int
}

func linkStates(links []netlink.Link) []linkState {
	out := make([]linkState, 0, len(links))
	for _, l := range links {
		a := l.Attrs()
		out = append(out, linkState{
			Index: a.Index, MasterIndex: a.MasterIndex, Name: a.Name,
			Up: a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0,
		})
	}
	return out
}

func addrKeys(addrs []netlink.Addr) []addrKey {
	out := make([]addrKey, 0, len(addrs))
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		out = append(out, addrKey{Index: a.LinkIndex, Prefix: a.IPNet.String(), Flags: a.Flags})
	}
	return out
}

// linkWatch remembers the links up and the addresses of the last check.
type linkWatch struct {
	seen  bool
	up    map[int]bool
	addrs map[addrKey]bool
}

// changes records links and addrs and returns an event for each link that
// is up now and was not, and for each link with an address it did not
// have (one event a link). The first call only records: what is up when
// the keeper starts came up before it.
func (w *linkWatch) changes(links []linkState, addrs []addrKey) []LinkEvent {
	up := make(map[int]bool, len(links))
	byIndex := make(map[int]linkState, len(links))
	reported := map[int]bool{}
	var evs []LinkEvent
	report := func(l linkState) {
		if w.seen && !reported[l.Index] {
			reported[l.Index] = true
			evs = append(evs, LinkEvent{Index: l.Index, MasterIndex: l.MasterIndex, Name: l.Name, Up: true})
		}
	}
	for _, l := range links {
		byIndex[l.Index] = l
		if l.Up {
			up[l.Index] = true
			if !w.up[l.Index] {
				report(l)
			}
		}
	}
	have := make(map[addrKey]bool, len(addrs))
	for _, a := range addrs {
		have[a] = true
		if !w.addrs[a] {
			l, ok := byIndex[a.Index]
			if !ok {
				l = linkState{Index: a.Index}
			}
			report(l)
		}
	}
	w.seen, w.up, w.addrs = true, up, have
	return evs
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
