package blockdev

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mknodBlock creates a block device node with mode 0600.
func mknodBlock(path string, major, minor uint32) error {
	if err := unix.Mknod(path, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil {
		return fmt.Errorf("mknod %s b %d %d: %w", path, major, minor, err)
	}
	return nil
}
