package keeper

import (
	"context"
	"fmt"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
)

// Recovered is what Recover did.
type Recovered struct {
	// Session is the session as the recovery left it: a permanent
	// redirect replaces a portal, a retry with digests adds login keys.
	Session Session
	// Portal is the portal the new connection reached.
	Portal   string
	Attempts int
	Took     time.Duration
}

// Recover reconnects one session whose connection failed, with the
// keeper's own recovery (Run's, for one session and once): stop the
// connection for recovery, wait Time2Wait, connect on the capped,
// jittered schedule (kicked by links coming up), log in through the
// kernel reinstating the session, set the parameters, start it. It is for
// a process that owns the session before the keeper does — /init, whose
// session fails between the login and the hand-over to the keeper. It
// returns when the session is back or ctx ends (then with the last
// attempt's error).
func Recover(ctx context.Context, handle uint64, s Session, o Options) (Recovered, error) {
	if err := (State{TransportHandle: handle, Sessions: []Session{s}}).Validate(); err != nil {
		return Recovered{}, err
	}
	// The event socket listens before the connection is stopped, so that
	// no PDU of the login and no error of the new connection is missed.
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	sys, err := openSystem(handle, o, logf)
	if err != nil {
		return Recovered{}, err
	}
	defer sys.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := recoverOne(ctx, handle, s, o, sys.env(ctx, logf))
	err = res.err
	if err != nil && res.last != nil && ctx.Err() != nil {
		// Say why the attempts failed, not only that time ran out.
		err = fmt.Errorf("%d attempt(s), the last: %w", res.attempts, res.last)
	}
	return res.recovered(s), err
}

// recoverOne runs one recovery of s over e: the recoverer of Run's loop,
// fed with s's events.
func recoverOne(ctx context.Context, handle uint64, s Session, o Options, e env) result {
	l := &loop{ctx: ctx, st: State{TransportHandle: handle, Sessions: []Session{s}}, o: o, e: e,
		other: func() bool { return false }}
	l.logf = o.Logf
	if l.logf == nil {
		l.logf = func(string, ...any) {}
	}
	r := &recovery{cancel: func() {}, pdus: make(chan []byte, 8), errs: make(chan struct{}, 1), timer: backoff.New(l.policy(), nil)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-e.events:
				if ev.TransportHandle != handle || ev.SID != s.SID {
					continue
				}
				switch ev.Type {
				case EventRecvPDU:
					select {
					case r.pdus <- ev.PDU:
					default:
					}
				case EventConnError:
					r.noteError()
				}
			case le := <-e.links:
				if le.Up && l.routesVia(s, le) {
					r.timer.Kick()
				}
			}
		}
	}()
	return (&recoverer{l: l, s: s, r: r}).run(ctx, time.Duration(s.DefaultTime2WaitSec)*time.Second)
}

// recovered is the Recovered of s after res.
func (res result) recovered(s Session) Recovered {
	s.Portals, s.Resolved, s.Params = res.portals, res.resolved, res.params
	return Recovered{Session: s, Portal: res.portal, Attempts: res.attempts, Took: res.took}
}
