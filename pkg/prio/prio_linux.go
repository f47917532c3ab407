//go:build linux

package prio

import (
	"fmt"
	"runtime"

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

func setGroup(pgid, nice int) error {
	if err := unix.Setpriority(unix.PRIO_PGRP, pgid, nice); err != nil {
		return fmt.Errorf("prio: process group %d to nice %d: %w", pgid, nice, err)
	}
	return nil
}
