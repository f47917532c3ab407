package ibft

import (
	"fmt"
	"strings"
	"testing"
)

// kernelLUN prints l as iscsi_ibft does: %x per byte.
func kernelLUN(l LUN) string {
	var b strings.Builder
	for _, c := range l {
		fmt.Fprintf(&b, "%x", c)
	}
	return b.String()
}

// TestSysfsLUNInUse reads back every single-level LUN: peripheral
// addressing on bus 0 (0-255) and flat addressing (0-16383).
func TestSysfsLUNInUse(t *testing.T) {
	var luns []LUN
	for n := range 256 {
		luns = append(luns, LUN{0, byte(n)})
	}
	for n := range 1 << 14 {
		luns = append(luns, LUN{0x40 | byte(n>>8), byte(n)})
	}
	for _, l := range luns {
		got, err := parseSysfsLUN(kernelLUN(l))
		if err != nil || got != l {
			t.Fatalf("parseSysfsLUN(%q) = % x, %v; want % x", kernelLUN(l), got, err, l)
		}
	}
}

func TestSysfsLUNForms(t *testing.T) {
	for _, c := range []struct {
		in   string
		want LUN
		err  string
	}{
		{"01000000", LUN{0, 1}, ""},
		{"0ff000000", LUN{0, 0xff}, ""},
		{"405000000", LUN{0x40, 5}, ""},                            // also reads 04 00 50 …
		{"7fff000000", LUN{0x7f, 0xff}, ""},                        // also reads 7f 0f f0 …
		{"0102030405060708", LUN{}, "not 8 bytes printed with %x"}, // 16 digits are 8 two-digit bytes, none starting with 0
		{"1020304050607080", LUN{0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80}, ""},
		{"0000000", LUN{}, "7 hex digits, want 8 to 16"},
		{"00000000000000000", LUN{}, "17 hex digits"},
		{"0000000g", LUN{}, "not hex digits"},
		{"0000000000", LUN{}, "not 8 bytes printed with %x"},
		{"1111111111", LUN{}, "readings"},
	} {
		got, err := parseSysfsLUN(c.in)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("parseSysfsLUN(%q) = % x, %v; want % x", c.in, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parseSysfsLUN(%q) = % x, %v; want an error with %q", c.in, got, err, c.err)
		}
	}
}

// FuzzSysfsLUN: whatever reading parseSysfsLUN picks prints back as its
// input, and a LUN in use reads back as itself.
func FuzzSysfsLUN(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0}, "01000000")
	f.Add([]byte{0x40, 5, 0, 0, 0, 0, 0, 0}, "405000000")
	f.Add([]byte{1, 0x23, 0, 0, 0, 0, 0, 0}, "123000000")
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		if got, err := parseSysfsLUN(s); err == nil && kernelLUN(got) != strings.ToLower(s) {
			t.Fatalf("parseSysfsLUN(%q) = % x, which prints as %q", s, got, kernelLUN(got))
		}
		if len(b) < 8 {
			return
		}
		l := LUN(b[:8])
		got, err := parseSysfsLUN(kernelLUN(l))
		if err == nil && kernelLUN(got) != kernelLUN(l) {
			t.Fatalf("% x prints as %q, read back as % x", l, kernelLUN(l), got)
		}
		if [6]byte(l[2:]) == [6]byte{} && (l[0] == 0 || l[0]&0xc0 == 0x40) && (err != nil || got != l) {
			t.Fatalf("LUN in use % x (%q) read back as % x, %v", l, kernelLUN(l), got, err)
		}
	})
}
