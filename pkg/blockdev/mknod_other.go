//go:build !linux

package blockdev

import (
	"errors"
	"fmt"
)

// mknodBlock: block device nodes are made on Linux only.
func mknodBlock(path string, major, minor uint32) error {
	return fmt.Errorf("mknod %s b %d %d: %w", path, major, minor, errors.ErrUnsupported)
}
