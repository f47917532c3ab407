// Command init is netroot's /init: PID 1 of the initramfs of a diskless
// machine whose root filesystem lives on iSCSI behind bonded NICs.
//
// The same binary has several roles, told apart by argv[0]: started by
// the kernel it boots (internal/boot: mounts the pseudo-filesystems,
// reads the dracut-style configuration, loads modules, builds the bond,
// configures IP, logs in to the iSCSI targets, finds and mounts the root
// and switches to it; a failure ends in the emergency handling, which
// says what, why and what to check, then drops to a shell); started as
// "@netroot-keeper" by the boot (or by its partner, which sets
// keeper.RoleEnv), it keeps the root's iSCSI sessions alive (keeper.go);
// executed by systemd-shutdown as /shutdown (the binary /init leaves in
// /run/initramfs), it unmounts the old root, logs out of the sessions and
// reboots or powers off (pkg/shutdown).
// PID 1 never exits and never panics.
package main

import (
	"context"
	"fmt"
	stdlog "log"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/netroot/netroot/internal/boot"
	"github.com/netroot/netroot/pkg/bootlog"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/shutdown"
)

// The main goroutine stays on the process's first thread until its role
// is chosen: the keeper names itself with prctl(PR_SET_NAME), which names
// the calling thread only, and ps and /proc/PID/comm show the first
// thread's name. Unlocked, the goroutine could move to another thread at
// the system call before (the keeper test's process listing once missed
// the guard).
func init() { runtime.LockOSThread() }

func main() {
	// /proc/self/cmdline is the kernel's argv, kept even under a busybox
	// dispatcher (see boot.IsKeeper, shutdown.Started).
	procCmdline, _ := os.ReadFile("/proc/self/cmdline")
	// Each role is told apart by its argv[0] here, and has its own main.
	switch {
	case boot.IsKeeper(os.Args, procCmdline), boot.IsPartnerKeeper(os.Getpid(), os.Getenv(keeper.RoleEnv)):
		keeperMain() // unlocks once named
	case shutdown.Started(os.Getpid(), os.Args, procCmdline):
		runtime.UnlockOSThread()
		shutdown.Run(os.Args[1:], shutdown.Options{}) // never returns
	default:
		runtime.UnlockOSThread()
		initMain()
	}
}

// initMain is the boot: PID 1, started by the kernel.
func initMain() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "netroot init: must run as PID 1 (the kernel starts it as /init); refusing to touch this system")
		os.Exit(1)
	}
	// The boot's heap stays a few MiB and the process is replaced by the
	// real init at its end: collecting garbage on the way (at the default
	// 4 MiB) only takes CPU time from the module loads and the network.
	// The collector still runs should a long wait (rd.retry, the
	// emergency shell) grow the heap ninefold.
	debug.SetGCPercent(800)
	runtime.GOMAXPROCS(boot.BootProcs(runtime.NumCPU()))
	log := bootlog.New(os.Stdout, nil, 0, nil)
	// Libraries that log with the standard logger (iscsinl) go to the
	// debug log.
	stdlog.SetFlags(0)
	stdlog.SetOutput(debugWriter{log})
	b := boot.New(boot.Linux(os.Args[0]), log, boot.Options{Args: os.Args[1:], Environ: os.Environ()})
	err := b.Run(context.Background())
	b.Emergency(err) // never returns
}

// debugWriter turns writes into debug log lines.
type debugWriter struct{ l *bootlog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.l.Debugf("%s", strings.TrimSpace(string(p)))
	return len(p), nil
}
