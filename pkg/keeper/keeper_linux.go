package keeper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/u-root/iscsinl"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Options tune Run. The zero value is usable.
type Options struct {
	// Logf receives one line per event worth an operator's attention; it
	// never receives secrets. nil discards.
	Logf func(format string, args ...any)
	// Ready is called once the event socket listens (the keeper cannot
	// miss a connection error after it).
	Ready func()
	// Dial opens TCP connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// AttemptTimeout bounds one dial + login; 0 means 10 s.
	AttemptTimeout time.Duration
	// InitialBackoff and MaxBackoff shape the wait between recovery
	// rounds; 0 means 1 s and 10 s.
	InitialBackoff, MaxBackoff time.Duration
	// OtherDaemon reports whether another iSCSI daemon (iscsid) now owns
	// recovery; the keeper then exits instead of acting. nil means
	// IscsidRunning.
	OtherDaemon func() bool
	// OtherDaemonPoll is how often OtherDaemon is asked between events;
	// 0 means 5 s.
	OtherDaemonPoll time.Duration
}

// ErrSteppedAside is returned by Run when iscsid took over.
var ErrSteppedAside = errors.New("keeper: iscsid is running; it owns session recovery now")

// IscsidRunning reports whether open-iscsi's iscsid listens on its
// management socket (the abstract unix socket ISCSIADM_ABSTRACT_NAMESPACE,
// which needs no file system).
func IscsidRunning() bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: "@ISCSIADM_ABSTRACT_NAMESPACE"}) == nil
}

// lockedTransport serialises the command socket between recoveries.
type lockedTransport struct {
	mu sync.Mutex
	c  *iscsinl.IscsiIpcConn
}

func (l *lockedTransport) CreateSession(cmdsMax, queueDepth uint16) (uint32, uint32, error) {
	return 0, 0, errors.New("keeper: never creates sessions")
}
func (l *lockedTransport) CreateConnection(sid uint32) (uint32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.CreateConnection(sid)
}
func (l *lockedTransport) BindConnection(sid, cid uint32, fd int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.BindConnection(sid, cid, fd)
}
func (l *lockedTransport) SetParam(sid, cid uint32, p iscsinl.IscsiParam, v string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.SetParam(sid, cid, p, v)
}
func (l *lockedTransport) StartConnection(sid, cid uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.StartConnection(sid, cid)
}
func (l *lockedTransport) StopConnection(sid, cid uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.StopConnection(sid, cid)
}
func (l *lockedTransport) DestroyConnection(sid, cid uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.DestroyConnection(sid, cid)
}
func (l *lockedTransport) DestroySession(sid uint32) error {
	return errors.New("keeper: never destroys sessions")
}
func (l *lockedTransport) SendPDU(sid, cid uint32, pdu iscsinl.PduLike) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.SendPDU(sid, cid, pdu)
}

// openEvents opens a netlink socket subscribed to the iSCSI multicast
// group 1 (where iscsid listens), with a receive timeout so the reader can
// notice cancellation.
func openEvents() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ISCSI)
	if err != nil {
		return -1, fmt.Errorf("keeper: iSCSI netlink socket: %w (is scsi_transport_iscsi loaded?)", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("keeper: subscribing to iSCSI events: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	tv := unix.Timeval{Sec: 1}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return fd, nil
}

// openCommands opens the command socket: not subscribed to any group, so
// its only messages are the kernel's replies.
func openCommands(handle uint64) (*iscsinl.IscsiIpcConn, error) {
	s, err := nl.Subscribe(unix.NETLINK_ISCSI)
	if err != nil {
		return nil, fmt.Errorf("keeper: iSCSI command socket: %w", err)
	}
	s.SetReceiveTimeout(&unix.Timeval{Sec: 10})
	s.SetSendTimeout(&unix.Timeval{Sec: 10})
	return &iscsinl.IscsiIpcConn{Conn: s, TransportHandle: handle}, nil
}

// readEvents delivers parsed events until ctx ends.
func readEvents(ctx context.Context, fd int, out chan<- Event, logf func(string, ...any)) {
	buf := make([]byte, 1<<16)
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.ENOBUFS) {
				logf("event socket overran; some events were lost")
				continue
			}
			logf("reading events: %v", err)
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			logf("bad netlink message: %v", err)
			continue
		}
		for _, m := range msgs {
			ev, err := ParseEvent(m.Data)
			if err != nil {
				logf("%v", err)
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}
}

type recovery struct {
	cancel context.CancelFunc
	pdus   chan []byte
}

type result struct {
	sid      uint32
	portal   string
	attempts int
	took     time.Duration
	err      error
}

// Run keeps st's sessions alive until ctx ends (nil), iscsid takes over
// (ErrSteppedAside) or none of them remains (nil).
func Run(ctx context.Context, st State, o Options) error {
	if err := st.Validate(); err != nil {
		return err
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	other := o.OtherDaemon
	if other == nil {
		other = IscsidRunning
	}
	poll := o.OtherDaemonPoll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	fd, err := openEvents()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	cmd, err := openCommands(st.TransportHandle)
	if err != nil {
		return err
	}
	defer cmd.Conn.Close()
	t := &lockedTransport{c: cmd}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan Event, 64)
	go readEvents(ctx, fd, events, logf)
	if o.Ready != nil {
		o.Ready()
	}

	sessions := map[uint32]Session{}
	for _, s := range st.Sessions {
		sessions[s.SID] = s
	}
	active := map[uint32]*recovery{}
	results := make(chan result)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() {
		for _, r := range active {
			r.cancel()
		}
	}()
	tick := time.NewTicker(poll)
	defer tick.Stop()

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if other() {
				return ErrSteppedAside
			}
		case res := <-results:
			delete(active, res.sid)
			if res.err != nil {
				logf("session %d: recovery stopped: %v", res.sid, res.err)
			} else {
				logf("recovered session %d via %s after %.1fs (%d attempt(s))", res.sid, res.portal, res.took.Seconds(), res.attempts)
			}
		case ev := <-events:
			if ev.TransportHandle != st.TransportHandle && ev.Type != EventIfError {
				continue
			}
			s, ours := sessions[ev.SID]
			switch ev.Type {
			case EventRecvPDU:
				if r := active[ev.SID]; r != nil {
					select {
					case r.pdus <- ev.PDU:
					default:
					}
				}
			case EventConnError:
				if !ours || active[ev.SID] != nil {
					continue
				}
				if other() {
					logf("session %d: connection error %s, but iscsid is running: leaving it to iscsid", ev.SID, ErrorName(ev.Error))
					return ErrSteppedAside
				}
				logf("session %d connection %d failed (%s): recovering %s", ev.SID, ev.CID, ErrorName(ev.Error), s)
				rctx, rcancel := context.WithCancel(ctx)
				r := &recovery{cancel: rcancel, pdus: make(chan []byte, 8)}
				active[ev.SID] = r
				wg.Add(1)
				go func() {
					defer wg.Done()
					res := recoverSession(rctx, t, s, r.pdus, o, logf)
					select {
					case results <- res:
					case <-ctx.Done():
					}
				}()
			case EventDestroySession, EventUnbindSession:
				if !ours {
					continue
				}
				logf("session %d was unbound or destroyed by someone else; no longer keeping it", ev.SID)
				if r := active[ev.SID]; r != nil {
					r.cancel()
				}
				delete(sessions, ev.SID)
				if len(sessions) == 0 {
					return nil
				}
			}
		}
	}
}

// recoverSession reconnects s until it succeeds or ctx ends.
func recoverSession(ctx context.Context, t iscsi.RebindTransport, s Session, pdus chan []byte, o Options, logf func(string, ...any)) result {
	start := time.Now()
	dial := o.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	attemptTimeout := o.AttemptTimeout
	if attemptTimeout <= 0 {
		attemptTimeout = 10 * time.Second
	}
	initial, maxB := o.InitialBackoff, o.MaxBackoff
	if initial <= 0 {
		initial = time.Second
	}
	if maxB <= 0 {
		maxB = 10 * time.Second
	}
	ks := s.KernelSession()
	// Stop the failed connection for recovery: it releases the old socket,
	// fails the in-flight commands back to the SCSI layer for retry and
	// keeps the session (and its disks) blocked, not gone.
	if err := t.StopConnection(ks.SID, ks.CID); err != nil {
		logf("session %d: stopping the failed connection: %v", ks.SID, err)
	}
	attempts := 0
	for round := 1; ; round++ {
		for _, portal := range s.Portals {
			if ctx.Err() != nil {
				return result{sid: s.SID, err: ctx.Err()}
			}
			attempts++
			err := rebindOnce(ctx, t, s, portal, pdus, dial, attemptTimeout)
			if err == nil {
				return result{sid: s.SID, portal: portal, attempts: attempts, took: time.Since(start)}
			}
			if attempts <= 3 || attempts%10 == 0 {
				logf("session %d: attempt %d via %s: %v", s.SID, attempts, portal, err)
			}
		}
		wait := Backoff(round, initial, maxB, defaultJitter())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return result{sid: s.SID, err: ctx.Err()}
		case <-t.C:
		}
	}
}

func rebindOnce(ctx context.Context, t iscsi.RebindTransport, s Session, portal string, pdus chan []byte,
	dial func(ctx context.Context, network, address string) (net.Conn, error), timeout time.Duration) error {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(actx, "tcp", portal)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close() // the kernel holds its own reference once bound
	// Drop PDUs left from an earlier attempt.
	for len(pdus) > 0 {
		<-pdus
	}
	_, err = iscsi.Rebind(actx, t, conn, s.KernelSession(), s.LoginConfig(portal), s.KernelOptions(), pdus)
	return err
}
