package keeper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/devmapper"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/multipath"
	"github.com/netroot/netroot/pkg/prio"
	"github.com/netroot/netroot/pkg/sysfs"
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
	// AttemptTimeout bounds one login, and one connect (at most 3 s: a
	// connect that hangs is overtaken by the next); 0 means 10 s.
	AttemptTimeout time.Duration
	// InitialBackoff and MaxBackoff shape the schedule of connects while a
	// session is down (each step jittered by ±25 %, reset at once when a
	// link or address comes back); 0 (or less) means 250 ms and 1 s.
	InitialBackoff, MaxBackoff time.Duration
	// OtherDaemon reports whether another iSCSI daemon (iscsid) now owns
	// recovery; the keeper then exits instead of acting. nil means
	// IscsidRunning.
	OtherDaemon func() bool
	// OtherDaemonPoll is how often OtherDaemon is asked between events;
	// 0 means 5 s.
	OtherDaemonPoll time.Duration
	// Sysfs and Proc are /sys and /proc opened by the caller (a keeper
	// started after switch_root reaches them by no path); nil opens them
	// by path. Run does not close them.
	Sysfs, Proc *os.File
	// Multipathd reports whether multipathd runs and owns the multipath
	// maps; nil means MultipathdRunning.
	Multipathd func() bool
}

// system is what a keeper (Run) or a one-off recovery (Recover) works
// through: the kernel's iSCSI events and commands, /sys and /proc.
type system struct {
	evs *Events
	cmd *iscsi.Commands
	// sysDir and proc are the keeper's own handles on /sys and /proc;
	// sysfs reads through sysDir.
	sysDir, proc *os.File
	sysfs        sysfs.FS
}

// openSystem opens the event socket (first, so that nothing the
// connection does from now on is missed), the command socket of handle,
// and /sys and /proc — o's when set: a keeper started after switch_root
// reaches them by no path.
func openSystem(handle uint64, o Options, logf func(string, ...any)) (_ *system, err error) {
	s := &system{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.evs, err = ListenEvents(logf); err != nil {
		return nil, err
	}
	if s.cmd, err = iscsi.OpenCommands(handle); err != nil {
		return nil, err
	}
	if s.sysDir, err = dirFrom(o.Sysfs, sysfs.Sys.Root); err != nil {
		return nil, fmt.Errorf("keeper: %w", err)
	}
	s.sysfs = sysfs.At(s.sysDir)
	if s.proc, err = dirFrom(o.Proc, "/proc"); err != nil {
		return nil, fmt.Errorf("keeper: %w", err)
	}
	return s, nil
}

func (s *system) close() {
	if s.proc != nil {
		s.proc.Close()
	}
	if s.sysDir != nil {
		s.sysDir.Close()
	}
	if s.cmd != nil {
		s.cmd.Close()
	}
	if s.evs != nil {
		s.evs.Close()
	}
}

// env is the loop's view of the system; link changes are watched until
// ctx ends.
func (s *system) env(ctx context.Context, logf func(string, ...any)) env {
	links := make(chan LinkEvent, 16)
	go watchLinks(ctx, links, logf)
	return env{
		t:      keeperTransport{s.cmd},
		events: s.evs.C(),
		state: func(sid, cid uint32) (SessionState, error) {
			return readSessionState(s.sysfs.Read, sid, cid)
		},
		links:    links,
		resolve:  resolver(s.proc),
		route:    routeInterface,
		failover: func(name string) *bond.Failover { return sysfsFailover(s.sysfs, name) },
		scan: func(hostNo uint32, lun uint64) error {
			// At the background's priority: the real OS is starting.
			return prio.Run(prio.Background, func() error { return iscsi.ScanWith(s.sysfs.Write, hostNo, lun) })
		},
		kernel: s.cmd,
		disk: func(hostNo uint32, lun uint64) (pathDisk, error) {
			return readPathDisk(s.sysfs, hostNo, lun)
		},
		findSession: func(j Join, taken func(sid uint32) bool) (iscsi.KernelSession, bool) {
			return findSession(s.sysfs, j, taken)
		},
	}
}

// ErrSteppedAside is returned by Run when iscsid took over.
var ErrSteppedAside = errors.New("keeper: iscsid is running; it owns session recovery now")

// IscsidRunning reports whether open-iscsi's iscsid listens on its
// management socket (the abstract unix socket ISCSIADM_ABSTRACT_NAMESPACE,
// which needs no file system).
func IscsidRunning() bool {
	// Non-blocking: an iscsid that listens but does not accept (a full
	// backlog) must not stall the caller's loop; it is running.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: "@ISCSIADM_ABSTRACT_NAMESPACE"})
	return err == nil || errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINPROGRESS)
}

// keeperTransport is the command socket as the recoveries use it (it
// serialises their requests); a recovery re-binds its session, it never
// creates or destroys one. Only the joins make sessions, through env's
// kernel.
type keeperTransport struct{ *iscsi.Commands }

func (keeperTransport) CreateSession(cmdsMax, queueDepth uint16) (uint32, uint32, error) {
	return 0, 0, errors.New("keeper: a recovery never creates a session")
}
func (keeperTransport) DestroySession(sid uint32) error {
	return errors.New("keeper: a recovery never destroys a session")
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

// eventSocket is the iSCSI event socket; it reopens itself when the
// socket broke, so that the keeper never stops listening.
type eventSocket struct {
	fd   int
	logf func(string, ...any)
}

func (s *eventSocket) recv(b []byte) (int, error) {
	n, _, err := unix.Recvfrom(s.fd, b, 0)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.ENOBUFS) {
		if fd, oerr := openEvents(); oerr == nil {
			unix.Close(s.fd)
			s.fd = fd
		} else {
			s.logf("reopening the event socket: %v", oerr)
		}
	}
	return n, err
}

func (s *eventSocket) close() { unix.Close(s.fd) }

// readEvents delivers parsed events until ctx ends; recv reads one
// datagram of the event socket. It never gives up: after an overrun
// (ENOBUFS) or any other read error it reports EventOverrun, since events
// may be lost, and after an unexpected error it waits a little (the
// socket is reopened by recv) before reading again.
func readEvents(ctx context.Context, recv func([]byte) (int, error), out chan<- Event, logf func(string, ...any)) {
	buf := make([]byte, 1<<16)
	send := func(ev Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	pause := backoff.New(backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.25}, nil)
	failures := 0
	for ctx.Err() == nil {
		n, err := recv(buf)
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			logf("event socket overran; checking the sessions in sysfs")
			if !send(Event{Type: EventOverrun}) {
				return
			}
			continue
		default:
			if failures++; failures <= 3 || failures%100 == 0 {
				logf("reading events: %v (%d in a row); still listening", err, failures)
			}
			if _, werr := pause.Wait(ctx); werr != nil {
				return
			}
			if !send(Event{Type: EventOverrun}) {
				return
			}
			continue
		}
		failures = 0
		pause.Reset()
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
			if !send(ev) {
				return
			}
		}
	}
}

// Events is a subscription to the kernel's iSCSI events (ListenEvents).
type Events struct {
	sock   *eventSocket
	c      chan Event
	cancel context.CancelFunc
}

// ListenEvents subscribes to the kernel's iSCSI events (the group iscsid
// listens on; scsi_transport_iscsi must be loaded) and delivers them,
// parsed, on C until Close. Events that may have been lost come as
// EventOverrun. logf receives the reader's trouble; nil discards it.
func ListenEvents(logf func(string, ...any)) (*Events, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	fd, err := openEvents()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Events{sock: &eventSocket{fd: fd, logf: logf}, c: make(chan Event, 64), cancel: cancel}
	go func() {
		readEvents(ctx, e.sock.recv, e.c, logf)
		// Closed by its reader only: a close under a blocked receive
		// would make the reader reopen the socket.
		e.sock.close()
	}()
	return e, nil
}

// C delivers the events.
func (e *Events) C() <-chan Event { return e.c }

// Close ends the subscription at once; the socket is closed once its
// reader notices (within the socket's receive timeout).
func (e *Events) Close() error {
	e.cancel()
	return nil
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
	sys, err := openSystem(st.TransportHandle, o, logf)
	if err != nil {
		return err
	}
	defer sys.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	maps := openMaps(st, func() (multipath.Control, error) { return devmapper.OpenWith(sys.sysfs) }, logf)
	if c, ok := maps.(*devmapper.Control); ok {
		defer c.Close()
	}
	mpathd := o.Multipathd
	if mpathd == nil {
		mpathd = MultipathdRunning
	}
	e := sys.env(ctx, logf)
	e.maps, e.multipathd = maps, mpathd
	return run(ctx, st, o, e)
}
