//go:build linux

package modload

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// priorityRecorder is a Syscalls that records its thread's nice value.
type priorityRecorder struct{ nice *int }

func (p priorityRecorder) FinitModule(int, string, int) error { p.record(); return nil }
func (p priorityRecorder) InitModule([]byte, string) error    { p.record(); return nil }
func (p priorityRecorder) record() {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		*p.nice = -100
		return
	}
	*p.nice = 20 - prio
}

func TestNicedRunsAtPriorityAndRestores(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("restoring a thread's priority needs CAP_SYS_NICE")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	before, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	n := Niced{Sys: priorityRecorder{&seen}, Nice: 19}
	if err := n.FinitModule(0, "", 0); err != nil {
		t.Fatal(err)
	}
	if seen != 19 {
		t.Errorf("finit_module ran at nice %d, want 19", seen)
	}
	seen = 0
	n.InitModule(nil, "")
	if seen != 19 {
		t.Errorf("init_module ran at nice %d, want 19", seen)
	}
	after, _ := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if after != before {
		t.Errorf("thread priority %d after the call, was %d", 20-after, 20-before)
	}
}

// TestAtPriority: a background batch's own work (decompressing a module)
// runs at its Niced priority; a foreground loader's at the thread's.
func TestAtPriority(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("restoring a thread's priority needs CAP_SYS_NICE")
	}
	var seen int
	rec := priorityRecorder{&seen}
	for _, tc := range []struct {
		sys  Syscalls
		want int
	}{
		{Niced{Sys: rec, Nice: 19}, 19},
		{rec, 0},
	} {
		l := &Loader{Sys: tc.sys}
		seen = -1
		l.atPriority(func() error { rec.record(); return nil })
		if seen != tc.want {
			t.Errorf("%T: ran at nice %d, want %d", tc.sys, seen, tc.want)
		}
	}
}
