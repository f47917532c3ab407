package rig

import (
	"encoding/binary"
	"strings"
	"testing"
)

// frame builds an Ethernet/IPv4/TCP frame.
func frame(src, dst [4]byte, sport, dport uint16, seq uint32, syn bool, payload []byte) []byte {
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12] = 5 << 4
	if syn {
		tcp[13] = 0x02
	}
	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(tcp)+len(payload)))
	ip[9] = 6
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	eth := make([]byte, 14)
	binary.BigEndian.PutUint16(eth[12:], 0x0800)
	return append(append(append(eth, ip...), tcp...), payload...)
}

func pcapFile(frames ...[]byte) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b, 0xa1b2c3d4)
	binary.LittleEndian.PutUint32(b[20:], 1)
	for i, f := range frames {
		h := make([]byte, 16)
		binary.LittleEndian.PutUint32(h, uint32(1000+i))
		binary.LittleEndian.PutUint32(h[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(h[12:], uint32(len(f)))
		b = append(append(b, h...), f...)
	}
	return b
}

func loginPDU(op byte, flags byte, tsih uint16, status [2]byte, keys ...string) []byte {
	data := []byte(strings.Join(keys, "\x00") + "\x00")
	bhs := make([]byte, 48)
	bhs[0], bhs[1] = op, flags
	bhs[5], bhs[6], bhs[7] = byte(len(data)>>16), byte(len(data)>>8), byte(len(data))
	copy(bhs[8:], []byte{0x40, 0, 0, 1, 0, 0})
	binary.BigEndian.PutUint16(bhs[14:], tsih)
	bhs[36], bhs[37] = status[0], status[1]
	for len(data)%4 != 0 {
		data = append(data, 0)
	}
	return append(bhs, data...)
}

func TestParseLoginExchanges(t *testing.T) {
	ini, tgt := [4]byte{10, 77, 0, 10}, [4]byte{10, 77, 0, 2}
	req := loginPDU(0x43, 0x87, 0, [2]byte{}, "InitiatorName=iqn.x", "AuthMethod=None")
	rsp := loginPDU(0x23, 0x87, 5, [2]byte{0, 0}, "AuthMethod=None", "TargetPortalGroupTag=1")
	scsi := make([]byte, 48)
	scsi[0] = 0x01
	f := pcapFile(
		frame(ini, tgt, 40000, 3260, 99, true, nil),
		frame(tgt, ini, 3260, 40000, 499, true, nil),
		frame(ini, tgt, 40000, 3260, 100, false, req[:30]),
		frame(ini, tgt, 40000, 3260, 130, false, req[30:]),
		frame(ini, tgt, 40000, 3260, 100, false, req[:30]), // retransmission
		frame(tgt, ini, 3260, 40000, 500, false, append(rsp, scsi...)),
	)
	pdus, err := ParseLoginExchanges(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(pdus) != 2 {
		t.Fatalf("%d PDUs, want 2: %v", len(pdus), pdus)
	}
	if p := pdus[0]; p.Response || !p.Transit || p.CSG != 1 || p.NSG != 3 || strings.Join(p.Keys, ",") != "InitiatorName=iqn.x,AuthMethod=None" {
		t.Errorf("request %v", p)
	}
	if p := pdus[1]; !p.Response || p.TSIH != 5 || p.Keys[1] != "TargetPortalGroupTag=1" || p.From.Port() != 3260 {
		t.Errorf("response %v", p)
	}
	if s := pdus[1].String(); !strings.Contains(s, "T→I rsp status=0/0") || !strings.Contains(s, "tsih=5") {
		t.Errorf("String() = %q", s)
	}
	if _, err := ParseLoginExchanges([]byte("not a pcap file at all......")); err == nil {
		t.Errorf("garbage parsed")
	}
}

func FuzzParseLoginExchanges(f *testing.F) {
	ini, tgt := [4]byte{10, 77, 0, 10}, [4]byte{10, 77, 0, 2}
	req := loginPDU(0x43, 0x87, 0, [2]byte{}, "InitiatorName=iqn.x")
	f.Add(pcapFile(frame(ini, tgt, 1, 3260, 9, true, nil), frame(ini, tgt, 1, 3260, 10, false, req)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseLoginExchanges(b)
	})
}
