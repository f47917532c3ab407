package iscsi

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestLoginRequestEncoding(t *testing.T) {
	req := &LoginRequest{Transit: true, CSG: StageOperational, NSG: StageFullFeature,
		ISID: ISID{0x80, 1, 2, 3, 0, 0}, TSIH: 0x0102, ITT: 0x0a0b0c0d, CID: 7, CmdSN: 0x11223344,
		ExpStatSN: 0x55667788, Data: []byte("A=B\x00")}
	b, err := req.PDU().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := "4387000000000004" + "8001020300000102" + "0a0b0c0d00070000" + "1122334455667788" +
		strings.Repeat("00", 16) + hex.EncodeToString([]byte("A=B\x00"))
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	p, n, err := DecodePDU(b, MaxLoginDataSegment)
	if err != nil || n != len(b) {
		t.Fatalf("decode: %v, %d", err, n)
	}
	back, err := ParseLoginRequest(p)
	if err != nil || !reflect.DeepEqual(back, req) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func TestLoginResponseBigEndianAndPadding(t *testing.T) {
	resp := &LoginResponse{Transit: true, CSG: StageOperational, NSG: StageFullFeature, TSIH: 0x0201,
		ITT: 1, StatSN: 0x01000000, ExpCmdSN: 2, MaxCmdSN: 3, StatusClass: 2, StatusDetail: 1, Data: []byte("abcde")}
	b, err := resp.PDU().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != BHSLen+8 || b[7] != 5 || b[24] != 1 || b[14] != 2 || b[15] != 1 {
		t.Fatalf("bad encoding % x", b)
	}
	got, err := ReadPDU(bytes.NewReader(b), MaxLoginDataSegment)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseLoginResponse(got)
	if err != nil || !reflect.DeepEqual(r, resp) {
		t.Fatalf("round trip %+v %v", r, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	big := (&LoginResponse{}).PDU()
	big.Header[5], big.Header[6], big.Header[7] = 0xff, 0xff, 0xff
	cases := map[string]struct {
		in   []byte
		want string
	}{
		"short header": {make([]byte, 47), "truncated"},
		"huge length":  {big.Header[:], "exceeds limit"},
		"short data":   {append((&LoginResponse{Data: []byte("xyz")}).PDU().Header[:0:0], mustMarshal(t, &LoginResponse{Data: []byte("xyz")})[:50]...), "truncated"},
	}
	for name, c := range cases {
		if _, _, err := DecodePDU(c.in, MaxLoginDataSegment); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	// ReadPDU refuses a huge data segment before allocating it.
	if _, err := ReadPDU(bytes.NewReader(big.Header[:]), MaxLoginDataSegment); err == nil {
		t.Error("ReadPDU accepted a 16 MiB data segment")
	}
	// A body cut short is an unexpected EOF.
	b := mustMarshal(t, &LoginResponse{Data: []byte("xyz")})
	if _, err := ReadPDU(bytes.NewReader(b[:50]), 100); !errors.Is(err, errUnexpectedEOF()) {
		t.Errorf("err = %v", err)
	}
	// T and C together are invalid.
	p := (&LoginResponse{Transit: true}).PDU()
	p.Header[1] |= continueBit
	if _, err := ParseLoginResponse(p); err == nil {
		t.Error("accepted T+C")
	}
}

func mustMarshal(t *testing.T, r *LoginResponse) []byte {
	b, err := r.PDU().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOtherPDUs(t *testing.T) {
	nop := (&NOPOut{Immediate: true, ITT: 9, TTT: 0xffffffff, CmdSN: 4, ExpStatSN: 5, Data: []byte("hi")}).PDU()
	if nop.Header[0] != 0x40 || nop.Header[1] != 0x80 || nop.ITT() != 9 {
		t.Errorf("NOP-Out header % x", nop.Header)
	}
	in := &PDU{}
	in.Header[0] = byte(OpNOPIn)
	in.put32(16, 9)
	in.put32(24, 77)
	n, err := ParseNOPIn(in)
	if err != nil || n.ITT != 9 || n.StatSN != 77 {
		t.Errorf("NOP-In %+v %v", n, err)
	}
	rj := &PDU{Data: make([]byte, 48)}
	rj.Header[0] = byte(OpReject)
	rj.Header[2] = 0x04
	r, err := ParseReject(rj)
	if err != nil || r.Reason != 4 || RejectReason(r.Reason) != "protocol error" || len(r.Header) != 48 {
		t.Errorf("Reject %+v %v", r, err)
	}
	tr := (&TextRequest{Final: true, ITT: 3, TTT: 0xffffffff, Data: EncodeText([]KeyValue{{"SendTargets", "All"}})}).PDU()
	tr.Header[0] = byte(OpTextResponse)
	resp, err := ParseTextResponse(tr)
	if err != nil || !resp.Final || resp.ITT != 3 {
		t.Errorf("Text %+v %v", resp, err)
	}
	if _, err := ParseNOPIn(tr); err == nil {
		t.Error("ParseNOPIn accepted a Text PDU")
	}
}

func TestParseText(t *testing.T) {
	cases := []struct {
		in      string
		want    []KeyValue
		wantErr string
	}{
		{"", nil, ""},
		{"A=1\x00B=2\x00", []KeyValue{{"A", "1"}, {"B", "2"}}, ""},
		{"TargetAddress=[fe80::1]:3260,1\x00", []KeyValue{{"TargetAddress", "[fe80::1]:3260,1"}}, ""},
		{"X-Vendor=a=b=c\x00", []KeyValue{{"X-Vendor", "a=b=c"}}, ""},
		{"HeaderDigest=CRC32C,None\x00\x00\x00", []KeyValue{{"HeaderDigest", "CRC32C,None"}}, ""},
		{"Empty=\x00", []KeyValue{{"Empty", ""}}, ""},
		{"A=1", nil, "not NUL-terminated"},
		{"A\x00", nil, "no '='"},
		{"=x\x00", nil, "length 0"},
		{"A=1\x00A=2\x00", nil, "repeated"},
		{strings.Repeat("K", 64) + "=1\x00", nil, "length 64"},
		{"K=" + strings.Repeat("v", maxValueLen+1) + "\x00", nil, "exceeds"},
	}
	for _, c := range cases {
		got, err := ParseText([]byte(c.in))
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseText(%.20q) err = %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseText(%.20q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if len(c.want) > 0 {
			if again, _ := ParseText(EncodeText(got)); !reflect.DeepEqual(again, got) {
				t.Errorf("round trip of %v = %v", got, again)
			}
		}
	}
}

func TestParseTargetAddress(t *testing.T) {
	cases := map[string]string{
		"10.0.0.2:3261,1":       "10.0.0.2:3261",
		"10.0.0.2":              "10.0.0.2:3260",
		"[fe80::1]:3262,2":      "[fe80::1]:3262",
		"[fe80::1]":             "[fe80::1]:3260",
		"target.example.com,12": "target.example.com:3260",
		"fe80::1":               "",
		"10.0.0.2:0":            "",
		"10.0.0.2:x":            "",
		"":                      "",
		"[fe80::1":              "",
		"a]:1":                  "",
		"[10.0.0.2]:3260":       "",
		"[fe80::1%eth0]:3260":   "[fe80::1%eth0]:3260",
	}
	for in, want := range cases {
		got, err := ParseTargetAddress(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("ParseTargetAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzTargetAddress: what a target redirects to is either refused with a
// short error or a host:port that parses again to itself, its port 1..65535.
func FuzzTargetAddress(f *testing.F) {
	for _, s := range []string{"10.0.0.2:3261,1", "[fe80::1]:3262,2", "target.example.com,12", "[a]b]:1", "a]:1", "[::1]:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTargetAddress(s)
		if err != nil {
			if len(err.Error()) > 512 { // the quoted words are cut short
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		host, port, err := net.SplitHostPort(got)
		if err != nil || host == "" {
			t.Fatalf("%q gave %q, which is no host:port: %v", s, got, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("%q gave port %q", s, port)
		}
		if again, err := ParseTargetAddress(got); err != nil || again != got {
			t.Fatalf("%q gave %q, which parses to %q, %v", s, got, again, err)
		}
	})
}

// FuzzDecodeCHAPBinary: a target's CHAP_C or CHAP_R decodes to 1..1024
// bytes or is refused; hex round-trips.
func FuzzDecodeCHAPBinary(f *testing.F) {
	for _, s := range []string{"0x0123", "0Xabc", "0bAAEC", "0b" + strings.Repeat("A", 2000), "0x", "0y00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeCHAPBinary(s)
		if err != nil {
			return
		}
		if len(b) == 0 || len(b) > maxCHAPBinary {
			t.Fatalf("%d bytes", len(b))
		}
		if again, err := DecodeCHAPBinary(encodeCHAPHex(b)); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("hex round trip of %x: %x, %v", b, again, err)
		}
	})
}

func TestCHAPVectors(t *testing.T) {
	chal := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	// Expected values computed independently with Python's hashlib.
	cases := []struct {
		alg    CHAPAlgorithm
		id     uint8
		secret string
		chal   []byte
		want   string
	}{
		{CHAPMD5, 1, "secret", chal, "bb84a7f2e418de521cf8e784e3597d7e"},
		{CHAPSHA1, 1, "secret", chal, "72f85824914875e1669e91a5e7c5eeb12fa17b6c"},
		{CHAPSHA256, 7, "password12345", bytes.Repeat([]byte{0x00, 0xff}, 8), "ca9ecf99d42e930585f2dd01c97dc4c165a502d14b9897fb4a72ca2cb07a6366"},
		{CHAPSHA3256, 255, "x", []byte{0}, "5f2e60790b96278a2890396a88dc5a30d0d10e6288da7dfc8e1129fcbaaf33e0"},
	}
	for _, c := range cases {
		got, err := CHAPResponse(c.alg, c.id, []byte(c.secret), c.chal)
		if err != nil || hex.EncodeToString(got) != c.want {
			t.Errorf("%v: %x, %v; want %s", c.alg, got, err, c.want)
		}
	}
	if _, err := CHAPResponse(CHAPAlgorithm(9), 0, nil, nil); err == nil {
		t.Error("unknown algorithm accepted")
	}
}

func TestDecodeCHAPBinary(t *testing.T) {
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	for _, in := range []string{"0x0102030405060708090a0b0c0d0e0f10", "0X0102030405060708090A0B0C0D0E0F10", "0bAQIDBAUGBwgJCgsMDQ4PEA=="} {
		got, err := DecodeCHAPBinary(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %x %v", in, got, err)
		}
	}
	if got, err := DecodeCHAPBinary("0xabc"); err != nil || !bytes.Equal(got, []byte{0x0a, 0xbc}) {
		t.Errorf("odd hex: %x %v", got, err)
	}
	for _, bad := range []string{"", "0x", "abcd", "0xzz", "0b!!!!", "0x" + strings.Repeat("00", maxCHAPBinary+1)} {
		if _, err := DecodeCHAPBinary(bad); err == nil {
			t.Errorf("%.20q accepted", bad)
		}
	}
	for in, want := range map[string]int{"0": 0, "255": 255, "0x1f": 31} {
		if got, err := parseCHAPIdentifier(in); err != nil || int(got) != want {
			t.Errorf("CHAP_I %s = %d %v", in, got, err)
		}
	}
	for _, bad := range []string{"256", "-1", "x", ""} {
		if _, err := parseCHAPIdentifier(bad); err == nil {
			t.Errorf("CHAP_I %q accepted", bad)
		}
	}
}

func TestCredentialsRedacted(t *testing.T) {
	c := Credentials{Username: "alice", Password: "p4ssw0rd-secret", InUsername: "tgt", InPassword: "in-secret-value"}
	s := &Session{Credentials: c, TargetName: "iqn.x"}
	cfg := LoginConfig{Credentials: c}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		for _, v := range []any{c, &c, s, *s, cfg, KernelParam{Name: "PASSWORD", Value: c.Password, Secret: true}} {
			out := fmt.Sprintf(f, v)
			if strings.Contains(out, "p4ssw0rd") || strings.Contains(out, "in-secret") ||
				strings.Contains(out, hex.EncodeToString([]byte("p4ssw0rd"))) {
				t.Errorf("%s of %T leaks a secret: %s", f, v, out)
			}
		}
	}
	if !strings.Contains(c.String(), "alice") {
		t.Errorf("user name should stay visible: %s", c)
	}
}

func TestISID(t *testing.T) {
	isid, err := NewISID(bytes.NewReader([]byte{0xaa, 0xbb, 0xcc}), 0x0102)
	if err != nil || isid != (ISID{0x80, 0xaa, 0xbb, 0xcc, 0x01, 0x02}) || isid.String() != "80aabbcc0102" {
		t.Fatalf("%v %v", isid, err)
	}
	if _, err := NewISID(bytes.NewReader(nil), 0); err == nil {
		t.Error("short randomness accepted")
	}
}

func FuzzDecodePDU(f *testing.F) {
	b, _ := (&LoginResponse{Transit: true, CSG: 1, NSG: 3, Data: []byte("A=B\x00")}).PDU().Marshal()
	f.Add(b)
	f.Add(make([]byte, 48))
	f.Add([]byte{0x3f, 0x80, 4, 0, 0, 0, 0, 48})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, n, err := DecodePDU(in, MaxLoginDataSegment)
		if err != nil {
			return
		}
		if n > len(in) || len(p.Data) > MaxLoginDataSegment {
			t.Fatalf("consumed %d of %d", n, len(in))
		}
		// Typed parsers must not panic either.
		ParseLoginResponse(p)
		ParseLoginRequest(p)
		ParseReject(p)
		ParseNOPIn(p)
		ParseTextResponse(p)
		ParseAsyncMessage(p)
		ParseLogoutResponse(p)
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		q, m, err := DecodePDU(out, MaxLoginDataSegment)
		if err != nil || m != len(out) || q.Header != p.Header || !bytes.Equal(q.Data, p.Data) || !bytes.Equal(q.AHS, p.AHS) {
			t.Fatalf("re-decode mismatch: %v", err)
		}
	})
}

func FuzzParseText(f *testing.F) {
	f.Add([]byte("A=1\x00B=2\x00"))
	f.Add([]byte("X=a=b\x00\x00"))
	f.Add([]byte("CHAP_C=0x0102\x00CHAP_I=1\x00"))
	f.Add([]byte("noequals\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		kvs, err := ParseText(in)
		if err != nil {
			return
		}
		again, err := ParseText(EncodeText(kvs))
		if err != nil || !reflect.DeepEqual(again, kvs) {
			t.Fatalf("round trip %v -> %v (%v)", kvs, again, err)
		}
		for _, kv := range kvs {
			DecodeCHAPBinary(kv.Value)
			parseCHAPIdentifier(kv.Value)
			ParseTargetAddress(kv.Value)
		}
	})
}

func errUnexpectedEOF() error { return ioErrUnexpectedEOF }

var ioErrUnexpectedEOF = io.ErrUnexpectedEOF

func TestStableISID(t *testing.T) {
	a := StableISID("iqn.2010-01.org.example:client", "iqn.2010-01.org.example:root", 0)
	b := StableISID("iqn.2010-01.org.example:client", "iqn.2010-01.org.example:root", 0)
	if a != b {
		t.Fatalf("not stable: %v %v", a, b)
	}
	if a[0] != 0x80 {
		t.Errorf("type byte %#x, want 0x80 (random format)", a[0])
	}
	if c := StableISID("iqn.2010-01.org.example:other", "iqn.2010-01.org.example:root", 0); c == a {
		t.Errorf("two initiators share ISID %v", a)
	}
	if d := StableISID("iqn.2010-01.org.example:client", "iqn.2010-01.org.example:root", 1); d == a || d[5] != 1 {
		t.Errorf("qualifier not applied: %v", d)
	}
}
