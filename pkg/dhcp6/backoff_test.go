package dhcp6

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	s := SolicitBackoff
	for _, tc := range []struct {
		name     string
		b        Backoff
		prev     time.Duration
		r        float64
		min, max time.Duration
	}{
		// RFC 8415 18.2.1: the first Solicit wait is strictly above IRT.
		{"solicit first, r=0", s, 0, 0, 1100 * time.Millisecond, 1100 * time.Millisecond},
		{"solicit first, r→1", s, 0, 0.999999, time.Second + time.Nanosecond, time.Second + time.Microsecond},
		{"request first low", RequestBackoff, 0, 0, 900 * time.Millisecond, 900 * time.Millisecond},
		{"request first high", RequestBackoff, 0, 0.999999, 1099 * time.Millisecond, 1100 * time.Millisecond},
		// RT = 2*RTprev + RAND*RTprev.
		{"doubling", s, 2 * time.Second, 0.5, 4 * time.Second, 4 * time.Second},
		{"doubling low", s, 2 * time.Second, 0, 3800 * time.Millisecond, 3800 * time.Millisecond},
		// RT = MRT + RAND*MRT once past MRT.
		{"request cap", RequestBackoff, 20 * time.Second, 0.5, 30 * time.Second, 30 * time.Second},
		{"request cap high", RequestBackoff, 30 * time.Second, 0.999999, 32999 * time.Millisecond, 33 * time.Second},
		{"solicit cap", s, 3000 * time.Second, 0.5, 3600 * time.Second, 3600 * time.Second},
		// Out-of-range randomness is clamped.
		{"r<0", RequestBackoff, 0, -3, 900 * time.Millisecond, 900 * time.Millisecond},
		{"r>1", RequestBackoff, 0, 7, 1099 * time.Millisecond, 1100 * time.Millisecond},
		{"zero IRT is 1 s", Backoff{}, 0, 0.5, time.Second, time.Second},
	} {
		got := tc.b.Next(tc.prev, tc.r)
		if got < tc.min || got > tc.max {
			t.Errorf("%s: Next(%s, %v) = %s, want %s..%s", tc.name, tc.prev, tc.r, got, tc.min, tc.max)
		}
	}
	if RequestBackoff.Exhausted(9) || !RequestBackoff.Exhausted(10) || SolicitBackoff.Exhausted(1000) {
		t.Error("Exhausted: REQ_MAX_RC is 10, Solicit has no limit")
	}
	// The schedule from the first wait: 1.1, 2.2, 4.4 … never above MRT+10 %.
	var rt time.Duration
	for i := 0; i < 40; i++ {
		rt = RequestBackoff.Next(rt, 0.999999)
		if rt > 33*time.Second {
			t.Fatalf("wait %d = %s, above REQ_MAX_RT+10%%", i, rt)
		}
	}
}
