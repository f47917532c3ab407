package blockdev

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTool skips the test when a program is not installed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return filepath.Join(dir, name)
			}
		}
		t.Skipf("%s not installed (apt-get install xfsprogs btrfs-progs dosfstools gdisk fdisk e2fsprogs)", name)
	}
	return p
}

// run runs a command and fails the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(needTool(t, name), args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// sparseFile creates an empty sparse file of size bytes.
func sparseFile(t *testing.T, name string, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// blkidExport returns blkid -p -o export of path as a map, or nil when
// blkid is not installed.
func blkidExport(t *testing.T, path string) map[string]string {
	t.Helper()
	bin, err := exec.LookPath("blkid")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/blkid"); err != nil {
			t.Log("blkid not installed: not cross-checking")
			return nil
		}
		bin = "/usr/sbin/blkid"
	}
	out, err := exec.Command(bin, "-p", "-o", "export", path).Output()
	if err != nil {
		t.Fatalf("blkid -p %s: %v", path, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// openImage opens path and returns it with its size.
func openImage(t *testing.T, path string) (*os.File, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return f, st.Size()
}
