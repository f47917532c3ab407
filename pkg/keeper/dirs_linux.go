package keeper

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// After switch_root the keeper's root and working directory stay on the
// emptied initramfs, and /sys and /proc have been moved to the real root:
// paths no longer reach them. Directories opened before (at Run's start)
// still do, so the keeper reads them through those (sysfs.At).

// openDir opens path as a directory handle (O_PATH: no read access
// needed).
func openDir(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// dirFrom is a handle of its own on f, a directory the caller opened, or
// when f is nil path opened now.
func dirFrom(f *os.File, path string) (*os.File, error) {
	if f == nil {
		return openDir(path)
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "dup", Path: f.Name(), Err: err}
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// readInRoot reads rel inside the root directory under proc named by root
// (PID 1's "1/root"): symbolic links, absolute ones too (systemd's
// /etc/resolv.conf), resolve inside that root.
func readInRoot(proc *os.File, root, rel string) ([]byte, error) {
	rfd, err := unix.Openat(int(proc.Fd()), root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("keeper: %s: %w", root, err)
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, rel, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if errors.Is(err, unix.ENOSYS) { // before Linux 5.6
		fd, err = unix.Openat(rfd, rel, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("keeper: /%s of the real root: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}
