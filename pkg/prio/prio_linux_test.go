//go:build linux

package prio

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
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

func TestChildInheritsAndSetProcessRestores(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("raising a priority needs CAP_SYS_NICE")
	}
	// A child started inside Run starts at nice 19.
	var out []byte
	err := Run(19, func() error {
		var err error
		out, err = exec.Command("sh", "-c", "cut -d' ' -f19 /proc/self/stat").Output()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "19" {
		t.Errorf("child's nice = %q, want 19", got)
	}
	// SetProcess raises every thread of this process.
	if err := Run(10, func() error { return SetProcess(0) }); err != nil {
		t.Fatal(err)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if n := nice(t, tid); n != 0 {
			t.Errorf("thread %d at nice %d after SetProcess(0)", tid, n)
		}
	}
}
