package ibft_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/ibft"
)

// handBuilt is a table laid out the way iPXE lays its own out (initiator
// at 0x50, NIC at 0xa0, target at 0x110, strings from 0x150), written
// byte by byte at the offsets of Linux's structs.
func handBuilt() []byte {
	b := make([]byte, 0x1a0)
	le := binary.LittleEndian
	copy(b, "iBFT")
	le.PutUint32(b[4:], uint32(len(b)))
	b[8] = 1
	copy(b[10:], "FENSYS")
	copy(b[16:], "iPXE")
	copy(b[48:], []byte{1, 1, 18, 0, 0, 0, 0, 0, 0x50, 0, 0xa0, 0, 0x10, 1, 0, 0, 0, 0})
	put := func(lenOff, off int, s string) {
		le.PutUint16(b[lenOff:], uint16(len(s)))
		le.PutUint16(b[lenOff+2:], uint16(off))
		copy(b[off:], s)
	}
	mapped := func(off int, a, c, d, e byte) { copy(b[off+10:], []byte{0xff, 0xff, a, c, d, e}) }
	// Initiator.
	copy(b[0x50:], []byte{2, 1, 74, 0, 0, 3})
	put(0x50+70, 0x150, "iqn.2010-04.org.ipxe:0000")
	// NIC.
	copy(b[0xa0:], []byte{3, 1, 102, 0, 0, 3})
	mapped(0xa0+6, 10, 77, 0, 100)
	b[0xa0+22], b[0xa0+23] = 24, 3
	mapped(0xa0+24, 10, 77, 0, 1)
	mapped(0xa0+40, 10, 77, 0, 2)
	mapped(0xa0+72, 10, 77, 0, 1)
	copy(b[0xa0+90:], []byte{0x52, 0x54, 0, 0x77, 0, 0x10})
	le.PutUint16(b[0xa0+96:], 0x0018) // 00:03.0
	put(0xa0+98, 0x16a, "client")
	// Target.
	copy(b[0x110:], []byte{4, 1, 54, 0, 0, 3})
	mapped(0x110+6, 10, 77, 0, 1)
	le.PutUint16(b[0x110+22:], 3260)
	b[0x110+25] = 1 // LUN 1
	put(0x110+34, 0x171, "iqn.2010-01.org.example:root")
	ibft.FixChecksum(b)
	return b
}

func TestParseHandBuilt(t *testing.T) {
	got, err := ibft.Parse(handBuilt())
	if err != nil {
		t.Fatal(err)
	}
	want := &ibft.Table{
		Signature: "iBFT", OEMID: "FENSYS", OEMTableID: "iPXE",
		Initiator: &ibft.Initiator{Flags: 3, Name: "iqn.2010-04.org.ipxe:0000"},
		NICs: []ibft.NIC{{
			Flags: 3, IP: ip("10.77.0.100"), PrefixLen: 24, Origin: ibft.OriginDHCP, Gateway: ip("10.77.0.1"),
			PrimaryDNS: ip("10.77.0.2"), DHCPServer: ip("10.77.0.1"), MAC: mac("52:54:00:77:00:10"),
			PCI: ibft.NewBDF(0, 3, 0), Hostname: "client",
		}},
		Targets: []ibft.Target{{Flags: 3, IP: ip("10.77.0.1"), Port: 3260, LUN: ibft.LUNFromInt(1), Name: "iqn.2010-01.org.example:root"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
	}
	n := got.NICs[0]
	if p, ok := n.Prefix(); !ok || p.String() != "10.77.0.100/24" || !n.DHCP() || n.PCI.String() != "0000:00:03.0" {
		t.Errorf("NIC helpers: %v %v %v %v", p, ok, n.DHCP(), n.PCI)
	}
	if g := got.Targets[0]; g.Portal().String() != "10.77.0.1:3260" || g.LUN.Int() != 1 {
		t.Errorf("target helpers: %v %v", g.Portal(), g.LUN)
	}
	if nic, ok := got.NIC(0); !ok || nic.MAC.String() != "52:54:00:77:00:10" {
		t.Errorf("NIC(0) = %v, %v", nic, ok)
	}
	if _, ok := got.NIC(1); ok {
		t.Error("NIC(1) found a NIC the table lacks")
	}
}

// TestParseLenient covers what real firmware writes and Linux reads: a
// slot pointing at a zeroed (reserved, ID 0) structure, bytes past the
// table's length, a string cut by a NUL, a hostname of length 0.
func TestParseLenient(t *testing.T) {
	raw := mustMarshal(full())
	off := ibft.StructureOffset(raw, ibft.SlotTarget1)
	clear(raw[off : off+ibft.TargetLen])
	ibft.FixChecksum(raw)
	got, err := ibft.Parse(append(raw, "trailing bytes"...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Targets) != 1 || got.Targets[0].Index != 0 {
		t.Errorf("targets %+v, want target 0 alone", got.Targets)
	}

	raw = mustMarshal(minimal())
	off = ibft.StructureOffset(raw, ibft.SlotTarget0)
	nameOff := int(binary.LittleEndian.Uint16(raw[off+36:]))
	raw[nameOff+3] = 0
	ibft.FixChecksum(raw)
	if got, err = ibft.Parse(raw); err != nil || got.Targets[0].Name != "iqn" {
		t.Errorf("name with a NUL: %q, %v; want \"iqn\" as Linux prints it", got.Targets[0].Name, err)
	}
}

func TestParseErrors(t *testing.T) {
	le := binary.LittleEndian
	slot := func(raw []byte, s int) int { return ibft.StructureOffset(raw, s) }
	for _, c := range []struct {
		name, want string
		edit       func([]byte) []byte
	}{
		{"shorter than a header", "shorter than its 48-byte header", func(b []byte) []byte { return b[:47] }},
		{"signature", `signature "ACPI"`, func(b []byte) []byte { copy(b, "ACPI"); return b }},
		{"length too small", "length 60 is shorter than the header and control", func(b []byte) []byte {
			le.PutUint32(b[4:], 60)
			return b
		}},
		{"truncated", "but the table has only 300 bytes (truncated)", func(b []byte) []byte { return b[:300] }},
		{"revision 2", "revision 2: Linux's iscsi_ibft reads only revision 1", func(b []byte) []byte { b[8] = 2; return b }},
		{"control ID", "control structure at 0x0030: structure ID 2, want 1", func(b []byte) []byte { b[48] = 2; return b }},
		{"control version", "control structure at 0x0030: version 2", func(b []byte) []byte { b[49] = 2; return b }},
		{"control length", "control structure at 0x0030: length 20, want 18", func(b []byte) []byte { b[50] = 20; return b }},
		{"control index", "control structure at 0x0030: index 1", func(b []byte) []byte { b[52] = 1; return b }},
		{"slot into the header", "NIC slot 1 at 0x0020: offset points into the ACPI header", func(b []byte) []byte {
			le.PutUint16(b[62:], 0x20)
			return b
		}},
		{"slot past the end", "target slot 0 at 0xfff0: offset is past the end", func(b []byte) []byte {
			le.PutUint16(b[60:], 0xfff0)
			return b
		}},
		{"wrong structure", "NIC slot 0 at 0x0180: structure ID 4 (target), want 3 (NIC)", func(b []byte) []byte {
			le.PutUint16(b[58:], uint16(slot(b, ibft.SlotTarget0)))
			return b
		}},
		{"unknown structure", "structure ID 9 (unknown), want 2 (initiator)", func(b []byte) []byte {
			b[slot(b, ibft.SlotInitiator)] = 9
			return b
		}},
		{"structure version", "target slot 1 at 0x01c0: version 0, want 1", func(b []byte) []byte {
			b[slot(b, ibft.SlotTarget1)+1] = 0
			return b
		}},
		{"structure length", "NIC slot 1 at 0x0110: length 100, want 102", func(b []byte) []byte {
			b[slot(b, ibft.SlotNIC1)+2] = 100
			return b
		}},
		{"overlap", "NIC slot 1 at 0x00a8: overlaps NIC slot 0 at 0x00a0", func(b []byte) []byte {
			n0 := slot(b, ibft.SlotNIC0)
			copy(b[n0+8:], b[n0:n0+6])
			le.PutUint16(b[62:], uint16(n0+8))
			return b
		}},
		{"same structure twice", "target slot 1 at 0x0180: overlaps target slot 0 at 0x0180", func(b []byte) []byte {
			le.PutUint16(b[64:], uint16(slot(b, ibft.SlotTarget0)))
			return b
		}},
		{"string past the end", "target slot 0 name at 0x021c: the 1000-byte string runs past the end of the 685-byte table", func(b []byte) []byte {
			le.PutUint16(b[slot(b, ibft.SlotTarget0)+34:], 1000)
			return b
		}},
		{"string at offset 0", "initiator name at 0x0000: a 30-byte string at offset 0", func(b []byte) []byte {
			le.PutUint16(b[slot(b, ibft.SlotInitiator)+72:], 0)
			return b
		}},
		{"string into the header", "NIC slot 0 hostname at 0x0010: string points into the ACPI header", func(b []byte) []byte {
			le.PutUint16(b[slot(b, ibft.SlotNIC0)+100:], 0x10)
			return b
		}},
		{"repeated index", "target 0: two targets have index 0", func(b []byte) []byte {
			b[slot(b, ibft.SlotTarget1)+4] = 0
			return b
		}},
		{"CHAP type", "target 1: unknown CHAP type 7", func(b []byte) []byte {
			b[slot(b, ibft.SlotTarget1)+32] = 7
			return b
		}},
		{"IPv4 prefix", "NIC 1: prefix length 40, more than the address's 32 bits", func(b []byte) []byte {
			b[slot(b, ibft.SlotNIC1)+22] = 40
			return b
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := c.edit(mustMarshal(full()))
			if len(raw) >= ibft.HeaderLen && c.name != "revision 2" {
				ibft.FixChecksum(raw)
			}
			_, err := ibft.Parse(raw)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse: %v\nwant an error with %q", err, c.want)
			}
			var fe *ibft.FormatError
			if !errors.As(err, &fe) {
				t.Errorf("%T is not a *FormatError", err)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

func TestParseChecksum(t *testing.T) {
	raw := mustMarshal(full())
	raw[len(raw)-1] ^= 0x40
	_, err := ibft.Parse(raw)
	if !errors.Is(err, ibft.ErrChecksum) || !strings.Contains(err.Error(), "sum to 0x40, not 0") {
		t.Errorf("Parse: %v, want ErrChecksum", err)
	}
}

// TestParseEveryPrefix parses every truncation and every single-byte
// change of a table: errors, never a panic, and whatever parses
// marshals back.
func TestParseEveryPrefix(t *testing.T) {
	raw := mustMarshal(full())
	for n := range len(raw) {
		if _, err := ibft.Parse(raw[:n]); err == nil {
			t.Errorf("Parse(raw[:%d]) succeeded", n)
		}
	}
	for i := range raw {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := append([]byte(nil), raw...)
			b[i] ^= x
			ibft.FixChecksum(b)
			if tab, err := ibft.Parse(b); err == nil {
				if _, err := ibft.Marshal(tab); err != nil {
					t.Errorf("byte %d ^ %#x: parsed, but Marshal: %v", i, x, err)
				}
			}
		}
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	tab := full()
	raw := mustMarshal(tab)
	parsed, err := ibft.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{tab, *tab, parsed, tab.Targets, tab.Targets[1], &tab.Targets[1], tab.Targets[1].CHAPSecret} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
			out := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(out, s) || strings.Contains(out, fmt.Sprintf("%x", s)) {
					t.Errorf("Sprintf(%q, %T) shows a secret: %s", verb, v, out)
				}
			}
		}
	}
	s := ibft.NewSecret("x")
	if s.String() != "***" || fmt.Sprintf("%#v", s) != `ibft.Secret{"***"}` || s.Reveal() != "x" || s.IsZero() {
		t.Errorf("Secret: %s %#v %q", s, s, s.Reveal())
	}
	if z := (ibft.Secret{}); z.String() != "" || !z.IsZero() {
		t.Errorf("zero Secret prints %q", z)
	}
}

func TestLUN(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want ibft.LUN
	}{
		{0, ibft.LUN{}},
		{1, ibft.LUN{0, 1}},
		{255, ibft.LUN{0, 255}},
		{0x4005, ibft.LUN{0x40, 0x05}},              // flat space addressing, LUN 5
		{0x0001_0002, ibft.LUN{0, 2, 0, 1}},         // two levels
		{1 << 48, ibft.LUN{0, 0, 0, 0, 0, 0, 0, 1}}, // the last level
	} {
		if got := ibft.LUNFromInt(c.n); got != c.want {
			t.Errorf("LUNFromInt(%#x) = % x, want % x", c.n, got, c.want)
		}
		if got := c.want.Int(); got != c.n {
			t.Errorf("(% x).Int() = %#x, want %#x", c.want, got, c.n)
		}
	}
	if s := ibft.LUNFromInt(1).String(); s != "1" {
		t.Errorf("String() = %q", s)
	}
}

func TestBDF(t *testing.T) {
	b := ibft.NewBDF(0x81, 0x1f, 7)
	if b != 0x81ff || b.Bus() != 0x81 || b.Device() != 0x1f || b.Function() != 7 || b.String() != "0000:81:1f.7" {
		t.Errorf("NewBDF(0x81, 0x1f, 7) = %#x %s", uint16(b), b)
	}
}

func TestEnumStrings(t *testing.T) {
	if ibft.OriginDHCP.String() != "dhcp" || ibft.Origin(9).String() != "Origin(9)" ||
		ibft.CHAPMutual.String() != "mutual CHAP" || ibft.CHAPType(5).String() != "CHAPType(5)" {
		t.Error("enum names")
	}
	if !(ibft.BlockValid | ibft.FirmwareBootSelected).Has(ibft.FirmwareBootSelected) || ibft.BlockValid.Has(ibft.FirmwareBootSelected) {
		t.Error("Flags.Has")
	}
}

// TestParseIPXE parses a table iPXE 1.0.0+git-20190125 (Debian
// ipxe-qemu, QEMU's virtio-net boot ROM) left in base memory after
// "sanhook" to tgtd with mutual CHAP, as TestIBFTiPXESanhook captured it.
func TestParseIPXE(t *testing.T) {
	raw, err := os.ReadFile("testdata/ipxe-sanhook.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ibft.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	valid := ibft.BlockValid | ibft.FirmwareBootSelected
	want := &ibft.Table{
		Signature: "iBFT", OEMID: "FENSYS", OEMTableID: "iPXE",
		Initiator: &ibft.Initiator{Flags: valid, Name: "iqn.2010-01.org.example:client"},
		NICs: []ibft.NIC{{
			Flags: valid, IP: ip("10.77.0.145"), PrefixLen: 24, Origin: ibft.OriginDHCP,
			Gateway: ip("10.77.0.1"), DHCPServer: ip("10.77.0.1"), MAC: mac("52:54:00:77:00:10"), PCI: ibft.NewBDF(0, 2, 0),
		}},
		Targets: []ibft.Target{{
			Flags: valid, IP: ip("10.77.0.1"), Port: 3260, LUN: ibft.LUNFromInt(1), Name: "iqn.2010-01.org.example:root",
			CHAP: ibft.CHAPMutual, CHAPName: "client-user", CHAPSecret: ibft.NewSecret("forward-secret-1"),
			ReverseCHAPName: "target-user", ReverseCHAPSecret: ibft.NewSecret("reverse-secret-2"),
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
	}
	if again, err := ibft.Parse(mustMarshal(got)); err != nil || !reflect.DeepEqual(again, got) {
		t.Errorf("Parse(Marshal(iPXE's table)) = %+v, %v", again, err)
	}
}
