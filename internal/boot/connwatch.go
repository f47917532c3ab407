package boot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/limit"
)

// connWatch watches the connections of the boot's iSCSI sessions from
// their start until the keeper takes them over (or until switch_root,
// without a keeper). A connection that fails in between — the target
// drops it, restarts, a path breaks — would leave the disk's scan, the
// root's search or the mount waiting on I/O that cannot complete until
// the replacement timeout, and nothing would say why. The kernel reports
// the failure (ISCSI_KEVENT_CONN_ERROR on the iSCSI netlink socket); the
// watch then logs the session in again with the keeper's recovery
// (keeper.Recover), within rd.retry, and if that does not succeed it ends
// the boot's waits with an error naming the connection's failure.
//
// A nil *connWatch watches nothing: its waits are plain calls.
type connWatch struct {
	b     *Boot
	is    ISCSI
	retry time.Duration
	// retryLimit is rd.retry as the command line writes it.
	retryLimit string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the recoveries

	mu       sync.Mutex
	events   ConnEvents
	handle   uint64
	sessions map[uint32]*watched
	// early are the errors of sessions not yet added (the connection
	// failed between its start and add).
	early   map[uint32]keeper.Event
	lost    chan struct{} // closed when a session is lost for good
	lostErr *connLostError
	done    bool
	// running counts the recoveries; idle is closed when it drops to 0.
	running int
	idle    chan struct{}
}

// watched is one session of the watch.
type watched struct {
	s          keeper.Session
	recovering bool
	// failures counts the connection's failures; last names the latest.
	failures int
	last     string
	lost     bool
	// edits are the changes made to the session after add (its paths,
	// bond, multipath map), applied again to a recovery's result.
	edits []func(*keeper.Session)
	// back is closed when a recovery next logs the session in again
	// (nextRecovery); nil until asked for.
	back chan struct{}
}

// newConnWatch returns the watch of a boot whose waits rd.retry bounds;
// it watches once open has subscribed to the kernel's events.
func newConnWatch(ctx context.Context, b *Boot, bt config.Boot) *connWatch {
	w := &connWatch{b: b, retry: bt.Retry, retryLimit: bt.RetryLimit(), sessions: map[uint32]*watched{}, early: map[uint32]keeper.Event{}, lost: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(ctx)
	return w
}

// open subscribes to the kernel's iSCSI events of the transport handle;
// it must precede the start of the sessions' connections, so that no
// error is missed. Without the subscription the boot goes on unwatched.
func (w *connWatch) open(is ISCSI, handle uint64) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.events != nil || w.done {
		return
	}
	ev, err := is.WatchConnections()
	if err != nil {
		w.b.log.Warnf("login: cannot watch the iSCSI connections until the keeper runs: %v", err)
		return
	}
	w.is, w.events, w.handle = is, ev, handle
	go w.read(ev)
}

// add watches s, whose connection has started.
func (w *connWatch) add(s keeper.Session) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.events == nil {
		return
	}
	ws := &watched{s: s}
	w.sessions[s.SID] = ws
	if ev, ok := w.early[s.SID]; ok {
		delete(w.early, s.SID)
		w.failedLocked(ws, ev)
	}
}

// update changes the watched session sid as edit says (and again after
// any recovery), so a recovery and the hand-over see what the steps after
// the login learnt about it.
func (w *connWatch) update(sid uint32, edit func(*keeper.Session)) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ws := w.sessions[sid]; ws != nil {
		edit(&ws.s)
		ws.edits = append(ws.edits, edit)
	}
}

// read handles the kernel's events until the watch ends.
func (w *connWatch) read(events ConnEvents) {
	for {
		ev, err := events.Next(w.ctx)
		if err != nil {
			return
		}
		switch {
		case ev.Type == keeper.EventOverrun:
			// Errors may have been lost: sysfs has the states.
			w.mu.Lock()
			for _, ws := range w.sessions {
				if st, err := w.is.SessionState(ws.s.SID, ws.s.CID); err == nil && st.Failed() && !ws.recovering {
					w.recoverLocked(ws, "sysfs shows it "+st.String()+" after events were lost")
				}
			}
			w.mu.Unlock()
		case ev.Type == keeper.EventConnError && ev.TransportHandle == w.handle:
			w.mu.Lock()
			if ws := w.sessions[ev.SID]; ws != nil {
				w.failedLocked(ws, ev)
			} else if !w.done {
				w.early[ev.SID] = ev
			}
			w.mu.Unlock()
		}
	}
}

// failedLocked acts on a connection error of ws (w.mu held).
func (w *connWatch) failedLocked(ws *watched, ev keeper.Event) {
	if w.done || ws.recovering {
		return // a recovery handles the errors of its own attempts
	}
	// An error of a connection a recovery has replaced arrives late:
	// sysfs tells a stale one from a new failure.
	if st, err := w.is.SessionState(ws.s.SID, ws.s.CID); err == nil && !st.Failed() && ws.failures > 0 {
		w.b.log.Debugf("login: session %d: late error %s of a replaced connection; %s", ws.s.SID, keeper.ErrorName(ev.Error), st)
		return
	}
	w.recoverLocked(ws, fmt.Sprintf("connection %d failed (%s)", ev.CID, keeper.ErrorName(ev.Error)))
}

// recoverLocked logs ws in again in the background, within rd.retry
// (w.mu held).
func (w *connWatch) recoverLocked(ws *watched, why string) {
	if w.done || ws.recovering {
		return
	}
	ws.recovering = true
	ws.failures++
	ws.last = why
	if w.running == 0 {
		w.idle = make(chan struct{})
	}
	w.running++
	s := ws.s
	w.b.log.Printf("login: session %d (%s): %s before the keeper took it over; logging in again (within %s)",
		s.SID, describeSession(s), why, w.retryLimit)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		ctx, cancel := limit.WithTimeout(w.ctx, w.retry, w.retryLimit)
		defer cancel()
		// A task, so a panic in the login (it reads the target's
		// answers) loses the session instead of PID 1.
		r, err := task.Go(ctx, func(ctx context.Context) (keeper.Recovered, error) {
			return w.is.Recover(ctx, w.handle, s, func(format string, args ...any) {
				w.b.log.Printf("login: "+format, args...)
			})
		}).Wait(context.Background())
		err = w.b.bug(err)
		w.mu.Lock()
		defer w.mu.Unlock()
		ws.recovering = false
		defer func() {
			// After a new recovery the last one started, if any.
			if w.running--; w.running == 0 {
				close(w.idle)
			}
		}()
		if err != nil {
			ws.lost = true
			if w.lostErr == nil {
				w.lostErr = &connLostError{s: s, why: why, retry: w.retryLimit, err: unembedHint(err)}
				close(w.lost)
			}
			return
		}
		ws.s = r.Session
		for _, edit := range ws.edits {
			edit(&ws.s)
		}
		w.b.log.Printf("login: session %d is back via %s after %.1fs (%d attempt(s))", s.SID, r.Portal, r.Took.Seconds(), r.Attempts)
		if ws.back != nil {
			close(ws.back)
			ws.back = nil
		}
		// An error between the recovery's end and now was left to it:
		// sysfs says whether the connection still stands.
		if st, err := w.is.SessionState(s.SID, s.CID); err == nil && st.Failed() {
			w.recoverLocked(ws, "the connection failed again right after the recovery ("+st.String()+")")
		}
	}()
}

// nextRecovery returns a channel closed when a recovery next logs session
// sid in again; nil (never closed) when the session is not watched.
func (w *connWatch) nextRecovery(sid uint32) <-chan struct{} {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := w.sessions[sid]
	if ws == nil {
		return nil
	}
	if ws.back == nil {
		ws.back = make(chan struct{})
	}
	return ws.back
}

// handOver ends the watch for the keeper's start: it waits for the
// recoveries running (a session must not be recovered by both at once)
// and returns sessions as the recoveries left them (the portals after a
// permanent redirect, the login keys after a retry with digests).
func (w *connWatch) handOver(sessions []keeper.Session) []keeper.Session {
	if w == nil {
		return slices.Clone(sessions)
	}
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(sessions)
	for i, s := range out {
		if ws := w.sessions[s.SID]; ws != nil {
			out[i] = ws.s
		}
	}
	return out
}

// stop ends the watch once its recoveries are done; it is idempotent.
func (w *connWatch) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.done = true
	w.mu.Unlock()
	w.wg.Wait()
	w.cancel()
	w.mu.Lock()
	if w.events != nil {
		w.events.Close()
	}
	w.mu.Unlock()
}

// failures describes the connection failures seen, "" when none.
func (w *connWatch) failures() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, ws := range w.sessions {
		if ws.failures > 0 {
			state := "logged in again"
			switch {
			case ws.recovering:
				state = "logging in again"
			case ws.lost:
				state = "not logged in again"
			}
			out = append(out, fmt.Sprintf("session %d's connection failed %d time(s), last: %s; %s", ws.s.SID, ws.failures, ws.last, state))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// guarded runs fn — a wait, or a call that may block on the sessions'
// I/O — and returns its result, or the lost session's error as soon as a
// session is lost for good (fn may then still be blocked in the kernel;
// it is left behind). An error of fn says which connection failures it
// saw meanwhile.
func guarded[T any](w *connWatch, ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	if w == nil {
		return fn(ctx)
	}
	// A task, so a panic in fn (the disks' probes read what the target
	// sends) is fn's error, not the end of PID 1.
	t := task.Go(ctx, fn)
	defer t.Cancel()
	var zero T
	select {
	case <-t.Done():
		v, err := t.Wait(context.Background())
		if err == nil {
			return v, nil
		}
		err = w.b.bug(err)
		// fn gave up (its deadline is rd.retry's too) while a session
		// was being logged in again: its outcome is the better reason.
		<-w.settled()
		if err := w.lostError(); err != nil {
			return zero, err
		}
		if f := w.failures(); f != "" {
			err = fmt.Errorf("%w (meanwhile %s)", err, f)
		}
		return v, err
	case <-w.lost:
		return zero, w.lostError()
	}
}

// settled is closed when no recovery runs.
func (w *connWatch) settled() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return w.idle
}

// lostError is the first session lost for good, or nil.
func (w *connWatch) lostError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lostErr == nil {
		return nil
	}
	return w.lostErr
}

// describeSession names a session's target and portals.
func describeSession(s keeper.Session) string {
	return s.TargetName + " at " + strings.Join(s.Portals, ",")
}

// connLostError is a session whose connection failed after the login and
// was not logged in again within rd.retry.
type connLostError struct {
	s     keeper.Session
	why   string
	retry string // rd.retry as the command line writes it
	err   error  // the last attempt's, its hint apart
}

func (e *connLostError) Error() string {
	return fmt.Sprintf("session %d (%s): %s after the login, and logging in again did not succeed within %s: %v",
		e.s.SID, describeSession(e.s), e.why, e.retry, e.err)
}

func (e *connLostError) Unwrap() error { return e.err }

// Hint says what to check: what the target's answer to the last login
// says (with rd.retry, should more time lift it), else the target; unless
// the re-login panicked.
func (e *connLostError) Hint() string {
	if _, ok := errors.AsType[*task.PanicError](e.err); ok {
		return bugHint
	}
	if le, ok := errors.AsType[*iscsi.LoginError](e.err); ok && le.StatusClass != 0 && le.Hint != "" {
		if le.Temporary() {
			return le.Hint + "; raise " + e.retry + " to wait longer"
		}
		return le.Hint
	}
	return "the target dropped the connection or went away: its log says why (LIO: the kernel log; tgt: tgtd's output); check that it is up and reachable at " +
		strings.Join(e.s.Portals, ",") + " (raise " + e.retry + " to wait longer)"
}

// closed reports whether ch is closed (a nil ch never is).
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
