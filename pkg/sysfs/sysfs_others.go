//go:build !linux

package sysfs

import (
	"errors"
	"os"
	"path/filepath"
)

// openAt fails: only Linux has sysfs.
func openAt(dir *os.File, rel string, flag int) (*os.File, error) {
	return nil, &os.PathError{Op: "open", Path: filepath.Join(dir.Name(), rel), Err: errors.ErrUnsupported}
}

// existsAt reports nothing there: only Linux has sysfs.
func existsAt(dir *os.File, rel string) bool { return false }
