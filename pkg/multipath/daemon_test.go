package multipath

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// frame is a reply as multipathd sends it: a native size_t length, the
// text, a NUL.
func frame(text string) []byte {
	b := make([]byte, sizeT)
	putSize(b, uint64(len(text)+1))
	return append(append(b, text...), 0)
}

func TestEncodeRequest(t *testing.T) {
	b, err := EncodeRequest("show daemon")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 8)
	binary.LittleEndian.PutUint64(want, 12)
	want = append(want, "show daemon\x00"...)
	if sizeT == 8 && binary.NativeEndian.Uint16([]byte{1, 0}) == 1 && !bytes.Equal(b, want) {
		t.Errorf("EncodeRequest = %q, want %q", b, want)
	}
	if got, err := ReadReply(bytes.NewReader(b)); err != nil || got != "show daemon" {
		t.Errorf("round trip: %q, %v", got, err)
	}
	for _, bad := range []string{"", "show\x00daemon"} {
		if _, err := EncodeRequest(bad); err == nil {
			t.Errorf("EncodeRequest(%q): no error", bad)
		}
	}
}

func TestReadReply(t *testing.T) {
	huge := make([]byte, sizeT)
	putSize(huge, maxDaemonReply+1)
	zero := make([]byte, sizeT)
	for _, tc := range []struct {
		name, want string
		in         []byte
		err        bool
	}{
		{name: "state", in: frame("pid 172 idle\n"), want: "pid 172 idle\n"},
		{name: "short length", in: []byte{1, 2}, err: true},
		{name: "zero length", in: zero, err: true},
		{name: "too long", in: huge, err: true},
		{name: "truncated text", in: frame("pid 172 idle\n")[:sizeT+4], err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadReply(bytes.NewReader(tc.in))
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("ReadReply = %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseDaemonState(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    DaemonState
		serving bool
		err     bool
	}{
		{in: "pid 172 idle\n", want: DaemonState{172, "idle"}, serving: true},
		{in: "pid 172 running\n", want: DaemonState{172, "running"}, serving: true},
		{in: "pid 9 configure\n", want: DaemonState{9, "configure"}, serving: true},
		{in: "pid 9 startup\n", want: DaemonState{9, "startup"}},
		{in: "pid 9 shutdown\n", want: DaemonState{9, "shutdown"}},
		{in: "fail\n", err: true},
		{in: "pid x idle", err: true},
		{in: "pid -1 idle", err: true},
		{in: "pid 1 idle extra", err: true},
		{in: "", err: true},
	} {
		got, err := ParseDaemonState(tc.in)
		if (err != nil) != tc.err || got != tc.want || got.Serving() != tc.serving {
			t.Errorf("ParseDaemonState(%q) = %+v (serving %v), %v; want %+v (serving %v), error %v",
				tc.in, got, got.Serving(), err, tc.want, tc.serving, tc.err)
		}
	}
}

// FuzzDaemonReply: whatever the socket sends, reading and parsing the
// reply returns an error or a state, never panics or reads past the bound.
func FuzzDaemonReply(f *testing.F) {
	f.Add(frame("pid 172 idle\n"))
	f.Add(frame(""))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		reply, err := ReadReply(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(reply) > maxDaemonReply {
			t.Fatalf("reply of %d bytes", len(reply))
		}
		if st, err := ParseDaemonState(reply); err == nil && (st.PID <= 0 || strings.ContainsAny(st.State, " \n")) {
			t.Fatalf("state %+v from %q", st, reply)
		}
	})
}
