package switchroot

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// copyFile copies src to root/dst, making the directories.
func copyFile(t *testing.T, src, root, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Skipf("host file: %v", err)
	}
	p := filepath.Join(root, dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, root, link, target string) {
	t.Helper()
	p := filepath.Join(root, link)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// A dynamically linked init (a copy of the host's /bin/true, reached over
// the /sbin/init → systemd symlinks a Debian root has) brings its
// interpreter and libc, found in the multiarch directory through the
// /lib64 and /usr-merge symlinks.
func TestPrefetchListDynamic(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("uses the host's x86-64 glibc layout")
	}
	f, err := elf.Open("/bin/true")
	if err != nil {
		t.Skipf("no ELF /bin/true: %v", err)
	}
	libs, _ := f.ImportedLibraries()
	f.Close()
	if !reflect.DeepEqual(libs, []string{"libc.so.6"}) {
		t.Skipf("/bin/true needs %v, not just libc.so.6", libs)
	}
	root := t.TempDir()
	copyFile(t, "/bin/true", root, "/usr/lib/systemd/systemd", 0o755)
	copyFile(t, "/lib/x86_64-linux-gnu/libc.so.6", root, "/usr/lib/x86_64-linux-gnu/libc.so.6", 0o755)
	copyFile(t, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", root, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 0o755)
	symlink(t, root, "/lib", "usr/lib")
	symlink(t, root, "/sbin/init", "/lib/systemd/systemd")
	symlink(t, root, "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	got, err := PrefetchList(root, "/sbin/init")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/lib/systemd/systemd", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/libc.so.6"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PrefetchList = %q, want %q", got, want)
	}
	// The syscall side asks for them without error.
	if files, err := Prefetch(root, "/sbin/init"); err != nil || len(files) != 3 {
		t.Errorf("Prefetch = %q, %v", files, err)
	}
}

// On the host's own root, the list for systemd (found through its
// DT_RUNPATH in /usr/lib/x86_64-linux-gnu/systemd) is what the dynamic
// loader really maps, as ldd reports it, transitively.
func TestPrefetchListMatchesLdd(t *testing.T) {
	const prog = "/lib/systemd/systemd"
	if _, err := os.Stat(prog); err != nil {
		t.Skipf("no %s on this host", prog)
	}
	out, err := exec.Command("ldd", prog).Output()
	if err != nil {
		t.Skipf("ldd: %v", err)
	}
	want := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i, w := range f {
			if strings.HasPrefix(w, "/") && (i == 0 || f[i-1] == "=>") {
				real, err := filepath.EvalSymlinks(w)
				if err != nil {
					t.Fatal(err)
				}
				want[real] = true
			}
		}
	}
	got, err := PrefetchList("/", prog)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range got {
		have[p] = true
	}
	real, _ := filepath.EvalSymlinks(prog)
	if !have[real] {
		t.Errorf("PrefetchList = %q: no %s", got, real)
	}
	for w := range want {
		if !have[w] {
			t.Errorf("ldd maps %s, PrefetchList has not: %q", w, got)
		}
	}
	if len(got) != len(want)+1 {
		t.Errorf("PrefetchList = %q (%d files), ldd maps %d libraries", got, len(got), len(want))
	}
}

// A script, a file that only looks like ELF, a missing init.
func TestPrefetchListNoELF(t *testing.T) {
	root := t.TempDir()
	for _, body := range []string{"#!/bin/sh\nexec true\n", "\x7fELF garbage \x00\x01\x02"} {
		os.WriteFile(filepath.Join(root, "init"), []byte(body), 0o755)
		got, err := PrefetchList(root, "/init")
		if err != nil || !reflect.DeepEqual(got, []string{"/init"}) {
			t.Errorf("PrefetchList(%q) = %q, %v", body[:6], got, err)
		}
	}
	if _, err := PrefetchList(root, "/missing"); err == nil {
		t.Error("missing init: want an error")
	}
}

// FuzzElfDeps: whatever the new root's init file holds, reading its
// dependencies returns (an error at worst), never panics or hangs.
func FuzzElfDeps(f *testing.F) {
	if b, err := os.ReadFile("/bin/true"); err == nil {
		f.Add(b[:min(len(b), 8192)])
	}
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	f.Add([]byte("#!/bin/sh\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "init")
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		interp, needed, runpath, err := elfDeps(p)
		if err != nil && (interp != "" || needed != nil || runpath != nil) {
			t.Errorf("error %v with results %q %q %q", err, interp, needed, runpath)
		}
	})
}

// TestInterpreter: a dynamically linked program names its loader; a
// static one, or a file that is no ELF, none.
func TestInterpreter(t *testing.T) {
	root := t.TempDir()
	copyFile(t, "/bin/true", root, "/true", 0o755)
	if err := os.WriteFile(filepath.Join(root, "script"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open("/bin/true")
	if err != nil {
		t.Skipf("no ELF /bin/true: %v", err)
	}
	want := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			p.ReadAt(b, 0)
			want = strings.TrimRight(string(b), "\x00")
		}
	}
	f.Close()
	if want == "" {
		t.Skip("the host's /bin/true is static")
	}
	if got, err := Interpreter(filepath.Join(root, "true")); got != want || err != nil {
		t.Errorf("Interpreter(a copy of /bin/true) = %q, %v; want %q", got, err, want)
	}
	if got, err := Interpreter(filepath.Join(root, "script")); got != "" || err != nil {
		t.Errorf("Interpreter(a script) = %q, %v; want none", got, err)
	}
	if _, err := Interpreter(filepath.Join(root, "nope")); !os.IsNotExist(err) {
		t.Errorf("Interpreter(a missing file): %v", err)
	}
}
