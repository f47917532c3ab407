package boot

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/netroot/netroot/pkg/osnet"
	"github.com/netroot/netroot/pkg/shutdown"
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
	if _, err := io.Copy(dst, src); err != nil {
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
