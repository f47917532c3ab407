package sysfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestFS(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root)
	checkFS(t, FS{Root: root})
}

// makeTree writes a bond's two attributes under root.
func makeTree(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "class", "net", "bond0", "bonding")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "slaves"), []byte("eth0 eth1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "primary"), []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkFS reads and writes makeTree's tree through f.
func checkFS(t *testing.T, f FS) {
	t.Helper()
	if got := f.Value("class/net/bond0/bonding/slaves"); got != "eth0 eth1" {
		t.Errorf("Value(slaves) = %q", got)
	}
	if got := f.Value("class/net/bond0/bonding/absent"); got != "" {
		t.Errorf("Value(absent) = %q, want empty", got)
	}
	if _, err := f.ReadTrim("class/net/bond0/bonding/absent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadTrim(absent) error = %v, want not-exist", err)
	}
	if err := f.Write("class/net/bond0/bonding/primary", "eth1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.ReadTrim("class/net/bond0/bonding/primary"); got != "eth1" {
		t.Errorf("after Write, primary = %q", got)
	}
	if err := f.Write("class/net/bond0/bonding/new", "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Write created an attribute: %v", err)
	}
	if !f.Exists("class/net/bond0") || f.Exists("class/net/eth9") {
		t.Errorf("Exists is wrong")
	}
}
