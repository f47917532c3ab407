package sysfs

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openAt opens rel under dir (symbolic links followed as usual).
func openAt(dir *os.File, rel string, flag int) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), rel, flag|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(dir.Name(), rel), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), rel)), nil
}

// existsAt reports whether rel is there under dir.
func existsAt(dir *os.File, rel string) bool {
	var st unix.Stat_t
	return unix.Fstatat(int(dir.Fd()), rel, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}
