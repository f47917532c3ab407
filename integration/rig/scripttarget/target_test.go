package scripttarget

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
)

const testIQN = "iqn.2010-01.org.example:script"

// newTarget serves a 4 MiB disk filled with a pattern on loopback.
func newTarget(t *testing.T) (*Target, string, string) {
	t.Helper()
	disk := filepath.Join(t.TempDir(), "disk.img")
	pattern := make([]byte, 4<<20)
	for i := range pattern {
		pattern[i] = byte(i / blockSize)
	}
	if err := os.WriteFile(disk, pattern, 0o644); err != nil {
		t.Fatal(err)
	}
	tg, err := New(Config{IQN: testIQN, Disk: disk, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg.Serve(ln)
	t.Cleanup(func() { tg.Close() })
	return tg, ln.Addr().String(), disk
}

// initiator is a minimal full-feature-phase initiator for the tests.
type initiator struct {
	t         *testing.T
	c         net.Conn
	sess      *iscsi.Session
	cmdSN     uint32
	expStatSN uint32
	itt       uint32
}

func login(t *testing.T, addr string, isid iscsi.ISID) *initiator {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := iscsi.Login(ctx, c, iscsi.LoginConfig{InitiatorName: "iqn.2010-01.org.example:client",
		TargetName: testIQN, Portal: addr, ISID: isid})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &initiator{t: t, c: c, sess: sess, cmdSN: sess.CmdSN, expStatSN: sess.ExpStatSN, itt: 100}
}

func (in *initiator) write(p *iscsi.PDU) {
	in.t.Helper()
	if err := iscsi.WritePDU(in.c, p); err != nil {
		in.t.Fatal(err)
	}
}

func (in *initiator) read() *iscsi.PDU {
	in.t.Helper()
	p, err := iscsi.ReadPDU(in.c, 1<<20)
	if err != nil {
		in.t.Fatal(err)
	}
	return p
}

// status checks and advances StatSN.
func (in *initiator) status(p *iscsi.PDU) {
	in.t.Helper()
	if got := be32(p.Header[24:]); got != in.expStatSN {
		in.t.Fatalf("%v StatSN %d, want %d", p.Opcode(), got, in.expStatSN)
	}
	in.expStatSN++
}

// scsi runs one command: read is the expected data length, out the write
// data.
func (in *initiator) scsi(lun uint64, cdb []byte, read int, out []byte) (status byte, data, sense []byte) {
	in.t.Helper()
	in.itt++
	p := &iscsi.PDU{}
	p.Header[0] = byte(iscsi.OpSCSICommand)
	p.Header[1] = 0x80 | 0x01
	edtl := read
	if read > 0 {
		p.Header[1] |= 0x40
	}
	if out != nil {
		p.Header[1] |= 0x20
		edtl = len(out)
	}
	copy(p.Header[8:], encodeLUN(lun))
	put32(p.Header[16:], in.itt)
	put32(p.Header[20:], uint32(edtl))
	put32(p.Header[24:], in.cmdSN)
	put32(p.Header[28:], in.expStatSN)
	copy(p.Header[32:], cdb)
	in.cmdSN++
	in.write(p)
	data = make([]byte, read)
	for {
		r := in.read()
		if r.ITT() != in.itt {
			in.t.Fatalf("%v for ITT %d, want %d", r.Opcode(), r.ITT(), in.itt)
		}
		switch r.Opcode() {
		case opR2T:
			ttt, off, n := be32(r.Header[20:]), int(be32(r.Header[40:])), int(be32(r.Header[44:]))
			if n > maxBurst || off+n > len(out) {
				in.t.Fatalf("R2T for %d+%d of %d bytes", off, n, len(out))
			}
			chunk := int(in.sess.Params.MaxXmitDataSegmentLength)
			for sn, done := uint32(0), 0; done < n; sn++ {
				k := min(chunk, n-done)
				d := &iscsi.PDU{Data: out[off+done : off+done+k]}
				d.Header[0] = byte(opDataOut)
				if done+k == n {
					d.Header[1] = 0x80
				}
				put32(d.Header[16:], in.itt)
				put32(d.Header[20:], ttt)
				put32(d.Header[28:], in.expStatSN)
				put32(d.Header[36:], sn)
				put32(d.Header[40:], uint32(off+done))
				in.write(d)
				done += k
			}
		case opDataIn:
			copy(data[be32(r.Header[40:]):], r.Data)
			if r.Header[1]&0x01 != 0 {
				in.status(r)
				if r.Header[1]&0x02 != 0 {
					data = data[:read-int(be32(r.Header[44:]))]
				}
				return r.Header[3], data, nil
			}
		case iscsi.OpSCSIResponse:
			in.status(r)
			if len(r.Data) >= 2 {
				sense = r.Data[2 : 2+int(binary.BigEndian.Uint16(r.Data))]
			}
			if r.Header[1]&0x02 != 0 {
				data = data[:read-int(be32(r.Header[44:]))]
			}
			return r.Header[3], data, sense
		default:
			in.t.Fatalf("unexpected %v", r.Opcode())
		}
	}
}

func cdb10(op byte, lba uint32, n uint16) []byte {
	c := make([]byte, 10)
	c[0] = op
	binary.BigEndian.PutUint32(c[2:], lba)
	binary.BigEndian.PutUint16(c[7:], n)
	return c
}

func cdb16(op byte, lba uint64, n uint32) []byte {
	c := make([]byte, 16)
	c[0] = op
	binary.BigEndian.PutUint64(c[2:], lba)
	binary.BigEndian.PutUint32(c[10:], n)
	return c
}

func TestLoginNegotiation(t *testing.T) {
	_, addr, _ := newTarget(t)
	in := login(t, addr, iscsi.ISID{0x80, 1, 2, 3, 0, 1})
	p := in.sess.Params
	if !p.InitialR2T || p.ImmediateData || p.MaxXmitDataSegmentLength != maxRecvData || p.ErrorRecoveryLevel != 0 ||
		p.MaxBurstLength != maxBurst || p.MaxOutstandingR2T != 1 || in.sess.TPGT != 1 || in.sess.TSIH == 0 {
		t.Errorf("negotiated %+v TPGT %d TSIH %d", p, in.sess.TPGT, in.sess.TSIH)
	}
}

func TestLoginRefused(t *testing.T) {
	_, addr, _ := newTarget(t)
	for _, tc := range []struct {
		name   string
		cfg    iscsi.LoginConfig
		status uint16
	}{
		{"unknown target", iscsi.LoginConfig{TargetName: "iqn.2010-01.org.example:other"}, 0x0203},
		{"CHAP only", iscsi.LoginConfig{TargetName: testIQN, Credentials: iscsi.Credentials{Username: "u", Password: "secretsecret"}}, 0x0201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tc.cfg.InitiatorName = "iqn.2010-01.org.example:client"
			_, err = iscsi.Login(context.Background(), c, tc.cfg)
			var le *iscsi.LoginError
			if !errors.As(err, &le) || le.Status() != tc.status {
				t.Errorf("login: %v, want status 0x%04x", err, tc.status)
			}
		})
	}
}

func TestSCSICommands(t *testing.T) {
	tg, addr, disk := newTarget(t)
	in := login(t, addr, iscsi.ISID{0x80, 1, 2, 3, 0, 2})
	inquiry := func(evpd, page byte) []byte { return []byte{0x12, evpd, page, 0, 255, 0} }
	tests := []struct {
		name   string
		lun    uint64
		cdb    []byte
		read   int
		status byte
		check  func(t *testing.T, data, sense []byte)
	}{
		{"test unit ready", 1, []byte{0}, 0, statusGood, nil},
		{"test unit ready, LUN 0", 0, []byte{0}, 0, statusCheck, wantSense(0x05, 0x25)},
		{"inquiry", 1, inquiry(0, 0), 255, statusGood, func(t *testing.T, d, _ []byte) {
			if len(d) != 36 || d[0] != 0 || string(d[8:16]) != vendor || d[2] != 5 {
				t.Errorf("data %q", d)
			}
		}},
		{"inquiry, LUN 0", 0, inquiry(0, 0), 255, statusGood, wantByte0(0x3f)},
		{"inquiry, LUN 7", 7, inquiry(0, 0), 255, statusGood, wantByte0(0x7f)},
		{"VPD pages", 1, inquiry(1, 0), 255, statusGood, func(t *testing.T, d, _ []byte) {
			if !bytes.Equal(d, []byte{0, 0, 0, 3, 0x00, 0x80, 0x83}) {
				t.Errorf("data % x", d)
			}
		}},
		{"VPD serial", 1, inquiry(1, 0x80), 255, statusGood, func(t *testing.T, d, _ []byte) {
			if d[1] != 0x80 || string(d[4:]) != tg.serial() {
				t.Errorf("data %q", d)
			}
		}},
		{"VPD identification", 1, inquiry(1, 0x83), 255, statusGood, func(t *testing.T, d, _ []byte) {
			if d[1] != 0x83 || int(binary.BigEndian.Uint16(d[2:])) != len(d)-4 || d[5] != 0x01 || !strings.Contains(string(d), vendor) {
				t.Errorf("data % x", d)
			}
		}},
		{"VPD block limits (not offered)", 1, inquiry(1, 0xb0), 255, statusCheck, wantSense(0x05, 0x24)},
		{"inquiry cut to its allocation", 1, []byte{0x12, 0, 0, 0, 8, 0}, 8, statusGood, func(t *testing.T, d, _ []byte) {
			if len(d) != 8 {
				t.Errorf("%d bytes", len(d))
			}
		}},
		{"report luns", 0, []byte{0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, 256, statusGood, func(t *testing.T, d, _ []byte) {
			if !bytes.Equal(d, []byte{0, 0, 0, 8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}) {
				t.Errorf("data % x", d)
			}
		}},
		{"read capacity 10", 1, make10(0x25), 8, statusGood, func(t *testing.T, d, _ []byte) {
			if binary.BigEndian.Uint32(d) != 8191 || binary.BigEndian.Uint32(d[4:]) != 512 {
				t.Errorf("data % x", d)
			}
		}},
		{"read capacity 16", 1, append([]byte{0x9e, 0x10}, append(make([]byte, 8), 0, 0, 0, 32, 0, 0)...), 32, statusGood, func(t *testing.T, d, _ []byte) {
			if binary.BigEndian.Uint64(d) != 8191 || binary.BigEndian.Uint32(d[8:]) != 512 {
				t.Errorf("data % x", d)
			}
		}},
		{"mode sense 6 caching", 1, []byte{0x1a, 0, 0x08, 0, 255, 0}, 255, statusGood, func(t *testing.T, d, _ []byte) {
			if len(d) != 24 || d[0] != 23 || d[2]&0x80 != 0 || d[4] != 0x08 || d[6]&0x04 == 0 {
				t.Errorf("data % x", d)
			}
		}},
		{"mode sense 10 all pages", 1, []byte{0x5a, 0, 0x3f, 0, 0, 0, 0, 1, 0, 0}, 256, statusGood, func(t *testing.T, d, _ []byte) {
			if len(d) != 40 || binary.BigEndian.Uint16(d) != 38 || d[8] != 0x08 || d[28] != 0x0a {
				t.Errorf("data % x", d)
			}
		}},
		{"mode sense unknown page", 1, []byte{0x1a, 0, 0x19, 0, 255, 0}, 255, statusCheck, wantSense(0x05, 0x24)},
		{"read past the end", 1, cdb10(0x28, 8191, 2), 1024, statusCheck, wantSense(0x05, 0x21)},
		{"read(10)", 1, cdb10(0x28, 3, 2), 1024, statusGood, wantBlocks(3, 2)},
		{"read(16)", 1, cdb16(0x88, 4000, 1), 512, statusGood, wantBlocks(4000, 1)},
		{"read(6)", 1, []byte{0x08, 0, 0, 5, 1, 0}, 512, statusGood, wantBlocks(5, 1)},
		{"synchronize cache", 1, make10(0x35), 0, statusGood, nil},
		{"unknown opcode", 1, []byte{0xd7}, 0, statusCheck, wantSense(0x05, 0x20)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in.t = t
			status, data, sense := in.scsi(tc.lun, tc.cdb, tc.read, nil)
			if status != tc.status {
				t.Fatalf("status 0x%02x (sense % x), want 0x%02x", status, sense, tc.status)
			}
			if tc.check != nil {
				tc.check(t, data, sense)
			}
		})
	}

	// Writes: one crossing an R2T burst, and the 6- and 16-byte forms.
	in.t = t
	for _, w := range []struct {
		cdb  []byte
		lba  int
		size int
	}{
		{cdb10(0x2a, 100, 700), 100, 700 * 512},
		{cdb16(0x8a, 2000, 3), 2000, 3 * 512},
		{[]byte{0x0a, 0, 0, 9, 1, 0}, 9, 512},
	} {
		out := bytes.Repeat([]byte{0xa5, byte(w.lba)}, w.size/2)
		if status, _, sense := in.scsi(1, w.cdb, 0, out); status != statusGood {
			t.Fatalf("write at %d: status 0x%02x sense % x", w.lba, status, sense)
		}
		status, data, _ := in.scsi(1, cdb10(0x28, uint32(w.lba), uint16(w.size/512)), w.size, nil)
		if status != statusGood || !bytes.Equal(data, out) {
			t.Errorf("read back at %d: status 0x%02x, equal %v", w.lba, status, bytes.Equal(data, out))
		}
		f, _ := os.ReadFile(disk)
		if !bytes.Equal(f[w.lba*512:w.lba*512+w.size], out) {
			t.Errorf("disk file at %d differs", w.lba)
		}
	}
	if status, _, sense := in.scsi(1, cdb10(0x2a, 8191, 2), 0, make([]byte, 1024)); status != statusCheck || sense[12] != 0x21 {
		t.Errorf("write past the end: 0x%02x % x", status, sense)
	}

	// A NOP-Out ping is echoed.
	p := &iscsi.NOPOut{ITT: 77, TTT: reservedTag, CmdSN: in.cmdSN, ExpStatSN: in.expStatSN, Data: []byte("ping")}
	in.cmdSN++
	in.write(p.PDU())
	r := in.read()
	if r.Opcode() != iscsi.OpNOPIn || r.ITT() != 77 || string(r.Data) != "ping" {
		t.Errorf("NOP-In %v ITT %d data %q", r.Opcode(), r.ITT(), r.Data)
	}
	in.status(r)
	if got := be32(r.Header[28:]); got != in.cmdSN {
		t.Errorf("ExpCmdSN %d, want %d", got, in.cmdSN)
	}
}

func make10(op byte) []byte { return []byte{op, 0, 0, 0, 0, 0, 0, 0, 0, 0} }

func wantSense(key, asc byte) func(t *testing.T, _, sense []byte) {
	return func(t *testing.T, _, sense []byte) {
		if len(sense) < 14 || sense[2] != key || sense[12] != asc {
			t.Errorf("sense % x, want key 0x%02x ASC 0x%02x", sense, key, asc)
		}
	}
}

func wantByte0(b byte) func(t *testing.T, d, _ []byte) {
	return func(t *testing.T, d, _ []byte) {
		if len(d) == 0 || d[0] != b {
			t.Errorf("data % x, want byte 0 = 0x%02x", d, b)
		}
	}
}

// wantBlocks checks the pattern newTarget wrote: every byte of block b is
// byte(b).
func wantBlocks(lba, n int) func(t *testing.T, d, _ []byte) {
	return func(t *testing.T, d, _ []byte) {
		if len(d) != n*512 {
			t.Fatalf("%d bytes", len(d))
		}
		for i, v := range d {
			if v != byte(lba+i/512) {
				t.Fatalf("byte %d is %d, want %d", i, v, byte(lba+i/512))
			}
		}
	}
}

// readAsync reads PDUs until an Async Message.
func (in *initiator) readAsync() *iscsi.PDU {
	in.t.Helper()
	r := in.read()
	if r.Opcode() != iscsi.OpAsyncMessage || r.ITT() != reservedTag {
		in.t.Fatalf("got %v ITT %x, want an Async Message", r.Opcode(), r.ITT())
	}
	in.status(r)
	return r
}

func TestRequestLogout(t *testing.T) {
	tg, addr, _ := newTarget(t)
	in := login(t, addr, iscsi.ISID{0x80, 1, 2, 3, 0, 3})
	if _, err := tg.RequestLogout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	a := in.readAsync()
	if a.Header[36] != 1 || binary.BigEndian.Uint16(a.Header[42:]) != 5 {
		t.Fatalf("async event %d parameter3 %d", a.Header[36], binary.BigEndian.Uint16(a.Header[42:]))
	}
	lo := &iscsi.PDU{}
	lo.Header[0] = 0x40 | byte(iscsi.OpLogoutRequest)
	lo.Header[1] = 0x80 | 2
	put32(lo.Header[16:], 9)
	put32(lo.Header[24:], in.cmdSN)
	put32(lo.Header[28:], in.expStatSN)
	in.write(lo)
	r := in.read()
	if r.Opcode() != iscsi.OpLogoutResponse || r.ITT() != 9 || r.Header[2] != 0 {
		t.Fatalf("got %v ITT %d response %d", r.Opcode(), r.ITT(), r.Header[2])
	}
	in.status(r)
	if _, err := iscsi.ReadPDU(in.c, 1<<20); !errors.Is(err, io.EOF) {
		t.Errorf("after the logout: %v, want EOF", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, err := tg.WaitEvent(ctx, EventLogout, time.Time{})
	if err != nil || !strings.Contains(e.Detail, "reason 2") {
		t.Errorf("logout event %v, %v", e, err)
	}
	for _, e := range tg.Events() {
		if e.Kind == EventDrop {
			t.Errorf("target dropped the connection although the initiator logged out: %v", e)
		}
	}
}

func TestRequestLogoutIgnored(t *testing.T) {
	tg, addr, _ := newTarget(t)
	in := login(t, addr, iscsi.ISID{0x80, 1, 2, 3, 0, 4})
	sent, err := tg.RequestLogout(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	in.readAsync()
	if _, err := iscsi.ReadPDU(in.c, 1<<20); err == nil {
		t.Fatal("connection still open")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, err := tg.WaitEvent(ctx, EventDrop, sent.Time)
	if err != nil || e.Time.Sub(sent.Time) < time.Second {
		t.Errorf("drop %v (%v after the request), %v", e, e.Time.Sub(sent.Time), err)
	}
}

func TestDropConnection(t *testing.T) {
	tg, addr, _ := newTarget(t)
	in := login(t, addr, iscsi.ISID{0x80, 1, 2, 3, 0, 5})
	if _, err := tg.DropConnection(7*time.Second, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	a := in.readAsync()
	if a.Header[36] != 2 || binary.BigEndian.Uint16(a.Header[40:]) != 7 || binary.BigEndian.Uint16(a.Header[42:]) != 20 {
		t.Errorf("async % x", a.Header[36:44])
	}
	if _, err := iscsi.ReadPDU(in.c, 1<<20); err == nil {
		t.Fatal("connection still open")
	}
	if _, err := tg.DropConnection(time.Second, time.Second); err == nil {
		t.Errorf("second drop with no live connection: no error")
	}
}

func TestReinstatement(t *testing.T) {
	tg, addr, _ := newTarget(t)
	isid := iscsi.ISID{0x80, 1, 2, 3, 0, 6}
	first := login(t, addr, isid)
	second := login(t, addr, isid)
	if _, err := iscsi.ReadPDU(first.c, 1<<20); err == nil {
		t.Errorf("the reinstated session's old connection is still open")
	}
	if status, _, _ := second.scsi(1, []byte{0}, 0, nil); status != statusGood {
		t.Errorf("new connection: status 0x%02x", status)
	}
	found := false
	for _, e := range tg.Events() {
		found = found || e.Kind == EventLogin && strings.Contains(e.Detail, "reinstating the session of conn 1")
	}
	if !found {
		t.Errorf("no reinstatement event in %v", tg.Events())
	}
}

// FuzzConn feeds arbitrary bytes to a connection, after a valid login or
// instead of one: the target must never panic.
func FuzzConn(f *testing.F) {
	var login bytes.Buffer
	req := &iscsi.LoginRequest{Transit: true, CSG: iscsi.StageOperational, NSG: iscsi.StageFullFeature,
		ISID: iscsi.ISID{0x80, 0, 0, 1, 0, 0}, ITT: 1,
		Data: iscsi.EncodeText([]iscsi.KeyValue{{Key: "InitiatorName", Value: "iqn.x:i"}, {Key: "TargetName", Value: testIQN},
			{Key: "MaxRecvDataSegmentLength", Value: "512"}})}
	iscsi.WritePDU(&login, req.PDU())
	cmd := &iscsi.PDU{}
	cmd.Header[0], cmd.Header[1] = byte(iscsi.OpSCSICommand), 0xa1
	cmd.Header[9] = 1
	put32(cmd.Header[20:], 4096)
	copy(cmd.Header[32:], cdb10(0x2a, 0, 8))
	cb, _ := cmd.Marshal()
	f.Add(login.Bytes(), cb)
	f.Add(login.Bytes(), []byte{0x25, 0x80})
	f.Add([]byte{0x43}, []byte(nil))
	disk := filepath.Join(f.TempDir(), "disk.img")
	if err := os.WriteFile(disk, make([]byte, 64<<10), 0o644); err != nil {
		f.Fatal(err)
	}
	tg, err := New(Config{IQN: testIQN, Disk: disk})
	if err != nil {
		f.Fatal(err)
	}
	defer tg.Close()
	f.Fuzz(func(t *testing.T, head, body []byte) {
		client, server := net.Pipe()
		c := tg.newConn(server)
		done := make(chan struct{})
		go func() { c.serve(); close(done) }()
		go io.Copy(io.Discard, client)
		client.SetWriteDeadline(time.Now().Add(time.Second))
		client.Write(head)
		client.Write(body)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("connection did not end")
		}
	})
}
