package scripttarget

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
)

// Opcodes pkg/iscsi does not name (RFC 7143 §11.2.1.2).
const (
	opTaskMgmt     iscsi.Opcode = 0x02
	opDataOut      iscsi.Opcode = 0x05
	opSNACK        iscsi.Opcode = 0x10
	opTaskMgmtResp iscsi.Opcode = 0x22
	opDataIn       iscsi.Opcode = 0x25
	opR2T          iscsi.Opcode = 0x31
)

// Async events (RFC 7143 §11.9.1).
const (
	asyncRequestLogout      = 1
	asyncDroppingConnection = 2
)

// What the target negotiates.
const (
	// maxRecvData is the MaxRecvDataSegmentLength the target declares:
	// the largest Data-Out it accepts.
	maxRecvData = 256 << 10
	// maxBurst bounds one R2T's solicitation.
	maxBurst = 256 << 10
	// cmdWindow is how far MaxCmdSN runs ahead of ExpCmdSN.
	cmdWindow = 64
	// loginTimeout bounds a login.
	loginTimeout = 30 * time.Second
	// reservedTag is the reserved Initiator/Target Task Tag.
	reservedTag = 0xffffffff
)

// errLoggedOut ends a connection after a Logout Response.
var errLoggedOut = errors.New("logged out")

// conn is one TCP connection of the target.
type conn struct {
	t      *Target
	nc     net.Conn
	id     int
	remote string
	cid    uint16
	ffp    atomic.Bool

	logoutDone chan struct{} // closed when the connection logs out or ends
	logoutOnce sync.Once

	// wmu serialises writes (the test's controls send from their own
	// goroutine) and guards the sequence numbers and closing.
	wmu      sync.Mutex
	statSN   uint32
	expCmdSN uint32
	closing  bool

	// Negotiated: the largest Data-In the initiator accepts, the
	// largest burst an R2T may ask for.
	initRecv uint32
	burst    uint32

	// Writes waiting for their data, by Target Transfer Tag.
	writes  map[uint32]*pendingWrite
	nextTTT uint32
}

// pendingWrite is a WRITE whose data arrives in bursts solicited by R2T.
type pendingWrite struct {
	itt   uint32
	lun   uint64
	cdb   []byte
	buf   []byte
	got   int // bytes received in order so far (bursts are in order)
	r2tsn uint32
	// The burst being received.
	burstOff, burstLen, burstGot int
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func put32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }

// serve runs the connection to its end.
func (c *conn) serve() {
	var err error
	defer func() {
		c.ffp.Store(false)
		c.logoutOnce.Do(func() { close(c.logoutDone) })
		c.nc.Close()
		c.t.forget(c)
		c.wmu.Lock()
		shut := c.closing // shut recorded why
		c.wmu.Unlock()
		if !shut {
			detail := "ended"
			if err != nil {
				detail = err.Error()
			}
			c.t.record(EventClosed, c, detail)
		}
	}()
	c.nc.SetDeadline(time.Now().Add(loginTimeout))
	if err = c.login(); err != nil {
		c.t.record(EventLoginFailed, c, err.Error())
		return
	}
	c.nc.SetDeadline(time.Time{})
	for {
		var p *iscsi.PDU
		if p, err = iscsi.ReadPDU(c.nc, maxRecvData); err != nil {
			return
		}
		if err = c.handle(p); err != nil {
			return
		}
	}
}

// loginError is a login refused with a status.
type loginError struct {
	class, detail uint8
	why           string
}

func (e *loginError) Error() string {
	return fmt.Sprintf("login refused with status 0x%02x%02x: %s", e.class, e.detail, e.why)
}

// login runs the login phase to full feature phase.
func (c *conn) login() error {
	var (
		text      []byte
		leading   *iscsi.LoginRequest
		initiator string
		declared  bool // our MaxRecvDataSegmentLength went out
		tpgtSent  bool
		statSN    = uint32(time.Now().UnixNano())
	)
	c.initRecv, c.burst = 8192, maxBurst // RFC defaults until negotiated
	for n := 0; n < 32; n++ {
		p, err := iscsi.ReadPDU(c.nc, iscsi.MaxLoginDataSegment)
		if err != nil {
			return err
		}
		req, err := iscsi.ParseLoginRequest(p)
		if err != nil {
			return err
		}
		if leading == nil {
			leading = req
			c.cid = req.CID
		}
		resp := &iscsi.LoginResponse{CSG: req.CSG, ISID: req.ISID, ITT: req.ITT, StatSN: statSN,
			ExpCmdSN: req.CmdSN, MaxCmdSN: req.CmdSN + cmdWindow - 1}
		refuse := func(class, detail uint8, why string) error {
			resp.StatusClass, resp.StatusDetail = class, detail
			iscsi.WritePDU(c.nc, resp.PDU())
			return &loginError{class, detail, why}
		}
		if req.VersionMin != 0 {
			return refuse(0x02, 0x05, "unsupported version")
		}
		text = append(text, req.Data...)
		if req.Continue {
			// Acknowledge each part of a continued request.
			if err := iscsi.WritePDU(c.nc, resp.PDU()); err != nil {
				return err
			}
			continue
		}
		kvs, err := iscsi.ParseText(text)
		text = nil
		if err != nil {
			return refuse(0x02, 0x00, err.Error())
		}
		if req == leading || initiator == "" {
			get := func(k string) string {
				for _, kv := range kvs {
					if kv.Key == k {
						return kv.Value
					}
				}
				return ""
			}
			initiator = get("InitiatorName")
			switch {
			case initiator == "":
				return refuse(0x02, 0x07, "no InitiatorName")
			case get("SessionType") == "Discovery":
				return refuse(0x02, 0x0a, "discovery sessions are not supported")
			case get("TargetName") != c.t.cfg.IQN:
				return refuse(0x02, 0x03, fmt.Sprintf("no target %q", get("TargetName")))
			case req.TSIH != 0:
				return refuse(0x02, 0x0a, "one connection per session: no session to add to")
			}
		}
		var answers []iscsi.KeyValue
		switch req.CSG {
		case iscsi.StageSecurity:
			am := ""
			for _, kv := range kvs {
				if kv.Key == "AuthMethod" {
					am = kv.Value
				}
			}
			if am != "" && !slicesContains(strings.Split(am, ","), "None") {
				return refuse(0x02, 0x01, "authentication "+am+" is not supported")
			}
			if am != "" {
				answers = append(answers, iscsi.KeyValue{Key: "AuthMethod", Value: "None"})
			}
		case iscsi.StageOperational:
			answers = c.negotiate(kvs)
			if !declared {
				answers = append(answers, iscsi.KeyValue{Key: "MaxRecvDataSegmentLength", Value: strconv.Itoa(maxRecvData)})
			}
		default:
			return refuse(0x02, 0x00, fmt.Sprintf("login in stage %v", req.CSG))
		}
		if !tpgtSent {
			// Declared in the first Login Response (RFC 7143 §13.9).
			answers = append(answers, iscsi.KeyValue{Key: "TargetPortalGroupTag", Value: "1"})
			tpgtSent = true
		}
		if req.CSG == iscsi.StageOperational {
			declared = true
		}
		resp.Data = iscsi.EncodeText(dedupe(answers))
		if req.Transit {
			resp.Transit, resp.NSG = true, req.NSG
		}
		if !req.Transit || req.NSG != iscsi.StageFullFeature {
			if err := iscsi.WritePDU(c.nc, resp.PDU()); err != nil {
				return err
			}
			continue
		}
		old, tsih := c.t.bindSession(c, sessionKey(initiator, req.ISID))
		resp.TSIH = tsih
		// Full feature phase before the answer (a test may ask the
		// target for something the moment its initiator reads it), and
		// under the write lock, so nothing sent then overtakes it.
		c.wmu.Lock()
		c.statSN, c.expCmdSN = statSN+1, req.CmdSN
		c.writes = map[uint32]*pendingWrite{}
		c.ffp.Store(true)
		err = iscsi.WritePDU(c.nc, resp.PDU())
		c.wmu.Unlock()
		if err != nil {
			c.ffp.Store(false)
			return err
		}
		detail := fmt.Sprintf("%s ISID %s TSIH %d CID %d, new session", initiator, req.ISID, tsih, c.cid)
		if old != nil {
			detail = fmt.Sprintf("%s ISID %s TSIH %d CID %d, reinstating the session of conn %d", initiator, req.ISID, tsih, c.cid, old.id)
			old.shut(EventClosed, fmt.Sprintf("its session was reinstated by conn %d", c.id))
		}
		c.t.record(EventLogin, c, detail)
		return nil
	}
	return errors.New("login did not end within 32 requests")
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// dedupe keeps the first answer of each key.
func dedupe(kvs []iscsi.KeyValue) []iscsi.KeyValue {
	seen := map[string]bool{}
	var out []iscsi.KeyValue
	for _, kv := range kvs {
		if !seen[kv.Key] {
			seen[kv.Key] = true
			out = append(out, kv)
		}
	}
	return out
}

// negotiate answers the initiator's operational keys (RFC 7143 §13).
func (c *conn) negotiate(kvs []iscsi.KeyValue) []iscsi.KeyValue {
	var out []iscsi.KeyValue
	answer := func(k, v string) { out = append(out, iscsi.KeyValue{Key: k, Value: v}) }
	num := func(v string) (uint64, bool) {
		n, err := strconv.ParseUint(v, 10, 32)
		return n, err == nil
	}
	minOf := func(k, v string, ours uint64) uint64 {
		n, ok := num(v)
		if !ok {
			answer(k, "Reject")
			return ours
		}
		n = min(n, ours)
		answer(k, strconv.FormatUint(n, 10))
		return n
	}
	for _, kv := range kvs {
		switch kv.Key {
		case "InitiatorName", "InitiatorAlias", "TargetName", "SessionType":
			// Declarations of the leading request.
		case "HeaderDigest", "DataDigest":
			if slicesContains(strings.Split(kv.Value, ","), "None") {
				answer(kv.Key, "None")
			} else {
				answer(kv.Key, "Reject")
			}
		case "MaxRecvDataSegmentLength":
			if n, ok := num(kv.Value); ok && n >= 512 {
				c.initRecv = uint32(n)
			}
		case "MaxBurstLength":
			c.burst = uint32(minOf(kv.Key, kv.Value, maxBurst))
		case "FirstBurstLength":
			minOf(kv.Key, kv.Value, 64<<10)
		case "MaxConnections", "MaxOutstandingR2T":
			minOf(kv.Key, kv.Value, 1)
		case "ErrorRecoveryLevel":
			minOf(kv.Key, kv.Value, 0)
		case "DefaultTime2Retain":
			minOf(kv.Key, kv.Value, 20)
		case "DefaultTime2Wait":
			if n, ok := num(kv.Value); ok {
				answer(kv.Key, strconv.FormatUint(max(n, 2), 10))
			} else {
				answer(kv.Key, "Reject")
			}
		case "InitialR2T", "DataPDUInOrder", "DataSequenceInOrder":
			answer(kv.Key, "Yes") // OR with our Yes
		case "ImmediateData", "IFMarker", "OFMarker":
			answer(kv.Key, "No") // AND with our No
		default:
			answer(kv.Key, "NotUnderstood")
		}
	}
	if c.burst == 0 {
		c.burst = maxBurst
	}
	return out
}

// seq says what a sent PDU does with StatSN.
type seq int

const (
	seqNone    seq = iota // the field is reserved
	seqPeek               // carries the next StatSN (R2T)
	seqConsume            // takes a StatSN (responses, NOP-In, Async)
)

var errClosing = errors.New("connection is being dropped")

// send fills in the sequence numbers and writes p.
func (c *conn) send(p *iscsi.PDU, s seq) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing {
		return errClosing
	}
	switch s {
	case seqPeek:
		put32(p.Header[24:], c.statSN)
	case seqConsume:
		put32(p.Header[24:], c.statSN)
		c.statSN++
	}
	put32(p.Header[28:], c.expCmdSN)
	put32(p.Header[32:], c.expCmdSN+cmdWindow-1)
	return iscsi.WritePDU(c.nc, p)
}

// sendAsync sends an Async Message.
func (c *conn) sendAsync(event uint8, p1, p2, p3 uint16) error {
	p := &iscsi.PDU{}
	p.Header[0] = byte(iscsi.OpAsyncMessage)
	p.Header[1] = 0x80
	put32(p.Header[16:], reservedTag)
	p.Header[36] = event
	binary.BigEndian.PutUint16(p.Header[38:], p1)
	binary.BigEndian.PutUint16(p.Header[40:], p2)
	binary.BigEndian.PutUint16(p.Header[42:], p3)
	return c.send(p, seqConsume)
}

// drop closes the connection on the target's initiative and returns the
// event recorded.
func (c *conn) drop(why string) Event {
	return c.shut(EventDrop, why)
}

// shut stops sending, closes the connection (its reader then ends) and
// records kind.
func (c *conn) shut(kind EventKind, why string) Event {
	c.wmu.Lock()
	c.closing = true
	c.wmu.Unlock()
	c.ffp.Store(false)
	e := c.t.record(kind, c, why)
	c.nc.Close()
	return e
}

// handle processes one PDU in full feature phase.
func (c *conn) handle(p *iscsi.PDU) error {
	op := p.Opcode()
	switch op {
	case iscsi.OpNOPOut, iscsi.OpSCSICommand, opTaskMgmt, iscsi.OpTextRequest, iscsi.OpLogoutRequest:
		if !p.Immediate() {
			c.wmu.Lock()
			if be32(p.Header[24:]) == c.expCmdSN {
				c.expCmdSN++
			}
			c.wmu.Unlock()
		}
	}
	switch op {
	case iscsi.OpNOPOut:
		if p.ITT() == reservedTag {
			return nil // an answer to a NOP-In of ours (we send none)
		}
		r := &iscsi.PDU{Data: p.Data}
		r.Header[0] = byte(iscsi.OpNOPIn)
		r.Header[1] = 0x80
		copy(r.Header[8:16], p.Header[8:16])
		put32(r.Header[16:], p.ITT())
		put32(r.Header[20:], reservedTag)
		return c.send(r, seqConsume)
	case iscsi.OpSCSICommand:
		return c.command(p)
	case opDataOut:
		return c.dataOut(p)
	case opTaskMgmt:
		return c.taskMgmt(p)
	case iscsi.OpTextRequest:
		return c.text(p)
	case iscsi.OpLogoutRequest:
		reason := p.Header[1] & 0x7f
		r := &iscsi.PDU{}
		r.Header[0] = byte(iscsi.OpLogoutResponse)
		r.Header[1] = 0x80
		put32(r.Header[16:], p.ITT())
		err := c.send(r, seqConsume)
		c.t.record(EventLogout, c, fmt.Sprintf("Logout Request, reason %d (%s)", reason, logoutReason(reason)))
		c.logoutOnce.Do(func() { close(c.logoutDone) })
		if err != nil {
			return err
		}
		return errLoggedOut
	default:
		return c.reject(p, 0x05) // command not supported
	}
}

func logoutReason(r uint8) string {
	switch r {
	case 0:
		return "close the session"
	case 1:
		return "close the connection"
	case 2:
		return "remove the connection for recovery"
	}
	return "unknown"
}

// reject answers p with a Reject PDU carrying its header.
func (c *conn) reject(p *iscsi.PDU, reason uint8) error {
	r := &iscsi.PDU{Data: append([]byte(nil), p.Header[:]...)}
	r.Header[0] = byte(iscsi.OpReject)
	r.Header[1] = 0x80
	r.Header[2] = reason
	put32(r.Header[16:], reservedTag)
	return c.send(r, seqConsume)
}

// command runs a SCSI Command, soliciting write data first.
func (c *conn) command(p *iscsi.PDU) error {
	flags := p.Header[1]
	lun := decodeLUN(p.Header[8:16])
	itt := p.ITT()
	edtl := be32(p.Header[20:])
	cdb := append([]byte(nil), p.Header[32:48]...)
	if flags&0x20 != 0 && edtl > 0 { // W: data to come
		if edtl > 64<<20 {
			return c.respond(itt, edtl, false, result{status: statusCheck, sense: senseInvalidField})
		}
		w := &pendingWrite{itt: itt, lun: lun, cdb: cdb, buf: make([]byte, edtl)}
		w.got = copy(w.buf, p.Data) // immediate data, if the initiator sent any
		return c.nextBurst(w)
	}
	res := c.t.execute(lun, cdb, nil)
	return c.respond(itt, edtl, flags&0x40 != 0, res)
}

// nextBurst asks for the next burst of w's data, or runs w once it is all
// there.
func (c *conn) nextBurst(w *pendingWrite) error {
	if w.got >= len(w.buf) {
		res := c.t.execute(w.lun, w.cdb, w.buf)
		return c.respond(w.itt, uint32(len(w.buf)), false, res)
	}
	c.nextTTT++
	if c.nextTTT == reservedTag {
		c.nextTTT = 0
	}
	ttt := c.nextTTT
	w.burstOff, w.burstLen, w.burstGot = w.got, min(len(w.buf)-w.got, int(c.burst)), 0
	c.writes[ttt] = w
	r := &iscsi.PDU{}
	r.Header[0] = byte(opR2T)
	r.Header[1] = 0x80
	copy(r.Header[8:16], encodeLUN(w.lun))
	put32(r.Header[16:], w.itt)
	put32(r.Header[20:], ttt)
	put32(r.Header[36:], w.r2tsn)
	put32(r.Header[40:], uint32(w.burstOff))
	put32(r.Header[44:], uint32(w.burstLen))
	w.r2tsn++
	return c.send(r, seqPeek)
}

// dataOut takes solicited write data.
func (c *conn) dataOut(p *iscsi.PDU) error {
	ttt := be32(p.Header[20:])
	w := c.writes[ttt]
	if w == nil {
		return nil // data of an aborted command, or unsolicited (not negotiated)
	}
	off := int(be32(p.Header[40:]))
	if off < w.burstOff || off+len(p.Data) > w.burstOff+w.burstLen {
		return fmt.Errorf("Data-Out at %d+%d outside the burst %d+%d", off, len(p.Data), w.burstOff, w.burstLen)
	}
	copy(w.buf[off:], p.Data)
	w.burstGot += len(p.Data)
	if p.Header[1]&0x80 == 0 { // F: last of the burst
		return nil
	}
	delete(c.writes, ttt)
	if w.burstGot != w.burstLen {
		return fmt.Errorf("burst of %d bytes ended after %d", w.burstLen, w.burstGot)
	}
	w.got = w.burstOff + w.burstLen
	return c.nextBurst(w)
}

// respond sends a command's data (Data-In, the last one with the status)
// or its SCSI Response.
func (c *conn) respond(itt, edtl uint32, read bool, res result) error {
	data := res.data
	var flags byte
	var residual uint32
	switch {
	case uint32(len(data)) > edtl:
		flags, residual = 0x04, uint32(len(data))-edtl // O
		data = data[:edtl]
	case uint32(len(data)) < edtl && (read || len(data) > 0):
		flags, residual = 0x02, edtl-uint32(len(data)) // U
	}
	if read && len(data) > 0 && res.status == statusGood {
		chunk := int(c.initRecv)
		for off, sn := 0, uint32(0); off < len(data); sn++ {
			n := min(chunk, len(data)-off)
			d := &iscsi.PDU{Data: data[off : off+n]}
			d.Header[0] = byte(opDataIn)
			put32(d.Header[16:], itt)
			put32(d.Header[20:], reservedTag)
			put32(d.Header[36:], sn)
			put32(d.Header[40:], uint32(off))
			s := seqNone
			if off+n == len(data) {
				d.Header[1] = 0x80 | 0x01 | flags // F, S
				d.Header[3] = res.status
				put32(d.Header[44:], residual)
				s = seqConsume
			}
			if err := c.send(d, s); err != nil {
				return err
			}
			off += n
		}
		return nil
	}
	r := &iscsi.PDU{}
	r.Header[0] = byte(iscsi.OpSCSIResponse)
	r.Header[1] = 0x80 | flags
	r.Header[3] = res.status
	put32(r.Header[16:], itt)
	put32(r.Header[44:], residual)
	if len(res.sense) > 0 {
		r.Data = binary.BigEndian.AppendUint16(nil, uint16(len(res.sense)))
		r.Data = append(r.Data, res.sense...)
	}
	return c.send(r, seqConsume)
}

// taskMgmt answers every function as complete, forgetting the writes it
// aborts.
func (c *conn) taskMgmt(p *iscsi.PDU) error {
	fn := p.Header[1] & 0x7f
	ref := be32(p.Header[20:])
	for ttt, w := range c.writes {
		if fn != 1 || w.itt == ref { // 1: ABORT TASK; the others abort more
			delete(c.writes, ttt)
		}
	}
	r := &iscsi.PDU{}
	r.Header[0] = byte(opTaskMgmtResp)
	r.Header[1] = 0x80
	put32(r.Header[16:], p.ITT())
	return c.send(r, seqConsume)
}

// text answers a Text Request: SendTargets lists this target.
func (c *conn) text(p *iscsi.PDU) error {
	r := &iscsi.PDU{}
	r.Header[0] = byte(iscsi.OpTextResponse)
	r.Header[1] = 0x80
	put32(r.Header[16:], p.ITT())
	put32(r.Header[20:], reservedTag)
	if kvs, err := iscsi.ParseText(p.Data); err == nil {
		for _, kv := range kvs {
			if kv.Key == "SendTargets" {
				r.Data = iscsi.EncodeText([]iscsi.KeyValue{{Key: "TargetName", Value: c.t.cfg.IQN},
					{Key: "TargetAddress", Value: c.nc.LocalAddr().String() + ",1"}})
			}
		}
	}
	return c.send(r, seqConsume)
}
