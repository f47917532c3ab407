package keeper

import (
	"encoding/binary"
	"fmt"

	"github.com/netroot/netroot/pkg/iscsi"
)

// Kernel event types (enum iscsi_uevent_e in include/scsi/iscsi_if.h).
const (
	EventRecvPDU        = 101 // ISCSI_KEVENT_RECV_PDU
	EventConnError      = 102 // ISCSI_KEVENT_CONN_ERROR
	EventIfError        = 103 // ISCSI_KEVENT_IF_ERROR
	EventDestroySession = 104 // ISCSI_KEVENT_DESTROY_SESSION
	EventUnbindSession  = 105 // ISCSI_KEVENT_UNBIND_SESSION
	EventCreateSession  = 106 // ISCSI_KEVENT_CREATE_SESSION

	// EventOverrun is not the kernel's: the event reader reports with it
	// that events may have been lost (a receive buffer overrun, a read
	// error), so the sessions must be checked in sysfs.
	EventOverrun = 1 << 16
)

// Event is one kernel iSCSI netlink event.
type Event struct {
	Type            uint32
	TransportHandle uint64
	SID, CID        uint32
	// HostNo is the SCSI host of session events.
	HostNo uint32
	// Error is the iscsi_err code of a connection error.
	Error uint32
	// PDU is a received PDU (48-byte header and its data) for RecvPDU.
	PDU []byte
}

// ParseEvent decodes the payload of one netlink message (after the
// nlmsghdr). Events it does not know are returned with only Type set.
func ParseEvent(b []byte) (Event, error) {
	u, err := iscsi.ParseUEvent(b)
	if err != nil {
		return Event{}, fmt.Errorf("keeper: iSCSI event: %w", err)
	}
	le := binary.LittleEndian
	ev := Event{Type: u.Type, TransportHandle: u.TransportHandle}
	r := u.Ret[:]
	switch ev.Type {
	case EventRecvPDU:
		ev.SID, ev.CID = le.Uint32(r[0:4]), le.Uint32(r[4:8])
		pdu := b[iscsi.UEventLen:]
		if len(pdu) < 48 {
			return ev, fmt.Errorf("keeper: RECV_PDU event with a %d-byte PDU", len(pdu))
		}
		dlen := int(pdu[5])<<16 | int(pdu[6])<<8 | int(pdu[7])
		n := 48 + int(pdu[4])*4 + dlen
		if len(pdu) < n {
			return ev, fmt.Errorf("keeper: RECV_PDU event truncated (%d of %d bytes)", len(pdu), n)
		}
		ev.PDU = append([]byte(nil), pdu[:n]...)
	case EventConnError:
		ev.SID, ev.CID, ev.Error = le.Uint32(r[0:4]), le.Uint32(r[4:8]), le.Uint32(r[8:12])
	case EventDestroySession:
		// msg_session_destroyed is {host_no; sid}.
		ev.HostNo, ev.SID = le.Uint32(r[0:4]), le.Uint32(r[4:8])
	case EventUnbindSession, EventCreateSession:
		// msg_unbind_session and msg_create_session_ret are {sid; host_no}.
		ev.SID, ev.HostNo = le.Uint32(r[0:4]), le.Uint32(r[4:8])
	}
	return ev, nil
}

// ErrorName names a kernel iscsi_err code.
func ErrorName(code uint32) string {
	names := map[uint32]string{
		1000: "ISCSI_OK", 1001: "DATASN", 1002: "DATA_OFFSET", 1003: "MAX_CMDSN", 1004: "EXP_CMDSN",
		1005: "BAD_OPCODE", 1006: "DATALEN", 1007: "AHSLEN", 1008: "PROTO", 1009: "LUN", 1010: "BAD_ITT",
		1011: "CONN_FAILED", 1012: "R2TSN", 1013: "SESSION_FAILED", 1014: "HDR_DGST", 1015: "DATA_DGST",
		1016: "PARAM_NOT_FOUND", 1017: "NO_SCSI_CMD", 1018: "INVALID_HOST", 1019: "XMIT_FAILED",
		1020: "TCP_CONN_CLOSE", 1021: "SCSI_EH_SESSION_RST", 1022: "NOP_TIMEDOUT",
	}
	if n, ok := names[code]; ok {
		return n
	}
	return fmt.Sprint(code)
}
