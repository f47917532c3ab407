package iscsi

import (
	"fmt"
	"strings"
	"testing"
)

// neverCalled is a fake target handler for logins that must fail before
// anything is sent.
func neverCalled(t *testing.T) func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
	return func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
		t.Errorf("login request sent: %v", kvs)
		return pdus(f.resp(req, true, StageFullFeature))
	}
}

// RFC 7143 §12.1.3: the secret that authenticates the initiator must not
// also authenticate the target (open-iscsi refuses it too).
func TestLoginRefusesIdenticalCHAPSecrets(t *testing.T) {
	creds := Credentials{Username: "u", Password: "same-secret-123", InUsername: "t", InPassword: "same-secret-123"}
	_, err, _ := runFake(t, LoginConfig{Credentials: creds}, neverCalled(t))
	if err == nil || !strings.Contains(err.Error(), "invalid configuration") || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("err = %v, want a configuration error saying the secrets must differ", err)
	}
	if strings.Contains(err.Error(), creds.Password) {
		t.Errorf("secret in %q", err)
	}
}

// RFC 7143 §6.2.2: an AND key offered as No (an OR key offered as Yes)
// decides the result by itself, so the target may omit its answer.
func TestLoginSelfDecidingBooleansWithoutAnswer(t *testing.T) {
	s, err, _ := runFake(t, LoginConfig{Params: []KeyValue{{"ImmediateData", "No"}, {"InitialR2T", "Yes"}}},
		func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
			return pdus(f.resp(req, true, StageFullFeature)) // answers nothing
		})
	if err != nil {
		t.Fatal(err)
	}
	if s.Params.ImmediateData || !s.Params.InitialR2T {
		t.Errorf("ImmediateData=%v InitialR2T=%v, want No and Yes (what we offered decides)", s.Params.ImmediateData, s.Params.InitialR2T)
	}
}

// RFC 7143 §6.1: numerical values may be written in hex ("0x2000").
func TestLoginHexNumbers(t *testing.T) {
	var answers []KeyValue
	s, err, _ := runFake(t, LoginConfig{Params: []KeyValue{{"FirstBurstLength", "0x8000"}}},
		func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
			if len(f.reqs) == 1 {
				return pdus(f.resp(req, false, 0, KeyValue{"MaxBurstLength", "0x10000"}, KeyValue{"FirstBurstLength", "0X8000"},
					KeyValue{"MaxRecvDataSegmentLength", "0x2000"}, KeyValue{"TargetPortalGroupTag", "0x2"},
					KeyValue{"DefaultTime2Retain", "0x0"}))
			}
			answers = kvs
			return pdus(f.resp(req, true, StageFullFeature))
		})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Params
	if p.MaxBurstLength != 0x10000 || p.FirstBurstLength != 0x8000 || p.MaxXmitDataSegmentLength != 0x2000 || s.TPGT != 2 || p.DefaultTime2Retain != 0 {
		t.Errorf("params %+v tpgt %d", p, s.TPGT)
	}
	if len(answers) != 0 {
		t.Errorf("answered %v to answers", answers)
	}
	// A key the target offers in hex is answered in decimal.
	s, err, f := runFake(t, LoginConfig{}, func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
		if len(f.reqs) == 1 {
			return pdus(f.resp(req, false, 0, KeyValue{"DefaultTime2Wait", "0x5"}, KeyValue{"ErrorRecoveryLevel", "0x0"}))
		}
		if len(f.reqs) == 2 {
			return pdus(f.resp(req, false, 0, KeyValue{"ErrorRecoveryLevel", "0x1"}))
		}
		return pdus(f.resp(req, true, StageFullFeature))
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lookup(f.texts[2], "ErrorRecoveryLevel"); v != "0" || s.Params.DefaultTime2Wait != 5 {
		t.Errorf("answer to ErrorRecoveryLevel=0x1: %q, DefaultTime2Wait=0x5 negotiated as %d; want 0 and 5", v, s.Params.DefaultTime2Wait)
	}
}

// A target may offer ErrorRecoveryLevel=2 (a valid value): the answer is
// the minimum, 0 (all iscsi_tcp implements), not Reject.
func TestLoginTargetOffersERL2(t *testing.T) {
	s, err, f := runFake(t, LoginConfig{}, func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
		switch len(f.reqs) {
		case 1:
			return pdus(f.resp(req, false, 0, KeyValue{"ErrorRecoveryLevel", "0"}))
		case 2:
			return pdus(f.resp(req, false, 0, KeyValue{"ErrorRecoveryLevel", "2"}))
		}
		return pdus(f.resp(req, true, StageFullFeature))
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lookup(f.texts[2], "ErrorRecoveryLevel"); v != "0" || s.Params.ErrorRecoveryLevel != 0 {
		t.Errorf("answer to ErrorRecoveryLevel=2: %q (negotiated %d), want 0", v, s.Params.ErrorRecoveryLevel)
	}
	// Asking for ERL 1 or 2 ourselves stays refused: the kernel cannot.
	if _, err := newNegotiator([]KeyValue{{"ErrorRecoveryLevel", "1"}}); err == nil {
		t.Error("override ErrorRecoveryLevel=1 accepted")
	}
}

// node.session.auth.chap_algs: open-iscsi's names (or CHAP_A numbers), in
// preference order, offered in that order.
func TestParseCHAPAlgorithms(t *testing.T) {
	for in, want := range map[string]string{
		"SHA3-256,SHA256,SHA1,MD5": "[SHA3-256 SHA-256 SHA1 MD5]",
		"md5":                      "[MD5]",
		" SHA256 , MD5 ":           "[SHA-256 MD5]",
		"7,5":                      "[SHA-256 MD5]",
		"SHA-256":                  "[SHA-256]",
	} {
		got, err := ParseCHAPAlgorithms(in)
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("ParseCHAPAlgorithms(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ",", "MD4", "SHA256,SHA256", "9", "MD5,"} {
		if got, err := ParseCHAPAlgorithms(bad); err == nil {
			t.Errorf("ParseCHAPAlgorithms(%q) = %v, want an error", bad, got)
		}
	}
	chal := make([]byte, 16)
	creds := Credentials{Username: "u", Password: "pw-123456789012"}
	algs, _ := ParseCHAPAlgorithms("SHA1,MD5")
	var offer string
	h := chapTarget(t, CHAPSHA1, "u", creds.Password, "", "", chal, false)
	s, err, _ := runFake(t, LoginConfig{Credentials: creds, CHAPAlgorithms: algs},
		func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
			if v, ok := lookup(kvs, "CHAP_A"); ok {
				offer = v
			}
			return h(f, req, kvs)
		})
	if err != nil {
		t.Fatal(err)
	}
	if offer != "6,5" || s.CHAPAlgorithm != CHAPSHA1 {
		t.Fatalf("offer CHAP_A=%q, chose %v; want 6,5 and SHA1", offer, s.CHAPAlgorithm)
	}
}

// node.session.timeo.replacement_timeout=0 fails I/O at once, as in
// open-iscsi (the kernel queues the recovery work with no delay); only an
// unset timeout becomes netroot's one day.
func TestKernelParamsReplacementTimeoutZero(t *testing.T) {
	for _, tc := range []struct {
		o    KernelOptions
		want string
	}{
		{KernelOptions{}, "86400"},
		{KernelOptions{RecoveryTimeoutSec: 0, RecoveryTimeoutSet: true}, "0"},
		{KernelOptions{RecoveryTimeoutSec: -1, RecoveryTimeoutSet: true}, "-1"},
		{KernelOptions{RecoveryTimeoutSec: 120}, "120"},
	} {
		ps, err := KernelParams(testSession(), tc.o)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.ID == ParamSessRecoveryTmo && p.Value != tc.want {
				t.Errorf("%+v: SESS_RECOVERY_TMO=%s, want %s", tc.o, p.Value, tc.want)
			}
		}
	}
}

func TestAsyncAndLogoutPDUs(t *testing.T) {
	p := &PDU{Data: []byte{0, 0}}
	p.Header[0], p.Header[1] = byte(OpAsyncMessage), 0x80
	p.put32(16, 0xffffffff)
	p.Header[36], p.Header[37] = AsyncDropConnection, 0
	p.put16(38, 1)
	p.put16(40, 3)
	p.put16(42, 20)
	m, err := ParseAsyncMessage(p)
	if err != nil || m.Event != AsyncDropConnection || m.Parameter1 != 1 || m.Parameter2 != 3 || m.Parameter3 != 20 || len(m.Data) != 2 {
		t.Errorf("async %+v %v", m, err)
	}
	if _, err := ParseAsyncMessage((&LogoutRequest{}).PDU()); err == nil {
		t.Error("a Logout Request parsed as an async message")
	}
	lo := (&LogoutRequest{Reason: LogoutCloseSession, ITT: 5}).PDU()
	if lo.Header[0] != 0x46 || lo.Header[1] != 0x80 || lo.ITT() != 5 {
		t.Errorf("logout header % x", lo.Header[:20])
	}
	r := &PDU{}
	r.Header[0], r.Header[1], r.Header[2] = byte(OpLogoutResponse), 0x80, 2
	r.put16(40, 7)
	lr, err := ParseLogoutResponse(r)
	if err != nil || lr.Response != 2 || lr.Time2Wait != 7 {
		t.Errorf("logout response %+v %v", lr, err)
	}
}
