package boot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/netroot/netroot/pkg/osnet"
	"github.com/netroot/netroot/pkg/shutdown"
	"golang.org/x/sys/unix"
)

// linuxOS is the real system; self is os.Args[0], the command this
// binary runs as.
type linuxOS struct{ self string }

func (linuxOS) RootPath(rootServer netip.Addr) ([]osnet.Link, error) {
	return osnet.Inspect(rootServer)
}

// BindShutdown links the running binary (the initramfs's /init) into
// shutdown.InitramfsDir and binds that directory onto /run/initramfs,
// which switch_root moves into the real root with /run.
func (o linuxOS) BindShutdown() error {
	return bindShutdown("/proc/self/exe", o.self, shutdown.InitramfsDir, filepath.Dir(shutdown.Path), unix.Mount)
}

// bindShutdown makes keep the role's directory — exe hard-linked as
// shutdown.Layout names it for a binary run as self, the directories
// systemd's return needs — and binds it onto dir. A hard link needs exe
// on keep's filesystem (EXDEV otherwise).
func bindShutdown(exe, self, keep, dir string, mount func(src, dst, fstype string, flags uintptr, data string) error) error {
	if err := makeShutdownDirs(keep); err != nil {
		return err
	}
	binary, links := roleLayout(exe, self)
	name := filepath.Join(keep, binary)
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// AT_SYMLINK_FOLLOW: the file /proc/self/exe names, not the link.
	if err := unix.Linkat(unix.AT_FDCWD, exe, unix.AT_FDCWD, name, unix.AT_SYMLINK_FOLLOW); err != nil {
		return fmt.Errorf("linking the binary into %s: %w", keep, err)
	}
	if err := makeLinks(keep, links); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := mount(keep, dir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s on %s: %w", keep, dir, err)
	}
	return nil
}

// roleLayout is shutdown.Layout for the binary exe (a path, through
// symlinks: /proc/self/exe) run as self.
func roleLayout(exe, self string) (string, []shutdown.Link) {
	file, err := filepath.EvalSymlinks(exe)
	if err != nil {
		file = exe
	}
	return shutdown.Layout(filepath.Base(file), filepath.Base(self))
}

// makeLinks makes links in dir, replacing what has their names.
func makeLinks(dir string, links []shutdown.Link) error {
	for _, l := range links {
		name := filepath.Join(dir, l.Name)
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Symlink(l.Target, name); err != nil {
			return err
		}
	}
	return nil
}

// makeShutdownDirs makes dir and the directories below it systemd's
// return binds /proc, /sys, /dev and /run to.
func makeShutdownDirs(dir string) error {
	for _, d := range append([]string{""}, shutdown.Dirs...) {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// CopyShutdown copies the running binary to /run/initramfs (when it could
// not be bound there: it is not on the initramfs), laid out as
// BindShutdown does.
func (o linuxOS) CopyShutdown() error {
	return copyShutdown("/proc/self/exe", o.self, filepath.Dir(shutdown.Path))
}

// copyShutdown makes dir the role's directory with a copy of exe, laid
// out as bindShutdown does.
func copyShutdown(exe, self, dir string) error {
	if err := makeShutdownDirs(dir); err != nil {
		return err
	}
	binary, links := roleLayout(exe, self)
	src, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer src.Close()
	name := filepath.Join(dir, binary)
	tmp := name + ".new"
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if err := copyFile(dst, src); err != nil {
		dst.Close()
		os.Remove(tmp)
		return err
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	return makeLinks(dir, links)
}

// copyFile copies src to dst in the kernel with sendfile(2): io.Copy
// between the initramfs and a tmpfs falls back to a user-space buffer
// (copy_file_range does not cross filesystems), which costs a second copy
// of every byte and a pair of system calls per 32 KiB — CPU time the boot
// waits for on a small machine. If sendfile refuses the files before
// copying anything, io.Copy does the work.
func copyFile(dst, src *os.File) error {
	st, err := src.Stat()
	if err != nil {
		return err
	}
	left := st.Size()
	for left > 0 {
		n, err := unix.Sendfile(int(dst.Fd()), int(src.Fd()), nil, int(min(left, 1<<30)))
		if err != nil || n == 0 {
			if left == st.Size() && (err == unix.EINVAL || err == unix.ENOSYS) {
				_, err = io.Copy(dst, src)
				return err
			}
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("copying %s: %w", src.Name(), err)
		}
		left -= int64(n)
	}
	return nil
}
