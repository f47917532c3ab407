package boot

import (
	"io/fs"
	"os"
	"path/filepath"
)

// DirFiles is Files on the directory tree at Root ("/" for the machine's;
// a temporary directory in tests). Names are absolute paths inside it.
type DirFiles struct {
	Root string
}

func (d DirFiles) path(name string) string { return filepath.Join(d.Root, name) }

// ReadFile reads name.
func (d DirFiles) ReadFile(name string) ([]byte, error) { return os.ReadFile(d.path(name)) }

// WriteFile writes name, making its directory first.
func (d DirFiles) WriteFile(name string, data []byte, perm fs.FileMode) error {
	p := d.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, perm)
}

// Glob returns the names matching pattern, as names inside Root.
func (d DirFiles) Glob(pattern string) ([]string, error) {
	m, err := filepath.Glob(d.path(pattern))
	for i, p := range m {
		rel, _ := filepath.Rel(d.Root, p)
		m[i] = string(filepath.Separator) + rel
	}
	return m, err
}
