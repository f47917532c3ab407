package keeper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/sysfs"
)

// Ending the root's sessions at shutdown, as open-iscsi's logout does
// (usr/initiator.c: session_logout_task): unbind the session (the kernel
// removes its disks, and sd syncs their write caches while the session
// still works), send a Logout through the kernel (SEND_PDU, as the keeper
// answers a target's logout request), wait for the Logout Response, then
// stop the connection for good (STOP_CONN_TERM) and destroy it and the
// session. A session whose connection is already down is only stopped
// and destroyed: its queued I/O fails instead of waiting for a recovery
// nobody will make.

// Defaults of EndOptions.
const (
	// defaultUnbindTimeout bounds the removal of a session's disks (the
	// cache sync of each).
	defaultUnbindTimeout = 20 * time.Second
	// defaultEndLogoutTimeout bounds the wait for the Logout Response.
	defaultEndLogoutTimeout = 10 * time.Second
)

// SessionRef names a kernel session: its SID and its connection's CID.
type SessionRef struct {
	SID, CID uint32
	// Target is the target's name, for the log (may be empty).
	Target string
}

// EndOptions tune EndSessions. The zero value is usable.
type EndOptions struct {
	// UnbindTimeout bounds the wait for the kernel to remove a session's
	// disks; 0 means 20 s.
	UnbindTimeout time.Duration
	// LogoutTimeout bounds the wait for a Logout Response; 0 means 10 s.
	LogoutTimeout time.Duration
	// Sysfs is where sysfs is mounted; "" means /sys.
	Sysfs string
}

// EndResult says how one session ended.
type EndResult struct {
	SessionRef
	// Before is the session's state when it was ended.
	Before SessionState
	// Gone: the session did not exist (anymore).
	Gone bool
	// Unbound: its disks were removed while it was logged in.
	Unbound bool
	// LoggedOut: the target answered the Logout; Response is its code
	// (0: closed successfully).
	LoggedOut bool
	Response  uint8
	// Destroyed: the kernel session is gone.
	Destroyed bool
	// Steps are the stages' durations, in order, for the log.
	Steps []EndStep
	// Err joins what went wrong; the stages after a failed one still ran.
	Err error
}

// EndStep is one stage of ending a session and its duration.
type EndStep struct {
	Name string
	Took time.Duration
}

// String is a one-line summary, e.g. "session 1 (iqn…): unbind 0.04s,
// logout 0.01s (response 0), destroy 0.00s".
func (r EndResult) String() string {
	name := fmt.Sprintf("session %d", r.SID)
	if r.Target != "" {
		name += " (" + r.Target + ")"
	}
	if r.Gone {
		return name + ": already gone"
	}
	var parts []string
	for _, s := range r.Steps {
		p := fmt.Sprintf("%s %.2fs", s.Name, s.Took.Seconds())
		if s.Name == "logout" && r.LoggedOut {
			p += fmt.Sprintf(" (response %d)", r.Response)
		}
		parts = append(parts, p)
	}
	out := name + ": " + strings.Join(parts, ", ")
	if r.Err != nil {
		out += "; " + r.Err.Error()
	}
	return out
}

// EndSessions ends sessions of the iSCSI transport handle (iscsi_tcp's,
// /sys/class/iscsi_transport/tcp/handle), all at once, each stage bounded
// by o's timeouts; it returns one result per session, in order. No other
// initiator (a keeper, iscsid) may act on the sessions meanwhile.
func EndSessions(ctx context.Context, handle uint64, sessions []SessionRef, o EndOptions) ([]EndResult, error) {
	if o.Sysfs == "" {
		o.Sysfs = sysfs.Sys.Root
	}
	// Its reader alone closes the socket: a close under a blocked
	// receive would make the reader reopen it.
	ev, err := ListenEvents(nil)
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	cmd, err := iscsi.OpenCommands(handle)
	if err != nil {
		return nil, err
	}
	defer cmd.Close()
	t := teardown{cmd}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mux := newEventMux(sessions)
	go mux.run(ctx, ev.C(), handle)

	results := make([]EndResult, len(sessions))
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The shutdown role is PID 1: a panic here (the target's
			// Logout Response is read) must not stop the machine going
			// down.
			defer func() {
				if r := recover(); r != nil {
					results[i] = EndResult{SessionRef: s, Err: fmt.Errorf("internal error: %v", r)}
				}
			}()
			results[i] = endSession(ctx, t, s, func() (SessionState, error) {
				return ReadSessionState(o.Sysfs, s.SID, s.CID)
			}, mux.of(s.SID), o)
		}()
	}
	wg.Wait()
	return results, nil
}

// teardown is the command socket as endSession uses it (the sessions'
// goroutines share it; it serialises their requests).
type teardown struct{ *iscsi.Commands }

func (t teardown) SendLogout(sid, cid uint32) error {
	return t.SendPDU(sid, cid, logoutPDU())
}

// logoutPDU is the Logout Request sent through the kernel: "close the
// session", its header only (the kernel fills in ITT, CmdSN and
// ExpStatSN).
func logoutPDU() rawPDU {
	req := (&iscsi.LogoutRequest{Reason: iscsi.LogoutCloseSession}).PDU()
	return rawPDU{hdr: req.Header[:]}
}

// ender is what endSession does to the kernel; tests fake it.
type ender interface {
	UnbindSession(sid uint32) error
	SendLogout(sid, cid uint32) error
	StopConnectionTerm(sid, cid uint32) error
	DestroyConnection(sid, cid uint32) error
	DestroySession(sid uint32) error
}

// endSession ends one session; events are the kernel's events for it.
func endSession(ctx context.Context, t ender, s SessionRef, state func() (SessionState, error), events <-chan Event, o EndOptions) EndResult {
	r := EndResult{SessionRef: s}
	unbindWait, logoutWait := o.UnbindTimeout, o.LogoutTimeout
	if unbindWait <= 0 {
		unbindWait = defaultUnbindTimeout
	}
	if logoutWait <= 0 {
		logoutWait = defaultEndLogoutTimeout
	}
	st, err := state()
	if errors.Is(err, fs.ErrNotExist) {
		r.Gone = true
		return r
	}
	r.Before = st
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	step := func(name string, start time.Time) {
		r.Steps = append(r.Steps, EndStep{Name: name, Took: time.Since(start)})
	}
	// wait waits for an event of this session that done accepts; false
	// when d passed (or ctx ended) first, or the connection failed.
	wait := func(d time.Duration, done func(Event) bool) (ok, connFailed bool) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		for {
			select {
			case ev := <-events:
				if done(ev) {
					return true, false
				}
				if ev.Type == EventConnError {
					return false, true
				}
			case <-timer.C:
				return false, false
			case <-ctx.Done():
				return false, false
			}
		}
	}
	if err == nil && st.Session == "LOGGED_IN" && (st.Conn == "" || st.Conn == "up") {
		start := time.Now()
		if err := t.UnbindSession(s.SID); err != nil {
			errs = append(errs, err)
		} else if ok, failed := wait(unbindWait, func(ev Event) bool { return ev.Type == EventUnbindSession }); ok {
			r.Unbound = true
		} else if failed {
			errs = append(errs, errors.New("the connection failed while the disks were removed"))
		} else {
			errs = append(errs, fmt.Errorf("the disks were not removed within %s", unbindWait))
		}
		step("unbind", start)
		start = time.Now()
		if err := t.SendLogout(s.SID, s.CID); err != nil {
			errs = append(errs, fmt.Errorf("sending the Logout: %w", err))
		} else if ok, failed := wait(logoutWait, func(ev Event) bool {
			if ev.Type != EventRecvPDU || len(ev.PDU) < iscsi.BHSLen || iscsi.Opcode(ev.PDU[0]&0x3f) != iscsi.OpLogoutResponse {
				return false
			}
			p := &iscsi.PDU{}
			copy(p.Header[:], ev.PDU)
			if lr, err := iscsi.ParseLogoutResponse(p); err == nil {
				r.Response = lr.Response
			}
			return true
		}); ok {
			r.LoggedOut = true
		} else if failed {
			errs = append(errs, errors.New("the connection failed before the Logout Response"))
		} else {
			errs = append(errs, fmt.Errorf("no Logout Response within %s", logoutWait))
		}
		step("logout", start)
	}
	start := time.Now()
	// Stopping fails what is still queued (nothing, after a logout); the
	// connection may already be stopped.
	stopErr := t.StopConnectionTerm(s.SID, s.CID)
	if err := t.DestroyConnection(s.SID, s.CID); err != nil {
		errs = append(errs, fmt.Errorf("destroying the connection: %w (stopping it: %v)", err, stopErr))
	}
	if err := t.DestroySession(s.SID); err != nil {
		errs = append(errs, fmt.Errorf("destroying the session: %w", err))
	} else {
		r.Destroyed = true
	}
	step("destroy", start)
	r.Err = errors.Join(errs...)
	return r
}

// eventMux hands each session's kernel events to its own channel.
type eventMux struct {
	chans map[uint32]chan Event
}

func newEventMux(sessions []SessionRef) *eventMux {
	m := &eventMux{chans: map[uint32]chan Event{}}
	for _, s := range sessions {
		m.chans[s.SID] = make(chan Event, 16)
	}
	return m
}

// of returns sid's channel (nil, which never delivers, for an unknown
// session).
func (m *eventMux) of(sid uint32) <-chan Event { return m.chans[sid] }

// run delivers events until ctx ends; an event whose session's channel
// is full is dropped (its waiter's timeout bounds the loss).
func (m *eventMux) run(ctx context.Context, events <-chan Event, handle uint64) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if ev.TransportHandle != handle && ev.Type != EventIfError {
				continue
			}
			c := m.chans[ev.SID]
			if c == nil {
				continue
			}
			select {
			case c <- ev:
			default:
			}
		}
	}
}
