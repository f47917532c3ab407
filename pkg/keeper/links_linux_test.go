package keeper

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestWatchLinksLeavesNothingBehind: a subscription that cannot be made
// (EMFILE, ENOBUFS) left a goroutine draining a channel nobody would
// close, one per retry for the machine's lifetime.
func TestWatchLinksLeavesNothingBehind(t *testing.T) {
	var live atomic.Int64 // the drains and subscriptions still running
	oldL, oldA := subscribeLinks, subscribeAddrs
	defer func() { subscribeLinks, subscribeAddrs = oldL, oldA }()
	subscribeLinks = func(ch chan<- netlink.LinkUpdate, done <-chan struct{}, _ netlink.LinkSubscribeOptions) error {
		live.Add(1)
		go func() { // as the library's reader: closes ch once done
			<-done
			close(ch)
			live.Add(-1)
		}()
		return nil
	}
	subscribeAddrs = func(chan<- netlink.AddrUpdate, <-chan struct{}, netlink.AddrSubscribeOptions) error {
		return errors.New("too many open files")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	before := countGoroutines()
	watchLinks(ctx, make(chan LinkEvent, 1), func(string, ...any) {})
	// The drains end once their channels close; a drain of a channel
	// never made would stay.
	deadline := time.Now().Add(2 * time.Second)
	for countGoroutines() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // test only: let the drains end
	}
	if n := countGoroutines(); n > before {
		t.Errorf("%d goroutine(s) left behind after the watch ended", n-before)
	}
	if n := live.Load(); n != 0 {
		t.Errorf("%d subscription(s) still open", n)
	}
}

func countGoroutines() int { return runtime.NumGoroutine() }
