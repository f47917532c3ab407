package sysfs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// switch_root moves /sys out of the keeper's root: a tree opened before
// must still be read and written after (the QEMU keeper tests caught a
// keeper that read /sys by path and thought its session gone).
func TestAtAfterTheMountMoved(t *testing.T) {
	base := t.TempDir()
	sys := filepath.Join(base, "sys")
	makeTree(t, sys)
	fd, err := unix.Open(sys, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := os.NewFile(uintptr(fd), sys)
	defer dir.Close()
	if err := os.Rename(sys, filepath.Join(base, "moved")); err != nil {
		t.Fatal(err)
	}
	checkFS(t, At(dir))
	if byPath := (FS{Root: sys}); byPath.Exists("class/net/bond0") {
		t.Errorf("the tree is still reached by its old path: the test moves nothing")
	}
}
