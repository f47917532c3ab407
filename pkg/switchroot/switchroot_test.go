package switchroot

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/netroot/netroot/pkg/hint"
)

func mkroot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"sbin", "lib/systemd", "usr/bin", "bin"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "lib/systemd/systemd"), []byte("#!"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/bin/noexec"), []byte("x"), 0o644)
	os.Symlink("/lib/systemd/systemd", filepath.Join(root, "sbin/init"))       // absolute: relative to the new root
	os.Symlink("../lib/systemd/systemd", filepath.Join(root, "sbin/init-rel")) // relative
	os.Symlink("/usr/bin", filepath.Join(root, "ubin"))                        // directory link
	os.Symlink("/sbin/loop2", filepath.Join(root, "sbin/loop1"))
	os.Symlink("/sbin/loop1", filepath.Join(root, "sbin/loop2"))
	os.Symlink("/nonexistent", filepath.Join(root, "sbin/dangling"))
	os.Symlink("../lib/systemd/gone", filepath.Join(root, "sbin/dangling-rel"))
	return root
}

func TestResolveInit(t *testing.T) {
	root := mkroot(t)
	for _, tc := range []struct {
		init, want, err string
	}{
		{"/sbin/init", "/lib/systemd/systemd", ""},
		{"/sbin/init-rel", "/lib/systemd/systemd", ""},
		{"/lib/systemd/systemd", "/lib/systemd/systemd", ""},
		{"/ubin/../lib/systemd/systemd", "/lib/systemd/systemd", ""},
		{"/usr/bin/noexec", "", "not executable"},
		{"/sbin/missing", "", "does not exist"},
		{"/sbin/dangling", "", "init /sbin/dangling leads to /nonexistent, which does not exist in the new root"},
		{"/sbin/dangling-rel", "", "init /sbin/dangling-rel leads to /lib/systemd/gone, which does not exist in the new root"},
		{"/sbin/loop1", "", "too many levels"},
		{"/usr/bin", "", "not a regular file"},
		{"sbin/init", "", "absolute"},
	} {
		got, err := ResolveInit(root, tc.init)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ResolveInit(%s) = %q, %v; want error %q", tc.init, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolveInit(%s) = %q, %v; want %q", tc.init, got, err, tc.want)
		}
	}
	if _, err := ResolveInit(root, "/sbin/missing"); hint.Of(err) != "check init= or the root image" {
		t.Errorf("a missing init hints %q", hint.Of(err))
	}
	if _, err := ResolveInit(root, "/sbin/dangling"); !strings.Contains(hint.Of(err), "install what it names") {
		t.Errorf("a dangling init hints %q", hint.Of(err))
	}
}

func TestResolveInitDoesNotEscapeRoot(t *testing.T) {
	// An absolute link must be resolved inside the new root, never on the host.
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sbin"), 0o755)
	os.Symlink("/bin/sh", filepath.Join(root, "sbin/init")) // exists on the host, not in root
	if _, err := ResolveInit(root, "/sbin/init"); err == nil {
		t.Fatal("resolved /sbin/init through the host's /bin/sh")
	}
}

func TestEnv(t *testing.T) {
	env := Env([]string{"TERM=vt100", "BOOT_IMAGE=/vmlinuz"})
	want := map[string]bool{"TERM=vt100": true, "BOOT_IMAGE=/vmlinuz": true, "HOME=/": true, "PATH=" + DefaultPath: true}
	if len(env) != len(want) {
		t.Fatalf("Env = %q", env)
	}
	for _, kv := range env {
		if !want[kv] {
			t.Errorf("unexpected %q in %q", kv, env)
		}
	}
}

func TestFreeInitramfs(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"init", "lib/modules/x/a.ko", "etc/cmdline.d/50.conf", "sysroot/keep", "mnt/other/file"} {
		p := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	os.Symlink("init", filepath.Join(root, "link"))
	var st syscall.Stat_t
	syscall.Stat(root, &st)
	// Pretend mnt/other is another filesystem.
	devOf := func(fi fs.FileInfo) uint64 {
		if fi.Name() == "other" {
			return 999
		}
		return uint64(st.Dev)
	}
	if err := FreeInitramfs(root, uint64(st.Dev), []string{filepath.Join(root, "sysroot")}, devOf); err != nil {
		t.Fatal(err)
	}
	var left []string
	filepath.Walk(root, func(p string, info fs.FileInfo, err error) error {
		if p != root {
			rel, _ := filepath.Rel(root, p)
			left = append(left, rel)
		}
		return nil
	})
	got := strings.Join(left, " ")
	if got != "mnt mnt/other mnt/other/file sysroot sysroot/keep" {
		t.Errorf("left after FreeInitramfs: %s", got)
	}
}
