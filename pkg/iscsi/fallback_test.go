package iscsi

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// Targets as seen on the wire (docs/interop.md).
type targetHandler = func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU

// failStatus answers every request with a status and no text.
func failStatus(class, detail uint8) targetHandler {
	return func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
		r := f.resp(req, false, 0)
		r.StatusClass, r.StatusDetail = class, detail
		r.ISID = ISID{} // LIO zeroes it in a failure
		return pdus(r)
	}
}

// requiresDigests plays a target that requires CRC32C for both digests:
// like LIO (fail the login 0x0200, no text) or like the target of issue
// 23 (answer Reject, and run the connection with digests anyway).
func requiresDigests(lio bool) targetHandler {
	return func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
		var out []KeyValue
		for _, k := range digestKeys {
			v, _ := lookup(kvs, k)
			switch {
			case strings.Contains(v, "CRC32C"):
				out = append(out, KeyValue{k, "CRC32C"})
			case lio:
				return failStatus(2, 0)(f, req, kvs)
			default:
				out = append(out, KeyValue{k, "Reject"})
			}
		}
		return pdus(f.resp(req, true, StageFullFeature, out...))
	}
}

func TestLoginDigestRefusals(t *testing.T) {
	cases := []struct {
		name   string
		params []KeyValue
		h      targetHandler
		// keys are the digest keys a retry may offer (nil: no retry).
		keys []string
		want string
	}{
		{"reject of None", nil, requiresDigests(false), []string{"HeaderDigest", "DataDigest"},
			"target refused HeaderDigest=None (answered Reject), DataDigest=None (answered Reject) — the target requires digests: set rd.iscsi.param=node.conn[0].iscsi.HeaderDigest=CRC32C,None rd.iscsi.param=node.conn[0].iscsi.DataDigest=CRC32C,None"},
		{"CRC32C answered to None", nil, func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			return pdus(f.resp(req, true, StageFullFeature, KeyValue{"HeaderDigest", "None"}, KeyValue{"DataDigest", "CRC32C"}))
		}, []string{"DataDigest"}, "target refused DataDigest=None (answered CRC32C)"},
		{"LIO's 0x0200", nil, requiresDigests(true), []string{"HeaderDigest", "DataDigest"},
			"0x0200 initiator error — a target that requires digests fails a login offering none this way (LIO does): if this one does, set rd.iscsi.param=node.conn[0].iscsi.HeaderDigest=CRC32C,None rd.iscsi.param=node.conn[0].iscsi.DataDigest=CRC32C,None"},
		{"0x0200 with CRC32C offered", []KeyValue{{"HeaderDigest", "CRC32C,None"}, {"DataDigest", "CRC32C,None"}}, failStatus(2, 0), nil,
			"0x0200 initiator error — the target refused something in the login request; its log says what"},
		{"0x0200 with data digest offered", []KeyValue{{"DataDigest", "CRC32C,None"}}, failStatus(2, 0), []string{"HeaderDigest"},
			"set rd.iscsi.param=node.conn[0].iscsi.HeaderDigest=CRC32C,None;"},
		{"reject of CRC32C only", []KeyValue{{"HeaderDigest", "CRC32C"}}, func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			return pdus(f.resp(req, true, StageFullFeature, KeyValue{"HeaderDigest", "Reject"}))
		}, nil, "target refused HeaderDigest=CRC32C (answered Reject) — the target may not run digests: accept None too, rd.iscsi.param=node.conn[0].iscsi.HeaderDigest=CRC32C,None"},
		{"reject of both", []KeyValue{{"HeaderDigest", "CRC32C,None"}}, func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			return pdus(f.resp(req, true, StageFullFeature, KeyValue{"HeaderDigest", "Reject"}))
		}, nil, "check the target's HeaderDigest setting"},
		{"0x0200 in the security stage", nil, failStatus(2, 0), nil, "0x0200"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := LoginConfig{Params: c.params}
			if c.name == "0x0200 in the security stage" {
				cfg.Credentials = Credentials{Username: "u", Password: "pw-123456789012"}
			}
			_, err, _ := runFake(t, cfg, c.h)
			le, ok := errors.AsType[*LoginError](err)
			if !ok || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a LoginError containing %q", err, c.want)
			}
			if !slices.Equal(le.digestKeys, c.keys) || le.Temporary() {
				t.Errorf("digest keys %q temporary %v, want %q, permanent", le.digestKeys, le.Temporary(), c.keys)
			}
			retry, ok := RetryWithDigests(cfg, err)
			if ok != (c.keys != nil) {
				t.Fatalf("RetryWithDigests: %v, want %v", ok, c.keys != nil)
			}
			for _, k := range c.keys {
				if v, _ := lookup(retry.Params, k); v != "CRC32C,None" {
					t.Errorf("retry offers %s=%q, want CRC32C,None (params %v)", k, v, retry.Params)
				}
			}
			if !slices.Equal(cfg.Params, c.params) {
				t.Errorf("RetryWithDigests changed the caller's params: %v", cfg.Params)
			}
		})
	}
}

// TestLoginDigestNotUnderstood: a target that does not know the digest
// keys runs without them, which our offer of None accepts.
func TestLoginDigestNotUnderstood(t *testing.T) {
	s, err, _ := runFake(t, LoginConfig{}, func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
		return pdus(f.resp(req, true, StageFullFeature, KeyValue{"HeaderDigest", "NotUnderstood"}, KeyValue{"DataDigest", "None"}))
	})
	if err != nil || s.Params.HeaderDigest != "None" || s.Declined["HeaderDigest"] != "NotUnderstood" {
		t.Fatalf("err %v, session %+v", err, s)
	}
	if d := DigestsOf(s.Params); d != "" {
		t.Errorf("DigestsOf = %q", d)
	}
}

func TestRetryWithDigestsRespectsSettings(t *testing.T) {
	err := &LoginError{StatusClass: 2, digestKeys: []string{"HeaderDigest", "DataDigest"}}
	for _, c := range []struct {
		params []KeyValue
		want   []KeyValue // nil: no retry
	}{
		{nil, []KeyValue{{"HeaderDigest", "CRC32C,None"}, {"DataDigest", "CRC32C,None"}}},
		{[]KeyValue{{"HeaderDigest", "None"}}, []KeyValue{{"HeaderDigest", "None"}, {"DataDigest", "CRC32C,None"}}},
		{[]KeyValue{{"HeaderDigest", "None"}, {"DataDigest", "None"}}, nil},
		{[]KeyValue{{"MaxBurstLength", "65536"}}, []KeyValue{{"MaxBurstLength", "65536"}, {"HeaderDigest", "CRC32C,None"}, {"DataDigest", "CRC32C,None"}}},
	} {
		got, ok := RetryWithDigests(LoginConfig{Params: c.params}, err)
		if ok != (c.want != nil) || ok && !slices.Equal(got.Params, c.want) {
			t.Errorf("params %v: retry %v with %v, want %v", c.params, ok, got.Params, c.want)
		}
	}
	if _, ok := RetryWithDigests(LoginConfig{}, errors.New("not a login error")); ok {
		t.Error("retry for a plain error")
	}
	if _, ok := RetryWithDigests(LoginConfig{}, &LoginError{StatusClass: 2}); ok {
		t.Error("retry for a login error that is not about digests")
	}
}

// connectTo runs Connect against one fake target, counting the dials.
func connectTo(t *testing.T, cfg LoginConfig, h targetHandler) (*Session, error, []string, int) {
	t.Helper()
	var log logRecorder
	var dialed []string
	cfg.InitiatorName, cfg.TargetName, cfg.Portal = testInitiator, "iqn.x:y", "10.0.0.1:3260"
	s, conn, err := Connect(context.Background(), cfg, ConnectOptions{MaxAttempts: 5,
		Wait: func(context.Context, time.Duration) error { return nil }, Logf: log.logf,
		Dial: pipeDialer(t, map[string]func(*fakeTarget, *LoginRequest, []KeyValue) []*PDU{"10.0.0.1:3260": h}, &dialed)})
	if conn != nil {
		conn.Close()
	}
	return s, err, log.lines, len(dialed)
}

func TestConnectDigestRetry(t *testing.T) {
	for _, lio := range []bool{true, false} {
		name := map[bool]string{true: "fails 0x0200 (LIO)", false: "answers Reject"}[lio]
		t.Run(name, func(t *testing.T) {
			s, err, log, dials := connectTo(t, LoginConfig{}, requiresDigests(lio))
			if err != nil {
				t.Fatal(err)
			}
			if dials != 2 || len(log) != 1 || !strings.Contains(log[0], "as when a target requires digests; logging in again offering HeaderDigest=CRC32C,None") {
				t.Errorf("%d dials, log %q; want one retry, logged", dials, log)
			}
			if s.Params.HeaderDigest != "CRC32C" || s.Params.DataDigest != "CRC32C" || DigestsOf(s.Params) != "header and data digests CRC32C" {
				t.Errorf("params %+v", s.Params)
			}
			want := []KeyValue{{"HeaderDigest", "CRC32C,None"}, {"DataDigest", "CRC32C,None"}}
			if !slices.Equal(s.LoginParams, want) {
				t.Errorf("LoginParams %v, want %v (the keeper offers them again)", s.LoginParams, want)
			}
		})
	}
	t.Run("digests pinned to None", func(t *testing.T) {
		params := []KeyValue{{"HeaderDigest", "None"}, {"DataDigest", "None"}}
		_, err, log, dials := connectTo(t, LoginConfig{Params: params}, requiresDigests(true))
		if err == nil || dials != 1 || len(log) != 0 {
			t.Fatalf("err %v after %d dials, log %q; want one failed login", err, dials, log)
		}
		for _, want := range []string{"0x0200", "digests", "rd.iscsi.param=node.conn[0].iscsi.HeaderDigest=CRC32C,None"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
	t.Run("0x0200 not about digests", func(t *testing.T) {
		_, err, log, dials := connectTo(t, LoginConfig{}, failStatus(2, 0))
		le, ok := errors.AsType[*LoginError](err)
		if !ok || le.Status() != 0x0200 || dials != 2 || len(log) != 1 {
			t.Fatalf("err %v after %d dials, log %q; want one retry, then the error", err, dials, log)
		}
		if strings.Contains(err.Error(), "is the target up") || !strings.Contains(err.Error(), "its log says what") {
			t.Errorf("error %q: want the hint that the target's log names the fault", err)
		}
	})
}

// chapFailsAfterResponse plays tgt: it chooses the first algorithm we
// offer and fails any response other than MD5's with 0x0200.
func chapFailsAfterResponse(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
	switch {
	case req.CSG == StageSecurity && !req.Transit && len(kvs) > 0 && kvs[len(kvs)-1].Key == "AuthMethod":
		return pdus(f.resp(req, false, 0, KeyValue{"AuthMethod", "CHAP"}))
	case req.CSG == StageSecurity && !req.Transit:
		a, _ := lookup(kvs, "CHAP_A")
		alg := strings.Split(a, ",")[0]
		f.chosen = alg
		return pdus(f.resp(req, false, 0, KeyValue{"CHAP_A", alg}, KeyValue{"CHAP_I", "1"}, KeyValue{"CHAP_C", "0x" + strings.Repeat("ab", 16)}))
	case req.CSG == StageSecurity:
		if f.chosen != "5" {
			return failStatus(2, 0)(f, req, kvs)
		}
		return pdus(f.resp(req, true, StageOperational))
	}
	return pdus(f.resp(req, true, StageFullFeature))
}

func TestConnectCHAPRetry(t *testing.T) {
	creds := Credentials{Username: "u", Password: "pw-123456789012"}
	t.Run("default algorithms", func(t *testing.T) {
		s, err, log, dials := connectTo(t, LoginConfig{Credentials: creds}, chapFailsAfterResponse)
		if err != nil || s.CHAPAlgorithm != CHAPMD5 || dials != 2 || len(log) != 1 || !strings.Contains(log[0], "CHAP SHA-256 response") {
			t.Fatalf("err %v alg %v after %d dials, log %q", err, s, dials, log)
		}
	})
	t.Run("chap_algs given", func(t *testing.T) {
		_, err, log, dials := connectTo(t, LoginConfig{Credentials: creds, CHAPAlgorithms: []CHAPAlgorithm{CHAPSHA256, CHAPMD5}}, chapFailsAfterResponse)
		if err == nil || dials != 1 || len(log) != 0 {
			t.Fatalf("err %v after %d dials, log %q; want no retry with node.session.auth.chap_algs given", err, dials, log)
		}
		if !strings.Contains(err.Error(), "CHAP_A=7 (SHA-256) but may not implement it") || !strings.Contains(err.Error(), "chap_algs=MD5") {
			t.Errorf("error %q lacks the algorithm and the setting", err)
		}
	})
	t.Run("0x0200 after the security stage is not CHAP's", func(t *testing.T) {
		// A CHAP target that then fails the operational stage, offering
		// digests already: neither retry applies.
		h := func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
			if req.CSG == StageOperational {
				return failStatus(2, 0)(f, req, kvs)
			}
			return chapFailsAfterResponse(f, req, kvs)
		}
		_, err, log, dials := connectTo(t, LoginConfig{Credentials: creds, CHAPAlgorithms: []CHAPAlgorithm{CHAPMD5},
			Params: []KeyValue{{"HeaderDigest", "CRC32C,None"}, {"DataDigest", "CRC32C,None"}}}, h)
		if err == nil || dials != 1 || len(log) != 0 {
			t.Fatalf("err %v after %d dials, log %q", err, dials, log)
		}
	})
}
