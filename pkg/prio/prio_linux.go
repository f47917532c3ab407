//go:build linux

package prio

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

func lower(nice int) (restore func()) {
	runtime.LockOSThread()
	tid := unix.Gettid()
	old, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil || unix.Setpriority(unix.PRIO_PROCESS, tid, nice) != nil {
		return runtime.UnlockOSThread
	}
	return func() {
		// The raw getpriority(2) returns 20-nice. Raising the priority
		// again needs CAP_SYS_NICE (PID 1 has it); a thread that stays
		// niced stays locked and exits with its goroutine.
		if unix.Setpriority(unix.PRIO_PROCESS, tid, 20-old) == nil {
			runtime.UnlockOSThread()
		}
	}
}

func setProcess(nice int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("prio: listing threads: %w", err)
	}
	var first error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// A thread may exit meanwhile (ESRCH): nothing to do for it.
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && err != unix.ESRCH && first == nil {
			first = fmt.Errorf("prio: thread %d to nice %d: %w", tid, nice, err)
		}
	}
	return first
}
