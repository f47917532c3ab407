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

// NetlinkTransport is the subset of *iscsinl.IscsiIpcConn the hand-off uses;
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

var _ NetlinkTransport = (*iscsinl.IscsiIpcConn)(nil)

// OpenKernelTransport opens the iSCSI netlink socket (needs the iscsi_tcp
// module loaded). Close its Conn when done.
func OpenKernelTransport() (*iscsinl.IscsiIpcConn, error) {
	c, err := iscsinl.ConnectNetlink()
	if err != nil {
		return nil, fmt.Errorf("iscsi: kernel hand-off: %w (is iscsi_tcp loaded?)", err)
	}
	return c, nil
}

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
// read from or write to it in between.
func HandOff(t NetlinkTransport, conn net.Conn, s *Session, o KernelOptions) (ks KernelSession, err error) {
	params, err := KernelParams(s, o)
	if err != nil {
		return ks, err
	}
	if s.CmdSN != 0 {
		// iscsinl cannot pass initial_cmdsn; our login always uses 0.
		return ks, fmt.Errorf("iscsi: kernel hand-off: initial CmdSN %d unsupported (must be 0)", s.CmdSN)
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return ks, fmt.Errorf("iscsi: kernel hand-off: connection %T has no file descriptor", conn)
	}
	raw, err := sc.SyscallConn()
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
	cmdsMax, depth := o.CmdsMax, o.QueueDepth
	if cmdsMax == 0 {
		cmdsMax = 128
	}
	if depth == 0 {
		depth = 32
	}
	fail := func(step string, e error) error {
		return fmt.Errorf("iscsi: kernel hand-off of %s %s: %s: %w", s.Portal, s.TargetName, step, e)
	}

	sid, host, err := t.CreateSession(cmdsMax, depth)
	if err != nil {
		return ks, fail("create session", err)
	}
	ks.SID, ks.HostNo = sid, host
	bound := false
	created := false
	defer func() {
		if err == nil {
			return
		}
		var cleanup []error
		if bound {
			cleanup = append(cleanup, t.StopConnection(ks.SID, ks.CID))
		}
		if created {
			cleanup = append(cleanup, t.DestroyConnection(ks.SID, ks.CID))
		}
		cleanup = append(cleanup, t.DestroySession(ks.SID))
		if cerr := errors.Join(cleanup...); cerr != nil {
			err = fmt.Errorf("%w (teardown also failed: %v)", err, cerr)
		}
	}()

	if ks.CID, err = t.CreateConnection(sid); err != nil {
		return ks, fail("create connection", err)
	}
	created = true

	var bindErr error
	if err = raw.Control(func(fd uintptr) { bindErr = t.BindConnection(ks.SID, ks.CID, int(fd)) }); err != nil {
		return ks, fail("bind connection", err)
	}
	if err = bindErr; err != nil {
		return ks, fail("bind connection", err)
	}
	bound = true

	for _, p := range params {
		if perr := t.SetParam(ks.SID, ks.CID, iscsinl.IscsiParam(p.ID), p.Value); perr != nil {
			if p.Optional {
				logf("iscsi: kernel refused optional parameter %s: %v", p.Name, perr)
				continue
			}
			err = perr
			return ks, fail("set parameter "+p.Name, err)
		}
	}
	if err = t.StartConnection(ks.SID, ks.CID); err != nil {
		return ks, fail("start connection", err)
	}
	return ks, nil
}
