package blockdev

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountFlagsMatchUnix(t *testing.T) {
	for _, tc := range []struct {
		name string
		ours MountFlags
		sys  uintptr
	}{
		{"MS_RDONLY", MountReadOnly, unix.MS_RDONLY},
		{"MS_NOSUID", MountNoSUID, unix.MS_NOSUID},
		{"MS_NODEV", MountNoDev, unix.MS_NODEV},
		{"MS_NOEXEC", MountNoExec, unix.MS_NOEXEC},
		{"MS_SYNCHRONOUS", MountSynchronous, unix.MS_SYNCHRONOUS},
		{"MS_MANDLOCK", MountMandLock, unix.MS_MANDLOCK},
		{"MS_DIRSYNC", MountDirSync, unix.MS_DIRSYNC},
		{"MS_NOSYMFOLLOW", MountNoSymFollow, unix.MS_NOSYMFOLLOW},
		{"MS_NOATIME", MountNoATime, unix.MS_NOATIME},
		{"MS_NODIRATIME", MountNoDirATime, unix.MS_NODIRATIME},
		{"MS_SILENT", MountSilent, unix.MS_SILENT},
		{"MS_RELATIME", MountRelATime, unix.MS_RELATIME},
		{"MS_I_VERSION", MountIVersion, unix.MS_I_VERSION},
		{"MS_STRICTATIME", MountStrictATime, unix.MS_STRICTATIME},
		{"MS_LAZYTIME", MountLazyTime, unix.MS_LAZYTIME},
	} {
		if uintptr(tc.ours) != tc.sys {
			t.Errorf("%s: ours %#x, x/sys/unix %#x", tc.name, uintptr(tc.ours), tc.sys)
		}
	}
}
