// Package scripttarget is an iSCSI target for the boot tests that does
// what the test tells it to — ask the initiator to log out, drop a
// connection with a Time2Wait — which neither tgtd nor LIO can be made to
// do from outside (tgt never sends an Async Message; LIO sends one only
// to the other connections of a multi-connection session).
//
// It speaks enough of RFC 7143 for Linux's initiator to run a root file
// system over it: a login without authentication (error recovery level 0,
// one connection per session, no digests, InitialR2T=Yes and no immediate
// data, so all write data is solicited by R2T), SCSI commands on one
// file-backed disk at LUN 1 (LUN 0 answers as "no device here", as LIO's
// virtual LUN 0 does), NOP-Out/NOP-In, task management (answered as done),
// Text (SendTargets) and Logout. See scsi.go for the command set.
//
// The wire format is pkg/iscsi's PDU codec. Every connection and every
// control is logged as an Event the test can wait for.
package scripttarget

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
)

// Config describes the target.
type Config struct {
	// IQN is the target name.
	IQN string
	// Disk is the backing file of the disk at LUN 1 (512-byte blocks; its
	// size is rounded down to a whole block).
	Disk string
	// Logf, when set, receives one line per event.
	Logf func(format string, args ...any)
}

// EventKind names what happened.
type EventKind string

// Event kinds.
const (
	// EventConnect: a TCP connection was accepted.
	EventConnect EventKind = "connect"
	// EventLogin: a login reached full feature phase (Detail says whether
	// it reinstated an older session).
	EventLogin EventKind = "login"
	// EventLoginFailed: a login was refused or broke off.
	EventLoginFailed EventKind = "login-failed"
	// EventAsync: the target sent an Async Message (Detail names it).
	EventAsync EventKind = "async"
	// EventLogout: the initiator sent a Logout Request (answered, then the
	// connection closed).
	EventLogout EventKind = "logout"
	// EventDrop: the target closed a connection on its own.
	EventDrop EventKind = "drop"
	// EventClosed: a connection ended (the initiator closed it, or an
	// error; Detail says which).
	EventClosed EventKind = "closed"
)

// Event is one thing that happened at the target.
type Event struct {
	Kind EventKind
	Time time.Time
	// Conn numbers the target's connections from 1.
	Conn   int
	Remote string
	Detail string
}

func (e Event) String() string {
	return fmt.Sprintf("%s conn %d from %s: %s", e.Kind, e.Conn, e.Remote, e.Detail)
}

// Target is a running scripted target.
type Target struct {
	cfg  Config
	disk *os.File
	// blocks is the disk's size in 512-byte blocks.
	blocks uint64

	mu       sync.Mutex
	events   []Event
	changed  chan struct{} // closed and replaced on every event
	conns    map[int]*conn
	nextConn int
	nextTSIH uint16
	sessions map[string]*conn // by initiator name and ISID: the live connection
	lns      []net.Listener
	closed   bool
	wg       sync.WaitGroup
}

// New opens the disk; Serve then accepts connections.
func New(cfg Config) (*Target, error) {
	if cfg.IQN == "" {
		return nil, errors.New("scripttarget: no target name")
	}
	f, err := os.OpenFile(cfg.Disk, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("scripttarget: disk: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("scripttarget: disk: %w", err)
	}
	if st.Size() < blockSize {
		f.Close()
		return nil, fmt.Errorf("scripttarget: disk %s holds no whole block", cfg.Disk)
	}
	return &Target{
		cfg: cfg, disk: f, blocks: uint64(st.Size()) / blockSize,
		changed: make(chan struct{}), conns: map[int]*conn{}, sessions: map[string]*conn{}, nextTSIH: 1,
	}, nil
}

// Serve accepts connections on ln until Close (it returns at once). A
// target may serve several listeners (portals).
func (t *Target) Serve(ln net.Listener) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		ln.Close()
		return
	}
	t.lns = append(t.lns, ln)
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := t.newConn(nc)
			if c == nil {
				nc.Close()
				return
			}
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				c.serve()
			}()
		}
	}()
}

func (t *Target) newConn(nc net.Conn) *conn {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.nextConn++
	c := &conn{t: t, nc: nc, id: t.nextConn, remote: nc.RemoteAddr().String(), logoutDone: make(chan struct{})}
	t.conns[c.id] = c
	t.mu.Unlock()
	t.record(EventConnect, c, "")
	return c
}

// Close stops accepting, closes every connection and the disk.
func (t *Target) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	for _, ln := range t.lns {
		ln.Close()
	}
	for _, c := range t.conns {
		c.nc.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return t.disk.Close()
}

func (t *Target) record(kind EventKind, c *conn, detail string) Event {
	e := Event{Kind: kind, Time: time.Now(), Detail: detail}
	if c != nil {
		e.Conn, e.Remote = c.id, c.remote
	}
	t.mu.Lock()
	t.events = append(t.events, e)
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	if t.cfg.Logf != nil {
		t.cfg.Logf("scripttarget: %v", e)
	}
	return e
}

// Events returns everything that happened so far, in order.
func (t *Target) Events() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Event(nil), t.events...)
}

// WaitEvent waits for the first event of kind at or after since.
func (t *Target) WaitEvent(ctx context.Context, kind EventKind, since time.Time) (Event, error) {
	for {
		t.mu.Lock()
		for _, e := range t.events {
			if e.Kind == kind && !e.Time.Before(since) {
				t.mu.Unlock()
				return e, nil
			}
		}
		ch := t.changed
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return Event{}, fmt.Errorf("scripttarget: no %s event: %w", kind, ctx.Err())
		case <-ch:
		}
	}
}

// active returns the connection in full feature phase (the newest, if
// several).
func (t *Target) active() (*conn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var best *conn
	for _, c := range t.conns {
		if c.ffp.Load() && (best == nil || c.id > best.id) {
			best = c
		}
	}
	if best == nil {
		return nil, errors.New("scripttarget: no connection in full feature phase")
	}
	return best, nil
}

// RequestLogout sends the live connection an Async Message asking the
// initiator to log out within the given time (AsyncEvent 1, Parameter3 in
// seconds). If no Logout Request arrives in time, the target drops the
// connection, as the RFC lets it. It returns the event of the message.
func (t *Target) RequestLogout(within time.Duration) (Event, error) {
	c, err := t.active()
	if err != nil {
		return Event{}, err
	}
	secs := uint16(within / time.Second)
	if err := c.sendAsync(asyncRequestLogout, 0, 0, secs); err != nil {
		return Event{}, err
	}
	e := t.record(EventAsync, c, fmt.Sprintf("AsyncEvent 1 (logout requested within %ds)", secs))
	go func() {
		select {
		case <-c.logoutDone:
		case <-time.After(within):
			c.drop(fmt.Sprintf("no Logout Request within the %ds asked", secs))
		}
	}()
	return e, nil
}

// DropConnection sends the live connection an Async Message saying the
// target drops it (AsyncEvent 2, Parameter2 Time2Wait and Parameter3
// Time2Retain in seconds) and closes it. The initiator must not reconnect
// before Time2Wait. It returns the event of the drop.
func (t *Target) DropConnection(time2wait, time2retain time.Duration) (Event, error) {
	c, err := t.active()
	if err != nil {
		return Event{}, err
	}
	w, r := uint16(time2wait/time.Second), uint16(time2retain/time.Second)
	if err := c.sendAsync(asyncDroppingConnection, uint16(c.cid), w, r); err != nil {
		return Event{}, err
	}
	t.record(EventAsync, c, fmt.Sprintf("AsyncEvent 2 (dropping the connection, Time2Wait %ds, Time2Retain %ds)", w, r))
	return c.drop("announced by AsyncEvent 2"), nil
}

// session keys a session by initiator name and ISID.
func sessionKey(initiator string, isid iscsi.ISID) string {
	return initiator + "/" + isid.String()
}

// bindSession makes c the connection of its session, returning the
// connection it replaces (session reinstatement, RFC 7143 §6.3.5), and
// the TSIH of the new session.
func (t *Target) bindSession(c *conn, key string) (*conn, uint16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.sessions[key]
	t.sessions[key] = c
	tsih := t.nextTSIH
	if t.nextTSIH++; t.nextTSIH == 0 {
		t.nextTSIH = 1
	}
	return old, tsih
}

func (t *Target) forget(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c.id)
	for k, v := range t.sessions {
		if v == c {
			delete(t.sessions, k)
		}
	}
}
