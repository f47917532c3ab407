package boot

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/shutdown"
	"golang.org/x/sys/unix"
)

// TestCopyFile: the shutdown role's copy is byte for byte, for an empty
// file and one larger than a pipe's worth (sendfile works in chunks).
func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 3<<20 + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		srcPath := filepath.Join(dir, "src")
		if err := os.WriteFile(srcPath, data, 0o755); err != nil {
			t.Fatal(err)
		}
		src, err := os.Open(srcPath)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(dir, "dst"))
		if err != nil {
			t.Fatal(err)
		}
		if err := copyFile(dst, src); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		src.Close()
		dst.Close()
		got, err := os.ReadFile(filepath.Join(dir, "dst"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%d bytes: the copy differs (%d bytes)", size, len(got))
		}
	}
}

// TestBindShutdown: the role's directory holds the binary itself (a hard
// link: no copy) and the directories systemd's return needs, and is bound
// onto the target directory; a second call (a binary linked already) does
// the same; a binary that cannot be linked is an error naming the link.
func TestBindShutdown(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "init")
	if err := os.WriteFile(exe, []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	keep, target := filepath.Join(dir, ".netroot-shutdown"), filepath.Join(dir, "run/initramfs")
	for i := range 2 {
		var mounts []string
		mount := func(src, dst, fstype string, flags uintptr, data string) error {
			mounts = append(mounts, fmt.Sprintf("%s %s %q %#x %q", src, dst, fstype, flags, data))
			return nil
		}
		if err := bindShutdown(exe, "/init", keep, target, mount); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		var a, b unix.Stat_t
		if err := unix.Stat(exe, &a); err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(filepath.Join(keep, "shutdown"), &b); err != nil || a.Ino != b.Ino || a.Nlink != 2 {
			t.Errorf("call %d: role %d (%v), binary %d with %d links", i, b.Ino, err, a.Ino, a.Nlink)
		}
		for _, d := range shutdown.Dirs {
			if fi, err := os.Stat(filepath.Join(keep, d)); err != nil || !fi.IsDir() {
				t.Errorf("call %d: %s: %v", i, d, err)
			}
		}
		if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
			t.Errorf("call %d: mount point %s: %v", i, target, err)
		}
		want := []string{fmt.Sprintf("%s %s \"\" %#x \"\"", keep, target, unix.MS_BIND)}
		if !slices.Equal(mounts, want) {
			t.Errorf("call %d: mounts %q, want %q", i, mounts, want)
		}
	}
	err := bindShutdown(filepath.Join(dir, "missing"), "/init", keep, target, func(string, string, string, uintptr, string) error {
		t.Error("mounted without a binary")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "linking the binary into "+keep) || !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing binary: %v", err)
	}
}

// TestBindShutdownMultiCall: in a u-root image (/init -> bbin/init ->
// bbin/bb, the dispatcher having resolved argv[0] to /bbin/init) the
// role's directory holds the binary under its own name and the role is a
// symlink chain through "init": resolved as the dispatcher resolves
// argv[0] "/shutdown", it runs netroot's init, not the verb "poweroff".
func TestBindShutdownMultiCall(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "bbin/bb")
	if err := os.WriteFile(exe, []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(dir, "exe") // as /proc/self/exe: a link to the file
	if err := os.Symlink(exe, self); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, ".netroot-shutdown")
	for i := range 2 { // a second call replaces what the first made
		err := bindShutdown(self, "/bbin/init", keep, filepath.Join(dir, "run/initramfs"), func(string, string, string, uintptr, string) error { return nil })
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		role := filepath.Join(keep, "shutdown")
		if got := dispatchedAs(role); got != "init" {
			t.Errorf("call %d: a dispatcher runs %q for %s, want init", i, got, role)
		}
		var a, b unix.Stat_t
		if err := unix.Stat(exe, &a); err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(role, &b); err != nil || a.Ino != b.Ino || a.Nlink != 2 {
			t.Errorf("call %d: role %d (%v), binary %d with %d links", i, b.Ino, err, a.Ino, a.Nlink)
		}
		if err := unix.Access(role, unix.X_OK); err != nil {
			t.Errorf("call %d: systemd's check that the role is executable: %v", i, err)
		}
	}
}

// TestCopyShutdownMultiCall: the copy, where the binary cannot be bound,
// is laid out as the bound role is: in a u-root image the dispatcher runs
// init for the role, and the role is the binary's bytes.
func TestCopyShutdownMultiCall(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "bb")
	if err := os.WriteFile(exe, []byte("\x7fELF multi-call"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "run/initramfs")
	for i := range 2 {
		if err := copyShutdown(exe, "/bbin/init", target); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		role := filepath.Join(target, "shutdown")
		if got := dispatchedAs(role); got != "init" {
			t.Errorf("call %d: a dispatcher runs %q for %s, want init", i, got, role)
		}
		if b, err := os.ReadFile(role); err != nil || string(b) != "\x7fELF multi-call" {
			t.Errorf("call %d: the role reads %q, %v", i, b, err)
		}
		for _, d := range shutdown.Dirs {
			if fi, err := os.Stat(filepath.Join(target, d)); err != nil || !fi.IsDir() {
				t.Errorf("call %d: %s: %v", i, d, err)
			}
		}
	}
}

// dispatchedAs is the command a multi-call dispatcher of u-root's kind
// runs for argv[0] p: the base name of p resolved through symlinks up to
// the last symlink.
func dispatchedAs(p string) string {
	for {
		target, err := os.Readlink(p)
		if err != nil {
			return filepath.Base(p)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		if fi, err := os.Lstat(target); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return filepath.Base(p)
		}
		p = target
	}
}
