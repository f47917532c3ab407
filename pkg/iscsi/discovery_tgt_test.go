package iscsi

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/blockdev"
)

// TestTGTSendTargets: tgtd with one target on two portals (127.0.0.1 and
// 127.0.0.2, like two subnets). tgt answers a SendTargets discovery with
// the address of the portal it was asked through only (LIO lists every
// portal of the portal group: TestDevmapperMultipathKernel), so each
// portal is asked. A session through each shows the same LUN: the same
// WWID, from the Device Identification page read with INQUIRY through
// each.
func TestTGTSendTargets(t *testing.T) {
	d := startTGT(t)
	const iqn = "iqn.2024-01.org.netroot:mpath"
	d.addTarget(t, 1, iqn)
	second := net.JoinHostPort("127.0.0.2", strconv.Itoa(freePort(t)))
	d.mustAdm(t, "--lld", "iscsi", "--mode", "portal", "--op", "new", "--param", "portal="+second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var portals []TargetPortal
	for _, asked := range []string{d.portal, second} {
		targets, err := DiscoverPortal(ctx, DiscoveryConfig{InitiatorName: testInitiator, Portal: asked}, ConnectOptions{MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SendTargets at %s: %+v", asked, targets)
		if len(targets) != 1 || targets[0].Name != iqn || len(targets[0].Portals) != 1 {
			t.Fatalf("targets %+v, want %s on one portal", targets, iqn)
		}
		p := targets[0].Portals[0]
		if p.Addr != asked || !p.HasTPGT || p.TPGT != 1 {
			t.Errorf("asked %s, tgt answered %v", asked, p)
		}
		portals = append(portals, p)
	}

	// Through each portal: a session, the LUN's identity.
	var ids []blockdev.SCSIIdent
	var pages [][3][]byte
	for _, p := range portals {
		s, conn, err := dialLogin(t, p.Addr, LoginConfig{TargetName: iqn})
		if err != nil {
			t.Fatalf("login through %s: %v", p.Addr, err)
		}
		in := &inquirer{conn: conn, cmdSN: s.CmdSN, expStatSN: s.ExpStatSN}
		var pg [3][]byte
		for i, page := range []int{-1, 0x80, 0x83} {
			if pg[i], err = in.inquiry(page); err != nil {
				t.Fatalf("INQUIRY page %d through %s: %v", page, p.Addr, err)
			}
		}
		id := blockdev.UdevSCSIIdent(pg[0], pg[1], pg[2])
		di, err := blockdev.ParseDeviceIdentification(pg[2])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("through %s: ID_SERIAL %s, kernel wwid %s, designators %v", p.Addr, id.Serial, di.KernelWWID(), di.Designators)
		ids = append(ids, id)
		pages = append(pages, pg)
	}
	if ids[0].Serial == "" || ids[0].Serial != ids[1].Serial {
		t.Errorf("the two portals show WWIDs %q and %q", ids[0].Serial, ids[1].Serial)
	}
	if os.Getenv("NETROOT_UPDATE_TESTDATA") == "1" {
		dir := filepath.Join("..", "blockdev", "testdata", "vpd", "tgt")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"inquiry", "vpd_pg80", "vpd_pg83"} {
			if err := os.WriteFile(filepath.Join(dir, name), pages[0][i], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// inquirer sends INQUIRY commands to LUN 1 over a logged-in connection.
type inquirer struct {
	conn             net.Conn
	cmdSN, expStatSN uint32
	itt              uint32
}

// inquiry returns the standard INQUIRY data (page -1) or VPD page, asking
// again after a unit attention.
func (in *inquirer) inquiry(page int) ([]byte, error) {
	for try := 0; try < 3; try++ {
		data, status, err := in.command(page)
		if err != nil {
			return nil, err
		}
		if status == 0 {
			return data, nil
		}
	}
	return nil, fmt.Errorf("INQUIRY keeps failing")
}

func (in *inquirer) command(page int) ([]byte, uint8, error) {
	const alloc = 4096
	in.itt++
	cmd := &PDU{}
	cmd.Header[0] = byte(OpSCSICommand)
	cmd.Header[1] = 0x80 | 0x40 | 0x01 // F, R, simple
	binary.BigEndian.PutUint64(cmd.Header[8:], 1<<48)
	binary.BigEndian.PutUint32(cmd.Header[16:], in.itt)
	binary.BigEndian.PutUint32(cmd.Header[20:], alloc)
	binary.BigEndian.PutUint32(cmd.Header[24:], in.cmdSN)
	binary.BigEndian.PutUint32(cmd.Header[28:], in.expStatSN)
	cdb := cmd.Header[32:48]
	cdb[0] = 0x12
	if page >= 0 {
		cdb[1], cdb[2] = 1, byte(page)
	}
	binary.BigEndian.PutUint16(cdb[3:], alloc)
	in.cmdSN++
	in.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := WritePDU(in.conn, cmd); err != nil {
		return nil, 0, err
	}
	var data bytes.Buffer
	for {
		p, err := ReadPDU(in.conn, 1<<18)
		if err != nil {
			return nil, 0, err
		}
		switch p.Opcode() {
		case 0x25: // SCSI Data-In
			off := binary.BigEndian.Uint32(p.Header[40:])
			if int(off) != data.Len() {
				return nil, 0, fmt.Errorf("Data-In at offset %d, have %d", off, data.Len())
			}
			data.Write(p.Data)
			if p.Flags()&0x01 != 0 { // S: the status is here
				in.expStatSN = binary.BigEndian.Uint32(p.Header[24:]) + 1
				return data.Bytes(), p.Header[3], nil
			}
		case OpSCSIResponse:
			in.expStatSN = binary.BigEndian.Uint32(p.Header[24:]) + 1
			return data.Bytes(), p.Header[3], nil
		case OpNOPIn:
		default:
			return nil, 0, fmt.Errorf("unexpected %v", p.Opcode())
		}
	}
}
