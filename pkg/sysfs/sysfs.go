// Package sysfs reads and writes the kernel's attribute files (one value
// a file) under /sys, and /proc's of the same kind: netroot's one helper
// for them. An FS is rooted where
// sysfs is mounted, so tests run the callers against a temporary tree.
package sysfs

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FS is a sysfs tree; Root is where it is mounted.
type FS struct {
	Root string
	// dir, when set (At), is the tree opened: its files are reached
	// through it, not by path.
	dir *os.File
}

// Sys is the kernel's sysfs.
var Sys = FS{Root: "/sys"}

// At is the tree under dir, a directory the caller opened (O_PATH is
// enough) and keeps open while the FS is used. Its files are reached
// through the descriptor, so they still are after the mount moved:
// switch_root moves /sys under the real root, and a process left on the
// emptied initramfs (the keeper) reaches it by no path.
func At(dir *os.File) FS {
	return FS{Root: dir.Name(), dir: dir}
}

// open opens the file rel with flag (O_CLOEXEC added), by path or under
// the opened directory.
func (f FS) open(rel string, flag int) (*os.File, error) {
	if f.dir == nil {
		return os.OpenFile(f.Path(rel), flag, 0)
	}
	return openAt(f.dir, rel, flag)
}

// Path returns the file of the attribute rel (e.g. "class/net/eth0/carrier").
func (f FS) Path(rel string) string {
	return filepath.Join(f.Root, rel)
}

// maxRead bounds a read: attributes are a page at most, and a tree given
// by a caller may hold anything.
const maxRead = 1 << 20

// Read returns the attribute's contents.
func (f FS) Read(rel string) ([]byte, error) {
	file, err := f.open(rel, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	return readClose(file)
}

// readClose reads file, up to maxRead, and closes it.
func readClose(file io.ReadCloser) ([]byte, error) {
	defer file.Close()
	return io.ReadAll(io.LimitReader(file, maxRead))
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

// ValueOf is Value for an attribute of any fs.FS rooted where sysfs is
// mounted (an FS, a snapshot, a test's fstest.MapFS): its contents without
// surrounding white space, "" when it cannot be read.
func ValueOf(fsys fs.FS, name string) string {
	file, err := fsys.Open(name)
	if err != nil {
		return ""
	}
	b, err := readClose(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Write writes value to an existing attribute in one write(2), as the
// kernel expects; it never creates the file.
func (f FS) Write(rel, value string) error {
	file, err := f.open(rel, os.O_WRONLY|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := file.WriteString(value); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

// Open opens the file or directory name for reading, so that FS is an
// fs.FS (fs.ReadFile, fs.ReadDir) also when reached by a descriptor.
func (f FS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	file, err := f.open(name, os.O_RDONLY)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return file, nil
}

// Exists reports whether the attribute or directory rel is there.
func (f FS) Exists(rel string) bool {
	if f.dir != nil {
		return existsAt(f.dir, rel)
	}
	_, err := os.Lstat(f.Path(rel))
	return err == nil
}
