package backoff

import (
	"context"
	"testing"
	"time"
)

func TestPolicyWait(t *testing.T) {
	p := Policy{Initial: time.Second, Max: 16 * time.Second, Jitter: 0.25}
	for _, tc := range []struct {
		p    Policy
		n    int
		r    float64
		want time.Duration
	}{
		{p, 0, 0.5, time.Second},
		{p, 1, 0.5, 2 * time.Second},
		{p, 4, 0.5, 16 * time.Second},
		{p, 1000, 0.5, 16 * time.Second},
		{p, 0, 0, 750 * time.Millisecond},
		{p, 4, 0.999999, 20 * time.Second}, // the cap is before jitter
		{p, 0, 7, 1250 * time.Millisecond}, // r clamped below 1
		{p, 0, -1, 750 * time.Millisecond},
		{Policy{}, 3, 0.9, 8 * time.Second},      // 1 s initial, no jitter
		{Policy{}, 1 << 30, 0.5, 24 * time.Hour}, // no overflow without a cap
		{Policy{Initial: 250 * time.Millisecond, Max: time.Second, Jitter: 0.25}, 2, 0.5, time.Second},
		{Policy{Initial: 250 * time.Millisecond, Max: time.Second, Jitter: 0.25}, 9, 0, 750 * time.Millisecond},
		{Policy{Initial: time.Second, Jitter: 5}, 0, 0, 0}, // jitter clamped to 1
	} {
		got := tc.p.Wait(tc.n, tc.r)
		if d := got - tc.want; d > time.Millisecond || d < -time.Millisecond {
			t.Errorf("%+v.Wait(%d, %v) = %v, want %v", tc.p, tc.n, tc.r, got, tc.want)
		}
	}
}

func TestTimerNextResetKick(t *testing.T) {
	tm := New(Policy{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond}, func() float64 { return 0.5 })
	var got []time.Duration
	for range 5 {
		got = append(got, tm.Next())
	}
	want := []time.Duration{100, 200, 400, 400, 400}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("waits %v, want %v ms", got, want)
		}
	}
	tm.Reset()
	if d := tm.Next(); d != 100*time.Millisecond {
		t.Errorf("after Reset: %v", d)
	}
	// A kick wakes a long wait at once and starts the schedule over.
	long := New(Policy{Initial: time.Hour}, nil)
	long.Next()
	go func() { time.Sleep(20 * time.Millisecond); long.Kick() }()
	start := time.Now()
	kicked, err := long.Wait(context.Background())
	if !kicked || err != nil || time.Since(start) > 10*time.Second {
		t.Errorf("Wait = %v, %v after %v; want kicked at once", kicked, err, time.Since(start))
	}
	if d := long.Next(); d < 0 || d > time.Hour+time.Second || long.n != 1 {
		t.Errorf("after a kick the schedule did not restart: n=%d", long.n)
	}
	// A kick that came while nobody waited is not lost; kicks coalesce.
	long.Kick()
	long.Kick()
	if kicked, _ := long.Wait(context.Background()); !kicked {
		t.Error("pending kick lost")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := long.Wait(ctx); err == nil {
		t.Error("Wait ignored a cancelled context")
	}
}

// Machines that lost the same target must not retry together: with any
// jitter the waits of a fleet spread out.
func TestTimerJitterSpreads(t *testing.T) {
	p := Policy{Initial: time.Second, Max: time.Second, Jitter: 0.25}
	seen := map[time.Duration]bool{}
	for range 50 {
		d := New(p, nil).Next()
		if d < 750*time.Millisecond || d >= 1250*time.Millisecond {
			t.Fatalf("wait %v outside 1 s ± 25 %%", d)
		}
		seen[d.Round(10*time.Millisecond)] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 timers drew only %d distinct waits", len(seen))
	}
}
