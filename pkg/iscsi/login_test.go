package iscsi

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeTarget answers login requests on one end of a net.Pipe with a
// scripted handler. It reassembles requests sent with the C bit (acking each
// part with an empty response) before calling the handler.
type fakeTarget struct {
	t       *testing.T
	statSN  uint32
	reqs    []*LoginRequest // complete (reassembled) requests
	texts   [][]KeyValue
	chosen  string // the CHAP_A a CHAP target chose
	handler func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU
}

func (f *fakeTarget) resp(req *LoginRequest, transit bool, nsg Stage, kvs ...KeyValue) *LoginResponse {
	f.statSN++
	r := &LoginResponse{Transit: transit, CSG: req.CSG, ISID: req.ISID, TSIH: req.TSIH, ITT: req.ITT,
		StatSN: f.statSN, ExpCmdSN: req.CmdSN, MaxCmdSN: req.CmdSN + 1, Data: EncodeText(kvs)}
	if transit {
		r.NSG = nsg
		if nsg == StageFullFeature && r.TSIH == 0 {
			r.TSIH = 0x42
		}
	}
	return r
}

func (f *fakeTarget) serve(conn net.Conn) {
	defer conn.Close()
	var pending []byte
	for {
		p, err := ReadPDU(conn, 1<<20)
		if err != nil {
			return
		}
		req, err := ParseLoginRequest(p)
		if err != nil {
			return
		}
		pending = append(pending, req.Data...)
		if req.Continue {
			ack := f.resp(req, false, 0)
			if WritePDU(conn, ack.PDU()) != nil {
				return
			}
			continue
		}
		kvs, err := ParseText(pending)
		pending = nil
		if err != nil {
			f.t.Errorf("fake target: bad text: %v", err)
			return
		}
		f.reqs = append(f.reqs, req)
		f.texts = append(f.texts, kvs)
		for _, out := range f.handler(f, req, kvs) {
			if WritePDU(conn, out) != nil {
				return
			}
		}
	}
}

func runFake(t *testing.T, cfg LoginConfig, h func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU) (*Session, error, *fakeTarget) {
	t.Helper()
	c1, c2 := net.Pipe()
	f := &fakeTarget{t: t, handler: h}
	done := make(chan struct{})
	go func() { f.serve(c2); close(done) }()
	if cfg.InitiatorName == "" {
		cfg.InitiatorName = testInitiator
	}
	if cfg.TargetName == "" {
		cfg.TargetName = "iqn.2024-01.org.example:root"
	}
	if cfg.Portal == "" {
		cfg.Portal = "10.0.0.1:3260"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Login(ctx, c1, cfg)
	c1.Close()
	<-done
	return s, err, f
}

func pdus(rs ...*LoginResponse) []*PDU {
	out := make([]*PDU, len(rs))
	for i, r := range rs {
		out[i] = r.PDU()
	}
	return out
}

func TestLoginNegotiationEdgeCases(t *testing.T) {
	var rest []byte
	s, err, f := runFake(t, LoginConfig{MaxSendDataSegment: 64, Params: []KeyValue{{"MaxBurstLength", "131072"}}},
		func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
			switch len(f.reqs) {
			case 1:
				if req.CSG != StageOperational || !req.Transit || req.NSG != StageFullFeature {
					t.Errorf("first request: CSG %v T %v NSG %v", req.CSG, req.Transit, req.NSG)
				}
				if v, _ := lookup(kvs, "TargetName"); v != "iqn.2024-01.org.example:root" {
					t.Errorf("TargetName = %q", v)
				}
				if v, _ := lookup(kvs, "MaxBurstLength"); v != "131072" {
					t.Errorf("override not offered: MaxBurstLength=%q", v)
				}
				// Answer in two PDUs (C bit), without transiting yet, and
				// offer keys of our own.
				text := EncodeText([]KeyValue{{"HeaderDigest", "None"}, {"DataDigest", "None"}, {"MaxOutstandingR2T", "Reject"},
					{"MaxBurstLength", "65536"}, {"FirstBurstLength", "Irrelevant"}, {"ImmediateData", "No"},
					{"InitialR2T", "Yes"}, {"MaxRecvDataSegmentLength", "16384"}, {"TargetAlias", "al=ias"},
					{"TargetPortalGroupTag", "3"}, {"X-Vendor-Key", "a=b"}, {"IFMarker", "Yes"},
					{"DefaultTime2Wait", "5"}, {"MaxConnections", "NotUnderstood"}})
				a := f.resp(req, false, 0)
				a.Continue, a.Data = true, text[:50]
				rest = text[50:]
				return pdus(a)
			case 2:
				// The empty request asking for the rest of the text.
				if len(kvs) != 0 || req.Transit {
					t.Errorf("continuation request: %v T=%v", kvs, req.Transit)
				}
				b := f.resp(req, false, 0)
				b.Data = rest
				return pdus(b)
			}
			return pdus(f.resp(req, true, StageFullFeature))
		})
	if err != nil {
		t.Fatal(err)
	}
	// Requests: offer (split), empty continuation ask, answers.
	if len(f.texts) != 3 {
		t.Fatalf("got %d logical requests: %v", len(f.texts), f.texts)
	}
	if len(f.texts[1]) != 0 {
		t.Errorf("continuation ask carried text %v", f.texts[1])
	}
	answers := f.texts[2]
	for k, want := range map[string]string{"X-Vendor-Key": "NotUnderstood", "IFMarker": "No"} {
		if v, _ := lookup(answers, k); v != want {
			t.Errorf("answer %s=%q, want %q (all: %v)", k, v, want, answers)
		}
	}
	if _, ok := lookup(answers, "TargetAlias"); ok {
		t.Error("answered a declarative key")
	}
	p := s.Params
	if p.MaxBurstLength != 65536 || p.FirstBurstLength != 65536 || p.ImmediateData || !p.InitialR2T ||
		p.DataDigest != "None" || p.MaxXmitDataSegmentLength != 16384 || p.DefaultTime2Wait != 5 || p.MaxConnections != 1 {
		t.Errorf("params %+v", p)
	}
	if s.TargetAlias != "al=ias" || s.TPGT != 3 || s.TSIH != 0x42 {
		t.Errorf("alias %q tpgt %d tsih %d", s.TargetAlias, s.TPGT, s.TSIH)
	}
	if s.Declined["MaxOutstandingR2T"] != "Reject" || s.Declined["FirstBurstLength"] != "Irrelevant" || s.Declined["MaxConnections"] != "NotUnderstood" {
		t.Errorf("declined %v", s.Declined)
	}
	if s.ExpStatSN != s.StatSN+1 || s.CmdSN != 0 {
		t.Errorf("sequence numbers %+v", s)
	}
}

func TestLoginFailures(t *testing.T) {
	type handler = func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU
	status := func(class, detail uint8, kvs ...KeyValue) handler {
		return func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			r := f.resp(req, false, 0, kvs...)
			r.StatusClass, r.StatusDetail = class, detail
			return pdus(r)
		}
	}
	mutate := func(m func(r *LoginResponse)) handler {
		return func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			r := f.resp(req, true, StageFullFeature)
			m(r)
			return pdus(r)
		}
	}
	answer := func(kvs ...KeyValue) handler {
		return func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			return pdus(f.resp(req, true, StageFullFeature, kvs...))
		}
	}
	cases := []struct {
		name      string
		cfg       LoginConfig
		h         handler
		status    uint16
		temporary bool
		want      string
	}{
		{"not found", LoginConfig{}, status(2, 3), 0x0203, false, "target reports 0x0203 target not found — check the target IQN in netroot="},
		{"auth required", LoginConfig{}, status(2, 1), 0x0201, false, "set rd.iscsi.username/password"},
		{"target error", LoginConfig{}, status(3, 1), 0x0301, true, "service unavailable — the target's own trouble: its log says why"},
		{"too many connections", LoginConfig{}, status(2, 6), 0x0206, true, "too many connections — an old session of this initiator may still be open"},
		{"redirect", LoginConfig{}, status(1, 1, KeyValue{"TargetAddress", "10.0.0.9:3261,1"}), 0x0101, true, "moved temporarily to 10.0.0.9:3261"},
		{"redirect without address", LoginConfig{}, status(1, 2), 0x0102, false, "without a valid TargetAddress"},
		{"version", LoginConfig{}, mutate(func(r *LoginResponse) { r.VersionActive = 1 }), 0, false, "version 1"},
		{"itt", LoginConfig{}, mutate(func(r *LoginResponse) { r.ITT++ }), 0, false, "ITT"},
		{"isid", LoginConfig{}, mutate(func(r *LoginResponse) { r.ISID[5]++ }), 0, false, "ISID"},
		{"nsg 2", LoginConfig{}, mutate(func(r *LoginResponse) { r.NSG = 2 }), 0, false, "transited"},
		{"tsih 0", LoginConfig{}, mutate(func(r *LoginResponse) { r.TSIH = 0 }), 0, false, "TSIH 0"},
		{"reinstatement tsih", LoginConfig{TSIH: 7}, mutate(func(r *LoginResponse) { r.TSIH = 8 }), 0, false, "reinstatement"},
		{"digest not offered", LoginConfig{}, answer(KeyValue{"HeaderDigest", "CRC32C"}), 0, false, "HeaderDigest"},
		{"burst above offer", LoginConfig{}, answer(KeyValue{"MaxBurstLength", "99999999"}), 0, false, "MaxBurstLength"},
		{"or violated", LoginConfig{Params: []KeyValue{{"InitialR2T", "Yes"}}}, answer(KeyValue{"InitialR2T", "No"}), 0, false, "InitialR2T"},
		{"bad text", LoginConfig{}, func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			r := f.resp(req, true, StageFullFeature)
			r.Data = []byte("novalue")
			return pdus(r)
		}, 0, false, "not NUL-terminated"},
		{"reject pdu", LoginConfig{}, func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			p := &PDU{Data: make([]byte, 48)}
			p.Header[0], p.Header[1], p.Header[2] = byte(OpReject), 0x80, 0x09
			return []*PDU{p}
		}, 0, false, "invalid PDU field"},
		{"huge pdu", LoginConfig{}, func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			p := f.resp(req, false, 0).PDU()
			p.Data = make([]byte, MaxLoginDataSegment+4)
			return []*PDU{p}
		}, 0, false, "exceeds limit"},
		{"endless negotiation", LoginConfig{}, func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			return pdus(f.resp(req, false, 0, KeyValue{"X-Again", "1"}))
		}, 0, false, "within 64 PDUs"},
		{"target wants chap in operational", LoginConfig{}, answer(KeyValue{"AuthMethod", "CHAP"}), 0, false, "AuthMethod"},
		{"bad override", LoginConfig{Params: []KeyValue{{"TargetName", "x"}}}, answer(), 0, false, "cannot be overridden"},
		{"bad override value", LoginConfig{Params: []KeyValue{{"ErrorRecoveryLevel", "2"}}}, answer(), 0, false, "ErrorRecoveryLevel"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err, _ := runFake(t, c.cfg, c.h)
			var le *LoginError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want *LoginError", err)
			}
			if le.Status() != c.status || le.Temporary() != c.temporary || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q (status %#04x temporary %v), want status %#04x temporary %v containing %q",
					err, le.Status(), le.Temporary(), c.status, c.temporary, c.want)
			}
			if !strings.HasPrefix(err.Error(), "iscsi: login to 10.0.0.1:3260 iqn.2024-01.org.example:root: ") {
				t.Errorf("message lacks portal/target: %q", err)
			}
		})
	}
}

// chapTarget plays a CHAP-authenticating target. mutualSecret is what it
// answers our challenge with; challenge is what it sends us.
func chapTarget(t *testing.T, alg CHAPAlgorithm, user, secret, inUser, mutualSecret string, challenge []byte, encB64 bool) func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
	return func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
		switch len(f.reqs) {
		case 1:
			if req.CSG != StageSecurity || req.Transit {
				t.Errorf("first CHAP request CSG %v T %v", req.CSG, req.Transit)
			}
			if v, _ := lookup(kvs, "AuthMethod"); v != "CHAP" {
				t.Errorf("AuthMethod offer %q", v)
			}
			return pdus(f.resp(req, false, 0, KeyValue{"AuthMethod", "CHAP"}, KeyValue{"TargetPortalGroupTag", "1"}))
		case 2:
			if v, _ := lookup(kvs, "CHAP_A"); !strings.Contains(v, "5") {
				t.Errorf("CHAP_A offer %q", v)
			}
			c := encodeCHAPHex(challenge)
			if encB64 {
				c = "0b" + b64(challenge)
			}
			return pdus(f.resp(req, false, 0, KeyValue{"CHAP_A", itoa(int(alg))}, KeyValue{"CHAP_I", "9"}, KeyValue{"CHAP_C", c}))
		case 3:
			want, _ := CHAPResponse(alg, 9, []byte(secret), challenge)
			n, _ := lookup(kvs, "CHAP_N")
			r, _ := lookup(kvs, "CHAP_R")
			if n != user || r != encodeCHAPHex(want) || !req.Transit {
				r := f.resp(req, false, 0)
				r.StatusClass, r.StatusDetail = 2, 1
				return pdus(r)
			}
			out := []KeyValue{}
			if id, ok := lookup(kvs, "CHAP_I"); ok {
				ourID, _ := parseCHAPIdentifier(id)
				c, _ := lookup(kvs, "CHAP_C")
				chal, err := DecodeCHAPBinary(c)
				if err != nil {
					t.Errorf("our CHAP_C: %v", err)
				}
				resp, _ := CHAPResponse(alg, ourID, []byte(mutualSecret), chal)
				out = append(out, KeyValue{"CHAP_N", inUser}, KeyValue{"CHAP_R", encodeCHAPHex(resp)})
			}
			return pdus(f.resp(req, true, StageOperational, out...))
		}
		if req.CSG != StageOperational {
			t.Errorf("expected operational stage, got %v", req.CSG)
		}
		if _, ok := lookup(kvs, "InitiatorName"); ok {
			t.Error("InitiatorName repeated after the first PDU")
		}
		return pdus(f.resp(req, true, StageFullFeature))
	}
}

func TestLoginCHAP(t *testing.T) {
	chal := bytes.Repeat([]byte{0xab}, 16)
	creds := Credentials{Username: "u", Password: "pw-123456789012", InUsername: "tgt", InPassword: "in-pw-1234567890"}
	t.Run("one-way base64 challenge", func(t *testing.T) {
		s, err, _ := runFake(t, LoginConfig{Credentials: Credentials{Username: "u", Password: creds.Password}},
			chapTarget(t, CHAPMD5, "u", creds.Password, "", "", chal, true))
		if err != nil {
			t.Fatal(err)
		}
		if s.AuthMethod != "CHAP" || s.CHAPAlgorithm != CHAPMD5 || s.TPGT != 1 {
			t.Errorf("%+v", s)
		}
	})
	t.Run("mutual SHA-256", func(t *testing.T) {
		_, err, _ := runFake(t, LoginConfig{Credentials: creds},
			chapTarget(t, CHAPSHA256, "u", creds.Password, "tgt", creds.InPassword, chal, false))
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("mutual wrong secret", func(t *testing.T) {
		_, err, _ := runFake(t, LoginConfig{Credentials: creds},
			chapTarget(t, CHAPMD5, "u", creds.Password, "tgt", "not-the-secret", chal, false))
		var le *LoginError
		if !errors.As(err, &le) || le.Temporary() || !strings.Contains(err.Error(), "check rd.iscsi.in.username/in.password") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "not-the-secret") || strings.Contains(err.Error(), creds.InPassword) {
			t.Errorf("secret in %v", err)
		}
	})
	t.Run("mutual wrong user", func(t *testing.T) {
		_, err, _ := runFake(t, LoginConfig{Credentials: creds},
			chapTarget(t, CHAPMD5, "u", creds.Password, "someone", creds.InPassword, chal, false))
		if err == nil || !strings.Contains(err.Error(), "wrong target user name") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("reflection", func(t *testing.T) {
		// Our randomness (the ITT comes from math/rand): 1 byte CHAP_I,
		// then the challenge, which here equals the target's.
		rnd := append([]byte{5}, chal...)
		_, err, _ := runFake(t, LoginConfig{Credentials: creds, ISID: ISID{0x80, 1, 2, 3}, Rand: bytes.NewReader(rnd)},
			chapTarget(t, CHAPMD5, "u", creds.Password, "tgt", creds.InPassword, chal, false))
		if err == nil || !strings.Contains(err.Error(), "reflection") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("target picks unoffered algorithm", func(t *testing.T) {
		_, err, _ := runFake(t, LoginConfig{Credentials: creds, CHAPAlgorithms: []CHAPAlgorithm{CHAPMD5}},
			chapTarget(t, CHAPSHA1, "u", creds.Password, "tgt", creds.InPassword, chal, false))
		if err == nil || !strings.Contains(err.Error(), "unsupported CHAP algorithm") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("target refuses CHAP", func(t *testing.T) {
		_, err, _ := runFake(t, LoginConfig{Credentials: creds}, func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
			return pdus(f.resp(req, false, 0, KeyValue{"AuthMethod", "Reject"}))
		})
		if err == nil || !strings.Contains(err.Error(), "refused CHAP") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("incomplete credentials", func(t *testing.T) {
		_, err, _ := runFake(t, LoginConfig{Credentials: Credentials{Username: "u"}}, nil)
		if err == nil || !strings.Contains(err.Error(), "both a username and a password") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestLoginContextDeadline(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c2.Close()
	go func() { // read and never answer
		buf := make([]byte, 4096)
		for {
			if _, err := c2.Read(buf); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Login(ctx, c1, LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y", Portal: "p:1"})
	var le *LoginError
	if !errors.As(err, &le) || !le.Temporary() || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
func itoa(i int) string   { return strconv.Itoa(i) }

// FuzzLoginResponse feeds arbitrary bytes to Login as the target's answer:
// it must fail cleanly (or succeed) and never panic or hang.
func FuzzLoginResponse(f *testing.F) {
	ok, _ := (&LoginResponse{Transit: true, CSG: 1, NSG: 3, TSIH: 1, Data: []byte("MaxBurstLength=512\x00")}).PDU().Marshal()
	f.Add(ok)
	bad, _ := (&LoginResponse{StatusClass: 1, StatusDetail: 1, Data: []byte("TargetAddress=[::1]:1,1\x00")}).PDU().Marshal()
	f.Add(bad)
	f.Add([]byte{0x23, 0x40})
	f.Fuzz(func(t *testing.T, in []byte) {
		c1, c2 := net.Pipe()
		go func() {
			defer c2.Close()
			p, err := ReadPDU(c2, 1<<20)
			if err != nil {
				return
			}
			// Patch in the request's ISID/ITT so the fuzzer reaches deeper
			// checks.
			out := append([]byte(nil), in...)
			if len(out) >= BHSLen {
				copy(out[8:14], p.Header[8:14])
				copy(out[16:20], p.Header[16:20])
			}
			c2.Write(out) // then close: Login sees EOF if it wants more
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		s, err := Login(ctx, c1, LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y", Portal: "p:1"})
		c1.Close()
		if err == nil && (s == nil || s.TSIH == 0) {
			t.Fatalf("success without a TSIH: %+v", s)
		}
	})
}

// FuzzLoginCHAP: a hostile target through a mutual-CHAP login, answer
// after answer (in holds the responses one after another: each request
// gets the next), so its CHAP_A, CHAP_I, CHAP_C, CHAP_N and CHAP_R and
// a TargetAddress are reached. Whatever it sends, Login returns — with a
// session only when the target proved the secret.
func FuzzLoginCHAP(f *testing.F) {
	resp := func(transit bool, csg, nsg Stage, text string) []byte {
		b, _ := (&LoginResponse{Transit: transit, CSG: csg, NSG: nsg, TSIH: 1, Data: []byte(text)}).PDU().Marshal()
		return b
	}
	chap := slices.Concat(
		resp(false, 0, 0, "AuthMethod=CHAP\x00TargetPortalGroupTag=1\x00"),
		resp(false, 0, 0, "CHAP_A=5\x00CHAP_I=7\x00CHAP_C=0x0123456789abcdef\x00"),
		resp(true, 0, 1, "CHAP_N=in\x00CHAP_R=0x00112233445566778899aabbccddeeff\x00"),
		resp(true, 1, 3, "MaxBurstLength=512\x00"))
	f.Add(chap)
	f.Add(slices.Concat(resp(false, 0, 0, "AuthMethod=CHAP\x00"), resp(false, 0, 0, "CHAP_A=7\x00CHAP_I=0x1ff\x00CHAP_C=0b"+strings.Repeat("A", 2000)+"\x00")))
	redirect, _ := (&LoginResponse{StatusClass: 1, StatusDetail: 1, Data: []byte("TargetAddress=[" + strings.Repeat(":", 300) + "]:0,1\x00")}).PDU().Marshal()
	f.Add(redirect)
	f.Fuzz(func(t *testing.T, in []byte) {
		c1, c2 := net.Pipe()
		go func() {
			defer c2.Close()
			rest := in
			for len(rest) > 0 {
				p, err := ReadPDU(c2, 1<<20)
				if err != nil {
					return
				}
				_, n, err := DecodePDU(rest, 1<<20)
				if err != nil {
					c2.Write(rest) // what is left, as it is
					return
				}
				out := append([]byte(nil), rest[:n]...)
				rest = rest[n:]
				copy(out[8:14], p.Header[8:14]) // the request's ISID and ITT,
				copy(out[16:20], p.Header[16:20])
				if _, err := c2.Write(out); err != nil {
					return
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		s, err := Login(ctx, c1, LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y", Portal: "p:1",
			Credentials: Credentials{Username: "u", Password: "secret-out-12", InUsername: "in", InPassword: "secret-in-123"}})
		c1.Close()
		if err == nil && (s == nil || s.TSIH == 0) {
			t.Fatalf("success without a TSIH: %+v", s)
		}
		if err != nil && (len(err.Error()) > 1024 || strings.Contains(err.Error(), "secret-")) {
			t.Fatalf("error of %d bytes or with a secret: %.300q", len(err.Error()), err)
		}
	})
}
