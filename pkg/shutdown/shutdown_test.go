package shutdown

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAction(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want Action
		err  bool
	}{
		{[]string{"poweroff", "--log-level", "info"}, Poweroff, false},
		{[]string{"reboot"}, Reboot, false},
		{[]string{"halt"}, Halt, false},
		{[]string{"kexec"}, Kexec, false},
		{[]string{"exit"}, Reboot, true},
		{nil, Reboot, true},
	} {
		got, err := ParseAction(tc.args)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%q: %v, %v; want %v (error %v)", tc.args, got, err, tc.want, tc.err)
		}
	}
}

func TestIsRole(t *testing.T) {
	for arg, want := range map[string]bool{"/shutdown": true, "/run/initramfs/shutdown": true, "/init": false, "shutdown": false, "@netroot-keeper": false} {
		if IsRole(arg) != want {
			t.Errorf("IsRole(%q) = %v", arg, !want)
		}
	}
}

// TestStarted: the role is PID 1 with /shutdown as argv[0], as Go sees it
// or, under a dispatcher that rewrote os.Args[0], as the kernel started
// it; the boot (no /proc yet) and other processes are not.
func TestStarted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pid     int
		args    []string
		cmdline string
		want    bool
	}{
		{"plain binary", 1, []string{"/shutdown", "poweroff"}, "/shutdown\x00poweroff\x00", true},
		{"plain binary, no /proc", 1, []string{"/shutdown", "poweroff"}, "", true},
		{"u-root dispatcher", 1, []string{"/init", "poweroff"}, "/shutdown\x00poweroff\x00", true},
		{"the boot", 1, []string{"/init"}, "", false},
		{"the boot under a dispatcher", 1, []string{"/bbin/init"}, "", false},
		{"not PID 1", 42, []string{"/shutdown", "poweroff"}, "/shutdown\x00poweroff\x00", false},
		{"a keeper", 93, []string{"@netroot-keeper"}, "@netroot-keeper\x00init\x00", false},
	} {
		var cmdline []byte
		if tc.cmdline != "" {
			cmdline = []byte(tc.cmdline)
		}
		if got := Started(tc.pid, tc.args, cmdline); got != tc.want {
			t.Errorf("%s: Started = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLayout: a plain binary is the role itself; a multi-call binary keeps
// its name behind a symlink named as its command, and the role links to
// that; names that would collide with the role's own files stay plain.
func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		exe, cmd   string
		wantBinary string
		wantLinks  []Link
	}{
		{"init", "init", "shutdown", nil},
		{"netroot-init", "init", "netroot-init", []Link{{"init", "netroot-init"}, {"shutdown", "init"}}},
		{"bb", "init", "bb", []Link{{"init", "bb"}, {"shutdown", "init"}}},
		{"bb", "shutdown", "shutdown", nil},
		{"shutdown", "init", "shutdown", nil},
		{"bb", "oldroot", "shutdown", nil},
		{"proc", "init", "shutdown", nil},
		{"bb", "", "shutdown", nil},
		{"bb", "..", "shutdown", nil},
	} {
		binary, links := Layout(tc.exe, tc.cmd)
		if binary != tc.wantBinary || !reflect.DeepEqual(links, tc.wantLinks) {
			t.Errorf("Layout(%q, %q) = %q %v, want %q %v", tc.exe, tc.cmd, binary, links, tc.wantBinary, tc.wantLinks)
		}
	}
}

// A real systemd-shutdown return: the old root with its API mounts, /run
// with a blank in a mount point, and our own root.
const mountinfo = `1 0 0:20 / / rw - tmpfs tmpfs rw
30 1 8:0 / /oldroot ro,relatime - ext4 /dev/sda ro
31 30 0:5 / /oldroot/dev rw,nosuid - devtmpfs devtmpfs rw
32 31 0:21 / /oldroot/dev/pts rw - devpts devpts rw
33 30 0:22 / /oldroot/run rw - tmpfs tmpfs rw
34 33 0:23 / /oldroot/run/user\0400 rw - tmpfs tmpfs rw
35 30 0:4 / /oldroot/proc rw - proc proc rw
36 35 0:24 / /oldroot/proc rw - proc proc rw
37 1 0:4 / /proc rw - proc proc rw
garbage line
38 1 0:25 / /oldrootx rw - tmpfs tmpfs rw
`

func TestBelow(t *testing.T) {
	var got []string
	for _, m := range Below(ParseMountinfo(mountinfo), "/oldroot") {
		got = append(got, m.Point+" "+m.Source)
	}
	want := []string{
		"/oldroot/dev/pts devpts", "/oldroot/run/user 0 tmpfs",
		"/oldroot/dev devtmpfs", "/oldroot/proc proc", "/oldroot/proc proc", "/oldroot/run tmpfs",
		"/oldroot /dev/sda",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Below:\n got %q\nwant %q", got, want)
	}
	ms := ParseMountinfo(mountinfo)
	if len(ms) != 10 || ms[1].FSType != "ext4" || ms[1].Options != "ro,relatime" || ms[1].Parent != 1 {
		t.Errorf("ParseMountinfo: %+v", ms)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add(mountinfo)
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range Below(ParseMountinfo(s), "/oldroot") {
			if m.Point != "/oldroot" && !strings.HasPrefix(m.Point, "/oldroot/") {
				t.Errorf("%q below /oldroot", m.Point)
			}
		}
	})
}
