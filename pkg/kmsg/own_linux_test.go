package kmsg

import (
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Own opens the Writer's file anew, through a /proc descriptor: the
// records arrive through another open file description of the same
// file.
func TestOwnReopensThroughProc(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/log"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	proc, err := os.Open("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	defer proc.Close()
	w := New(f, "x: ")
	if err := w.Own(proc); err != nil {
		t.Fatal(err)
	}
	w.Printf("hello")
	// Another description: the first file's offset did not move.
	if off, _ := f.Seek(0, io.SeekCurrent); off != 0 {
		t.Errorf("the inherited description wrote: offset %d", off)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "<5>x: hello\n" {
		t.Errorf("file holds %q", b)
	}
	nf := w.out.(*os.File)
	if flags, err := unix.FcntlInt(nf.Fd(), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("the new descriptor is inherited by children (flags %#x, %v)", flags, err)
	}
	if w.Limited == nil || w.Limited() {
		t.Errorf("a plain file is limited after Own")
	}
}

func TestOwnNeedsAFile(t *testing.T) {
	proc, err := os.Open("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	defer proc.Close()
	if err := New(io.Discard, "").Own(proc); err == nil {
		t.Error("Own of a non-file: no error")
	}
}
