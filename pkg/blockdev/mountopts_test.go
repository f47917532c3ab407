package blockdev

import (
	"slices"
	"strings"
	"testing"
)

func TestParseMountOptions(t *testing.T) {
	for _, tc := range []struct {
		in      string
		flags   MountFlags
		mode    string
		data    string
		dropped []string
	}{
		{"", 0, "", "", nil},
		{"noatime", MountNoATime, "", "", nil},
		{"noatime,nobarrier", MountNoATime, "", "nobarrier", nil},
		{"defaults", 0, "", "", nil},
		{"nosuid,nodev,noexec,defaults", MountNoSUID | MountNoDev | MountNoExec, "", "", nil}, // libmount: defaults is no flag
		{"defaults,nosuid,nodev,noexec,sync", MountNoSUID | MountNoDev | MountNoExec | MountSynchronous, "", "", nil},
		{"sync,async", 0, "", "", nil},
		{"dirsync,mand,silent,iversion,lazytime,strictatime,nosymfollow",
			MountDirSync | MountMandLock | MountSilent | MountIVersion | MountLazyTime | MountStrictATime | MountNoSymFollow, "", "", nil},
		{"mand,nomand,silent,loud,iversion,noiversion,lazytime,nolazytime,strictatime,nostrictatime,nosymfollow,symfollow", 0, "", "", nil},
		{"atime,noatime,diratime,nodiratime,relatime", MountNoATime | MountNoDirATime | MountRelATime, "", "", nil},
		{"noatime,atime,nodiratime,diratime,relatime,norelatime", 0, "", "", nil},
		{"ro", 0, "ro", "", nil},
		{"ro,rw,noatime", MountNoATime, "rw", "", nil},
		{"rw,defaults", 0, "rw", "", nil},
		{"_netdev,nofail,auto,noauto,user,nouser,users,owner,group,user=joe,x-systemd.device-timeout=30,X-mount.mkdir,comment=cloudconfig,data=journal", 0, "", "data=journal",
			[]string{"_netdev", "nofail", "auto", "noauto", "user", "nouser", "users", "owner", "group", "user=joe", "x-systemd.device-timeout=30", "X-mount.mkdir", "comment=cloudconfig"}},
		{"subvol=@,compress=zstd:3,,noatime", MountNoATime, "", "subvol=@,compress=zstd:3", nil},
		{`context="system_u:object_r:root_t:s0:c1,c2",noatime`, MountNoATime, "", `context="system_u:object_r:root_t:s0:c1,c2"`, nil},
		{"a b", 0, "", "a b", nil},
	} {
		o, err := ParseMountOptions(tc.in)
		if err != nil {
			t.Errorf("ParseMountOptions(%q): %v", tc.in, err)
			continue
		}
		if o.Flags != tc.flags || o.Mode != tc.mode || o.Data != tc.data || !slices.Equal(o.Dropped, tc.dropped) {
			t.Errorf("ParseMountOptions(%q) = flags %s (%#x), mode %q, data %q, dropped %q\nwant flags %s (%#x), mode %q, data %q, dropped %q",
				tc.in, o.Flags, uintptr(o.Flags), o.Mode, o.Data, o.Dropped, tc.flags, uintptr(tc.flags), tc.mode, tc.data, tc.dropped)
		}
	}
	for _, in := range []string{"bind", "noatime,rbind", "remount,rw", "move", "loop=/dev/loop0", "shared", "rprivate"} {
		if _, err := ParseMountOptions(in); err == nil || !strings.Contains(err.Error(), "operation of mount(8)") {
			t.Errorf("ParseMountOptions(%q): err = %v, want an operation refused", in, err)
		}
	}
	// A quote left open: libmount refuses it; the kernel would split it at
	// every ',' and read the flag words inside as data.
	for _, in := range []string{`s"0,exec`, `context="a,b`} {
		if _, err := ParseMountOptions(in); err == nil || !strings.Contains(err.Error(), "double quote is not closed") {
			t.Errorf("ParseMountOptions(%q): err = %v, want the open quote refused", in, err)
		}
	}
	for _, in := range []string{`0",exec,"0`, `data="journal"`} {
		if _, err := ParseMountOptions(in); err == nil || !strings.Contains(err.Error(), "double quotes only go around an SELinux context") {
			t.Errorf("ParseMountOptions(%q): err = %v, want the quotes refused", in, err)
		}
	}
	if s := (MountReadOnly | MountNoATime | MountNoSUID).String(); s != "ro,nosuid,noatime" {
		t.Errorf("String() = %q", s)
	}
}
