package ctl

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRequestRoundTrip(t *testing.T) {
	tests := []struct {
		verb string
		arg  any
		want string
	}{
		{Ping, nil, "7 ping\n"},
		{Batch, []Op{{Op: Mkdir, Path: "target/core"}}, `7 batch [{"op":"mkdir","path":"target/core"}]` + "\n"},
		{Drop, DropArg{Port: 3260}, `7 drop {"port":3260}` + "\n"},
	}
	for _, tt := range tests {
		line, err := FormatRequest(7, tt.verb, tt.arg)
		if err != nil || line != tt.want {
			t.Errorf("FormatRequest(%s) = %q, %v; want %q", tt.verb, line, err, tt.want)
			continue
		}
		r, err := ParseRequest(line)
		if err != nil || r.ID != 7 || r.Verb != tt.verb || (tt.arg == nil) != (r.Arg == nil) {
			t.Errorf("ParseRequest(%q) = %+v, %v", line, r, err)
		}
	}
}

func TestParseRequestErrors(t *testing.T) {
	for _, line := range []string{"", "ping", "x ping", "1 ", "1 Ping", "1 batch {", "-1 ping", "1 a_b"} {
		if r, err := ParseRequest(line); err == nil {
			t.Errorf("ParseRequest(%q) = %+v, want an error", line, r)
		}
	}
}

func TestReplies(t *testing.T) {
	tests := []struct {
		line string
		want Reply
	}{
		{FormatOK(3, nil), Reply{ID: 3, OK: true}},
		{FormatOK(3, []string{"a"}), Reply{ID: 3, OK: true, Result: []byte(`["a"]`)}},
		{FormatErr(4, errors.New("op 2 (mkdir x):\nno such file")), Reply{ID: 4, Err: "op 2 (mkdir x): no such file"}},
		{"5 err", Reply{ID: 5, Err: "unspecified error"}},
	}
	for _, tt := range tests {
		got, err := ParseReply(tt.line)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseReply(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
		}
	}
	for _, bad := range []string{"5 maybe", "5 ok {", "ok", "x ok"} {
		if _, err := ParseReply(bad); err == nil {
			t.Errorf("ParseReply(%q): want an error", bad)
		}
	}
}

func TestOpStringHidesSecrets(t *testing.T) {
	op := Op{Op: Write, Path: "a/auth/password", Value: "s3cret", Secret: true}
	if strings.Contains(op.String(), "s3cret") {
		t.Errorf("Op.String() = %q shows the secret", op.String())
	}
}

func TestCleanPath(t *testing.T) {
	for p, ok := range map[string]bool{
		"target/iscsi": true, "a": true, "": false, "/target": false, "a/../b": false, "a//b": false, "a/.": false,
	} {
		if _, err := CleanPath(p); (err == nil) != ok {
			t.Errorf("CleanPath(%q) error %v, want ok=%v", p, err, ok)
		}
	}
}

func TestExecutor(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "t/attrib"), 0o755)
	os.WriteFile(filepath.Join(root, "t/attrib/enable"), []byte("0\n"), 0o644)
	os.WriteFile(filepath.Join(root, "t/attrib/mode"), []byte("a  b\n"), 0o644)
	listening := []netip.AddrPort{netip.MustParseAddrPort("10.77.0.2:3260")}
	e := &Executor{Root: root, Wait: 50 * time.Millisecond,
		Listening: func() ([]netip.AddrPort, error) { return listening, nil }}
	out, err := e.Run([]Op{
		{Op: Mkdir, Path: "t/lun"},
		{Op: Mkdir, Path: "t/lun"}, // exists: fine (configfs default groups)
		{Op: Write, Path: "t/attrib/enable", Value: "1"},
		{Op: Read, Path: "t/attrib/enable"},
		{Op: Symlink, Path: "t/lun/link", Value: "t/attrib"},
		{Op: List, Path: "t/attrib"},
		{Op: Listen, Value: "10.77.0.2:3260"},
		{Op: Unlink, Path: "t/lun/link"},
		{Op: Rmdir, Path: "t/lun"},
		{Op: Rmdir, Path: "t/lun", IfExists: true},
		{Op: Write, Path: "t/nothing", Value: "1", IfExists: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "", "", "1", "", "enable=1\nmode=a b", "", "", "", "", ""}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("results %q, want %q", out, want)
	}
	_, err = e.Run([]Op{{Op: Rmdir, Path: "t/lun"}})
	if err == nil || !strings.Contains(err.Error(), "op 1 (rmdir t/lun)") {
		t.Errorf("rmdir of a missing dir: %v, want an error naming op 1", err)
	}
	if _, err := e.Run([]Op{{Op: Listen, Value: "10.77.0.2:3261"}}); err == nil {
		t.Errorf("listen on a port nobody listens on succeeded")
	}
	if _, err := e.Run([]Op{{Op: Unlisten, Value: "10.77.0.2:3260"}}); err == nil {
		t.Errorf("unlisten on a listening port succeeded")
	}
	_, err = e.Run([]Op{{Op: Write, Path: "t/missing", Value: "topsecret", Secret: true}})
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("write error %v: want an error without the secret", err)
	}
	if _, err := e.Run([]Op{{Op: Symlink, Path: "t/x", Value: "../etc"}}); err == nil {
		t.Errorf("symlink out of the root accepted")
	}
}

const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 02004D0A:0CBC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 100 0 0 10 0
   2: 02004D0A:0CBC 0A004D0A:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 100 0 0 10 0
`

func TestParseProcNetTCP(t *testing.T) {
	got, err := ParseProcNetTCP([]byte(procNetTCP), "0A")
	want := []netip.AddrPort{netip.MustParseAddrPort("10.77.0.2:3260"), netip.MustParseAddrPort("0.0.0.0:22")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("LISTEN = %v, %v; want %v", got, err, want)
	}
	got, err = ParseProcNetTCP([]byte(procNetTCP), "01")
	if err != nil || len(got) != 1 || got[0] != netip.MustParseAddrPort("10.77.0.2:3260") {
		t.Errorf("ESTABLISHED = %v, %v", got, err)
	}
	for _, bad := range []string{"0: x", "0: 0200:0CBC 0 0A", "0: 02004D0A:0CBZ 0 0A"} {
		if _, err := ParseProcNetTCP([]byte(bad), "0A"); err == nil {
			t.Errorf("ParseProcNetTCP(%q): want an error", bad)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add("1 ping")
	f.Add(`2 batch [{"op":"mkdir","path":"a"}]`)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRequest(line)
		if err != nil {
			return
		}
		var arg any
		if r.Arg != nil {
			arg = r.Arg
		}
		again, err := FormatRequest(r.ID, r.Verb, arg)
		if err != nil {
			t.Fatalf("a parsed request does not format: %v", err)
		}
		if _, err := ParseRequest(again); err != nil {
			t.Fatalf("%q does not parse again: %v", again, err)
		}
	})
}

func FuzzParseReply(f *testing.F) {
	f.Add("1 ok")
	f.Add(`1 ok ["x"]`)
	f.Add("1 err no")
	f.Fuzz(func(t *testing.T, line string) {
		ParseReply(line)
	})
}

func FuzzParseProcNetTCP(f *testing.F) {
	f.Add([]byte(procNetTCP))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseProcNetTCP(data, "0A")
	})
}
