package boot

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/netroot/netroot/pkg/switchroot"
)

// TestUnrunnableShell: a shell that is there but dynamically linked, its
// loader absent, is said to be so — not missing.
func TestUnrunnableShell(t *testing.T) {
	loader, err := switchroot.Interpreter("/bin/true")
	if err != nil || loader == "" {
		t.Skipf("the host's /bin/true is not dynamically linked (%v)", err)
	}
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	if err := os.WriteFile(filepath.Join(root, "bin/sh"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	err = unrunnableShell(root, "/bin/sh", os.ErrNotExist)
	if want := "/bin/sh exists but cannot run (dynamically linked? its loader " + loader + " is missing)"; err == nil || err.Error() != want {
		t.Errorf("unrunnableShell = %v, want %q", err, want)
	}
	// With its loader there, the shell is not the trouble.
	os.MkdirAll(filepath.Join(root, filepath.Dir(loader)), 0o755)
	os.WriteFile(filepath.Join(root, loader), nil, 0o755)
	if err := unrunnableShell(root, "/bin/sh", os.ErrNotExist); err != nil {
		t.Errorf("with its loader: %v", err)
	}
}
