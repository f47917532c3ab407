//go:build linux

package iscsi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/sysfs"
	"github.com/u-root/iscsinl"
	"golang.org/x/sys/unix"
)

// Commands is the iSCSI netlink command socket of one transport (iscsi_tcp's
// handle): our requests and the kernel's replies, nothing else. It takes
// the place of iscsinl's IscsiIpcConn, whose socket joins the event group:
// there a connection error of any session that arrived while a request
// waited for its reply failed that request (its reply left unread), and
// the kernel's refusals came back as bare numbers or as "interface error".
// Events are read on a socket of their own (the keeper's, the boot's
// watch). Commands is safe for concurrent use: requests are serialised,
// each waits for its reply.
type Commands struct {
	handle uint64

	mu   sync.Mutex
	sock commandSocket
	buf  []byte
}

// commandSocket is the netlink socket under Commands; tests substitute a
// fake kernel.
type commandSocket interface {
	send(b []byte) error
	// recv reads one datagram; a read that times out returns EAGAIN.
	recv(b []byte) (int, error)
	close() error
}

// replyTimeout bounds the wait for the kernel's reply to one request.
const replyTimeout = 10 * time.Second

// TCPTransportHandle reads iscsi_tcp's transport handle under fs.
func TCPTransportHandle(fs sysfs.FS) (uint64, error) {
	s, err := fs.ReadTrim("class/iscsi_transport/tcp/handle")
	if err != nil {
		return 0, fmt.Errorf("iscsi: reading the iscsi_tcp transport handle: %w (is iscsi_tcp loaded?)", err)
	}
	h, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("iscsi: the iscsi_tcp transport handle %q: %w", s, err)
	}
	return h, nil
}

// OpenKernelTransport opens the command socket of iscsi_tcp's transport
// (the module must be loaded). Close it when done.
func OpenKernelTransport() (*Commands, error) {
	h, err := TCPTransportHandle(sysfs.Sys)
	if err != nil {
		return nil, err
	}
	return OpenCommands(h)
}

// OpenCommands opens the command socket of transport handle: bound to no
// multicast group, so that its only messages are the replies.
func OpenCommands(handle uint64) (*Commands, error) {
	s, err := openNetlinkCommands()
	if err != nil {
		return nil, err
	}
	return newCommands(handle, s), nil
}

func newCommands(handle uint64, s commandSocket) *Commands {
	return &Commands{handle: handle, sock: s, buf: make([]byte, 1<<16)}
}

// Handle is the transport handle the commands address.
func (c *Commands) Handle() uint64 { return c.handle }

// Close closes the socket.
func (c *Commands) Close() error { return c.sock.close() }

// KernelError is the kernel's refusal of a command: the negative errno of
// its reply.
type KernelError struct {
	Command string // e.g. "bind connection"
	Errno   syscall.Errno
}

func (e *KernelError) Error() string {
	return fmt.Sprintf("the kernel refused %s: %v", e.Command, e.Errno)
}

func (e *KernelError) Unwrap() error { return e.Errno }

const (
	nlHdrLen = unix.SizeofNlMsghdr

	// ueventUnbindSession is ISCSI_UEVENT_UNBIND_SESSION (UEVENT_BASE +
	// 17), which iscsinl does not define.
	ueventUnbindSession = 27
	// kevent types of a reply: the kernel turns a failed request's reply
	// into an ISCSI_KEVENT_IF_ERROR carrying the errno.
	keventIfError = uint32(iscsinl.ISCSI_KEVENT_IF_ERROR)

	// stopConnTerm is STOP_CONN_TERM: the connection ends for good and
	// the session with it; stopConnRecover keeps the session for a new
	// connection.
	stopConnTerm    = 1
	stopConnRecover = 3
)

// do sends the request ev (with data after it) and reads the kernel's
// reply into ev. A reply is recognised by its message type and the
// request it repeats (the kernel sends the request back with its reply
// union filled in), so a late reply to an earlier request is skipped.
// checkRet: the reply union's first word is a return code.
func (c *Commands) do(command string, ev *UEvent, data []byte, checkRet bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	reqType := ev.Type
	ev.TransportHandle = c.handle
	n := nlHdrLen + UEventLen + len(data)
	msg := make([]byte, n)
	le := binary.LittleEndian
	le.PutUint32(msg[0:], uint32(n))
	le.PutUint16(msg[4:], uint16(reqType))
	le.PutUint16(msg[6:], unix.NLM_F_REQUEST)
	ev.marshal(msg[nlHdrLen:])
	copy(msg[nlHdrLen+UEventLen:], data)
	if err := c.sock.send(msg); err != nil {
		return fmt.Errorf("iscsi: sending %s to the kernel: %w", command, err)
	}
	for {
		m, err := c.sock.recv(c.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return fmt.Errorf("iscsi: no reply from the kernel to %s within %s", command, replyTimeout)
		}
		if err != nil {
			return fmt.Errorf("iscsi: reading the kernel's reply to %s: %w", command, err)
		}
		msgs, err := syscall.ParseNetlinkMessage(c.buf[:m])
		if err != nil {
			continue // not a netlink message: not our reply
		}
		for _, r := range msgs {
			switch {
			case r.Header.Type == unix.NLMSG_ERROR && len(r.Data) >= 4:
				if e := int32(le.Uint32(r.Data)); e != 0 {
					return &KernelError{Command: command, Errno: errnoOf(e)}
				}
			case uint32(r.Header.Type) == reqType && len(r.Data) >= UEventLen:
				rep, _ := ParseUEvent(r.Data) // long enough
				if rep.Req != ev.Req || (rep.Type != reqType && rep.Type != keventIfError) {
					continue // another request's
				}
				*ev = rep
				if e := int32(rep.IfError); e != 0 {
					return &KernelError{Command: command, Errno: errnoOf(e)}
				}
				if rep.Type == keventIfError {
					return &KernelError{Command: command, Errno: syscall.EIO}
				}
				if r := int32(rep.Ret32(0)); checkRet && r != 0 {
					return &KernelError{Command: command, Errno: errnoOf(r)}
				}
				return nil
			}
		}
	}
}

// errnoOf turns the kernel's -errno (or errno) into a syscall.Errno.
func errnoOf(e int32) syscall.Errno {
	if e < 0 {
		e = -e
	}
	return syscall.Errno(e)
}

// CreateSession creates a session (with its SCSI host) whose initial
// CmdSN is 0.
func (c *Commands) CreateSession(cmdsMax, queueDepth uint16) (sid, hostNo uint32, err error) {
	ev := UEvent{Type: uint32(iscsinl.ISCSI_UEVENT_CREATE_SESSION)}
	binary.LittleEndian.PutUint16(ev.Req[4:], cmdsMax)
	binary.LittleEndian.PutUint16(ev.Req[6:], queueDepth)
	if err := c.do("create session", &ev, nil, false); err != nil {
		return 0, 0, err
	}
	return ev.Ret32(0), ev.Ret32(4), nil
}

// DestroySession destroys session sid, which must have no connection.
func (c *Commands) DestroySession(sid uint32) error {
	ev := UEvent{Type: uint32(iscsinl.ISCSI_UEVENT_DESTROY_SESSION)}
	ev.put32(0, sid)
	return c.do("destroy session", &ev, nil, true)
}

// CreateConnection creates a connection of session sid.
func (c *Commands) CreateConnection(sid uint32) (cid uint32, err error) {
	ev := UEvent{Type: uint32(iscsinl.ISCSI_UEVENT_CREATE_CONN)}
	ev.put32(0, sid)
	if err := c.do("create connection", &ev, nil, false); err != nil {
		return 0, err
	}
	return ev.Ret32(4), nil
}

// DestroyConnection destroys a stopped connection.
func (c *Commands) DestroyConnection(sid, cid uint32) error {
	ev := UEvent{Type: uint32(iscsinl.ISCSI_UEVENT_DESTROY_CONN)}
	ev.put32(0, sid)
	ev.put32(4, cid)
	return c.do("destroy connection", &ev, nil, true)
}

// BindConnection gives the kernel the TCP socket fd (ours) of the leading
// connection cid.
func (c *Commands) BindConnection(sid, cid uint32, fd int) error {
	ev := UEvent{Type: uint32(iscsinl.ISCSI_UEVENT_BIND_CONN)}
	ev.put32(0, sid)
	ev.put32(4, cid)
	ev.put64(8, uint64(fd))
	ev.put32(16, 1) // is_leading
	return c.do("bind connection", &ev, nil, true)
}

// SetParam sets one parameter of a bound connection (or its session).
func (c *Commands) SetParam(sid, cid uint32, param iscsinl.IscsiParam, value string) error {
	ev := UEvent{Type: uint32(iscsinl.ISCSI_UEVENT_SET_PARAM)}
	ev.put32(0, sid)
	ev.put32(4, cid)
	ev.put32(8, uint32(param))
	ev.put32(12, uint32(len(value)+1))
	return c.do("set parameter", &ev, append([]byte(value), 0), true)
}

// StartConnection starts a bound connection whose parameters are set.
func (c *Commands) StartConnection(sid, cid uint32) error {
	ev := UEvent{Type: uint32(iscsinl.ISCSI_UEVENT_START_CONN)}
	ev.put32(0, sid)
	ev.put32(4, cid)
	return c.do("start connection", &ev, nil, true)
}

// StopConnection stops a connection for recovery (STOP_CONN_RECOVER):
// the session waits for a new connection.
func (c *Commands) StopConnection(sid, cid uint32) error {
	return c.stop(sid, cid, stopConnRecover)
}

// StopConnectionTerm stops a connection for good (STOP_CONN_TERM): the
// session fails what is still queued instead of waiting for a new
// connection.
func (c *Commands) StopConnectionTerm(sid, cid uint32) error {
	return c.stop(sid, cid, stopConnTerm)
}

func (c *Commands) stop(sid, cid, flag uint32) error {
	ev := UEvent{Type: uint32(iscsinl.ISCSI_UEVENT_STOP_CONN)}
	ev.put32(0, sid)
	ev.put32(4, cid)
	// Req[8:16] is the connection handle, unused by iscsi_tcp.
	ev.put32(16, flag)
	return c.do("stop connection", &ev, nil, true)
}

// UnbindSession removes the session's SCSI target: its disks go (sd
// syncs their write caches first, while the session still works). The
// kernel does it in the background and reports
// ISCSI_KEVENT_UNBIND_SESSION when done.
func (c *Commands) UnbindSession(sid uint32) error {
	ev := UEvent{Type: ueventUnbindSession}
	ev.put32(0, sid)
	return c.do("unbind session", &ev, nil, true)
}

// SendPDU sends a PDU (a Logout, a login's on a re-bound connection) on a
// started connection.
func (c *Commands) SendPDU(sid, cid uint32, pdu iscsinl.PduLike) error {
	ev := UEvent{Type: uint32(iscsinl.ISCSI_UEVENT_SEND_PDU)}
	ev.put32(0, sid)
	ev.put32(4, cid)
	ev.put32(8, pdu.HeaderLen())
	ev.put32(12, pdu.DataLen())
	return c.do("send PDU", &ev, pdu.Serialize(), true)
}

// netlinkCommands is the real command socket.
type netlinkCommands struct{ fd int }

func openNetlinkCommands() (*netlinkCommands, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ISCSI)
	if err != nil {
		return nil, fmt.Errorf("iscsi: iSCSI netlink socket: %w (is scsi_transport_iscsi loaded?)", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("iscsi: binding the iSCSI netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(replyTimeout.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	return &netlinkCommands{fd: fd}, nil
}

func (s *netlinkCommands) send(b []byte) error {
	return unix.Sendto(s.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

func (s *netlinkCommands) recv(b []byte) (int, error) {
	n, _, err := unix.Recvfrom(s.fd, b, 0)
	return n, err
}

func (s *netlinkCommands) close() error { return unix.Close(s.fd) }
