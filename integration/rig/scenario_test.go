package rig

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestFreshLUN: a boot's copy of its root image goes to its directory, or
// to Env.LUNDir, from where closing the boot removes it.
func TestFreshLUN(t *testing.T) {
	src := filepath.Join(t.TempDir(), "root.img")
	if err := os.WriteFile(src, []byte("root"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, inMemory := range []bool{false, true} {
		e := &Env{}
		if inMemory {
			e.LUNDir = t.TempDir()
		}
		b := &Boot{Dir: filepath.Join(t.TempDir(), "07-bench")}
		if err := os.MkdirAll(b.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		lun, err := e.freshLUN(context.Background(), b, src, "lun1.img")
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(b.Dir, "lun1.img")
		if inMemory {
			want = filepath.Join(e.LUNDir, "07-bench-lun1.img")
		}
		if lun != want {
			t.Errorf("LUNDir %q: the copy is %s, want %s", e.LUNDir, lun, want)
		}
		if got, err := os.ReadFile(lun); err != nil || string(got) != "root" {
			t.Errorf("LUNDir %q: the copy holds %q (%v)", e.LUNDir, got, err)
		}
		b.Close()
		_, err = os.Stat(lun)
		if gone := os.IsNotExist(err); gone != inMemory {
			t.Errorf("LUNDir %q: after Close the copy is gone: %v, want %v", e.LUNDir, gone, inMemory)
		}
	}
}

// TestRemoveStale: MemoryDir's leftovers of runs whose process is gone are
// removed; a live run's, and anything not named so, stay.
func TestRemoveStale(t *testing.T) {
	parent := t.TempDir()
	for _, n := range []string{"netroot-tests-111-1", "netroot-tests-222-2", "netroot-tests-x-3", "netroot-bench-111-4", "other"} {
		if err := os.MkdirAll(filepath.Join(parent, n, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	removeStale(parent, "netroot-tests-", func(pid int) bool { return pid == 222 })
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if want := []string{"netroot-bench-111-4", "netroot-tests-222-2", "netroot-tests-x-3", "other"}; !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
}
