//go:build linux

package prio

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func nice(t *testing.T, tid int) int {
	t.Helper()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

func TestRunLowersOnlyDuringTheCall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("restoring a thread's priority needs CAP_SYS_NICE")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	before := nice(t, tid)
	var during int
	if err := Run(19, func() error { during = nice(t, unix.Gettid()); return nil }); err != nil {
		t.Fatal(err)
	}
	if during != 19 {
		t.Errorf("nice during Run = %d, want 19", during)
	}
	if after := nice(t, tid); after != before {
		t.Errorf("nice after Run = %d, was %d", after, before)
	}
}

func TestChildInheritsAndSetGroupRaises(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("raising a priority needs CAP_SYS_NICE")
	}
	// A child started inside Run starts at nice 19, every thread of it.
	var cmd *exec.Cmd
	err := Run(19, func() error {
		cmd = exec.Command("sleep", "30")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd.Start()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	if n := nice(t, pid); n != 19 {
		t.Fatalf("child's nice = %d, want 19", n)
	}
	// Its parent raises its group (it leads one: setsid).
	if err := SetGroup(pid, 0); err != nil {
		t.Fatal(err)
	}
	if n := nice(t, pid); n != 0 {
		t.Errorf("child's nice = %d after SetGroup(%d, 0), want 0", n, pid)
	}
	// This process's own group, from a thread at nice 10: the thread is
	// raised too (Run restores it afterwards anyway, so look inside).
	during := -1
	err = Run(10, func() error {
		err := SetGroup(0, 0)
		during = nice(t, unix.Gettid())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if during != 0 {
		t.Errorf("the calling thread at nice %d after SetGroup(0, 0), want 0", during)
	}
}
