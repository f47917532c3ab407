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
	if got := ValueOf(f, "class/net/bond0/bonding/slaves"); got != "eth0 eth1" {
		t.Errorf("ValueOf(slaves) = %q", got)
	}
	if got := ValueOf(f, "class/net/bond0/bonding/absent"); got != "" {
		t.Errorf("ValueOf(absent) = %q, want empty", got)
	}
	if _, err := f.ReadTrim("class/net/bond0/bonding/absent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadTrim(absent) error = %v, want not-exist", err)
	}
	// As an fs.FS: a directory's entries, a file, and no typed nil.
	if ents, err := fs.ReadDir(f, "class/net/bond0/bonding"); err != nil || len(ents) != 2 || ents[0].Name() != "primary" || ents[1].Name() != "slaves" {
		t.Errorf("ReadDir(bonding) = %v, %v", ents, err)
	}
	if b, err := fs.ReadFile(f, "class/net/bond0/bonding/slaves"); err != nil || string(b) != "eth0 eth1\n" {
		t.Errorf("fs.ReadFile(slaves) = %q, %v", b, err)
	}
	if file, err := f.Open("class/net/eth9"); file != nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(absent) = %v, %v", file, err)
	}
	if _, err := f.Open("../etc"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(../etc) = %v, want invalid", err)
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
