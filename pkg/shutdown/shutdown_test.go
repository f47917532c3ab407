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
