package rig

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// HostCPU is what a group of host threads had from the host's CPUs:
// the time they ran and the time they waited runnable for a CPU (the
// scheduler's run and run-queue times, /proc/PID/task/TID/schedstat).
// Under TCG the guest's vCPUs, QEMU's other threads (the tap's I/O, the
// main loop) and tgtd share the host's cores: the waits tell how much
// the rig's emulation and the guest took from each other.
type HostCPU struct {
	Run, Wait time.Duration
}

// Add returns the sum of c and o.
func (c HostCPU) Add(o HostCPU) HostCPU { return HostCPU{Run: c.Run + o.Run, Wait: c.Wait + o.Wait} }

// vcpuThread tells QEMU's vCPU threads by their names ("CPU 0/TCG"),
// which QEMU gives them with -name debug-threads=on.
func vcpuThread(comm string) bool {
	return strings.HasPrefix(comm, "CPU ") && strings.HasSuffix(comm, "/TCG")
}

// thread is one of a process's threads: its /proc directory and name.
type thread struct {
	tid  int
	dir  string
	comm string
}

// threads lists pid's threads (one that ends meanwhile may be missing).
func threads(pid int) ([]thread, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tids, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []thread
	for _, t := range tids {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		d := filepath.Join(dir, t.Name())
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue // the thread ended
		}
		out = append(out, thread{tid: tid, dir: d, comm: strings.TrimSpace(string(comm))})
	}
	return out, nil
}

// processCPU sums the schedstat times of pid's threads, split by which.
func processCPU(pid int, which func(comm string) bool) (matched, other HostCPU, err error) {
	ts, err := threads(pid)
	if err != nil {
		return matched, other, err
	}
	for _, t := range ts {
		st, err := os.ReadFile(filepath.Join(t.dir, "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		c, err := parseSchedstat(string(st))
		if err != nil {
			return matched, other, fmt.Errorf("%s: %w", t.dir, err)
		}
		if which != nil && which(t.comm) {
			matched = matched.Add(c)
		} else {
			other = other.Add(c)
		}
	}
	return matched, other, nil
}

// parseSchedstat reads "run-ns wait-ns timeslices".
func parseSchedstat(s string) (HostCPU, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return HostCPU{}, fmt.Errorf("schedstat %q: want run and wait times", s)
	}
	run, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return HostCPU{}, fmt.Errorf("schedstat %q: %w", s, err)
	}
	wait, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return HostCPU{}, fmt.Errorf("schedstat %q: %w", s, err)
	}
	return HostCPU{Run: time.Duration(run), Wait: time.Duration(wait)}, nil
}

// HostCPU returns what the guest's vCPU threads and QEMU's other threads
// have had from the host so far.
func (v *VM) HostCPU() (vcpus, others HostCPU, err error) {
	return processCPU(v.cmd.Process.Pid, vcpuThread)
}

// niceVCPUs gives the guest's vCPU threads nice n (QEMU's other threads
// keep theirs).
func (v *VM) niceVCPUs(n int) error {
	ts, err := threads(v.cmd.Process.Pid)
	if err != nil {
		return err
	}
	found := 0
	for _, t := range ts {
		if !vcpuThread(t.comm) {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, t.tid, n); err != nil {
			return fmt.Errorf("rig: nice of vCPU thread %d: %w", t.tid, err)
		}
		found++
	}
	if found != v.cfg.CPUs {
		return fmt.Errorf("rig: found %d vCPU threads of QEMU, want %d", found, v.cfg.CPUs)
	}
	return nil
}

// HostCPU returns what tgtd has had from the host so far.
func (t *Target) HostCPU() (HostCPU, error) {
	_, c, err := processCPU(t.cmd.Process.Pid, nil)
	return c, err
}
