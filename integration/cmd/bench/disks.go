package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// disksInMemory is -disks-in-memory.
var disksInMemory bool

// shmDir is the tmpfs the targets' disks go to.
const shmDir = "/dev/shm"

// minMemoryDisk is the room a tmpfs needs for the bench's disks: a
// real-OS boot's copy of its root holds ~0.6 GB (one boot at a time;
// each copy is removed as its boot ends).
const minMemoryDisk = 2 << 30

// memoryDir makes a directory for the targets' disks on the tmpfs at
// shmDir, or returns "" and why not.
func memoryDir() (dir, why string) {
	var st unix.Statfs_t
	if err := unix.Statfs(shmDir, &st); err != nil {
		return "", fmt.Sprintf("the targets' disks on the host's disk (%s: %v)", shmDir, err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		return "", fmt.Sprintf("the targets' disks on the host's disk (%s is not a tmpfs)", shmDir)
	}
	if free := st.Bavail * uint64(st.Bsize); free < minMemoryDisk {
		return "", fmt.Sprintf("the targets' disks on the host's disk (%s has %d MiB free, under %d)", shmDir, free>>20, minMemoryDisk>>20)
	}
	d, err := os.MkdirTemp(shmDir, "netroot-bench-")
	if err != nil {
		return "", fmt.Sprintf("the targets' disks on the host's disk (%v)", err)
	}
	return d, ""
}
