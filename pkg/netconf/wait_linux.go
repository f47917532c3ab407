package netconf

import (
	"context"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
)

// Events selects the rtnetlink notifications that wake a wait.
type Events uint8

// The notifications a wait can take.
const (
	LinkEvents Events = 1 << iota
	AddrEvents
	RouteEvents
)

// WaitEvents is netroot's one subscribe-and-check loop: it subscribes to evs, then
// calls check at once and again after every notification, until check
// reports done or fails, or ctx ends (it then returns ctx.Err()). The
// subscription comes first, so a change between a check and the wait for
// the next event is never lost. Notifications only wake it: check reads
// the state itself, so a lost or coalesced event costs nothing.
func WaitEvents(ctx context.Context, evs Events, check func() (done bool, err error)) error {
	for tries := 0; ; tries++ {
		if tries == maxResubscribe {
			return fmt.Errorf("rtnetlink event subscription failed %d times", tries)
		}
		s, err := subscribe(evs)
		if err != nil {
			return fmt.Errorf("subscribing to rtnetlink events: %w", err)
		}
		resubscribe, err := s.loop(ctx, check)
		s.stop()
		if !resubscribe {
			return err
		}
		// A subscription whose socket failed (an overrun) ended: subscribe
		// again and re-check.
	}
}

// maxResubscribe bounds the subscriptions of one wait.
const maxResubscribe = 8

// subscription merges rtnetlink subscriptions into one wake-up channel.
type subscription struct {
	wake     chan struct{} // one pending wake-up at most
	ended    chan struct{} // closed when any subscription ends
	done     chan struct{} // closed by stop
	endOnce  sync.Once
	stopOnce sync.Once
}

func subscribe(evs Events) (*subscription, error) {
	s := &subscription{wake: make(chan struct{}, 1), ended: make(chan struct{}), done: make(chan struct{})}
	if evs&LinkEvents != 0 {
		ch := make(chan netlink.LinkUpdate, 16)
		if err := netlink.LinkSubscribeWithOptions(ch, s.done, netlink.LinkSubscribeOptions{}); err != nil {
			s.stop()
			return nil, err
		}
		go relay(s, ch)
	}
	if evs&AddrEvents != 0 {
		ch := make(chan netlink.AddrUpdate, 16)
		if err := netlink.AddrSubscribeWithOptions(ch, s.done, netlink.AddrSubscribeOptions{}); err != nil {
			s.stop()
			return nil, err
		}
		go relay(s, ch)
	}
	if evs&RouteEvents != 0 {
		ch := make(chan netlink.RouteUpdate, 16)
		if err := netlink.RouteSubscribeWithOptions(ch, s.done, netlink.RouteSubscribeOptions{}); err != nil {
			s.stop()
			return nil, err
		}
		go relay(s, ch)
	}
	return s, nil
}

// relay turns a subscription's updates into wake-ups; it drains the
// channel until netlink closes it, so the library's reader never blocks.
func relay[T any](s *subscription, ch <-chan T) {
	for range ch {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.endOnce.Do(func() { close(s.ended) })
}

func (s *subscription) stop() { s.stopOnce.Do(func() { close(s.done) }) }

// loop runs check at once and on every wake-up; resubscribe reports that
// a subscription ended before the condition held.
func (s *subscription) loop(ctx context.Context, check func() (bool, error)) (resubscribe bool, err error) {
	for {
		done, err := check()
		if err != nil || done {
			return false, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-s.wake:
		case <-s.ended:
			return true, nil
		}
	}
}
