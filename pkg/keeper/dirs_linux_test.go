package keeper

import (
	"os"
	"path/filepath"
	"testing"
)

// The real root's /etc/resolv.conf is often an absolute symbolic link
// (systemd-resolved): it resolves inside that root, not the keeper's.
func TestReadInRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "1", "root")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.MkdirAll(filepath.Join(root, "run", "systemd", "resolve"), 0o755)
	os.WriteFile(filepath.Join(root, "run", "systemd", "resolve", "stub-resolv.conf"), []byte("nameserver 127.0.0.53\n"), 0o644)
	if err := os.Symlink("/run/systemd/resolve/stub-resolv.conf", filepath.Join(root, "etc", "resolv.conf")); err != nil {
		t.Fatal(err)
	}
	d, err := openDir(base)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b, err := readInRoot(d, "1/root", "etc/resolv.conf")
	if err != nil || string(b) != "nameserver 127.0.0.53\n" {
		t.Errorf("read %q, %v", b, err)
	}
}
