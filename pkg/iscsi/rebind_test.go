//go:build linux

package iscsi

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/u-root/iscsinl"
)

// fakeKernel is a fakeNL that also carries login PDUs the way libiscsi
// does: it replaces the request's ITT and CmdSN with its own, and the
// target (answering on the same "socket") echoes those.
type fakeKernel struct {
	fakeNL
	cmdSN  uint32
	out    chan []byte
	sent   []*LoginRequest
	noAnsw bool
	tsih   uint16
	// digests is what the target answers an offer of CRC32C with
	// ("CRC32C", or None when empty).
	digests string
}

func (k *fakeKernel) SendPDU(sid, cid uint32, pdu iscsinl.PduLike) error {
	b := pdu.Serialize()
	if int(pdu.HeaderLen()) != BHSLen || len(b) != BHSLen+int(pdu.DataLen()) {
		return fmt.Errorf("bad pdu sizes %d+%d (%d bytes)", pdu.HeaderLen(), pdu.DataLen(), len(b))
	}
	hdr := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(hdr[16:20], 0x00000a05) // the kernel's ITT
	binary.BigEndian.PutUint32(hdr[24:28], k.cmdSN)    // the kernel's CmdSN
	// Re-read it as the target would, padded.
	wire := append(hdr, make([]byte, (4-len(hdr)%4)%4)...)
	p, err := ReadPDU(strings.NewReader(string(wire)), 1<<20)
	if err != nil {
		return err
	}
	req, err := ParseLoginRequest(p)
	if err != nil {
		return err
	}
	k.sent = append(k.sent, req)
	if k.noAnsw {
		return nil
	}
	kvs, _ := ParseText(req.Data)
	var answer []KeyValue
	for _, kv := range kvs {
		switch kv.Key {
		case "InitiatorName", "TargetName", "SessionType":
		case "HeaderDigest", "DataDigest":
			v := "None"
			if k.digests != "" && strings.Contains(kv.Value, k.digests) {
				v = k.digests
			}
			answer = append(answer, KeyValue{kv.Key, v})
		default:
			answer = append(answer, kv)
		}
	}
	r := &LoginResponse{Transit: req.Transit, CSG: req.CSG, NSG: req.NSG, ISID: req.ISID, TSIH: k.tsih, ITT: req.ITT,
		StatSN: 77, ExpCmdSN: req.CmdSN, MaxCmdSN: req.CmdSN + 32, Data: EncodeText(answer)}
	rb, err := r.PDU().Marshal()
	if err != nil {
		return err
	}
	// RECV_PDU carries the header and the unpadded data.
	dlen := len(r.Data)
	k.out <- rb[:BHSLen+dlen]
	return nil
}

func TestRebind(t *testing.T) {
	k := &fakeKernel{cmdSN: 5000, out: make(chan []byte, 4), tsih: 9}
	cfg := LoginConfig{InitiatorName: "iqn.i:me", TargetName: "iqn.t:root", Portal: "10.0.0.1:3260",
		ISID: ISID{0x80, 1, 2, 3, 0, 0}, TSIH: 4}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ks := KernelSession{SID: 3, CID: 0, HostNo: 7}
	sess, err := Rebind(ctx, k, tcpPair(t), ks, cfg, KernelOptions{NoopIntervalSec: 5, NoopTimeoutSec: 5}, k.out)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.sent) == 0 || k.sent[0].TSIH != 0 || k.sent[0].ISID != cfg.ISID {
		t.Errorf("login requests %+v: want TSIH 0 and the session's ISID", k.sent)
	}
	if sess.TSIH != 9 || sess.ExpStatSN != 78 {
		t.Errorf("session %+v", sess)
	}
	calls := strings.Join(k.calls, ",")
	if !strings.HasPrefix(calls, "bind,") || !strings.HasSuffix(calls, ",start") || strings.Contains(calls, "create") {
		t.Errorf("calls %s: want bind, params, start and no create", calls)
	}
	if !strings.Contains(calls, fmt.Sprintf("set %d", ParamPingTmo)) || !strings.Contains(calls, fmt.Sprintf("set %d", ParamExpStatSN)) {
		t.Errorf("calls %s lack PING_TMO or EXP_STATSN", calls)
	}
}

// TestRebindSetsDigests: the kernel clears a connection's digests when
// it is stopped for recovery (libiscsi's STOP_CONN_RECOVER), so a
// re-login that negotiated CRC32C must set both again, after the login
// (which runs without digests) and before the start.
func TestRebindSetsDigests(t *testing.T) {
	for _, answer := range []string{"CRC32C", ""} {
		k := &fakeKernel{out: make(chan []byte, 4), tsih: 9, digests: answer}
		cfg := LoginConfig{InitiatorName: "iqn.i:me", TargetName: "iqn.t:root", Portal: "10.0.0.1:3260",
			ISID: ISID{0x80, 1, 2, 3, 0, 0}, Params: []KeyValue{{"HeaderDigest", DigestOffer}, {"DataDigest", DigestOffer}}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		sess, err := Rebind(ctx, k, tcpPair(t), KernelSession{SID: 3}, cfg, KernelOptions{}, k.out)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"CRC32C": "1", "": "0"}[answer]
		if k.values[ParamHdrDgstEn] != want || k.values[ParamDataDgstEn] != want || sess.Params.HeaderDigest != map[string]string{"CRC32C": "CRC32C", "": "None"}[answer] {
			t.Errorf("target answering %q: kernel digests HDRDGST_EN=%q DATADGST_EN=%q, session %q; want %s",
				answer, k.values[ParamHdrDgstEn], k.values[ParamDataDgstEn], sess.Params.HeaderDigest, want)
		}
		calls := strings.Join(k.calls, ",")
		hdr, data := strings.Index(calls, fmt.Sprintf(",set %d,", ParamHdrDgstEn)), strings.Index(calls, fmt.Sprintf(",set %d,", ParamDataDgstEn))
		if hdr < strings.Index(calls, "bind") || data < 0 || data > strings.LastIndex(calls, "start") {
			t.Errorf("calls %s: want the digests set between the bind and the start", calls)
		}
	}
}

func TestRebindFailureStopsAgain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		k     *fakeKernel
		wants string
	}{
		{"no answer", &fakeKernel{out: make(chan []byte, 4), noAnsw: true, tsih: 1}, "login"},
		{"start refused", &fakeKernel{fakeNL: fakeNL{failAt: "start"}, out: make(chan []byte, 4), tsih: 1}, "start connection"},
		{"bind refused", &fakeKernel{fakeNL: fakeNL{failAt: "bind"}, out: make(chan []byte, 4), tsih: 1}, "bind connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			cfg := LoginConfig{InitiatorName: "iqn.i:me", TargetName: "iqn.t:root", Portal: "10.0.0.1:3260", ISID: ISID{0x80, 1, 2, 3, 0, 0}}
			_, err := Rebind(ctx, tc.k, tcpPair(t), KernelSession{SID: 3}, cfg, KernelOptions{}, tc.k.out)
			if err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("err %v, want it to name %q", err, tc.wants)
			}
			last := tc.k.calls[len(tc.k.calls)-1]
			if tc.name == "bind refused" {
				if last != "bind" {
					t.Errorf("calls %v: nothing to undo after a failed bind", tc.k.calls)
				}
			} else if last != "stop" {
				t.Errorf("calls %v: want the connection stopped again", tc.k.calls)
			}
		})
	}
}

func TestKernelLoginConnFraming(t *testing.T) {
	in := make(chan []byte, 1)
	k := &fakeKernel{out: in, noAnsw: true}
	c := NewKernelLoginConn(k, 1, 0, nil, nil, in)
	req := &LoginRequest{CSG: StageOperational, NSG: StageFullFeature, ITT: 0x1234, Data: []byte("a=b\x00x")}
	b, _ := req.PDU().Marshal()
	// Written in two pieces: nothing is sent until the PDU is complete.
	if _, err := c.Write(b[:30]); err != nil || len(k.sent) != 0 {
		t.Fatalf("partial write sent %d PDUs (%v)", len(k.sent), err)
	}
	if _, err := c.Write(b[30:]); err != nil || len(k.sent) != 1 {
		t.Fatalf("complete write sent %d PDUs (%v)", len(k.sent), err)
	}
	// A response with the kernel's ITT and unpadded data is read back with
	// ours and padding.
	r := &LoginResponse{CSG: StageOperational, ITT: 0xa05, Data: []byte("k=v\x00z")}
	rb, _ := r.PDU().Marshal()
	in <- rb[:BHSLen+len(r.Data)]
	c.SetDeadline(time.Now().Add(time.Second))
	p, err := ReadPDU(c, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseLoginResponse(p)
	if err != nil || got.ITT != 0x1234 || string(got.Data) != "k=v\x00z" {
		t.Errorf("read back %+v (%v)", got, err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("read past the deadline succeeded")
	}
}
