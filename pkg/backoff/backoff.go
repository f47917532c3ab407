// Package backoff is netroot's one retry schedule: waits that grow
// exponentially from an initial value to a cap, each one jittered so that
// machines which lost the same switch or target (a rack after a power cut,
// a fleet behind one storage array) do not retry in lockstep, and a Timer
// that events can fire at once: a link that comes back, the target's own
// signals. The DHCPv4 client, the iSCSI login and the session keeper use
// it; DHCPv6 retransmits on RFC 8415's own schedule (dhcp6.Backoff: each
// wait grows from the last randomised one, with a transmission count).
package backoff

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Policy shapes a schedule.
type Policy struct {
	// Initial is the first wait; 0 means one second.
	Initial time.Duration
	// Max caps the wait before jitter; 0 means a day.
	Max time.Duration
	// Jitter spreads each wait d uniformly over d·(1±Jitter); it is
	// clamped to [0, 1].
	Jitter float64
}

// Wait returns the wait before retry n (0 for the first), for r uniform
// in [0, 1) (clamped).
func (p Policy) Wait(n int, r float64) time.Duration {
	d, _ := p.base(n)
	r = min(max(r, 0), 0.999999)
	j := min(max(p.Jitter, 0), 1)
	return time.Duration(float64(d) * (1 - j + 2*j*r))
}

// base is the un-jittered wait before retry n, and whether it stopped
// growing (the cap, or a day without a cap).
func (p Policy) base(n int) (d time.Duration, capped bool) {
	d = p.Initial
	if d <= 0 {
		d = time.Second
	}
	limit := p.Max
	if limit <= 0 {
		limit = 24 * time.Hour
	}
	for i := 0; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit), d >= limit
}

// Timer runs a Policy: Next returns the successive waits, Reset starts
// over, and Kick (from any goroutine) starts over and wakes the waiter at
// once. It is safe for concurrent use.
type Timer struct {
	p    Policy
	rand func() float64

	mu   sync.Mutex
	n    int
	kick chan struct{}
}

// New returns a Timer for p. rand returns numbers in [0, 1); nil means
// math/rand/v2, which never blocks (crypto randomness may, early in boot).
func New(p Policy, rand func() float64) *Timer {
	if rand == nil {
		rand = defaultRand
	}
	return &Timer{p: p, rand: rand, kick: make(chan struct{}, 1)}
}

func defaultRand() float64 { return rand.Float64() }

// Next returns the wait before the next retry and advances the schedule.
func (t *Timer) Next() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.p.Wait(t.n, t.rand())
	if _, capped := t.p.base(t.n); !capped {
		t.n++ // stop counting once capped: n never overflows
	}
	return d
}

// Reset starts the schedule over at Initial.
func (t *Timer) Reset() {
	t.mu.Lock()
	t.n = 0
	t.mu.Unlock()
}

// Kick starts the schedule over and makes the current (or next) Wait
// return at once. Kicks coalesce; it never blocks.
func (t *Timer) Kick() {
	t.Reset()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Kicked is the channel a Kick signals, for callers that select on other
// events too. Receiving from it consumes the kick.
func (t *Timer) Kicked() <-chan struct{} { return t.kick }

// Wait waits for the next wait of the schedule, a Kick (kicked true) or
// the end of ctx (its error).
func (t *Timer) Wait(ctx context.Context) (kicked bool, err error) {
	d := t.Next()
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return false, nil
	case <-t.kick:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
