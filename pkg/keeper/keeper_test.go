package keeper

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/iscsi"
)

func testState() State {
	return State{TransportHandle: 0xffffffffa0123456, Sessions: []Session{{
		SID: 1, CID: 0, HostNo: 2, InitiatorName: "iqn.i:me", TargetName: "iqn.t:root",
		Portals: []string{"10.77.0.1:3260", "[fd00::1]:3260"}, ISID: iscsi.ISID{0x80, 1, 2, 3, 0, 0},
		Credentials:    iscsi.Credentials{Username: "u", Password: "secret-pw", InUsername: "t", InPassword: "in-secret"},
		CHAPAlgorithms: []iscsi.CHAPAlgorithm{iscsi.CHAPMD5}, Params: []iscsi.KeyValue{{Key: "MaxBurstLength", Value: "65536"}},
		RecoveryTimeoutSec: 86400, NoopIntervalSec: 5, NoopTimeoutSec: 5, RecoveryTimeoutSet: true,
		DefaultTime2WaitSec: 2, Interface: "bond0",
		Resolved: map[string][]string{"10.77.0.1:3260": {"10.77.0.1:3260"}},
	}}}
}

// TestStateRoundTrip: a State goes through the pipe whole, secrets
// included — a joins' too (join_test.go).
func TestStateRoundTrip(t *testing.T) {
	for _, st := range []State{testState(), joinTestState()} {
		b, err := Encode(st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, st) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, st)
		}
		if s := st.Sessions[0].String(); strings.Contains(s, "secret") {
			t.Errorf("String leaks a secret: %s", s)
		}
	}
	if j := joinTestState().Joins[0].String(); strings.Contains(j, "secret") {
		t.Errorf("Join.String leaks a secret: %s", j)
	}
}

func TestStateValidate(t *testing.T) {
	for name, mutate := range map[string]func(*State){
		"no sessions": func(s *State) { s.Sessions = nil },
		"no portal":   func(s *State) { s.Sessions[0].Portals = nil },
		"bad portal":  func(s *State) { s.Sessions[0].Portals = []string{"10.0.0.1"} },
		"no isid":     func(s *State) { s.Sessions[0].ISID = iscsi.ISID{} },
		"no target":   func(s *State) { s.Sessions[0].TargetName = "" },
		"twice":       func(s *State) { s.Sessions = append(s.Sessions, s.Sessions[0]) },
		"time2wait":   func(s *State) { s.Sessions[0].DefaultTime2WaitSec = 3601 },
		"resolved for no portal": func(s *State) {
			s.Sessions[0].Resolved = map[string][]string{"nas:3260": {"10.0.0.1:3260"}}
		},
		"resolved to a name": func(s *State) {
			s.Sessions[0].Resolved = map[string][]string{"10.77.0.1:3260": {"nas:3260"}}
		},
	} {
		st := testState()
		mutate(&st)
		if _, err := Encode(st); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, bad := range []string{"", "{", `{"Sessions":[{"SID":1,"ISID":"zz"}]}`, `{"Sessions":[{"SID":1,"ISID":"80010203000g"}]}`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := Encode(testState())
	f.Add(b)
	f.Add([]byte(`{"Sessions":[]}`))
	b, _ = Encode(joinTestState())
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := Decode(b)
		if err != nil {
			return
		}
		if st.Validate() != nil {
			t.Fatal("Decode returned an invalid state")
		}
		if _, err := Encode(st); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

func uevent(typ uint32, handle uint64, r []uint32, tail []byte) []byte {
	b := make([]byte, iscsi.UEventLen)
	binary.LittleEndian.PutUint32(b[0:], typ)
	binary.LittleEndian.PutUint64(b[8:], handle)
	for i, v := range r {
		binary.LittleEndian.PutUint32(b[40+4*i:], v)
	}
	return append(b, tail...)
}

func TestParseEvent(t *testing.T) {
	pdu := make([]byte, 48+5)
	pdu[0] = 0x23
	pdu[7] = 5
	copy(pdu[48:], "hello")
	for _, tc := range []struct {
		name string
		in   []byte
		want Event
		err  string
	}{
		{"conn error", uevent(EventConnError, 7, []uint32{3, 0, 1022}, nil), Event{Type: EventConnError, TransportHandle: 7, SID: 3, Error: 1022}, ""},
		{"recv pdu", uevent(EventRecvPDU, 7, []uint32{3, 1}, append(append([]byte(nil), pdu...), 0, 0, 0)), Event{Type: EventRecvPDU, TransportHandle: 7, SID: 3, CID: 1, PDU: pdu}, ""},
		// include/uapi/scsi/iscsi_if.h: msg_session_destroyed is
		// {host_no; sid}, msg_unbind_session {sid; host_no}.
		{"destroy", uevent(EventDestroySession, 7, []uint32{2, 9}, nil), Event{Type: EventDestroySession, TransportHandle: 7, SID: 9, HostNo: 2}, ""},
		{"unbind", uevent(EventUnbindSession, 7, []uint32{9, 2}, nil), Event{Type: EventUnbindSession, TransportHandle: 7, SID: 9, HostNo: 2}, ""},
		{"unknown", uevent(999, 7, []uint32{9}, nil), Event{Type: 999, TransportHandle: 7}, ""},
		{"short", make([]byte, 20), Event{}, "at least"},
		{"short pdu", uevent(EventRecvPDU, 7, []uint32{3, 1}, pdu[:40]), Event{}, "PDU"},
		{"truncated data", uevent(EventRecvPDU, 7, []uint32{3, 1}, pdu[:50]), Event{}, "truncated"},
	} {
		got, err := ParseEvent(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v (%v), want %+v", tc.name, got, err, tc.want)
		}
	}
	if ErrorName(1022) != "NOP_TIMEDOUT" || ErrorName(5) != "5" {
		t.Error("ErrorName")
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add(uevent(EventConnError, 7, []uint32{3, 0, 1022}, nil))
	f.Add(uevent(EventRecvPDU, 7, []uint32{3, 1}, make([]byte, 60)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseEvent(b)
		if err == nil && ev.Type == EventRecvPDU && len(ev.PDU) < 48 {
			t.Fatalf("short PDU accepted")
		}
	})
}
