// Package sysfs reads and writes the kernel's attribute files (one value
// a file) under /sys: netroot's one helper for them. An FS is rooted where
// sysfs is mounted, so tests run the callers against a temporary tree.
package sysfs

import (
	"os"
	"path/filepath"
	"strings"
)

// FS is a sysfs tree; Root is where it is mounted.
type FS struct {
	Root string
}

// Sys is the kernel's sysfs.
var Sys = FS{Root: "/sys"}

// Path returns the file of the attribute rel (e.g. "class/net/eth0/carrier").
func (f FS) Path(rel string) string {
	return filepath.Join(f.Root, rel)
}

// Read returns the attribute's contents.
func (f FS) Read(rel string) ([]byte, error) {
	return os.ReadFile(f.Path(rel))
}

// ReadTrim returns the attribute's contents without surrounding white
// space (the kernel ends most values with a newline).
func (f FS) ReadTrim(rel string) (string, error) {
	b, err := f.Read(rel)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Value is ReadTrim for attributes whose absence means "none": "" when
// the attribute cannot be read.
func (f FS) Value(rel string) string {
	v, _ := f.ReadTrim(rel)
	return v
}

// Write writes value to an existing attribute in one write(2), as the
// kernel expects; it never creates the file.
func (f FS) Write(rel, value string) error {
	file, err := os.OpenFile(f.Path(rel), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := file.WriteString(value); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

// Exists reports whether the attribute or directory rel is there.
func (f FS) Exists(rel string) bool {
	_, err := os.Lstat(f.Path(rel))
	return err == nil
}
