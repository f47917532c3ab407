package task

import (
	"context"
	"errors"
	"testing"
	"time"
)

// never is work that ends only when cancelled; it reports that it was.
func never(cancelled chan<- struct{}) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		<-ctx.Done()
		close(cancelled)
		return "", ctx.Err()
	}
}

// after is work that succeeds with v after d.
func after(d time.Duration, v string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		select {
		case <-time.After(d):
			return v, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Each work's own grace counts: eth0's, not eth1's hour.
func TestGracedLeavesWorkPastTheGrace(t *testing.T) {
	g := NewGraced[string]()
	ctx := context.Background()
	cancelled := make(chan struct{})
	g.Go(ctx, "eth0", 50*time.Millisecond, never(cancelled))
	g.Go(ctx, "eth1", time.Hour, after(10*time.Millisecond, "lease"))
	start := time.Now()
	if _, err := g.Wait(ctx, "eth0"); !errors.Is(err, ErrLeft) {
		t.Fatalf("Wait(eth0) = %v, want ErrLeft", err)
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > 2*time.Second {
		t.Errorf("eth0 left after %v, want the success's time plus the grace", took)
	}
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Errorf("eth0's work not cancelled once left")
	}
	if v, err := g.Wait(ctx, "eth1"); v != "lease" || err != nil {
		t.Errorf("Wait(eth1) = %q, %v", v, err)
	}
}

func TestGracedWorkEndingInTheGraceCounts(t *testing.T) {
	g := NewGraced[string]()
	ctx := context.Background()
	g.Go(ctx, "eth0", time.Second, after(100*time.Millisecond, "late"))
	g.Go(ctx, "eth1", 0, after(0, "first"))
	if v, err := g.Wait(ctx, "eth0"); v != "late" || err != nil {
		t.Errorf("Wait(eth0) = %q, %v; want its result within the grace", v, err)
	}
}

// Work with NoGrace is waited for past the others' success, until it
// ends or the wait's context does.
func TestGracedNoGraceIsWaitedFor(t *testing.T) {
	g := NewGraced[string]()
	ctx := context.Background()
	g.Go(ctx, "eth0", NoGrace, after(300*time.Millisecond, "late"))
	g.Go(ctx, "eth1", NoGrace, after(0, "first"))
	if v, err := g.Wait(ctx, "eth1"); v != "first" || err != nil {
		t.Fatalf("Wait(eth1) = %q, %v", v, err)
	}
	if v, err := g.Wait(ctx, "eth0"); v != "late" || err != nil {
		t.Errorf("Wait(eth0) = %q, %v; want its result, waited for", v, err)
	}
	// As the boot's: the work and the wait under one deadline.
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	g.Go(wctx, "eth2", NoGrace, func(ctx context.Context) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	})
	if _, err := g.Wait(wctx, "eth2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait(eth2) = %v, want its work's end at the wait's deadline", err)
	}
}

// Race gives up on work once other work succeeded, without cancelling
// it: a later Wait gets its result.
func TestGracedRace(t *testing.T) {
	g := NewGraced[string]()
	ctx := context.Background()
	g.Go(ctx, "eth0", NoGrace, after(200*time.Millisecond, "late"))
	g.Go(ctx, "eth1", NoGrace, after(0, "first"))
	if _, ended, _ := g.Race(ctx, "eth0"); ended {
		t.Fatalf("Race(eth0) waited for eth0 past eth1's success")
	}
	if v, ended, err := g.Race(ctx, "eth1"); !ended || v != "first" || err != nil {
		t.Errorf("Race(eth1) = %q, %v, %v", v, err, ended)
	}
	if v, err := g.Wait(ctx, "eth0"); v != "late" || err != nil {
		t.Errorf("Wait(eth0) after the race = %q, %v; want its result", v, err)
	}
	// Without any success, the race is key's own.
	g = NewGraced[string]()
	boom := errors.New("no answer")
	g.Go(ctx, "eth0", NoGrace, func(context.Context) (string, error) { return "", boom })
	if _, ended, err := g.Race(ctx, "eth0"); !ended || err != boom {
		t.Errorf("Race(eth0) alone = %v, %v; want its error", err, ended)
	}
}

func TestGracedWithoutSuccessWaitsForTheContext(t *testing.T) {
	g := NewGraced[string]()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	boom := errors.New("no answer")
	g.Go(ctx, "eth0", time.Millisecond, func(ctx context.Context) (string, error) { <-ctx.Done(); return "", boom })
	g.Go(ctx, "eth1", time.Millisecond, func(context.Context) (string, error) { return "", boom })
	// A failure is not a success: eth0 is not left a grace after it.
	for _, k := range []string{"eth0", "eth1"} {
		if _, err := g.Wait(context.Background(), k); !errors.Is(err, boom) {
			t.Errorf("Wait(%s) = %v, want its own error", k, err)
		}
	}
}

func TestGracedOnce(t *testing.T) {
	g := NewGraced[string]()
	ctx := context.Background()
	g.Go(ctx, "eth0", time.Second, after(0, "a"))
	g.Go(ctx, "eth0", time.Second, after(0, "b"))
	if !g.Started("eth0") || g.Started("eth1") {
		t.Errorf("Started: eth0 %v, eth1 %v", g.Started("eth0"), g.Started("eth1"))
	}
	if v, _ := g.Wait(ctx, "eth0"); v != "a" {
		t.Errorf("Wait(eth0) = %q, want the first work's", v)
	}
	if _, err := g.Wait(ctx, "eth1"); err == nil {
		t.Errorf("Wait of a key never started: no error")
	}
}

func TestGracedWaitEndingWithItsContextGivesTheWorksError(t *testing.T) {
	g := NewGraced[string]()
	boom := errors.New("eth0 has no carrier")
	g.Go(context.Background(), "eth0", time.Second, func(ctx context.Context) (string, error) {
		<-ctx.Done()
		return "", boom
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Wait(ctx, "eth0"); !errors.Is(err, boom) {
		t.Errorf("Wait = %v, want the work's own error", err)
	}
}

// Work that ended before Wait: its result, even with ctx over by then.
func TestGracedEndedWorkBeatsAnEndedContext(t *testing.T) {
	g := NewGraced[string]()
	boom := errors.New("eth1 has no carrier")
	g.Go(context.Background(), "eth1", time.Second, func(context.Context) (string, error) { return "", boom })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 {
		if _, err := g.Wait(ctx, "eth1"); !errors.Is(err, boom) {
			t.Fatalf("Wait = %v, want the work's own error", err)
		}
	}
}

func TestGracedOthers(t *testing.T) {
	g := NewGraced[string]()
	a, b := errors.New("eth1 has no carrier"), errors.New("eth2: no DHCP answer")
	ctx, cancel := context.WithCancel(context.Background())
	g.Go(ctx, "eth0", time.Second, func(ctx context.Context) (string, error) { <-ctx.Done(); return "", ctx.Err() })
	g.Go(ctx, "eth1", time.Second, func(ctx context.Context) (string, error) { <-ctx.Done(); return "", a })
	g.Go(ctx, "eth2", time.Second, func(ctx context.Context) (string, error) { <-ctx.Done(); return "", b })
	cancel()
	got := g.Others(ctx, "eth0")
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("Others = %v, want eth1's and eth2's, in order", got)
	}
}
