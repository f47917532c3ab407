//go:build linux

package iscsi

import (
	"fmt"
	"syscall"
	"unsafe"

	"github.com/u-root/iscsinl"
)

// The kernel calls iscsinl does not make, for ending a session the way
// open-iscsi's logout does (usr/initiator.c: session_unbind, then the
// Logout PDU, then session_conn_shutdown with STOP_CONN_TERM).
const (
	// ueventUnbindSession is ISCSI_UEVENT_UNBIND_SESSION (UEVENT_BASE +
	// 17 in include/scsi/iscsi_if.h).
	ueventUnbindSession = 27
	// stopConnTerm is STOP_CONN_TERM: the connection ends for good and
	// the session with it (STOP_CONN_RECOVER, iscsinl's, keeps it for a
	// new connection).
	stopConnTerm = 1
)

// uevent is struct iscsi_uevent as iscsinl's DoNetlink reads and writes
// it: type, iferror, transport handle, a 24-byte request and a 16-byte
// reply union.
type uevent struct {
	Type            uint32
	IfError         uint32
	TransportHandle uint64
	Req             [24]byte
	Ret             [16]byte
}

// TeardownTransport is what ending a session needs beyond the hand-off's
// calls; *iscsinl.IscsiIpcConn has it through Teardown.
type TeardownTransport interface {
	NetlinkTransport
	SendPDU(sid, cid uint32, pdu iscsinl.PduLike) error
	// UnbindSession removes the session's SCSI target: its disks go
	// (sd syncs their write caches first, while the session still
	// works). The kernel does it in the background and reports
	// ISCSI_KEVENT_UNBIND_SESSION when done.
	UnbindSession(sid uint32) error
	// StopConnectionTerm stops a connection for good (STOP_CONN_TERM):
	// the session fails what is still queued instead of waiting for a
	// new connection.
	StopConnectionTerm(sid, cid uint32) error
}

// Teardown is an iSCSI netlink connection with the calls that end a
// session.
type Teardown struct {
	*iscsinl.IscsiIpcConn
}

var _ TeardownTransport = Teardown{}

// UnbindSession sends ISCSI_UEVENT_UNBIND_SESSION for sid.
func (t Teardown) UnbindSession(sid uint32) error {
	ev := uevent{Type: ueventUnbindSession, TransportHandle: t.TransportHandle}
	le32(ev.Req[0:4], sid)
	if err := t.do(&ev); err != nil {
		return fmt.Errorf("iscsi: unbinding session %d: %w", sid, err)
	}
	return nil
}

// StopConnectionTerm sends ISCSI_UEVENT_STOP_CONN with STOP_CONN_TERM.
func (t Teardown) StopConnectionTerm(sid, cid uint32) error {
	ev := uevent{Type: uint32(iscsinl.ISCSI_UEVENT_STOP_CONN), TransportHandle: t.TransportHandle}
	le32(ev.Req[0:4], sid)
	le32(ev.Req[4:8], cid)
	// Req[8:16] is the connection handle, unused by iscsi_tcp.
	le32(ev.Req[16:20], stopConnTerm)
	if err := t.do(&ev); err != nil {
		return fmt.Errorf("iscsi: stopping connection %d:%d: %w", sid, cid, err)
	}
	return nil
}

// do sends ev and reads the kernel's reply into it; a refusal comes back
// as a negative errno in iferror or the reply's return code.
func (t Teardown) do(ev *uevent) error {
	if err := t.DoNetlink(unsafe.Pointer(ev)); err != nil {
		return err
	}
	if e := int32(ev.IfError); e != 0 {
		return errnoOf(e)
	}
	if r := int32(uint32(ev.Ret[0]) | uint32(ev.Ret[1])<<8 | uint32(ev.Ret[2])<<16 | uint32(ev.Ret[3])<<24); r != 0 {
		return errnoOf(r)
	}
	return nil
}

// errnoOf turns the kernel's -errno (or errno) into a syscall.Errno.
func errnoOf(e int32) error {
	if e < 0 {
		e = -e
	}
	return syscall.Errno(e)
}

func le32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
