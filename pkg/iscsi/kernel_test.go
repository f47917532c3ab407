//go:build linux

package iscsi

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/netroot/netroot/internal/testnet"
	"github.com/u-root/iscsinl"
)

func TestParamIDsMatchIscsinl(t *testing.T) {
	pairs := map[ParamID]iscsinl.IscsiParam{
		ParamMaxRecvDLength: iscsinl.ISCSI_PARAM_MAX_RECV_DLENGTH, ParamMaxXmitDLength: iscsinl.ISCSI_PARAM_MAX_XMIT_DLENGTH,
		ParamHdrDgstEn: iscsinl.ISCSI_PARAM_HDRDGST_EN, ParamDataDgstEn: iscsinl.ISCSI_PARAM_DATADGST_EN,
		ParamInitialR2TEn: iscsinl.ISCSI_PARAM_INITIAL_R2T_EN, ParamMaxR2T: iscsinl.ISCSI_PARAM_MAX_R2T,
		ParamImmDataEn: iscsinl.ISCSI_PARAM_IMM_DATA_EN, ParamFirstBurst: iscsinl.ISCSI_PARAM_FIRST_BURST,
		ParamMaxBurst: iscsinl.ISCSI_PARAM_MAX_BURST, ParamPDUInOrderEn: iscsinl.ISCSI_PARAM_PDU_INORDER_EN,
		ParamDataSeqInOrderEn: iscsinl.ISCSI_PARAM_DATASEQ_INORDER_EN, ParamERL: iscsinl.ISCSI_PARAM_ERL,
		ParamIFMarkerEn: iscsinl.ISCSI_PARAM_IFMARKER_EN, ParamOFMarkerEn: iscsinl.ISCSI_PARAM_OFMARKER_EN,
		ParamExpStatSN: iscsinl.ISCSI_PARAM_EXP_STATSN, ParamTargetName: iscsinl.ISCSI_PARAM_TARGET_NAME,
		ParamTPGT: iscsinl.ISCSI_PARAM_TPGT, ParamPersistentAddress: iscsinl.ISCSI_PARAM_PERSISTENT_ADDRESS,
		ParamPersistentPort: iscsinl.ISCSI_PARAM_PERSISTENT_PORT, ParamSessRecoveryTmo: iscsinl.ISCSI_PARAM_SESS_RECOVERY_TMO,
		ParamConnPort: iscsinl.ISCSI_PARAM_CONN_PORT, ParamConnAddress: iscsinl.ISCSI_PARAM_CONN_ADDRESS,
		ParamUsername: iscsinl.ISCSI_PARAM_USERNAME, ParamUsernameIn: iscsinl.ISCSI_PARAM_USERNAME_IN,
		ParamPassword: iscsinl.ISCSI_PARAM_PASSWORD, ParamPasswordIn: iscsinl.ISCSI_PARAM_PASSWORD_IN,
		ParamFastAbort: iscsinl.ISCSI_PARAM_FAST_ABORT, ParamAbortTmo: iscsinl.ISCSI_PARAM_ABORT_TMO,
		ParamLUResetTmo: iscsinl.ISCSI_PARAM_LU_RESET_TMO, ParamHostResetTmo: iscsinl.ISCSI_PARAM_HOST_RESET_TMO,
		ParamPingTmo: iscsinl.ISCSI_PARAM_PING_TMO, ParamRecvTmo: iscsinl.ISCSI_PARAM_RECV_TMO,
		ParamIfaceName: iscsinl.ISCSI_PARAM_IFACE_NAME, ParamISID: iscsinl.ISCSI_PARAM_ISID,
		ParamInitiatorName: iscsinl.ISCSI_PARAM_INITIATOR_NAME,
	}
	for ours, theirs := range pairs {
		if uint32(ours) != uint32(theirs) {
			t.Errorf("param %d != iscsinl %d", ours, theirs)
		}
	}
}

func testSession() *Session {
	return &Session{Portal: "[fd00::5]:3261", TargetName: "iqn.t:root", InitiatorName: "iqn.i:me", TPGT: 2,
		ISID: ISID{0x80, 1, 2, 3, 0, 9}, TSIH: 4, ExpStatSN: 11, AuthMethod: "CHAP",
		Credentials: Credentials{Username: "u", Password: "pw-secret", InUsername: "t", InPassword: "in-secret"},
		Params: NegotiatedParams{HeaderDigest: "CRC32C", DataDigest: "None", MaxRecvDataSegmentLength: 262144,
			MaxXmitDataSegmentLength: 8192, MaxBurstLength: 262144, FirstBurstLength: 65536, InitialR2T: true,
			ImmediateData: true, MaxOutstandingR2T: 1, DataPDUInOrder: true, DataSequenceInOrder: true, DefaultTime2Wait: 2}}
}

func TestKernelParams(t *testing.T) {
	ps, err := KernelParams(testSession(), KernelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]KernelParam{}
	for _, p := range ps {
		got[p.Name] = p
	}
	want := map[string]string{"MAX_RECV_DLENGTH": "262144", "MAX_XMIT_DLENGTH": "8192", "HDRDGST_EN": "1",
		"DATADGST_EN": "0", "INITIAL_R2T_EN": "1", "MAX_R2T": "1", "IMM_DATA_EN": "1", "FIRST_BURST": "65536",
		"MAX_BURST": "262144", "PDU_INORDER_EN": "1", "DATASEQ_INORDER_EN": "1", "ERL": "0", "IFMARKER_EN": "0",
		"EXP_STATSN": "11", "TARGET_NAME": "iqn.t:root", "TPGT": "2", "PERSISTENT_ADDRESS": "fd00::5",
		"PERSISTENT_PORT": "3261", "SESS_RECOVERY_TMO": "86400", "INITIATOR_NAME": "iqn.i:me", "ISID": "800102030009",
		"USERNAME": "u", "PASSWORD": "pw-secret", "USERNAME_IN": "t", "PASSWORD_IN": "in-secret",
		"IFACE_NAME": "default", "PING_TMO": "0", "RECV_TMO": "0"}
	for name, v := range want {
		if got[name].Value != v {
			t.Errorf("%s = %q, want %q", name, got[name].Value, v)
		}
	}
	for _, name := range []string{"PASSWORD", "PASSWORD_IN"} {
		if !got[name].Secret || !got[name].Optional || strings.Contains(got[name].String(), "secret") {
			t.Errorf("%s: %+v", name, got[name])
		}
	}
	for _, name := range []string{"MAX_BURST", "EXP_STATSN", "TARGET_NAME", "SESS_RECOVERY_TMO", "INITIATOR_NAME"} {
		if got[name].Optional {
			t.Errorf("%s must be mandatory", name)
		}
	}
	// Without CHAP no credentials are passed.
	s := testSession()
	s.AuthMethod = "None"
	ps, _ = KernelParams(s, KernelOptions{RecoveryTimeoutSec: 120, NoopIntervalSec: 5, NoopTimeoutSec: 10})
	for _, p := range ps {
		if strings.HasPrefix(p.Name, "USERNAME") || strings.HasPrefix(p.Name, "PASSWORD") {
			t.Errorf("credential %s passed without CHAP", p.Name)
		}
		if p.Name == "SESS_RECOVERY_TMO" && p.Value != "120" || p.Name == "RECV_TMO" && p.Value != "5" || p.Name == "PING_TMO" && p.Value != "10" {
			t.Errorf("%s", p)
		}
	}
	s.Portal = "no-port"
	if _, err := KernelParams(s, KernelOptions{}); err == nil {
		t.Error("bad portal accepted")
	}
}

type fakeNL struct {
	calls   []string
	failAt  string
	failErr error // failAt's error; nil means "boom"
	refuse  map[ParamID]bool
	boundFD int
	// values are the parameters set, last value wins.
	values map[ParamID]string
}

func (f *fakeNL) call(name string) error {
	f.calls = append(f.calls, name)
	if name == f.failAt {
		if f.failErr != nil {
			return f.failErr
		}
		return errors.New("boom")
	}
	return nil
}
func (f *fakeNL) CreateSession(cmdsMax, depth uint16) (uint32, uint32, error) {
	return 3, 7, f.call(fmt.Sprintf("create-session %d %d", cmdsMax, depth))
}
func (f *fakeNL) CreateConnection(sid uint32) (uint32, error) { return 0, f.call("create-conn") }
func (f *fakeNL) BindConnection(sid, cid uint32, fd int) error {
	f.boundFD = fd
	return f.call("bind")
}
func (f *fakeNL) SetParam(sid, cid uint32, p iscsinl.IscsiParam, v string) error {
	if f.refuse[ParamID(p)] {
		f.calls = append(f.calls, fmt.Sprintf("set %d refused", p))
		return errors.New("error setting param: ENOSYS")
	}
	if f.values == nil {
		f.values = map[ParamID]string{}
	}
	f.values[ParamID(p)] = v
	return f.call(fmt.Sprintf("set %d", p))
}
func (f *fakeNL) StartConnection(sid, cid uint32) error   { return f.call("start") }
func (f *fakeNL) StopConnection(sid, cid uint32) error    { return f.call("stop") }
func (f *fakeNL) DestroyConnection(sid, cid uint32) error { return f.call("destroy-conn") }
func (f *fakeNL) DestroySession(sid uint32) error         { return f.call("destroy-session") }

func tcpPair(t *testing.T) net.Conn {
	c, _ := testnet.TCPPair(t)
	return c
}

func TestHandOff(t *testing.T) {
	conn := tcpPair(t)
	var notes []string
	f := &fakeNL{refuse: map[ParamID]bool{ParamIFMarkerEn: true, ParamISID: true}}
	ks, err := HandOff(f, conn, testSession(), KernelOptions{Logf: func(format string, a ...any) { notes = append(notes, fmt.Sprintf(format, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	if ks != (KernelSession{SID: 3, CID: 0, HostNo: 7}) || f.boundFD <= 2 {
		t.Errorf("session %+v fd %d", ks, f.boundFD)
	}
	if f.calls[0] != "create-session 128 32" || f.calls[1] != "create-conn" || f.calls[2] != "bind" || f.calls[len(f.calls)-1] != "start" {
		t.Errorf("calls %v", f.calls)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "IFMARKER_EN") {
		t.Errorf("notes %q", notes)
	}

	failures := map[string][]string{
		"create-session 128 32": nil,
		"create-conn":           {"destroy-session"},
		"bind":                  {"destroy-conn", "destroy-session"},
		"set 8":                 {"stop", "destroy-conn", "destroy-session"}, // MAX_BURST
		"start":                 {"stop", "destroy-conn", "destroy-session"},
	}
	// From the bind on the kernel holds the socket: a failure there may be
	// the target dropping the connection, which a new login can outlive.
	bound := map[string]bool{"set 8": true, "start": true}
	for step, teardown := range failures {
		f := &fakeNL{failAt: step}
		_, err := HandOff(f, tcpPair(t), testSession(), KernelOptions{})
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Fatalf("%s: err %v", step, err)
		}
		var he *HandOffError
		if !errors.As(err, &he) || he.Bound != bound[step] {
			t.Errorf("failure at %s: %#v, want a *HandOffError with Bound %v", step, err, bound[step])
		}
		i := 0
		for i < len(f.calls) && f.calls[i] != step {
			i++
		}
		if got := f.calls[i+1:]; fmt.Sprint(got) != fmt.Sprint(teardown) {
			t.Errorf("failure at %s: teardown %v, want %v (err %v)", step, got, teardown, err)
		}
	}
	if _, err := HandOff(&fakeNL{failAt: "set 8"}, tcpPair(t), testSession(), KernelOptions{}); err == nil || !strings.Contains(err.Error(), "set parameter MAX_BURST") {
		t.Errorf("error does not name the step: %v", err)
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	if _, err := HandOff(&fakeNL{}, c1, testSession(), KernelOptions{}); err == nil {
		t.Error("pipe without fd accepted")
	}
}

// A session prepared before the login is started with its socket later,
// or destroyed when the login fails; a failing Start tears it down too.
// A connection the target closed once the kernel had it: the steps from
// there on are refused with ENOTCONN, and the error says the connection
// was lost (a new login may succeed); before the bind the same refusal
// is not a loss.
func TestHandOffLost(t *testing.T) {
	for _, tc := range []struct {
		step string
		lost bool
	}{{"set 8", true}, {"start", true}, {"bind", false}} {
		f := &fakeNL{failAt: tc.step, failErr: &KernelError{Command: "x", Errno: syscall.ENOTCONN}}
		_, err := HandOff(f, tcpPair(t), testSession(), KernelOptions{})
		he, ok := errors.AsType[*HandOffError](err)
		if !ok || he.Lost() != tc.lost {
			t.Errorf("%s: %v: want a *HandOffError, lost %v", tc.step, err, tc.lost)
			continue
		}
		if got := strings.Contains(err.Error(), "connection was lost"); got != tc.lost || !errors.Is(err, syscall.ENOTCONN) ||
			!strings.Contains(err.Error(), ": refused by the kernel: transport endpoint is not connected") {
			t.Errorf("%s: %q", tc.step, err)
		}
	}
}

func TestPrepareSession(t *testing.T) {
	f := &fakeNL{}
	p, err := PrepareSession(f, "10.0.0.1:3260", "iqn.t", KernelOptions{CmdsMax: 64, QueueDepth: 16})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[create-session 64 16 create-conn]"; fmt.Sprint(f.calls) != want {
		t.Errorf("prepare: calls %v, want %s", f.calls, want)
	}
	ks, err := p.Start(tcpPair(t), testSession(), KernelOptions{})
	if err != nil || ks != (KernelSession{SID: 3, CID: 0, HostNo: 7}) {
		t.Fatalf("start: %+v, %v", ks, err)
	}
	if f.calls[2] != "bind" || f.calls[len(f.calls)-1] != "start" || slices.Contains(f.calls, "destroy-session") {
		t.Errorf("start: calls %v", f.calls)
	}

	f = &fakeNL{}
	p, err = PrepareSession(f, "10.0.0.1:3260", "iqn.t", KernelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Destroy(); err != nil || fmt.Sprint(f.calls) != "[create-session 128 32 create-conn destroy-conn destroy-session]" {
		t.Errorf("destroy: calls %v, err %v", f.calls, err)
	}

	f = &fakeNL{failAt: "create-conn"}
	if _, err := PrepareSession(f, "10.0.0.1:3260", "iqn.t", KernelOptions{}); err == nil ||
		!strings.Contains(err.Error(), "10.0.0.1:3260 iqn.t: create connection") || f.calls[len(f.calls)-1] != "destroy-session" {
		t.Errorf("failed prepare: calls %v, err %v", f.calls, err)
	}

	// A session that cannot be handed over (no socket) is torn down.
	f = &fakeNL{}
	p, _ = PrepareSession(f, "10.0.0.1:3260", "iqn.t", KernelOptions{})
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	if _, err := p.Start(c1, testSession(), KernelOptions{}); err == nil || fmt.Sprint(f.calls[2:]) != "[destroy-conn destroy-session]" {
		t.Errorf("start without a socket: calls %v, err %v", f.calls, err)
	}
}
