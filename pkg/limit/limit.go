// Package limit names the limits a user sets on the boot's waits, as the
// command line writes them ("rd.retry=180", "rd.timeout=60"), on the
// contexts they bound. The error that remains when a wait ends can then
// say which limit ran out, for the user to raise, without its maker
// knowing who set the deadline.
package limit

import (
	"context"
	"errors"
	"time"
)

// key is the context key of the named deadline.
type key struct{}

// named is a deadline and the limit that set it.
type named struct {
	name     string
	deadline time.Time
}

// WithTimeout is context.WithTimeout for the limit the command line
// writes as name: Of(ctx) is name while this deadline is ctx's. A parent
// deadline that comes first stays the effective one, with its own name.
func WithTimeout(parent context.Context, d time.Duration, name string) (context.Context, context.CancelFunc) {
	want := time.Now().Add(d)
	ctx, cancel := context.WithDeadline(parent, want)
	if dl, _ := ctx.Deadline(); !dl.Equal(want) {
		return ctx, cancel
	}
	return context.WithValue(ctx, key{}, named{name: name, deadline: want}), cancel
}

// Of is the name of the limit whose deadline is ctx's; "" when ctx has no
// deadline or an unnamed one comes first.
func Of(ctx context.Context) string {
	dl, ok := ctx.Deadline()
	n, named := ctx.Value(key{}).(named)
	if !ok || !named || !n.deadline.Equal(dl) {
		return ""
	}
	return n.name
}

// Ended is the name of the limit that ended ctx: Of(ctx) once ctx's
// deadline passed (ctx may not say so yet); "" before it, after a
// cancel, or for an unnamed one.
func Ended(ctx context.Context) string {
	if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	if dl, ok := ctx.Deadline(); !ok || time.Now().Before(dl) {
		return ""
	}
	return Of(ctx)
}

// BoundsTheWait is a hint's last words for a wait the limit name ended,
// " <name> bounds the wait"; "" for no name.
func BoundsTheWait(name string) string {
	if name == "" {
		return ""
	}
	return " " + name + " bounds the wait"
}
