package ibft_test

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/ibft"
)

func TestMarshalRoundTrip(t *testing.T) {
	onlyTarget := minimal()
	onlyTarget.Initiator, onlyTarget.NICs = nil, nil
	bift := full()
	bift.Signature = "BIFT"
	ibftSig := minimal()
	ibftSig.Signature = "IBFT"
	v6 := minimal()
	v6.NICs[0].IP, v6.NICs[0].PrefixLen, v6.NICs[0].Origin = ip("2001:db8::10"), 64, ibft.OriginRouterAdvertisement
	v6.NICs[0].Gateway = ip("fe80::1")
	invalid := minimal() // an unused, zeroed second target as some BIOSes write it
	invalid.Targets = append(invalid.Targets, ibft.Target{Index: 1, CHAP: ibft.CHAPOneWay})
	for name, tab := range map[string]*ibft.Table{
		"full": full(), "minimal": minimal(), "only a target": onlyTarget, "BIFT": bift, "IBFT": ibftSig,
		"IPv6 NIC": v6, "invalid block": invalid, "empty": {Signature: "iBFT"},
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := ibft.Marshal(tab)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if n := binary.LittleEndian.Uint32(raw[4:]); int(n) != len(raw) {
				t.Errorf("header length %d, table %d bytes", n, len(raw))
			}
			var sum byte
			for _, b := range raw {
				sum += b
			}
			if sum != 0 {
				t.Errorf("bytes sum to %#x", sum)
			}
			for slot := ibft.SlotInitiator; slot <= ibft.SlotTarget1; slot++ {
				if off := ibft.StructureOffset(raw, slot); off%16 != 0 {
					t.Errorf("slot %d at %#x, not 16-byte aligned", slot, off)
				}
			}
			got, err := ibft.Parse(raw)
			if err != nil {
				t.Fatalf("Parse(Marshal(t)): %v", err)
			}
			if !reflect.DeepEqual(got, tab) {
				t.Errorf("Parse(Marshal(t)) =\n%+v\nwant\n%+v", got, tab)
			}
			again, err := ibft.Marshal(got)
			if err != nil || !bytes.Equal(again, raw) {
				t.Errorf("Marshal(Parse(raw)) differs from raw (%v)", err)
			}
		})
	}
}

// TestMarshalLayout checks Marshal's bytes at the offsets of Linux's
// struct ibft_* (literal numbers, not the package's), so that Marshal and
// Parse cannot agree on a wrong layout.
func TestMarshalLayout(t *testing.T) {
	raw := mustMarshal(full())
	u16 := func(off int) int { return int(binary.LittleEndian.Uint16(raw[off:])) }
	str := func(lenOff int) string {
		n, off := u16(lenOff), u16(lenOff+2)
		if raw[off+n] != 0 {
			t.Errorf("string at %#x is not NUL-terminated", off)
		}
		return string(raw[off : off+n])
	}
	if string(raw[0:4]) != "iBFT" || raw[8] != 1 || string(raw[10:16]) != "NETRT\x00" || string(raw[16:24]) != "NETROOT\x00" {
		t.Errorf("ACPI header % x", raw[:36])
	}
	// Control: id 1, version 1, length 18, index 0, flags; extensions;
	// initiator, nic0, tgt0, nic1, tgt1.
	if !bytes.Equal(raw[48:54], []byte{1, 1, 18, 0, 0, 1}) {
		t.Errorf("control header % x", raw[48:54])
	}
	ini, nic0, tgt0, nic1, tgt1 := u16(56), u16(58), u16(60), u16(62), u16(64)
	if !bytes.Equal(raw[ini:ini+4], []byte{2, 1, 74, 0}) || str(ini+70) != "iqn.2010-01.org.example:client" ||
		!bytes.Equal(raw[ini+6:ini+22], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 77, 0, 5}) {
		t.Errorf("initiator at %#x: % x", ini, raw[ini:ini+74])
	}
	for i, n := range []int{nic0, nic1} {
		if !bytes.Equal(raw[n:n+5], []byte{3, 1, 102, 0, byte(i)}) {
			t.Errorf("NIC%d header % x", i, raw[n:n+6])
		}
	}
	if !bytes.Equal(raw[nic0+6:nic0+24], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 77, 0, 10, 24, 1}) ||
		!bytes.Equal(raw[nic0+90:nic0+98], []byte{0x52, 0x54, 0, 0x77, 0, 0x10, 0x10, 0}) || str(nic0+98) != "client" {
		t.Errorf("NIC0 % x", raw[nic0:nic0+102])
	}
	if u16(nic1+88) != 100 || raw[nic1+23] != 3 || raw[nic1+72+15] != 1 || u16(nic1+96) != 3<<3 {
		t.Errorf("NIC1 % x", raw[nic1:nic1+102])
	}
	if !bytes.Equal(raw[tgt0:tgt0+6], []byte{4, 1, 54, 0, 0, 3}) || u16(tgt0+22) != 3260 ||
		!bytes.Equal(raw[tgt0+24:tgt0+34], []byte{0, 1, 0, 0, 0, 0, 0, 0, 1, 0}) ||
		str(tgt0+34) != "iqn.2010-01.org.example:root" || str(tgt0+38) != "client-user" || str(tgt0+42) != "forward-secret-1" {
		t.Errorf("target0 % x", raw[tgt0:tgt0+54])
	}
	if raw[tgt1+6] != 0x20 || raw[tgt1+7] != 0x01 || !bytes.Equal(raw[tgt1+24:tgt1+26], []byte{0x40, 0x05}) ||
		raw[tgt1+32] != 2 || raw[tgt1+33] != 1 || str(tgt1+46) != "target-user" || str(tgt1+50) != "reverse-secret-2" {
		t.Errorf("target1 % x", raw[tgt1:tgt1+54])
	}
}

func TestMarshalErrors(t *testing.T) {
	for _, c := range []struct {
		name, want string
		edit       func(*ibft.Table)
	}{
		{"three NICs", "slots for two", func(t *ibft.Table) {
			t.NICs = append(t.NICs, t.NICs[0])
			t.NICs[2].Index = 2
		}},
		{"three targets", "slots for two", func(t *ibft.Table) {
			t.Targets = append(t.Targets, t.Targets[0])
			t.Targets[2].Index = 2
		}},
		{"repeated NIC index", "two NICs have index 0", func(t *ibft.Table) { t.NICs[1].Index = 0 }},
		{"repeated target index", "two targets have index 1", func(t *ibft.Table) { t.Targets[0].Index = 1 }},
		{"short MAC", "MAC address of 4 bytes", func(t *ibft.Table) { t.NICs[0].MAC = t.NICs[0].MAC[:4] }},
		{"no MAC", "MAC address of 0 bytes", func(t *ibft.Table) { t.NICs[0].MAC = nil }},
		{"IPv4 prefix 33", "prefix length 33", func(t *ibft.Table) { t.NICs[0].PrefixLen = 33 }},
		{"IPv4-mapped", "is IPv4-mapped", func(t *ibft.Table) { t.Targets[0].IP = ip("::ffff:10.77.0.1") }},
		{"unspecified", "is unspecified", func(t *ibft.Table) { t.NICs[0].Gateway = ip("0.0.0.0") }},
		{"zone", "has a zone", func(t *ibft.Table) { t.NICs[1].Gateway = ip("fe80::1%eth0") }},
		{"long OEM ID", "OEM ID is 7 bytes", func(t *ibft.Table) { t.OEMID = "NETROOT" }},
		{"signature", `signature "ACPI"`, func(t *ibft.Table) { t.Signature = "ACPI" }},
		{"NUL in a name", "target 0 name: NUL byte at 3", func(t *ibft.Table) { t.Targets[0].Name = "iqn\x00x" }},
		{"NUL in a secret", "target 1 reverse CHAP secret: NUL byte", func(t *ibft.Table) {
			t.Targets[1].ReverseCHAPSecret = ibft.NewSecret("a\x00")
		}},
		{"CHAP without a name", "CHAP without a CHAP name", func(t *ibft.Table) { t.Targets[0].CHAPName = "" }},
		{"mutual without a secret", "mutual CHAP without a reverse", func(t *ibft.Table) {
			t.Targets[1].ReverseCHAPSecret = ibft.Secret{}
		}},
		{"CHAP type 3", "unknown CHAP type 3", func(t *ibft.Table) { t.Targets[0].CHAP = 3 }},
		{"too big", "more than the 65535", func(t *ibft.Table) { t.Initiator.Name = strings.Repeat("x", 70000) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tab := full()
			c.edit(tab)
			_, err := ibft.Marshal(tab)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Marshal: %v, want an error with %q", err, c.want)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
	if _, err := ibft.Marshal(nil); err == nil {
		t.Error("Marshal(nil) succeeded")
	}
}
