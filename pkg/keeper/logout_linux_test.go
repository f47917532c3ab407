package keeper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
)

// fakeEnder records endSession's kernel calls and answers them with
// events, as the kernel would.
type fakeEnder struct {
	calls  []string
	events chan Event
	// What the "kernel" does.
	unbindEvent, logoutResponse, connErrorOnLogout bool
	destroyErr                                     error
}

func (f *fakeEnder) UnbindSession(sid uint32) error {
	f.calls = append(f.calls, fmt.Sprintf("unbind %d", sid))
	if f.unbindEvent {
		f.events <- Event{Type: EventUnbindSession, SID: sid}
	}
	return nil
}

func (f *fakeEnder) SendLogout(sid, cid uint32) error {
	f.calls = append(f.calls, fmt.Sprintf("logout %d:%d", sid, cid))
	// Another session's event and a NOP first: neither is the answer.
	f.events <- Event{Type: EventRecvPDU, SID: sid, PDU: make([]byte, iscsi.BHSLen)}
	switch {
	case f.logoutResponse:
		p := make([]byte, iscsi.BHSLen)
		p[0], p[1], p[2] = byte(iscsi.OpLogoutResponse), 0x80, 0
		f.events <- Event{Type: EventRecvPDU, SID: sid, PDU: p}
	case f.connErrorOnLogout:
		f.events <- Event{Type: EventConnError, SID: sid, CID: cid}
	}
	return nil
}

func (f *fakeEnder) StopConnectionTerm(sid, cid uint32) error {
	f.calls = append(f.calls, fmt.Sprintf("stop-term %d:%d", sid, cid))
	return nil
}

func (f *fakeEnder) DestroyConnection(sid, cid uint32) error {
	f.calls = append(f.calls, fmt.Sprintf("destroy-conn %d:%d", sid, cid))
	return nil
}

func (f *fakeEnder) DestroySession(sid uint32) error {
	f.calls = append(f.calls, fmt.Sprintf("destroy %d", sid))
	return f.destroyErr
}

func TestEndSession(t *testing.T) {
	loggedIn := SessionState{Session: "LOGGED_IN", Conn: "up"}
	all := []string{"unbind 3", "logout 3:0", "stop-term 3:0", "destroy-conn 3:0", "destroy 3"}
	teardown := []string{"stop-term 3:0", "destroy-conn 3:0", "destroy 3"}
	for _, tc := range []struct {
		name     string
		st       SessionState
		stErr    error
		f        fakeEnder
		calls    []string
		unbound  bool
		loggedIn bool
		gone     bool
		errHas   string
	}{
		{name: "logged in", st: loggedIn, f: fakeEnder{unbindEvent: true, logoutResponse: true}, calls: all, unbound: true, loggedIn: true},
		{name: "old kernel without connection state", st: SessionState{Session: "LOGGED_IN"}, f: fakeEnder{unbindEvent: true, logoutResponse: true}, calls: all, unbound: true, loggedIn: true},
		{name: "disks not removed in time", st: loggedIn, f: fakeEnder{logoutResponse: true}, calls: all, loggedIn: true, errHas: "not removed within"},
		{name: "target never answers the logout", st: loggedIn, f: fakeEnder{unbindEvent: true}, calls: all, unbound: true, errHas: "no Logout Response"},
		{name: "connection drops at the logout", st: loggedIn, f: fakeEnder{unbindEvent: true, connErrorOnLogout: true}, calls: all, unbound: true, errHas: "connection failed before the Logout Response"},
		{name: "failed session: no unbind, no logout", st: SessionState{Session: "FAILED", Conn: "failed"}, calls: teardown},
		{name: "stopped connection", st: SessionState{Session: "LOGGED_IN", Conn: "down"}, calls: teardown},
		{name: "gone", stErr: fmt.Errorf("x: %w", fs.ErrNotExist), gone: true},
		{name: "state unreadable", stErr: errors.New("EIO"), calls: teardown, errHas: "EIO"},
		{name: "destroy refused", st: loggedIn, f: fakeEnder{unbindEvent: true, logoutResponse: true, destroyErr: errors.New("EBUSY")}, calls: all, unbound: true, loggedIn: true, errHas: "destroying the session: EBUSY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			f.events = make(chan Event, 16)
			r := endSession(context.Background(), &f, SessionRef{SID: 3, Target: "iqn.x:t"},
				func() (SessionState, error) { return tc.st, tc.stErr }, f.events,
				EndOptions{UnbindTimeout: 50 * time.Millisecond, LogoutTimeout: 50 * time.Millisecond})
			if !slices.Equal(f.calls, tc.calls) {
				t.Errorf("calls %q, want %q", f.calls, tc.calls)
			}
			if r.Unbound != tc.unbound || r.LoggedOut != tc.loggedIn || r.Gone != tc.gone {
				t.Errorf("unbound %v logged out %v gone %v, want %v %v %v", r.Unbound, r.LoggedOut, r.Gone, tc.unbound, tc.loggedIn, tc.gone)
			}
			if tc.errHas == "" && r.Err != nil || tc.errHas != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tc.errHas)) {
				t.Errorf("err %v, want one saying %q", r.Err, tc.errHas)
			}
			if !tc.gone && !r.Destroyed && tc.f.destroyErr == nil {
				t.Error("not destroyed")
			}
			t.Log(r)
		})
	}
}

// TestEventMux: each session gets its own events, of its transport only.
func TestEventMux(t *testing.T) {
	m := newEventMux([]SessionRef{{SID: 1}, {SID: 2}})
	in := make(chan Event)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.run(ctx, in, 7)
	in <- Event{Type: EventUnbindSession, SID: 2, TransportHandle: 7}
	in <- Event{Type: EventUnbindSession, SID: 1, TransportHandle: 8} // another transport
	in <- Event{Type: EventUnbindSession, SID: 9, TransportHandle: 7} // not ours
	in <- Event{Type: EventConnError, SID: 1, TransportHandle: 7}
	if ev := <-m.of(2); ev.Type != EventUnbindSession {
		t.Errorf("session 2 got %+v", ev)
	}
	if ev := <-m.of(1); ev.Type != EventConnError {
		t.Errorf("session 1 got %+v", ev)
	}
	if m.of(9) != nil {
		t.Error("a channel for an unknown session")
	}
}
