//go:build linux

package iscsi

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/u-root/iscsinl"
)

// NetlinkTransport is the kernel commands the hand-off uses (*Commands);
// tests substitute a fake.
type NetlinkTransport interface {
	CreateSession(cmdsMax, queueDepth uint16) (sid, hostNo uint32, err error)
	CreateConnection(sid uint32) (cid uint32, err error)
	BindConnection(sid, cid uint32, fd int) error
	SetParam(sid, cid uint32, param iscsinl.IscsiParam, value string) error
	StartConnection(sid, cid uint32) error
	StopConnection(sid, cid uint32) error
	DestroyConnection(sid, cid uint32) error
	DestroySession(sid uint32) error
}

var _ NetlinkTransport = (*Commands)(nil)

// KernelSession identifies the kernel objects created by HandOff.
type KernelSession struct {
	SID    uint32 // iSCSI session id (/sys/class/iscsi_session/session<SID>)
	CID    uint32 // connection id
	HostNo uint32 // SCSI host number (/sys/class/scsi_host/host<HostNo>)
}

// HandOff gives a logged-in TCP connection to the kernel's iscsi_tcp driver:
// create session, create connection, bind the socket, set every negotiated
// parameter, start the connection. On failure it tears down whatever it
// created and names the failed step. conn must be a *net.TCPConn (or
// another syscall.Conn); the kernel takes its own reference to the socket,
// so the caller should Close conn after a successful hand-off and must not
// read from or write to it in between. It is PrepareSession and Start in
// one.
func HandOff(t NetlinkTransport, conn net.Conn, s *Session, o KernelOptions) (ks KernelSession, err error) {
	if _, err := handOffChecks(conn, s, o); err != nil {
		return ks, err
	}
	p, err := PrepareSession(t, s.Portal, s.TargetName, o)
	if err != nil {
		return ks, err
	}
	return p.Start(conn, s, o)
}

// handOffChecks validates what Start needs before anything is created:
// parameters the kernel can take, an initial CmdSN of 0, a socket.
func handOffChecks(conn net.Conn, s *Session, o KernelOptions) ([]KernelParam, error) {
	params, err := KernelParams(s, o)
	if err != nil {
		return nil, err
	}
	if s.CmdSN != 0 {
		// iscsinl cannot pass initial_cmdsn; our login always uses 0.
		return nil, fmt.Errorf("iscsi: kernel hand-off: initial CmdSN %d unsupported (must be 0)", s.CmdSN)
	}
	if _, ok := conn.(syscall.Conn); !ok {
		return nil, fmt.Errorf("iscsi: kernel hand-off: connection %T has no file descriptor", conn)
	}
	return params, nil
}

// PreparedSession is a kernel session and connection created ahead of the
// login whose socket they will take (PrepareSession). Call Start or
// Destroy exactly once.
type PreparedSession struct {
	t  NetlinkTransport
	ks KernelSession
}

// PrepareSession creates the kernel's session (with its SCSI host) and
// connection for a login to portal and target that is still to come, so
// that this kernel work — tens of milliseconds, more under emulation —
// overlaps with the login's TCP connect and PDU exchange instead of
// following them. o's CmdsMax and QueueDepth size the session. On failure
// nothing is left behind.
func PrepareSession(t NetlinkTransport, portal, target string, o KernelOptions) (*PreparedSession, error) {
	cmdsMax, depth := o.CmdsMax, o.QueueDepth
	if cmdsMax == 0 {
		cmdsMax = 128
	}
	if depth == 0 {
		depth = 32
	}
	fail := func(step string, e error) error {
		return &HandOffError{Portal: portal, Target: target, Step: step, Err: e}
	}
	sid, host, err := t.CreateSession(cmdsMax, depth)
	if err != nil {
		return nil, fail("create session", err)
	}
	p := &PreparedSession{t: t, ks: KernelSession{SID: sid, HostNo: host}}
	if p.ks.CID, err = t.CreateConnection(sid); err != nil {
		err = fail("create connection", err)
		if derr := t.DestroySession(sid); derr != nil {
			err = fmt.Errorf("%w (teardown also failed: %v)", err, derr)
		}
		return nil, err
	}
	return p, nil
}

// HandOffError is a failed step of the kernel hand-off of a login.
type HandOffError struct {
	Portal, Target, Step string
	// Bound: the kernel had taken the logged-in socket when the step
	// failed. A connection the target drops right after the login fails
	// the steps from there on; a new login may then succeed.
	Bound bool
	Err   error
}

func (e *HandOffError) Error() string {
	cause := e.Err.Error()
	if ke, ok := e.Err.(*KernelError); ok {
		cause = "refused by the kernel: " + ke.Errno.Error() // the step names the command
	}
	s := fmt.Sprintf("iscsi: kernel hand-off of %s %s: %s: %s", e.Portal, e.Target, e.Step, cause)
	if e.Lost() {
		s += " (the connection was lost as the kernel took it over)"
	}
	return s
}

// Lost reports whether the step failed because the connection had
// failed after the kernel took it: the kernel then refuses the steps
// with ENOTCONN.
func (e *HandOffError) Lost() bool { return e.Bound && errors.Is(e.Err, syscall.ENOTCONN) }

func (e *HandOffError) Unwrap() error { return e.Err }

// Destroy tears down a prepared session that will not be started (its
// login failed).
func (p *PreparedSession) Destroy() error {
	return errors.Join(p.t.DestroyConnection(p.ks.SID, p.ks.CID), p.t.DestroySession(p.ks.SID))
}

// Start binds the logged-in connection conn to the prepared session, sets
// every parameter s negotiated and starts the connection (see HandOff for
// conn). On failure it tears down the connection and the session, and
// names the failed step.
func (p *PreparedSession) Start(conn net.Conn, s *Session, o KernelOptions) (ks KernelSession, err error) {
	t := p.t
	ks = p.ks
	bound := false
	defer func() {
		if err == nil {
			return
		}
		var stopErr error
		if bound {
			stopErr = t.StopConnection(ks.SID, ks.CID)
		}
		if cerr := errors.Join(stopErr, p.Destroy()); cerr != nil {
			err = fmt.Errorf("%w (teardown also failed: %v)", err, cerr)
		}
	}()
	params, err := handOffChecks(conn, s, o)
	if err != nil {
		return ks, err
	}
	raw, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		return ks, fmt.Errorf("iscsi: kernel hand-off: get socket: %w", err)
	}
	// Clear the login deadlines; they mean nothing to the kernel but would
	// fire on our file if it is ever read again.
	conn.SetDeadline(time.Time{})

	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	fail := func(step string, e error) error {
		return &HandOffError{Portal: s.Portal, Target: s.TargetName, Step: step, Bound: bound, Err: e}
	}
	var bindErr error
	if err = raw.Control(func(fd uintptr) { bindErr = t.BindConnection(ks.SID, ks.CID, int(fd)) }); err != nil {
		return ks, fail("bind connection", err)
	}
	if err = bindErr; err != nil {
		return ks, fail("bind connection", err)
	}
	bound = true

	for _, kp := range params {
		if perr := t.SetParam(ks.SID, ks.CID, iscsinl.IscsiParam(kp.ID), kp.Value); perr != nil {
			if kp.Optional {
				logf("iscsi: kernel refused optional parameter %s: %v", kp.Name, perr)
				continue
			}
			err = perr
			return ks, fail("set parameter "+kp.Name, err)
		}
	}
	if err = t.StartConnection(ks.SID, ks.CID); err != nil {
		return ks, fail("start connection", err)
	}
	return ks, nil
}
