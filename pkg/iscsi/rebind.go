//go:build linux

package iscsi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/u-root/iscsinl"
)

// RebindTransport is the netlink transport Rebind needs: the hand-off
// calls plus SEND_PDU, through which the login of a recovered connection
// travels (as open-iscsi's iscsid does it), so that the kernel stamps its
// own CmdSN into the login request.
type RebindTransport interface {
	NetlinkTransport
	SendPDU(sid, cid uint32, pdu iscsinl.PduLike) error
}

var _ RebindTransport = (*Commands)(nil)

// Rebind re-attaches an existing kernel session whose connection failed to
// a new TCP connection, as iscsid's session_conn_reopen does for ERL 0:
// the (already stopped) kernel connection ks.CID is bound to conn, the
// login runs through the kernel (SEND_PDU out, RECV_PDU events in, which
// the caller feeds into pdus), reinstating the session with cfg.ISID and
// TSIH 0 (RFC 7143 §6.3.5), then every negotiated parameter is set again
// and the connection started. The kernel session — its SCSI host, disks
// and queued I/O — survives; no CREATE_SESSION is sent.
//
// Why not log in on the socket first, as HandOff does: a reinstated
// session starts at the login request's CmdSN, and only the kernel knows
// where its CmdSN stands after the old connection's commands.
//
// On failure the kernel connection is stopped again (STOP_CONN_RECOVER
// releases the socket) so the caller can retry; the caller closes conn in
// every case.
func Rebind(ctx context.Context, t RebindTransport, conn net.Conn, ks KernelSession, cfg LoginConfig,
	o KernelOptions, pdus <-chan []byte) (sess *Session, err error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("iscsi: rebind: connection %T has no file descriptor", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("iscsi: rebind: get socket: %w", err)
	}
	fail := func(step string, e error) error {
		return fmt.Errorf("iscsi: rebind of session %d to %s %s: %s: %w", ks.SID, cfg.Portal, cfg.TargetName, step, e)
	}
	var bindErr error
	if err := raw.Control(func(fd uintptr) { bindErr = t.BindConnection(ks.SID, ks.CID, int(fd)) }); err != nil {
		return nil, fail("bind connection", err)
	}
	if bindErr != nil {
		return nil, fail("bind connection", bindErr)
	}
	defer func() {
		if err != nil {
			if serr := t.StopConnection(ks.SID, ks.CID); serr != nil {
				err = fmt.Errorf("%w (stopping the connection again also failed: %v)", err, serr)
			}
		}
	}()
	kc := NewKernelLoginConn(t, ks.SID, ks.CID, conn.LocalAddr(), conn.RemoteAddr(), pdus)
	cfg.TSIH = 0
	sess, err = Login(ctx, kc, cfg)
	if err != nil {
		return nil, fail("login", err)
	}
	params, err := KernelParams(sess, o)
	if err != nil {
		return nil, fail("parameters", err)
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	for _, p := range params {
		if perr := t.SetParam(ks.SID, ks.CID, iscsinl.IscsiParam(p.ID), p.Value); perr != nil {
			if p.Optional {
				logf("iscsi: kernel refused optional parameter %s: %v", p.Name, perr)
				continue
			}
			return nil, fail("set parameter "+p.Name, perr)
		}
	}
	if err := t.StartConnection(ks.SID, ks.CID); err != nil {
		return nil, fail("start connection", err)
	}
	return sess, nil
}

// rawPDU is a PDU handed to iscsinl's SendPDU.
type rawPDU struct{ hdr, data []byte }

func (p rawPDU) HeaderLen() uint32 { return uint32(len(p.hdr)) }
func (p rawPDU) DataLen() uint32   { return uint32(len(p.data)) }
func (p rawPDU) Serialize() []byte { return append(append([]byte(nil), p.hdr...), p.data...) }

// KernelLoginConn is a net.Conn whose bytes travel through the kernel's
// iSCSI connection: each complete PDU written is sent with SEND_PDU, and
// reads return the PDUs the caller receives as RECV_PDU events and puts on
// the channel. The kernel replaces the ITT of requests with its own; the
// conn puts the one the writer used back into responses, so Login's
// checks hold. It exists for the login phase of a recovered connection.
type KernelLoginConn struct {
	t             RebindTransport
	sid, cid      uint32
	local, remote net.Addr
	in            <-chan []byte

	wbuf []byte
	rbuf []byte
	itt  []byte

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{}
}

// NewKernelLoginConn returns a conn over kernel connection sid/cid; in
// carries received PDUs (48-byte header followed by the unpadded data, as
// the kernel's RECV_PDU event holds them).
func NewKernelLoginConn(t RebindTransport, sid, cid uint32, local, remote net.Addr, in <-chan []byte) *KernelLoginConn {
	return &KernelLoginConn{t: t, sid: sid, cid: cid, local: local, remote: remote, in: in, changed: make(chan struct{})}
}

// pduLength returns the size of the PDU starting at b (header, AHS and
// padded data), or 0 when b is shorter than a header.
func pduLength(b []byte) int {
	if len(b) < BHSLen {
		return 0
	}
	ahs := int(b[4]) * 4
	dlen := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
	return BHSLen + ahs + (dlen+3)&^3
}

// Write buffers p and sends every complete PDU it holds.
func (c *KernelLoginConn) Write(p []byte) (int, error) {
	c.wbuf = append(c.wbuf, p...)
	for {
		n := pduLength(c.wbuf)
		if n == 0 || len(c.wbuf) < n {
			return len(p), nil
		}
		ahs := int(c.wbuf[4]) * 4
		dlen := int(c.wbuf[5])<<16 | int(c.wbuf[6])<<8 | int(c.wbuf[7])
		if ahs != 0 {
			return 0, errors.New("iscsi: kernel login conn: AHS not supported")
		}
		hdr := append([]byte(nil), c.wbuf[:BHSLen]...)
		data := append([]byte(nil), c.wbuf[BHSLen:BHSLen+dlen]...)
		c.wbuf = c.wbuf[n:]
		c.itt = append(c.itt[:0], hdr[16:20]...)
		if err := c.t.SendPDU(c.sid, c.cid, rawPDU{hdr, data}); err != nil {
			return 0, fmt.Errorf("iscsi: kernel login conn: send PDU: %w", err)
		}
	}
}

// Read returns bytes of received PDUs (padded as on the wire), waiting
// until the deadline.
func (c *KernelLoginConn) Read(p []byte) (int, error) {
	for len(c.rbuf) == 0 {
		c.mu.Lock()
		dl, changed := c.deadline, c.changed
		c.mu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case pdu, ok := <-c.in:
			if !ok {
				return 0, net.ErrClosed
			}
			c.rbuf = c.frame(pdu)
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		case <-changed:
		}
	}
	n := copy(p, c.rbuf)
	c.rbuf = c.rbuf[n:]
	return n, nil
}

// frame turns a received PDU into wire form: the writer's ITT restored in
// responses to it, the data padded to 4 bytes.
func (c *KernelLoginConn) frame(pdu []byte) []byte {
	if len(pdu) < BHSLen {
		return pdu // ReadPDU reports the short header
	}
	out := append([]byte(nil), pdu...)
	if len(c.itt) == 4 && binary.BigEndian.Uint32(out[16:20]) != 0xffffffff {
		copy(out[16:20], c.itt)
	}
	dlen := int(out[5])<<16 | int(out[6])<<8 | int(out[7])
	if want := BHSLen + int(out[4])*4 + (dlen+3)&^3; len(out) < want {
		out = append(out, make([]byte, want-len(out))...)
	}
	return out
}

// Close does nothing: the socket belongs to the kernel connection.
func (c *KernelLoginConn) Close() error { return nil }

// LocalAddr is the bound socket's local address.
func (c *KernelLoginConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr is the bound socket's peer.
func (c *KernelLoginConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read deadline (writes do not block).
func (c *KernelLoginConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline bounds Read, waking a blocked one.
func (c *KernelLoginConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline is a no-op: SEND_PDU does not block on the network.
func (c *KernelLoginConn) SetWriteDeadline(time.Time) error { return nil }
