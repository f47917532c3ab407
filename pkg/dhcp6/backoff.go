package dhcp6

import "time"

// Backoff is a retransmission schedule of RFC 8415 section 15: the first
// wait is IRT, each next one twice the last, capped at MRT, and every wait
// is randomised by ±10 % (RAND) so that machines booting together do not
// send in lockstep. MRC, when non-zero, bounds the number of
// transmissions. The total is bounded by the caller's context (rd.retry),
// as RFC 8415's MRD would be.
type Backoff struct {
	IRT time.Duration // initial retransmission time
	MRT time.Duration // maximum retransmission time; 0: no cap
	MRC int           // maximum transmissions; 0: no limit
	// FirstAbove makes the first wait strictly longer than IRT (RAND > 0),
	// which RFC 8415 section 18.2.1 requires of Solicit: the client
	// collects Advertise messages for that whole first wait.
	FirstAbove bool
}

// The schedules of RFC 8415 section 7.6.
var (
	// SolicitBackoff is SOL_TIMEOUT 1 s, SOL_MAX_RT 3600 s.
	SolicitBackoff = Backoff{IRT: time.Second, MRT: 3600 * time.Second, FirstAbove: true}
	// RequestBackoff is REQ_TIMEOUT 1 s, REQ_MAX_RT 30 s, REQ_MAX_RC 10;
	// after that the client starts over with a Solicit.
	RequestBackoff = Backoff{IRT: time.Second, MRT: 30 * time.Second, MRC: 10}
)

// Next returns the wait after a transmission whose previous wait was prev
// (0 for the first transmission); r is a random number in [0, 1).
func (b Backoff) Next(prev time.Duration, r float64) time.Duration {
	if r < 0 {
		r = 0
	}
	if r >= 1 {
		r = 0.999999
	}
	irt := b.IRT
	if irt <= 0 {
		irt = time.Second
	}
	rand := 0.2*r - 0.1 // RAND in [-0.1, 0.1)
	if prev <= 0 {
		if b.FirstAbove {
			rand = 0.1 * (1 - r) // (0, 0.1]
		}
		return irt + time.Duration(rand*float64(irt))
	}
	rt := 2*prev + time.Duration(rand*float64(prev))
	if b.MRT > 0 && rt > b.MRT {
		rt = b.MRT + time.Duration(rand*float64(b.MRT))
	}
	return rt
}

// Exhausted reports whether sent transmissions use up MRC.
func (b Backoff) Exhausted(sent int) bool {
	return b.MRC > 0 && sent >= b.MRC
}
