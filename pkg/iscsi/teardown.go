//go:build linux

package iscsi

import "github.com/u-root/iscsinl"

// TeardownTransport is what ending a session needs beyond the hand-off's
// calls (open-iscsi's logout: usr/initiator.c session_unbind, then the
// Logout PDU, then session_conn_shutdown with STOP_CONN_TERM); *Commands
// has it.
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

var _ TeardownTransport = (*Commands)(nil)
