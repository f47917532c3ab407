package task

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestResult(t *testing.T) {
	tk := Go(context.Background(), func(context.Context) (int, error) { return 42, nil })
	v, err := tk.Wait(context.Background())
	if v != 42 || err != nil {
		t.Fatalf("Wait = %d, %v; want 42, nil", v, err)
	}
	select {
	case <-tk.Done():
	default:
		t.Fatalf("Done not closed after Wait returned")
	}
	boom := errors.New("boom")
	if _, err := Do(context.Background(), func(context.Context) error { return boom }).Wait(context.Background()); err != boom {
		t.Fatalf("Do's error = %v, want %v", err, boom)
	}
}

func TestPanicBecomesError(t *testing.T) {
	tk := Go(context.Background(), func(context.Context) (string, error) { panic("kaboom") })
	_, err := tk.Wait(context.Background())
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || !strings.Contains(err.Error(), "internal error: kaboom") {
		t.Fatalf("Wait after a panic = %v, want a PanicError", err)
	}
	if !strings.Contains(string(pe.Stack), "TestPanicBecomesError") {
		t.Errorf("the panic's stack does not name the test:\n%s", pe.Stack)
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tk := Do(context.Background(), func(context.Context) error { <-release; return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := tk.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the waiter's deadline", err)
	}
}

func TestCancel(t *testing.T) {
	started := make(chan struct{})
	tk := Do(context.Background(), func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	<-started
	tk.Cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := tk.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled loop's Wait = %v, want context.Canceled", err)
	}
	// The parent's end cancels too.
	parent, stop := context.WithCancel(context.Background())
	tk = Do(parent, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	stop()
	if _, err := tk.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("after the parent's cancel, Wait = %v", err)
	}
}

// laggingParent is a context whose end shows in Err before its Done
// channel closes — the moment a real one is in while it cancels its
// children one by one after closing its own channel.
type laggingParent struct {
	context.Context
	done chan struct{}
	err  atomic.Value // error
}

func (p *laggingParent) Done() <-chan struct{} { return p.done }

func (p *laggingParent) Err() error {
	if err, ok := p.err.Load().(error); ok {
		return err
	}
	return nil
}

// Cancel once the task's context has ended leaves the task its context's
// own error: a waiter woken by a deadline that cancels the work before the
// deadline reached it must not turn "deadline exceeded" into "canceled"
// in the work's report (as it did under load for the carrier and DHCP
// waits of a boot whose rd.retry ran out).
func TestCancelAfterItsContextEndedKeepsTheContextsError(t *testing.T) {
	p := &laggingParent{Context: context.Background(), done: make(chan struct{})}
	tk := Go[struct{}](p, func(ctx context.Context) (struct{}, error) {
		<-ctx.Done()
		return struct{}{}, ctx.Err()
	})
	p.err.Store(context.DeadlineExceeded)
	tk.Cancel()
	close(p.done)
	if _, err := tk.Wait(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the work ended with %v, want its context's deadline", err)
	}
	// Before its context ended, Cancel cancels.
	tk = Go(context.Background(), func(ctx context.Context) (struct{}, error) {
		<-ctx.Done()
		return struct{}{}, ctx.Err()
	})
	tk.Cancel()
	if _, err := tk.Wait(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled work ended with %v, want canceled", err)
	}
}
