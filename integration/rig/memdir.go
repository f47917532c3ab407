package rig

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ShmDir is the tmpfs MemoryDir makes its directories on.
const ShmDir = "/dev/shm"

// MemoryDir makes a directory named prefix… on the tmpfs at ShmDir when it
// has need bytes free, for Env.LUNDir; otherwise it returns "" and why
// not. The caller removes the directory.
func MemoryDir(prefix string, need uint64) (dir, why string) {
	var st unix.Statfs_t
	if err := unix.Statfs(ShmDir, &st); err != nil {
		return "", fmt.Sprintf("%s: %v", ShmDir, err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		return "", ShmDir + " is not a tmpfs"
	}
	if free := st.Bavail * uint64(st.Bsize); free < need {
		return "", fmt.Sprintf("%s has %d MiB free, under %d", ShmDir, free>>20, need>>20)
	}
	d, err := os.MkdirTemp(ShmDir, prefix)
	if err != nil {
		return "", err.Error()
	}
	return d, ""
}
