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
// still do, so the keeper reads sysfs and PID 1's root through these.

// dir is a directory opened by file descriptor.
type dir struct{ fd int }

// openDir opens path as a directory handle (O_PATH: no read access
// needed).
func openDir(path string) (*dir, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &dir{fd: fd}, nil
}

// dirFrom is a handle of its own on f, a directory the caller opened, or
// when f is nil path opened now.
func dirFrom(f *os.File, path string) (*dir, error) {
	if f == nil {
		return openDir(path)
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "dup", Path: f.Name(), Err: err}
	}
	return &dir{fd: fd}, nil
}

func (d *dir) close() { unix.Close(d.fd) }

// readFile reads rel (relative, symbolic links followed as usual) under d.
func (d *dir) readFile(rel string) ([]byte, error) {
	fd, err := unix.Openat(d.fd, rel, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// writeFile writes value to the existing file rel under d in one write,
// as sysfs attributes want.
func (d *dir) writeFile(rel, value string) error {
	fd, err := unix.Openat(d.fd, rel, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), rel)
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readInRoot reads rel inside the root directory under d named by root
// (PID 1's "1/root" under /proc): symbolic links, absolute ones too
// (systemd's /etc/resolv.conf), resolve inside that root.
func (d *dir) readInRoot(root, rel string) ([]byte, error) {
	rfd, err := unix.Openat(d.fd, root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
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
