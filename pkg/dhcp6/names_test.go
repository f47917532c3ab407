package dhcp6

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// rawOption encodes one option as it travels: code, length, data.
func rawOption(code dhcpv6.OptionCode, data ...[]byte) []byte {
	d := bytes.Join(data, nil)
	b := binary.BigEndian.AppendUint16(nil, uint16(code))
	b = binary.BigEndian.AppendUint16(b, uint16(len(d)))
	return append(b, d...)
}

// wireName encodes a domain name uncompressed, root label included.
func wireName(labels ...string) []byte {
	var b []byte
	for _, l := range labels {
		b = append(append(b, byte(len(l))), l...)
	}
	return append(b, 0)
}

// pointerChain is a name of n one-byte labels, then m compression
// pointers back to it: a decoder that follows them and builds each name
// label by label copies about n²·m bytes from n+m of input.
func pointerChain(n, m int) []byte {
	b := bytes.Repeat([]byte{1, 'a'}, n)
	b = append(b, 0)
	for range m {
		b = append(b, 0xc0, 0)
	}
	return b
}

// iaHeader is an IA_NA's IAID (testIAID), T1 and T2, before its options.
var iaHeader = append(testIAID[:], 0, 0, 0, 0, 0, 0, 0, 0)

// parseWithin runs ParseMessage on b and fails t when it has not
// returned after d.
func parseWithin(t *testing.T, b []byte, d time.Duration) (*dhcpv6.Message, []string, error) {
	t.Helper()
	type result struct {
		m     *dhcpv6.Message
		notes []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		m, notes, err := ParseMessage(b)
		done <- result{m, notes, err}
	}()
	select {
	case r := <-done:
		return r.m, r.notes, r.err
	case <-time.After(d):
		t.Fatalf("ParseMessage of %d bytes has not returned after %v", len(b), d)
		return nil, nil, nil
	}
}

// TestParseMessagePointerBomb: a datagram from any host on the link,
// read before its transaction ID is checked, whose names point back
// thousands of times at a name of thousands of labels, is parsed at once:
// as the search list it is kept opaque and noted, inside an IA_NA the
// message is refused.
func TestParseMessagePointerBomb(t *testing.T) {
	bomb := pointerChain(4000, 4000)
	hdr := []byte{byte(dhcpv6.MessageTypeAdvertise), 1, 2, 3}

	b := append(hdr, rawOption(dhcpv6.OptionDomainSearchList, bomb)...)
	m, notes, err := parseWithin(t, b, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := m.Options.GetOne(dhcpv6.OptionDomainSearchList).(*dhcpv6.OptionGeneric)
	if !ok || !bytes.Equal(g.OptionData, bomb) {
		t.Errorf("option 24 decoded, want it kept as it came: %T", m.Options.GetOne(dhcpv6.OptionDomainSearchList))
	}
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "option 24 ") || len(notes[0]) > 200 {
		t.Errorf("notes %q, want one short note on option 24", notes)
	}

	// No size cap inside an IA_NA; the second bomb's name is within
	// DNS's 255 bytes, only its pointers give it away.
	for _, bomb := range [][]byte{bomb, pointerChain(127, 8000)} {
		b = append(hdr, rawOption(dhcpv6.OptionIANA, iaHeader, rawOption(dhcpv6.OptionDomainSearchList, bomb))...)
		if _, _, err := parseWithin(t, b, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "option 3 (IANA)") {
			t.Errorf("IA_NA holding %d bytes of pointers: error %v, want option 3's", len(bomb), err)
		}
	}
}

// TestParseMessageDomainNames: names in compressed form (RFC 8415
// section 10 forbids it), with a reserved label type or over 255 bytes,
// and name options over their size cap, are not decoded: kept opaque
// and noted without their data when informational, the message refused
// when in an option the exchange depends on.
func TestParseMessageDomainNames(t *testing.T) {
	hdr := []byte{byte(dhcpv6.MessageTypeReply), 1, 2, 3}
	addr := bytes.Repeat([]byte{0xfd}, 16)
	long := wireName(strings.Repeat("a", 63), strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("d", 63), "e")
	for _, tc := range []struct {
		name string
		opt  []byte
		want string // in the note; "" when the option decodes
	}{
		{"search list", rawOption(24, wireName("example", "org"), wireName("lab", "example", "org")), ""},
		{"FQDN", rawOption(39, []byte{0}, wireName("node7", "example", "org")), ""},
		{"partial FQDN (RFC 4704)", rawOption(39, []byte{0, 5, 'n', 'o', 'd', 'e', '7'}), ""},
		{"NTP server", rawOption(56, rawOption(1, addr), rawOption(3, wireName("ntp", "example", "org"))), ""},
		{"search list with a pointer", rawOption(24, wireName("hunter2", "org"), []byte{3, 'l', 'a', 'b', 0xc0, 0}), "compression pointer"},
		{"search list pointer bomb", rawOption(24, pointerChain(100, 200)), "compression pointer"},
		{"search list label type 0x40", rawOption(24, []byte{0x47}, []byte("hunter2"), []byte{0}), "reserved label type"},
		{"search list name over 255 bytes", rawOption(24, long), "over 255 bytes"},
		{"search list over its cap", rawOption(24, bytes.Repeat(wireName("hunter2", "example", "org"), 60)), "over the 1024"},
		{"FQDN with a pointer", rawOption(39, []byte{0}, []byte{7}, []byte("hunter2"), []byte{0xc0, 1}), "compression pointer"},
		{"FQDN label type 0x80", rawOption(39, []byte{0, 0x87}, []byte("hunter2"), []byte{0}), "reserved label type"},
		{"FQDN over its cap", rawOption(39, []byte{0}, bytes.Repeat([]byte{1, 'a'}, 200)), "over the 256"},
		{"NTP server FQDN with a pointer", rawOption(56, rawOption(1, addr), rawOption(3, []byte{7}, []byte("hunter2"), []byte{0xc0, 0})), "compression pointer"},
		{"relay message holding a pointer", rawOption(9, hdr, rawOption(24, []byte{0xc0, 0})), "compression pointer"},
	} {
		code := dhcpv6.OptionCode(binary.BigEndian.Uint16(tc.opt))
		m, notes, err := ParseMessage(append(hdr, tc.opt...))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		o := m.Options.GetOne(code)
		g, generic := o.(*dhcpv6.OptionGeneric)
		if tc.want == "" {
			if generic || len(notes) != 0 {
				t.Errorf("%s: not decoded (%T), notes %q", tc.name, o, notes)
			}
			continue
		}
		if !generic || !bytes.Equal(g.OptionData, tc.opt[4:]) {
			t.Errorf("%s: decoded as %T, want the data kept as it came", tc.name, o)
		}
		if len(notes) != 1 || !strings.HasPrefix(notes[0], fmt.Sprintf("option %d ", code)) || !strings.Contains(notes[0], tc.want) {
			t.Errorf("%s: notes %q, want one on option %d with %q", tc.name, notes, code, tc.want)
		}
		if strings.Contains(strings.Join(notes, " "), "hunter2") {
			t.Errorf("%s: a note echoes the option's data: %q", tc.name, notes)
		}
	}

	m, _, err := ParseMessage(append(hdr, rawOption(24, wireName("example", "org"), wireName("lab", "example", "org"))...))
	if err != nil {
		t.Fatal(err)
	}
	if l := m.Options.DomainSearchList(); l == nil || strings.Join(l.Labels, " ") != "example.org lab.example.org" {
		t.Errorf("search list %v", l)
	}

	for _, tc := range []struct {
		name string
		opt  []byte
		want string
	}{
		{"IA_NA holding a search list with a pointer", rawOption(3, iaHeader, rawOption(24, wireName("a"), []byte{0xc0, 0})), "compression pointer"},
		{"IA address holding an FQDN with a pointer", rawOption(3, iaHeader, rawOption(5, addr, make([]byte, 8), rawOption(39, []byte{0, 0xc0, 0}))), "compression pointer"},
		{"IA_NA holding an NTP server FQDN over 255 bytes", rawOption(3, iaHeader, rawOption(56, rawOption(3, long))), "over 255 bytes"},
	} {
		_, _, err := ParseMessage(append(hdr, tc.opt...))
		if err == nil || !strings.Contains(err.Error(), "option 3 (IANA)") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want option 3's with %q", tc.name, err, tc.want)
		}
	}
}
