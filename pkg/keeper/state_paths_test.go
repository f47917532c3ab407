package keeper

import (
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/iscsi"
)

// TestStatePaths: the paths' fields go through the pipe and are checked.
func TestStatePaths(t *testing.T) {
	s := Session{SID: 1, InitiatorName: "iqn.i:me", TargetName: "iqn.t:root", Portals: []string{"10.77.0.1:3260", "10.78.0.1:3260"},
		ISID: iscsi.ISID{0x80, 1, 2, 3, 0, 0}, Bond: "bond0", Map: "3600140512345", PathDev: "8:16"}
	b, err := Encode(State{TransportHandle: 1, Sessions: []Session{s}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	got := st.Sessions[0]
	if got.Bond != "bond0" || got.Map != s.Map || got.PathDev != "8:16" || len(got.Portals) != 2 {
		t.Errorf("decoded %+v", got)
	}
	for _, tc := range []struct {
		mod  func(*Session)
		want string
	}{
		{func(s *Session) { s.PathDev = "" }, "multipath map"},
		{func(s *Session) { s.Map = "" }, "multipath map"},
		{func(s *Session) { s.PathDev = "sdb" }, "multipath map"},
		{func(s *Session) { s.Bond = "../x" }, "not an interface name"},
		{func(s *Session) { s.Bond = "a-name-too-long-for-linux" }, "not an interface name"},
	} {
		bad := s
		tc.mod(&bad)
		if err := (State{Sessions: []Session{bad}}).Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Validate = %v, want %q", bad, err, tc.want)
		}
	}
}
