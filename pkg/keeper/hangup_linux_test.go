package keeper

import (
	"testing"
	"time"

	"github.com/netroot/netroot/internal/testnet"
)

// TestWatchHangup: the watch ends when the peer hangs up (true) or when
// done closes (false), each as soon as it happens — it sleeps on both
// instead of waking on a period.
func TestWatchHangup(t *testing.T) {
	pair := testnet.TCPPair
	t.Run("peer hangs up", func(t *testing.T) {
		c, s := pair(t)
		done := make(chan struct{})
		defer close(done)
		got := make(chan bool, 1)
		go func() { got <- watchHangup(c, done) }()
		s.Close()
		select {
		case h := <-got:
			if !h {
				t.Errorf("watchHangup = false after the peer closed")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the hang-up was not noticed")
		}
	})
	t.Run("done", func(t *testing.T) {
		c, _ := pair(t)
		done := make(chan struct{})
		got := make(chan bool, 1)
		go func() { got <- watchHangup(c, done) }()
		start := time.Now()
		close(done)
		select {
		case h := <-got:
			if h {
				t.Errorf("watchHangup = true with the peer still there")
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("ended %v after done", d)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("done did not end the watch")
		}
	})
	t.Run("done already closed", func(t *testing.T) {
		c, _ := pair(t)
		done := make(chan struct{})
		close(done)
		if watchHangup(c, done) {
			t.Errorf("watchHangup = true with the peer still there")
		}
	})
}
