package iscsi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// BHSLen is the length of an iSCSI Basic Header Segment in bytes.
const BHSLen = 48

// MaxLoginDataSegment bounds the data segment of a PDU received during login.
// RFC 7143 limits login PDUs to 8192 bytes of data unless negotiated; we allow
// more headroom but never trust the 24-bit length field blindly.
const MaxLoginDataSegment = 64 << 10

// maxAHSLen is the largest Additional Header Segment expressible (TotalAHSLength
// is one byte counting 4-byte words).
const maxAHSLen = 255 * 4

// Opcode is an iSCSI PDU opcode (the low six bits of byte 0).
type Opcode uint8

// Opcodes used by this package (RFC 7143 §11.2.1.2).
const (
	OpNOPOut         Opcode = 0x00
	OpSCSICommand    Opcode = 0x01
	OpLoginRequest   Opcode = 0x03
	OpTextRequest    Opcode = 0x04
	OpLogoutRequest  Opcode = 0x06
	OpNOPIn          Opcode = 0x20
	OpSCSIResponse   Opcode = 0x21
	OpLoginResponse  Opcode = 0x23
	OpTextResponse   Opcode = 0x24
	OpLogoutResponse Opcode = 0x26
	OpAsyncMessage   Opcode = 0x32
	OpReject         Opcode = 0x3f
)

// String names the opcode for error messages.
func (o Opcode) String() string {
	switch o {
	case OpNOPOut:
		return "NOP-Out"
	case OpSCSICommand:
		return "SCSI Command"
	case OpLoginRequest:
		return "Login Request"
	case OpTextRequest:
		return "Text Request"
	case OpLogoutRequest:
		return "Logout Request"
	case OpNOPIn:
		return "NOP-In"
	case OpSCSIResponse:
		return "SCSI Response"
	case OpLoginResponse:
		return "Login Response"
	case OpTextResponse:
		return "Text Response"
	case OpLogoutResponse:
		return "Logout Response"
	case OpAsyncMessage:
		return "Async Message"
	case OpReject:
		return "Reject"
	}
	return fmt.Sprintf("opcode 0x%02x", uint8(o))
}

// Header bits.
const (
	immediateBit = 0x40 // byte 0
	finalBit     = 0x80 // byte 1: F (or T for login)
	continueBit  = 0x40 // byte 1: C for login and text
)

// ErrShortPDU reports that a buffer ends before the PDU it starts is complete.
var ErrShortPDU = errors.New("iscsi: truncated PDU")

// PDU is one iSCSI protocol data unit: a 48-byte big-endian Basic Header
// Segment, optional Additional Header Segments and a data segment. Header and
// data digests are not supported (they are always off during login, and this
// package only speaks login plus a few full-feature test PDUs).
type PDU struct {
	Header [BHSLen]byte
	AHS    []byte
	Data   []byte
}

// Opcode returns the PDU's opcode.
func (p *PDU) Opcode() Opcode { return Opcode(p.Header[0] & 0x3f) }

// Immediate reports the I bit.
func (p *PDU) Immediate() bool { return p.Header[0]&immediateBit != 0 }

// Flags returns the opcode-specific flag byte (byte 1).
func (p *PDU) Flags() byte { return p.Header[1] }

// ITT returns the Initiator Task Tag (bytes 16-19).
func (p *PDU) ITT() uint32 { return p.u32(16) }

func (p *PDU) u32(off int) uint32 { return binary.BigEndian.Uint32(p.Header[off:]) }
func (p *PDU) u16(off int) uint16 { return binary.BigEndian.Uint16(p.Header[off:]) }
func (p *PDU) put32(off int, v uint32) {
	binary.BigEndian.PutUint32(p.Header[off:], v)
}
func (p *PDU) put16(off int, v uint16) {
	binary.BigEndian.PutUint16(p.Header[off:], v)
}

// DataSegmentLength returns the 24-bit length stored in the header.
func (p *PDU) DataSegmentLength() uint32 {
	return uint32(p.Header[5])<<16 | uint32(p.Header[6])<<8 | uint32(p.Header[7])
}

func pad4(n int) int { return (4 - n%4) % 4 }

// Marshal encodes the PDU, filling in TotalAHSLength and DataSegmentLength
// from AHS and Data and padding the data segment to a multiple of 4 bytes.
func (p *PDU) Marshal() ([]byte, error) {
	if len(p.AHS)%4 != 0 || len(p.AHS) > maxAHSLen {
		return nil, fmt.Errorf("iscsi: encode %v: AHS length %d is not a multiple of 4 up to %d", p.Opcode(), len(p.AHS), maxAHSLen)
	}
	if len(p.Data) >= 1<<24 {
		return nil, fmt.Errorf("iscsi: encode %v: data segment of %d bytes exceeds 24-bit length", p.Opcode(), len(p.Data))
	}
	h := p.Header
	h[4] = byte(len(p.AHS) / 4)
	n := len(p.Data)
	h[5], h[6], h[7] = byte(n>>16), byte(n>>8), byte(n)
	out := make([]byte, 0, BHSLen+len(p.AHS)+n+pad4(n))
	out = append(out, h[:]...)
	out = append(out, p.AHS...)
	out = append(out, p.Data...)
	out = append(out, make([]byte, pad4(n))...)
	return out, nil
}

// DecodePDU decodes the first PDU in b. maxData bounds the accepted data
// segment length; larger PDUs are refused (the input is untrusted). It returns
// the PDU and the number of bytes consumed, or an error wrapping ErrShortPDU
// when b is incomplete. It never panics.
func DecodePDU(b []byte, maxData int) (*PDU, int, error) {
	if len(b) < BHSLen {
		return nil, 0, fmt.Errorf("%w: %d of %d header bytes", ErrShortPDU, len(b), BHSLen)
	}
	p := &PDU{}
	copy(p.Header[:], b[:BHSLen])
	ahsLen, dataLen, err := p.lengths(maxData)
	if err != nil {
		return nil, 0, err
	}
	total := BHSLen + ahsLen + dataLen + pad4(dataLen)
	if len(b) < total {
		return nil, 0, fmt.Errorf("%w: %d of %d bytes", ErrShortPDU, len(b), total)
	}
	if ahsLen > 0 {
		p.AHS = append([]byte(nil), b[BHSLen:BHSLen+ahsLen]...)
	}
	if dataLen > 0 {
		p.Data = append([]byte(nil), b[BHSLen+ahsLen:BHSLen+ahsLen+dataLen]...)
	}
	return p, total, nil
}

func (p *PDU) lengths(maxData int) (ahsLen, dataLen int, err error) {
	ahsLen = int(p.Header[4]) * 4
	dataLen = int(p.DataSegmentLength())
	if dataLen > maxData {
		return 0, 0, fmt.Errorf("iscsi: %v data segment of %d bytes exceeds limit of %d", p.Opcode(), dataLen, maxData)
	}
	return ahsLen, dataLen, nil
}

// ReadPDU reads exactly one PDU from r, refusing data segments longer than
// maxData. Errors from r are wrapped (io.ErrUnexpectedEOF for a PDU cut short).
func ReadPDU(r io.Reader, maxData int) (*PDU, error) {
	p := &PDU{}
	if _, err := io.ReadFull(r, p.Header[:]); err != nil {
		return nil, fmt.Errorf("iscsi: read PDU header: %w", err)
	}
	ahsLen, dataLen, err := p.lengths(maxData)
	if err != nil {
		return nil, err
	}
	rest := make([]byte, ahsLen+dataLen+pad4(dataLen))
	if _, err := io.ReadFull(r, rest); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("iscsi: read %v body (%d bytes): %w", p.Opcode(), len(rest), err)
	}
	if ahsLen > 0 {
		p.AHS = rest[:ahsLen]
	}
	if dataLen > 0 {
		p.Data = rest[ahsLen : ahsLen+dataLen]
	}
	return p, nil
}

// WritePDU encodes p and writes it to w in one call.
func WritePDU(w io.Writer, p *PDU) error {
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("iscsi: write %v: %w", p.Opcode(), err)
	}
	return nil
}

// Stage is a login stage (CSG/NSG field, RFC 7143 §11.12.3).
type Stage uint8

// Login stages.
const (
	StageSecurity    Stage = 0
	StageOperational Stage = 1
	StageFullFeature Stage = 3
)

// String names the stage.
func (s Stage) String() string {
	switch s {
	case StageSecurity:
		return "SecurityNegotiation"
	case StageOperational:
		return "LoginOperationalNegotiation"
	case StageFullFeature:
		return "FullFeaturePhase"
	}
	return fmt.Sprintf("stage %d", uint8(s))
}

// ISID is the 6-byte initiator part of the session identifier.
type ISID [6]byte

// String formats the ISID as 12 hex digits, as sysfs and open-iscsi do.
func (i ISID) String() string { return fmt.Sprintf("%x", i[:]) }

// LoginRequest is the initiator's Login Request PDU (RFC 7143 §11.12).
type LoginRequest struct {
	Transit    bool
	Continue   bool
	CSG, NSG   Stage
	VersionMax uint8
	VersionMin uint8
	ISID       ISID
	TSIH       uint16
	ITT        uint32
	CID        uint16
	CmdSN      uint32
	ExpStatSN  uint32
	Data       []byte
}

// PDU encodes the request. The I bit is always set (login requests are
// immediate).
func (r *LoginRequest) PDU() *PDU {
	p := &PDU{Data: r.Data}
	p.Header[0] = immediateBit | byte(OpLoginRequest)
	p.Header[1] = loginFlags(r.Transit, r.Continue, r.CSG, r.NSG)
	p.Header[2] = r.VersionMax
	p.Header[3] = r.VersionMin
	copy(p.Header[8:14], r.ISID[:])
	p.put16(14, r.TSIH)
	p.put32(16, r.ITT)
	p.put16(20, r.CID)
	p.put32(24, r.CmdSN)
	p.put32(28, r.ExpStatSN)
	return p
}

func loginFlags(transit, cont bool, csg, nsg Stage) byte {
	var f byte
	if transit {
		f |= finalBit
	}
	if cont {
		f |= continueBit
	}
	f |= byte(csg&3) << 2
	if transit {
		f |= byte(nsg & 3)
	}
	return f
}

// ParseLoginRequest decodes a Login Request (used by tests and fakes).
func ParseLoginRequest(p *PDU) (*LoginRequest, error) {
	if p.Opcode() != OpLoginRequest {
		return nil, fmt.Errorf("iscsi: expected Login Request, got %v", p.Opcode())
	}
	f := p.Flags()
	return &LoginRequest{
		Transit:    f&finalBit != 0,
		Continue:   f&continueBit != 0,
		CSG:        Stage(f>>2) & 3,
		NSG:        Stage(f) & 3,
		VersionMax: p.Header[2],
		VersionMin: p.Header[3],
		ISID:       ISID(p.Header[8:14]),
		TSIH:       p.u16(14),
		ITT:        p.u32(16),
		CID:        p.u16(20),
		CmdSN:      p.u32(24),
		ExpStatSN:  p.u32(28),
		Data:       p.Data,
	}, nil
}

// LoginResponse is the target's Login Response PDU (RFC 7143 §11.13).
type LoginResponse struct {
	Transit       bool
	Continue      bool
	CSG, NSG      Stage
	VersionMax    uint8
	VersionActive uint8
	ISID          ISID
	TSIH          uint16
	ITT           uint32
	StatSN        uint32
	ExpCmdSN      uint32
	MaxCmdSN      uint32
	StatusClass   uint8
	StatusDetail  uint8
	Data          []byte
}

// PDU encodes the response (used by tests and fakes).
func (r *LoginResponse) PDU() *PDU {
	p := &PDU{Data: r.Data}
	p.Header[0] = byte(OpLoginResponse)
	p.Header[1] = loginFlags(r.Transit, r.Continue, r.CSG, r.NSG)
	p.Header[2] = r.VersionMax
	p.Header[3] = r.VersionActive
	copy(p.Header[8:14], r.ISID[:])
	p.put16(14, r.TSIH)
	p.put32(16, r.ITT)
	p.put32(24, r.StatSN)
	p.put32(28, r.ExpCmdSN)
	p.put32(32, r.MaxCmdSN)
	p.Header[36] = r.StatusClass
	p.Header[37] = r.StatusDetail
	return p
}

// ParseLoginResponse decodes a Login Response.
func ParseLoginResponse(p *PDU) (*LoginResponse, error) {
	if p.Opcode() != OpLoginResponse {
		return nil, fmt.Errorf("iscsi: expected Login Response, got %v", p.Opcode())
	}
	f := p.Flags()
	r := &LoginResponse{
		Transit:       f&finalBit != 0,
		Continue:      f&continueBit != 0,
		CSG:           Stage(f>>2) & 3,
		NSG:           Stage(f) & 3,
		VersionMax:    p.Header[2],
		VersionActive: p.Header[3],
		ISID:          ISID(p.Header[8:14]),
		TSIH:          p.u16(14),
		ITT:           p.u32(16),
		StatSN:        p.u32(24),
		ExpCmdSN:      p.u32(28),
		MaxCmdSN:      p.u32(32),
		StatusClass:   p.Header[36],
		StatusDetail:  p.Header[37],
		Data:          p.Data,
	}
	if r.Transit && r.Continue {
		return nil, errors.New("iscsi: Login Response has both T and C bits set")
	}
	return r, nil
}

// TextRequest is a Text Request PDU (RFC 7143 §11.10).
type TextRequest struct {
	Final     bool
	Continue  bool
	LUN       uint64
	ITT       uint32
	TTT       uint32
	CmdSN     uint32
	ExpStatSN uint32
	Data      []byte
}

// PDU encodes the request.
func (r *TextRequest) PDU() *PDU {
	p := &PDU{Data: r.Data}
	p.Header[0] = immediateBit | byte(OpTextRequest)
	if r.Final {
		p.Header[1] |= finalBit
	}
	if r.Continue {
		p.Header[1] |= continueBit
	}
	binary.BigEndian.PutUint64(p.Header[8:], r.LUN)
	p.put32(16, r.ITT)
	p.put32(20, r.TTT)
	p.put32(24, r.CmdSN)
	p.put32(28, r.ExpStatSN)
	return p
}

// TextResponse is a Text Response PDU (RFC 7143 §11.11).
type TextResponse struct {
	Final    bool
	Continue bool
	LUN      uint64
	ITT      uint32
	TTT      uint32
	StatSN   uint32
	ExpCmdSN uint32
	MaxCmdSN uint32
	Data     []byte
}

// ParseTextResponse decodes a Text Response.
func ParseTextResponse(p *PDU) (*TextResponse, error) {
	if p.Opcode() != OpTextResponse {
		return nil, fmt.Errorf("iscsi: expected Text Response, got %v", p.Opcode())
	}
	r := &TextResponse{
		Final:    p.Flags()&finalBit != 0,
		Continue: p.Flags()&continueBit != 0,
		LUN:      binary.BigEndian.Uint64(p.Header[8:]),
		ITT:      p.u32(16),
		TTT:      p.u32(20),
		StatSN:   p.u32(24),
		ExpCmdSN: p.u32(28),
		MaxCmdSN: p.u32(32),
		Data:     p.Data,
	}
	if r.Final && r.Continue {
		return nil, errors.New("iscsi: Text Response has both F and C bits set")
	}
	return r, nil
}

// Reject is a Reject PDU (RFC 7143 §11.17). Header holds the (possibly
// truncated) header of the rejected PDU.
type Reject struct {
	Reason   uint8
	StatSN   uint32
	ExpCmdSN uint32
	MaxCmdSN uint32
	Header   []byte
}

// ParseReject decodes a Reject PDU.
func ParseReject(p *PDU) (*Reject, error) {
	if p.Opcode() != OpReject {
		return nil, fmt.Errorf("iscsi: expected Reject, got %v", p.Opcode())
	}
	return &Reject{
		Reason:   p.Header[2],
		StatSN:   p.u32(24),
		ExpCmdSN: p.u32(28),
		MaxCmdSN: p.u32(32),
		Header:   p.Data,
	}, nil
}

// RejectReason describes a Reject reason code.
func RejectReason(code uint8) string {
	switch code {
	case 0x02:
		return "data (payload) digest error"
	case 0x03:
		return "SNACK reject"
	case 0x04:
		return "protocol error"
	case 0x05:
		return "command not supported"
	case 0x06:
		return "immediate command reject"
	case 0x07:
		return "task in progress"
	case 0x08:
		return "invalid data ack"
	case 0x09:
		return "invalid PDU field"
	case 0x0a:
		return "long operation reject"
	case 0x0b:
		return "negotiation reset"
	case 0x0c:
		return "waiting for logout"
	}
	return fmt.Sprintf("reason 0x%02x", code)
}

// NOPOut is a NOP-Out PDU (RFC 7143 §11.18), used as a ping in full
// feature phase.
type NOPOut struct {
	Immediate bool
	LUN       uint64
	ITT       uint32
	TTT       uint32
	CmdSN     uint32
	ExpStatSN uint32
	Data      []byte
}

// PDU encodes the NOP-Out.
func (r *NOPOut) PDU() *PDU {
	p := &PDU{Data: r.Data}
	p.Header[0] = byte(OpNOPOut)
	if r.Immediate {
		p.Header[0] |= immediateBit
	}
	p.Header[1] = finalBit
	binary.BigEndian.PutUint64(p.Header[8:], r.LUN)
	p.put32(16, r.ITT)
	p.put32(20, r.TTT)
	p.put32(24, r.CmdSN)
	p.put32(28, r.ExpStatSN)
	return p
}

// NOPIn is a NOP-In PDU (RFC 7143 §11.19).
type NOPIn struct {
	LUN      uint64
	ITT      uint32
	TTT      uint32
	StatSN   uint32
	ExpCmdSN uint32
	MaxCmdSN uint32
	Data     []byte
}

// ParseNOPIn decodes a NOP-In.
func ParseNOPIn(p *PDU) (*NOPIn, error) {
	if p.Opcode() != OpNOPIn {
		return nil, fmt.Errorf("iscsi: expected NOP-In, got %v", p.Opcode())
	}
	return &NOPIn{
		LUN:      binary.BigEndian.Uint64(p.Header[8:]),
		ITT:      p.u32(16),
		TTT:      p.u32(20),
		StatSN:   p.u32(24),
		ExpCmdSN: p.u32(28),
		MaxCmdSN: p.u32(32),
		Data:     p.Data,
	}, nil
}

// Asynchronous events (RFC 7143 §11.9.1).
const (
	AsyncSCSIEvent         = 0 // sense data in the data segment
	AsyncLogoutRequest     = 1 // log out within Parameter3 seconds
	AsyncDropConnection    = 2 // Parameter1: CID; Parameter2/3: Time2Wait/Time2Retain
	AsyncDropAllConnection = 3 // Parameter2/3: Time2Wait/Time2Retain
	AsyncRenegotiate       = 4 // renegotiate operational parameters
	AsyncVendor            = 255
)

// AsyncMessage is an Asynchronous Message PDU (RFC 7143 §11.9): the
// target's unsolicited notice to the initiator. The kernel hands the ones
// it does not act on to userspace (ISCSI_KEVENT_RECV_PDU).
type AsyncMessage struct {
	LUN                                uint64
	StatSN                             uint32
	Event, VendorCode                  uint8
	Parameter1, Parameter2, Parameter3 uint16
	Data                               []byte
}

// ParseAsyncMessage decodes an Asynchronous Message.
func ParseAsyncMessage(p *PDU) (*AsyncMessage, error) {
	if p.Opcode() != OpAsyncMessage {
		return nil, fmt.Errorf("iscsi: expected Async Message, got %v", p.Opcode())
	}
	return &AsyncMessage{
		LUN:        binary.BigEndian.Uint64(p.Header[8:]),
		StatSN:     p.u32(24),
		Event:      p.Header[36],
		VendorCode: p.Header[37],
		Parameter1: p.u16(38),
		Parameter2: p.u16(40),
		Parameter3: p.u16(42),
		Data:       p.Data,
	}, nil
}

// Logout reason codes (RFC 7143 §11.14.1).
const (
	LogoutCloseSession    = 0
	LogoutCloseConnection = 1
	LogoutRemoveForRecov  = 2
)

// LogoutRequest is a Logout Request PDU (RFC 7143 §11.14). Sent through
// the kernel (SEND_PDU), which fills CmdSN and ExpStatSN and replaces a
// non-reserved ITT with its own.
type LogoutRequest struct {
	Reason    uint8
	ITT       uint32
	CID       uint16
	CmdSN     uint32
	ExpStatSN uint32
}

// PDU encodes the request; it is always immediate.
func (r *LogoutRequest) PDU() *PDU {
	p := &PDU{}
	p.Header[0] = immediateBit | byte(OpLogoutRequest)
	p.Header[1] = finalBit | r.Reason&0x7f
	p.put32(16, r.ITT)
	p.put16(20, r.CID)
	p.put32(24, r.CmdSN)
	p.put32(28, r.ExpStatSN)
	return p
}

// LogoutResponse is a Logout Response PDU (RFC 7143 §11.15).
type LogoutResponse struct {
	// Response: 0 closed, 1 CID not found, 2 recovery not supported,
	// 3 cleanup failed.
	Response               uint8
	ITT                    uint32
	StatSN                 uint32
	Time2Wait, Time2Retain uint16
}

// ParseLogoutResponse decodes a Logout Response.
func ParseLogoutResponse(p *PDU) (*LogoutResponse, error) {
	if p.Opcode() != OpLogoutResponse {
		return nil, fmt.Errorf("iscsi: expected Logout Response, got %v", p.Opcode())
	}
	return &LogoutResponse{Response: p.Header[2], ITT: p.u32(16), StatSN: p.u32(24), Time2Wait: p.u16(40), Time2Retain: p.u16(42)}, nil
}
