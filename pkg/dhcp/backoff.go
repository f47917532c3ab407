package dhcp

import (
	"time"

	"github.com/netroot/netroot/pkg/backoff"
)

// Backoff is the retransmission schedule of RFC 2131 section 4.1: the
// wait for an answer starts at First and doubles up to Max, each wait
// randomised by ±Jitter (a fraction) so that machines booting together
// (a rack after a power cut) do not answer in lockstep. It is a
// backoff.Policy under DHCP's names.
type Backoff struct {
	First  time.Duration
	Max    time.Duration
	Jitter float64
}

// DefaultBackoff starts at 1 s (a switch port or a bond that just came up
// may drop the first frames) and caps at 16 s; rd.retry bounds the total.
var DefaultBackoff = Backoff{First: time.Second, Max: 16 * time.Second, Jitter: 0.25}

// Policy is b as a backoff.Policy.
func (b Backoff) Policy() backoff.Policy {
	return backoff.Policy{Initial: b.First, Max: b.Max, Jitter: b.Jitter}
}

// Wait returns the wait after attempt (0-based); r is a random number in
// [0, 1).
func (b Backoff) Wait(attempt int, r float64) time.Duration { return b.Policy().Wait(attempt, r) }
