package dhcp

import "time"

// Backoff is the retransmission schedule of RFC 2131 section 4.1: the
// wait for an answer starts at First and doubles up to Max, each wait
// randomised by ±Jitter (a fraction) so that machines booting together
// (a rack after a power cut) do not answer in lockstep.
type Backoff struct {
	First  time.Duration
	Max    time.Duration
	Jitter float64
}

// DefaultBackoff starts at 1 s (a switch port or a bond that just came up
// may drop the first frames) and caps at 16 s; rd.retry bounds the total.
var DefaultBackoff = Backoff{First: time.Second, Max: 16 * time.Second, Jitter: 0.25}

// Wait returns the wait after attempt (0-based); r is a random number in
// [0, 1).
func (b Backoff) Wait(attempt int, r float64) time.Duration {
	d := b.First
	if d <= 0 {
		d = time.Second
	}
	for i := 0; i < attempt && (b.Max <= 0 || d < b.Max); i++ {
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if r < 0 {
		r = 0
	}
	if r >= 1 {
		r = 0.999999
	}
	j := b.Jitter
	if j < 0 {
		j = 0
	}
	if j > 1 {
		j = 1
	}
	return time.Duration(float64(d) * (1 - j + 2*j*r))
}
