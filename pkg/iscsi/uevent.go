package iscsi

import (
	"encoding/binary"
	"fmt"
)

// UEvent is struct iscsi_uevent (include/uapi/scsi/iscsi_if.h), the
// payload of every iSCSI netlink message: a request to the kernel, its
// reply (the request sent back with the reply union filled in) and the
// kernel's events. The netlink ABI is host order; netroot targets
// little-endian machines.
type UEvent struct {
	Type            uint32
	IfError         uint32
	TransportHandle uint64
	Req             [24]byte // the request union
	Ret             [16]byte // the reply and event union
}

// UEventLen is sizeof(struct iscsi_uevent); an event's data (a received
// PDU) follows it.
const UEventLen = 56

// ParseUEvent decodes the struct at the start of b.
func ParseUEvent(b []byte) (UEvent, error) {
	var ev UEvent
	if len(b) < UEventLen {
		return ev, fmt.Errorf("iscsi: netlink message of %d bytes, want at least %d", len(b), UEventLen)
	}
	le := binary.LittleEndian
	ev.Type = le.Uint32(b[0:])
	ev.IfError = le.Uint32(b[4:])
	ev.TransportHandle = le.Uint64(b[8:])
	copy(ev.Req[:], b[16:40])
	copy(ev.Ret[:], b[40:56])
	return ev, nil
}

// Ret32 is the reply union's 32-bit word at byte offset off.
func (ev *UEvent) Ret32(off int) uint32 { return binary.LittleEndian.Uint32(ev.Ret[off:]) }

func (ev *UEvent) put32(off int, v uint32) { binary.LittleEndian.PutUint32(ev.Req[off:], v) }
func (ev *UEvent) put64(off int, v uint64) { binary.LittleEndian.PutUint64(ev.Req[off:], v) }

func (ev *UEvent) marshal(b []byte) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], ev.Type)
	le.PutUint32(b[4:], ev.IfError)
	le.PutUint64(b[8:], ev.TransportHandle)
	copy(b[16:40], ev.Req[:])
	copy(b[40:56], ev.Ret[:])
}
