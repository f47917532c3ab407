package rig

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// shmDir is the tmpfs MemoryDir makes its directories on.
const shmDir = "/dev/shm"

// MemoryDir makes a directory on the tmpfs at shmDir when it has need
// bytes free, for Env.LUNDir; otherwise it returns "" and why not. The
// caller removes the directory. Its name is prefix, the caller's PID and a
// random part: the directories of earlier runs whose process is gone (a
// run killed before it could remove its own) are removed first, since
// what they hold is memory.
func MemoryDir(prefix string, need uint64) (dir, why string) {
	removeStale(shmDir, prefix, pidAlive)
	var st unix.Statfs_t
	if err := unix.Statfs(shmDir, &st); err != nil {
		return "", fmt.Sprintf("%s: %v", shmDir, err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		return "", shmDir + " is not a tmpfs"
	}
	if free := st.Bavail * uint64(st.Bsize); free < need {
		return "", fmt.Sprintf("%s has %d MiB free, under %d", shmDir, free>>20, need>>20)
	}
	d, err := os.MkdirTemp(shmDir, fmt.Sprintf("%s%d-", prefix, os.Getpid()))
	if err != nil {
		return "", err.Error()
	}
	return d, ""
}

// removeStale removes the directories prefix<pid>-… under parent whose
// process alive says is gone.
func removeStale(parent, prefix string, alive func(pid int) bool) {
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || alive(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(parent, e.Name()))
	}
}

// pidAlive reports whether process pid exists.
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}
