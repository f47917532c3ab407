package boot

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/netroot/netroot/pkg/osnet"
	"github.com/netroot/netroot/pkg/shutdown"
	"golang.org/x/sys/unix"
)

type linuxOS struct{}

func (linuxOS) RootPath(rootServer netip.Addr) ([]osnet.Link, error) {
	return osnet.Inspect(rootServer)
}

// InstallShutdown copies the running binary (the initramfs's, which
// switch_root frees) to /run/initramfs, which moves into the real root.
func (linuxOS) InstallShutdown() error {
	dir := filepath.Dir(shutdown.Path)
	for _, d := range append([]string{dir}, shutdown.Dirs...) {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := shutdown.Path + ".new"
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
	return os.Rename(tmp, shutdown.Path)
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
