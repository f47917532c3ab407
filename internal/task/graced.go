package task

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// ErrLeft is Graced.Wait's error for work still running Grace after
// other work of the group succeeded: the boot goes on without it.
var ErrLeft = errors.New("left: other work of its group succeeded first")

// Graced is a group of keyed work where one success is enough to go on —
// a carrier or a DHCP lease on one of several NICs that each lead to the
// root: once one succeeds, each other gets its grace to end, and those
// still running then are left (cancelled). Until one succeeds, each runs
// as long as its context lets it.
type Graced[T any] struct {
	mu    sync.Mutex
	tasks map[string]*graced[T]
	order []string      // the keys, as started
	first chan struct{} // closed at the first success
	at    time.Time     // of the first success
}

type graced[T any] struct {
	*Task[T]
	grace time.Duration
}

// NewGraced returns an empty group.
func NewGraced[T any]() *Graced[T] {
	return &Graced[T]{tasks: map[string]*graced[T]{}, first: make(chan struct{})}
}

// NoGrace is the grace of work the group waits for whatever the others
// did: until it ends, or Wait's context does.
const NoGrace time.Duration = -1

// Go starts fn as key's work, with grace to end once other work
// succeeded (NoGrace: none, it is waited for), unless key's has started
// already.
func (g *Graced[T]) Go(ctx context.Context, key string, grace time.Duration, fn func(ctx context.Context) (T, error)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.tasks[key]; ok {
		return
	}
	g.order = append(g.order, key)
	g.tasks[key] = &graced[T]{grace: grace, Task: Go(ctx, func(ctx context.Context) (T, error) {
		v, err := fn(ctx)
		if err == nil {
			g.succeeded()
		}
		return v, err
	})}
}

func (g *Graced[T]) succeeded() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.first:
	default:
		g.at = time.Now()
		close(g.first)
	}
}

// Started reports whether key's work was started.
func (g *Graced[T]) Started(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.tasks[key]
	return ok
}

// Wait returns key's result once its work ends; or ErrLeft, its work
// cancelled, when other work succeeded and key's grace has passed since.
// When ctx ends first the work is cancelled and its own error returned
// (it says more than ctx's): work must end when cancelled. A key never
// started is an error.
func (g *Graced[T]) Wait(ctx context.Context, key string) (T, error) {
	var zero T
	t, err := g.task(key)
	if err != nil {
		return zero, err
	}
	first := g.first
	if t.grace < 0 {
		first = nil // never ready: waited for
	}
	select {
	case <-t.Done():
		return t.val, t.err
	case <-first:
	case <-ctx.Done():
		return t.cancelled()
	}
	g.mu.Lock()
	left := time.Until(g.at.Add(t.grace))
	g.mu.Unlock()
	timer := time.NewTimer(max(left, 0))
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.val, t.err
	case <-timer.C:
		select {
		case <-t.Done(): // ended as the grace did: its result counts
			return t.val, t.err
		default:
		}
		t.Cancel()
		return zero, ErrLeft
	case <-ctx.Done():
		return t.cancelled()
	}
}

// task is key's work; a key never started is an error.
func (g *Graced[T]) task(key string) (*graced[T], error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := g.tasks[key]; t != nil {
		return t, nil
	}
	return nil, errors.New("task: " + key + " was never started")
}

// Race returns key's result if its work ends before other work of the
// group succeeded (ended true); else ended is false and key's work goes
// on, uncancelled, for a later Wait. When ctx ends first the work is
// cancelled and its own error returned, as Wait does.
func (g *Graced[T]) Race(ctx context.Context, key string) (v T, ended bool, err error) {
	t, err := g.task(key)
	if err != nil {
		return v, true, err
	}
	select {
	case <-t.Done():
		return t.val, true, t.err
	case <-g.first:
		select {
		case <-t.Done(): // ended as another succeeded: its result counts
			return t.val, true, t.err
		default:
			return v, false, nil
		}
	case <-ctx.Done():
		v, err = t.cancelled()
		return v, true, err
	}
}

// Others returns the errors of the group's work other than key's, in the
// order it was started, once each has ended — its work cancelled when ctx
// ends first: for a failure that names every member's cause.
func (g *Graced[T]) Others(ctx context.Context, key string) []error {
	g.mu.Lock()
	keys := slices.Clone(g.order)
	g.mu.Unlock()
	var errs []error
	for _, k := range keys {
		if k == key {
			continue
		}
		if _, err := g.Wait(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// cancelled cancels the work and returns its result once it has ended.
func (t *graced[T]) cancelled() (T, error) {
	t.Cancel()
	<-t.Done()
	return t.val, t.err
}
