package keeper

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/netroot/netroot/pkg/sysfs"
)

// switch_root moves /sys and /proc out of the keeper's root: what was
// opened before must still be read after (the QEMU keeper tests caught a
// keeper that read /sys by path and thought its session gone).
func TestSessionStateAfterTheMountMoved(t *testing.T) {
	base := t.TempDir()
	sys := filepath.Join(base, "sys")
	for rel, content := range map[string]string{
		"class/iscsi_transport/tcp/handle":           "1\n",
		"class/iscsi_session/session1/state":         "LOGGED_IN\n",
		"class/iscsi_connection/connection1:0/state": "up\n",
	} {
		p := filepath.Join(sys, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	d, err := openDir(sys)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := os.Rename(sys, filepath.Join(base, "moved")); err != nil {
		t.Fatal(err)
	}
	read := sysfs.At(d).Read
	st, err := readSessionState(read, 1, 0)
	if err != nil || st != (SessionState{"LOGGED_IN", "up"}) {
		t.Errorf("after the move: %+v, %v", st, err)
	}
	if _, err := readSessionState(read, 2, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing session: %v, want it gone", err)
	}
}

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
