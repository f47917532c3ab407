package devmapper

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Layout of struct dm_ioctl and struct dm_target_spec
// (<linux/dm-ioctl.h>), the same on every architecture.
const (
	headerSize     = 312 // sizeof(struct dm_ioctl)
	targetSpecSize = 40  // sizeof(struct dm_target_spec)
	nameLen        = 128 // DM_NAME_LEN, NUL included
	uuidLen        = 129 // DM_UUID_LEN, NUL included
	maxTypeName    = 16  // DM_MAX_TYPE_NAME, NUL included

	offName = 48
	offUUID = offName + nameLen
)

// Flags of the dm_ioctl header (DM_*_FLAG).
const (
	FlagReadOnly       = 1 << 0
	FlagSuspend        = 1 << 1
	FlagPersistentDev  = 1 << 3
	FlagStatusTable    = 1 << 4
	FlagActivePresent  = 1 << 5
	FlagInactive       = 1 << 6
	FlagBufferFull     = 1 << 8
	FlagSkipLockfs     = 1 << 10
	FlagNoFlush        = 1 << 11
	FlagUeventDone     = 1 << 13
	FlagDataOut        = 1 << 16
	FlagDeferredRemove = 1 << 17
)

// interfaceVersion is the ioctl interface version we ask for: 4.0.0 is
// every kernel since 2.6; the kernel answers with its own.
var interfaceVersion = [3]uint32{4, 0, 0}

// header is struct dm_ioctl.
type header struct {
	Version     [3]uint32
	DataSize    uint32
	DataStart   uint32
	TargetCount uint32
	OpenCount   int32
	Flags       uint32
	EventNr     uint32
	Dev         uint64
	Name        string
	UUID        string
}

// Target is one line of a device-mapper table: Length sectors from Start
// are mapped by target Type ("multipath", "linear") with Params. In a
// status answer Params is the target's status line instead.
type Target struct {
	Start, Length uint64
	Type          string
	Params        string
}

// String formats t as dmsetup table prints it.
func (t Target) String() string {
	return fmt.Sprintf("%d %d %s %s", t.Start, t.Length, t.Type, t.Params)
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty device name")
	case len(name) >= nameLen:
		return fmt.Errorf("device name of %d bytes (the kernel takes %d)", len(name), nameLen-1)
	case name == "." || name == ".." || strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("device name %q has a '/' or NUL or is . or ..", name)
	}
	return nil
}

func checkUUID(uuid string) error {
	if len(uuid) >= uuidLen || strings.ContainsRune(uuid, 0) {
		return fmt.Errorf("uuid of %d bytes or with a NUL (the kernel takes %d)", len(uuid), uuidLen-1)
	}
	return nil
}

// marshal writes h at the start of b, which is h.DataSize bytes long.
func (h *header) marshal(b []byte) {
	le := binary.NativeEndian
	for i, v := range h.Version {
		le.PutUint32(b[4*i:], v)
	}
	le.PutUint32(b[12:], h.DataSize)
	le.PutUint32(b[16:], h.DataStart)
	le.PutUint32(b[20:], h.TargetCount)
	le.PutUint32(b[24:], uint32(h.OpenCount))
	le.PutUint32(b[28:], h.Flags)
	le.PutUint32(b[32:], h.EventNr)
	le.PutUint64(b[40:], h.Dev)
	copy(b[offName:offName+nameLen-1], h.Name)
	copy(b[offUUID:offUUID+uuidLen-1], h.UUID)
}

// parseHeader reads the header the kernel wrote back.
func parseHeader(b []byte) (header, error) {
	if len(b) < headerSize {
		return header{}, fmt.Errorf("dm ioctl answer of %d bytes, want %d", len(b), headerSize)
	}
	le := binary.NativeEndian
	h := header{
		DataSize:    le.Uint32(b[12:]),
		DataStart:   le.Uint32(b[16:]),
		TargetCount: le.Uint32(b[20:]),
		OpenCount:   int32(le.Uint32(b[24:])),
		Flags:       le.Uint32(b[28:]),
		EventNr:     le.Uint32(b[32:]),
		Dev:         le.Uint64(b[40:]),
		Name:        cString(b[offName : offName+nameLen]),
		UUID:        cString(b[offUUID : offUUID+uuidLen]),
	}
	for i := range h.Version {
		h.Version[i] = le.Uint32(b[4*i:])
	}
	return h, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func align8(n int) int { return (n + 7) &^ 7 }

// request builds an ioctl buffer: h (Version, DataSize and DataStart
// filled in here) with payload after it, and at least room bytes in all
// for the answer.
func request(h header, payload []byte, room int) []byte {
	size := max(headerSize+len(payload), room)
	b := make([]byte, size)
	h.Version, h.DataSize, h.DataStart = interfaceVersion, uint32(size), headerSize
	h.marshal(b)
	copy(b[headerSize:], payload)
	return b
}

// encodeTargets encodes a table for DM_TABLE_LOAD: per target a
// dm_target_spec whose next is the distance to the following spec, then
// its parameters, NUL-terminated and padded to 8 bytes.
func encodeTargets(targets []Target) ([]byte, error) {
	var b []byte
	for i, t := range targets {
		if t.Type == "" || len(t.Type) >= maxTypeName || strings.ContainsRune(t.Type, 0) {
			return nil, fmt.Errorf("target %d: bad type %q", i, t.Type)
		}
		if strings.ContainsRune(t.Params, 0) {
			return nil, fmt.Errorf("target %d: parameters contain a NUL", i)
		}
		if t.Length == 0 {
			return nil, fmt.Errorf("target %d: zero length", i)
		}
		size := align8(targetSpecSize + len(t.Params) + 1)
		spec := make([]byte, size)
		le := binary.NativeEndian
		le.PutUint64(spec[0:], t.Start)
		le.PutUint64(spec[8:], t.Length)
		le.PutUint32(spec[20:], uint32(size))
		copy(spec[24:24+maxTypeName-1], t.Type)
		copy(spec[targetSpecSize:], t.Params)
		b = append(b, spec...)
	}
	return b, nil
}

// decodeTargets reads the targets DM_TABLE_STATUS (and DM_DEV_WAIT) wrote
// after the header: count specs, each next counted from the first spec.
func decodeTargets(b []byte, h header) ([]Target, error) {
	if h.Flags&FlagBufferFull != 0 {
		return nil, errors.New("answer truncated (buffer full)")
	}
	if h.DataStart < headerSize || int64(h.DataStart) > int64(len(b)) || int64(h.DataSize) > int64(len(b)) || h.DataSize < h.DataStart {
		return nil, fmt.Errorf("answer data %d..%d outside the %d-byte buffer", h.DataStart, h.DataSize, len(b))
	}
	data := b[h.DataStart:h.DataSize]
	var out []Target
	off := 0
	for i := uint32(0); i < h.TargetCount; i++ {
		if off+targetSpecSize > len(data) {
			return nil, fmt.Errorf("target %d: spec at %d beyond the %d bytes of data", i, off, len(data))
		}
		s := data[off:]
		le := binary.NativeEndian
		next := int(le.Uint32(s[20:]))
		params := s[targetSpecSize:]
		end := len(params)
		if i+1 < h.TargetCount {
			if next <= off || next > len(data) {
				return nil, fmt.Errorf("target %d: next spec at %d (from %d, data %d)", i, next, off, len(data))
			}
			end = next - off - targetSpecSize
			if end < 0 {
				return nil, fmt.Errorf("target %d: next spec at %d overlaps it", i, next)
			}
		}
		out = append(out, Target{
			Start:  le.Uint64(s[0:]),
			Length: le.Uint64(s[8:]),
			Type:   cString(s[24 : 24+maxTypeName]),
			Params: cString(params[:end]),
		})
		off = next
	}
	return out, nil
}

// encodeMessage encodes struct dm_target_msg: the sector, then the
// NUL-terminated message.
func encodeMessage(sector uint64, msg string) ([]byte, error) {
	if msg == "" || strings.ContainsRune(msg, 0) {
		return nil, fmt.Errorf("bad target message %q", msg)
	}
	b := make([]byte, align8(8+len(msg)+1))
	binary.NativeEndian.PutUint64(b, sector)
	copy(b[8:], msg)
	return b, nil
}

// messageAnswer returns the text a target wrote back to a message, if any
// (DM_DATA_OUT_FLAG).
func messageAnswer(b []byte, h header) string {
	if h.Flags&FlagDataOut == 0 || h.DataStart < headerSize || int64(h.DataStart) >= int64(len(b)) {
		return ""
	}
	return cString(b[h.DataStart:])
}
