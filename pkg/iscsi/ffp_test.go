package iscsi

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// checkFullFeature proves the login reached full feature phase: a NOP-Out
// ping is answered by a NOP-In, and a SCSI TEST UNIT READY to LUN 1 is
// answered by a SCSI Response, both using the sequence numbers the Session
// hands to the kernel.
func checkFullFeature(t *testing.T, conn net.Conn, s *Session) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetDeadline(time.Time{})

	const pingITT = 0x1234
	ping := (&NOPOut{Immediate: true, ITT: pingITT, TTT: 0xffffffff, CmdSN: s.CmdSN, ExpStatSN: s.ExpStatSN,
		Data: []byte("ping")}).PDU()
	if err := WritePDU(conn, ping); err != nil {
		t.Fatal(err)
	}
	p, err := ReadPDU(conn, 1<<16)
	if err != nil {
		t.Fatalf("read NOP-In: %v", err)
	}
	in, err := ParseNOPIn(p)
	if err != nil {
		t.Fatal(err)
	}
	if in.ITT != pingITT || string(in.Data) != "ping" || in.StatSN != s.ExpStatSN {
		t.Fatalf("NOP-In ITT=%#x data=%q StatSN=%d, want ITT=%#x data=ping StatSN=%d", in.ITT, in.Data, in.StatSN, pingITT, s.ExpStatSN)
	}

	// TEST UNIT READY (all-zero CDB) to LUN 1, simple task attribute.
	const turITT = 0x5678
	cmd := &PDU{}
	cmd.Header[0] = byte(OpSCSICommand)
	cmd.Header[1] = 0x80 | 0x01
	binary.BigEndian.PutUint64(cmd.Header[8:], 1<<48) // LUN 1, flat/peripheral addressing
	binary.BigEndian.PutUint32(cmd.Header[16:], turITT)
	binary.BigEndian.PutUint32(cmd.Header[24:], s.CmdSN)
	binary.BigEndian.PutUint32(cmd.Header[28:], in.StatSN+1)
	if err := WritePDU(conn, cmd); err != nil {
		t.Fatal(err)
	}
	p, err = ReadPDU(conn, 1<<16)
	if err != nil {
		t.Fatalf("read SCSI Response: %v", err)
	}
	if p.Opcode() != OpSCSIResponse || p.ITT() != turITT {
		t.Fatalf("got %v ITT %#x, want SCSI Response ITT %#x", p.Opcode(), p.ITT(), turITT)
	}
	// Response 0x00 = command completed at target; status GOOD (0) or
	// CHECK CONDITION (2, a unit attention on the first command).
	if resp, status := p.Header[2], p.Header[3]; resp != 0 || (status != 0 && status != 2) {
		t.Fatalf("TEST UNIT READY: response %#x status %#x", resp, status)
	}
	if got := binary.BigEndian.Uint32(p.Header[28:]); got != s.CmdSN+1 {
		t.Errorf("ExpCmdSN after one command = %d, want %d", got, s.CmdSN+1)
	}
}
