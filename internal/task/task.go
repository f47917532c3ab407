// Package task runs a piece of work in the background and hands its
// result to whoever waits for it. It is /init's one way of overlapping
// steps: module batches, bond creation, kernel session preparation, the
// keeper's start and hand-over, the uevent loop, the side work after a
// step (I/O scheduler, prefetch) are each a Task.
//
// A panic in the work becomes the task's error: a panic in any goroutine
// of PID 1 would kill it, and the machine with it.
package task

import (
	"context"
	"fmt"
	"runtime/debug"
)

// Task is work running on its own goroutine, with its result once done.
type Task[T any] struct {
	done   chan struct{}
	parent context.Context // Go's ctx
	cancel context.CancelFunc
	val    T
	err    error
}

// Go runs fn on its own goroutine with a context derived from parent,
// which Cancel (or parent's end) cancels.
func Go[T any](parent context.Context, fn func(ctx context.Context) (T, error)) *Task[T] {
	ctx, cancel := context.WithCancel(parent)
	t := &Task[T]{done: make(chan struct{}), parent: parent, cancel: cancel}
	go func() {
		defer close(t.done)
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				t.err = &PanicError{Value: r, Stack: debug.Stack()}
			}
		}()
		t.val, t.err = fn(ctx)
	}()
	return t
}

// Do is Go for work with no result but its error.
func Do(ctx context.Context, fn func(ctx context.Context) error) *Task[struct{}] {
	return Go(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
}

// Wait returns the task's result once it is done, or ctx's error if ctx
// ends first (the task runs on).
func (t *Task[T]) Wait(ctx context.Context) (T, error) {
	select {
	case <-t.done:
		return t.val, t.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Done is closed when the task is done.
func (t *Task[T]) Done() <-chan struct{} { return t.done }

// Cancel cancels the task's context: long-lived work (a loop on events)
// ends. Wait still reports how it ended. Once parent has ended, the
// task's context ends with parent's error (a deadline says more than
// "canceled"), which a context hands its children just after its own
// end: Cancel then leaves it to that.
func (t *Task[T]) Cancel() {
	if t.parent.Err() != nil {
		return
	}
	t.cancel()
}

// PanicError is a panic in a task's work.
type PanicError struct {
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("internal error: %v", e.Value) }
