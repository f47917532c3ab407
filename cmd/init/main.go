// Command init is netroot's /init: PID 1 of the initramfs of a diskless
// machine whose root filesystem lives on iSCSI behind bonded NICs.
//
// It mounts the pseudo-filesystems, reads the dracut-style configuration
// (the kernel command line and /etc/cmdline.d/*.conf), loads kernel
// modules, builds the bond, configures IP, logs in to the iSCSI targets,
// finds the root by its selector, mounts it and switches to it. Each step
// logs one line with its duration to the console and the kernel log; when
// a step fails it says what, why and what to check, then drops to an
// emergency shell. It never exits and never panics.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/bootlog"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/switchroot"
	"golang.org/x/sys/unix"
)

// Paths of the initramfs.
const (
	newRoot     = "/sysroot"
	runDir      = "/run/netroot"
	cmdlineDir  = "/etc/cmdline.d"
	procCmdline = "/proc/cmdline"
)

// boot is the state of one boot.
type boot struct {
	log  *bootlog.Logger
	plan *config.Plan
	// kernelRelease is uname -r.
	kernelRelease string
	// idleAtStart is the CPUs' idle seconds when /proc was mounted (-1:
	// unknown), for the summary's idle figure.
	idleAtStart float64
	// shells counts emergency shells started.
	shells int
	// kept lists the iSCSI sessions the keeper will watch (keeper.go).
	keeperMu        sync.Mutex
	kept            []keeper.Session
	transportHandle uint64
	// keeperLaunch delivers the keeper process started early (keeper.go)
	// to startKeeper, which hands it the sessions.
	keeperLaunch chan *keeperProcess
	// keeperDone is closed when startKeeperAsync's hand-over has ended
	// (nil until it starts).
	keeperDone chan struct{}
	// stopHotplug ends the loading of drivers for devices added after the
	// first scan (modules.go), before switching root; nil if none runs.
	stopHotplug func()
	// bonds holds the bonds created while the NIC drivers probe (nil
	// when none were).
	bonds *preparedBonds
	// tuning runs the disk settings that need not delay the boot (the
	// I/O scheduler); switchRoot waits for it.
	tuning sync.WaitGroup
}

func main() {
	// keeper.ProcessName, re-executed by startKeeper; /proc/self/cmdline
	// is the kernel's argv, kept even under a busybox dispatcher (bb.go).
	procCmdline, _ := os.ReadFile("/proc/self/cmdline")
	if isKeeper(os.Args, procCmdline) {
		keeperMain()
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "netroot init: must run as PID 1 (the kernel starts it as /init); refusing to touch this system")
		os.Exit(1)
	}
	b := &boot{log: bootlog.New(os.Stdout, nil, 0, nil)}
	// Libraries that log with the standard logger (iscsinl) go to the
	// debug log.
	log.SetFlags(0)
	log.SetOutput(debugWriter{b.log})
	err := b.safeRun()
	b.emergency(err) // never returns
}

// safeRun runs the boot, turning a panic into an error.
func (b *boot) safeRun() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v (please report this with the console log)\n%s", r, debug.Stack())
		}
	}()
	return b.run()
}

// stepError is a failed step: what, why, and what to check.
type stepError struct {
	step string
	err  error
	hint string
}

func (e *stepError) Error() string {
	msg := e.step + ": " + e.err.Error()
	if e.hint != "" && !strings.Contains(msg, "—") {
		msg += " — " + e.hint
	}
	return msg
}

func (e *stepError) Unwrap() error { return e.err }

// hinter is implemented by errors that know what the user should check.
type hinter interface{ Hint() string }

// fail wraps err as a failure of step, with the error's own hint or def.
func fail(step string, err error, def string) error {
	var h hinter
	if errors.As(err, &h) && h.Hint() != "" {
		def = ""
	}
	return &stepError{step: step, err: err, hint: def}
}

func (b *boot) run() error {
	st := b.log.Begin("mount")
	if err := mountPseudo(); err != nil {
		st.Fail(err)
		return fail("mount", err, "the kernel needs proc, sysfs, devtmpfs and tmpfs support")
	}
	b.log.SyncUptime()
	b.idleAtStart = bootlog.ProcIdle()
	b.openKmsg()
	var u unix.Utsname
	unix.Uname(&u)
	b.kernelRelease = unix.ByteSliceToString(u.Release[:])
	st.Done("proc, sys, dev, run (kernel %s)", b.kernelRelease)

	st = b.log.Begin("config")
	plan, sources, err := readConfig()
	if err != nil {
		st.Fail(err)
		return fail("config", err, "fix the kernel command line (check it on the admin host with `netroot check`)")
	}
	b.plan = plan
	b.log.SetDebug(plan.Boot.Debug)
	for _, ig := range plan.Ignored {
		b.log.Warnf("%s", ig)
	}
	st.Done("%s; root %s; %d iSCSI target(s)", strings.Join(sources, " + "), plan.Root.Spec(), len(plan.ISCSI.Targets))

	// rd.retry bounds each wait for the network root; rd.timeout bounds
	// the whole search for the root.
	ctx := context.Background()
	if plan.Boot.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, plan.Boot.Timeout)
		defer cancel()
	}

	mods, err := b.loadModules(ctx)
	if err != nil {
		return err
	}
	if err := b.breakpoint("pre-net"); err != nil {
		return err
	}
	b.prelaunchKeeper()
	if err := b.network(ctx); err != nil {
		return err
	}
	dev, err := b.attachRoot(ctx, mods)
	if err != nil {
		return err
	}
	b.startKeeperAsync()
	if err := b.breakpoint("pre-mount"); err != nil {
		return err
	}
	if err := b.mountRoot(ctx, mods, dev); err != nil {
		return err
	}
	b.prefetchInit()
	if err := b.breakpoint("pre-pivot"); err != nil {
		return err
	}
	return b.switchRoot()
}

// mountPseudo mounts /proc, /sys, /dev and /run.
func mountPseudo() error {
	for _, m := range []struct {
		fstype, target, data string
		flags                uintptr
	}{
		{"proc", "/proc", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"sysfs", "/sys", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"devtmpfs", "/dev", "mode=0755", unix.MS_NOSUID},
		{"tmpfs", "/run", "mode=0755", unix.MS_NOSUID | unix.MS_NODEV},
	} {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.target, err)
		}
	}
	os.MkdirAll("/dev/pts", 0o755)
	unix.Mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "gid=5,mode=620,ptmxmode=000")
	return os.MkdirAll(runDir, 0o755)
}

// openKmsg starts logging to the kernel log. Writes from userspace are
// rate-limited by default (10 lines per 5 s), so /init lifts the limit
// while it runs and restores it before switching root.
func (b *boot) openKmsg() {
	os.WriteFile("/proc/sys/kernel/printk_devkmsg", []byte("on\n"), 0o644)
	printk, _ := os.ReadFile("/proc/sys/kernel/printk")
	k, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		b.log.Warnf("no /dev/kmsg (%v): logging to the console only", err)
		return
	}
	b.log.SetKmsg(k, bootlog.ConsoleLevel(string(printk)))
}

// readConfig reads the baked /etc/cmdline.d/*.conf files, then
// /proc/cmdline (a later value wins, as in dracut).
func readConfig() (*config.Plan, []string, error) {
	var srcs []config.Source
	files, _ := filepath.Glob(filepath.Join(cmdlineDir, "*.conf"))
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		srcs = append(srcs, config.Source{Name: f, Text: string(b)})
	}
	b, err := os.ReadFile(procCmdline)
	if err != nil {
		return nil, nil, err
	}
	srcs = append(srcs, config.Source{Name: procCmdline, Text: string(b)})
	var names []string
	for _, s := range srcs {
		names = append(names, s.Name)
	}
	plan, err := config.Parse(srcs...)
	return plan, names, err
}

// breakpoint stops at an rd.break point with a shell, resuming the boot
// when the shell exits.
func (b *boot) breakpoint(point string) error {
	for _, p := range b.plan.Boot.Breaks {
		if p == point || (p == "" && point == "pre-pivot") {
			b.log.Printf("rd.break=%s: starting a shell; exit it to continue the boot", point)
			if err := b.shell(); err != nil {
				return fail("rd.break", err, "add /bin/sh to the initramfs (netroot build -add /bin/busybox:/bin/sh)")
			}
		}
	}
	return nil
}

// prefetchInit starts reading the real init and the libraries it needs
// from the new root into memory while the timeline, the hints and the
// keeper are handled: on a network root, exec would otherwise fault them
// in page by page, a round trip to the target each.
func (b *boot) prefetchInit() {
	go func() {
		err := recovered(func() error {
			start := time.Now()
			files, err := switchroot.Prefetch(newRoot, b.plan.Root.Init)
			if err != nil {
				b.log.Debugf("prefetch: %v", err)
			}
			b.log.Debugf("prefetch: asked for %d file(s) of %s in %.3fs: %s", len(files), b.plan.Root.Init,
				time.Since(start).Seconds(), strings.Join(files, " "))
			return nil
		})
		if err != nil { // a panic
			b.log.Debugf("prefetch: %v", err)
		}
	}()
}

// switchRoot writes the timeline and hands over to the real init.
func (b *boot) switchRoot() error {
	status, _ := os.ReadFile("/proc/self/status")
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	use := bootlog.Usage{PeakRSSKiB: bootlog.PeakRSSKiB(string(status)), User: seconds(ru.Utime), System: seconds(ru.Stime)}
	if idle := bootlog.ProcIdle(); idle >= 0 && b.idleAtStart >= 0 {
		use.Idle = idle - b.idleAtStart
	}
	b.log.RootReady(use)
	tl := b.log.Timeline()
	if err := bootlog.WriteJSON(tl, filepath.Join(runDir, "timeline.json")); err != nil {
		b.log.Warnf("writing the timeline: %v", err)
	}
	b.log.Printf("%s", bootlog.Summary(tl))
	b.log.Printf("switching to the root on %s, starting %s", newRoot, b.plan.Root.Init)
	b.waitKeeper()
	b.tuning.Wait()
	if b.stopHotplug != nil {
		b.stopHotplug()
	}
	os.WriteFile("/proc/sys/kernel/printk_devkmsg", []byte("ratelimit\n"), 0o644)
	err := switchroot.SwitchRoot(switchroot.Options{
		NewRoot: newRoot,
		Init:    b.plan.Root.Init,
		Args:    os.Args[1:],
		Env:     switchroot.Env(os.Environ()),
	})
	return fail("switch_root", err, "check init= and that the root image has an init")
}

// emergency reports the failure and never returns: it runs a shell (over
// and over), or reboots/powers off as rd.emergency says, or waits.
func (b *boot) emergency(err error) {
	if err == nil {
		err = errors.New("boot ended without switching root")
	}
	b.log.Errorf("FATAL %v", err)
	if b.keeperDone != nil {
		// A keeper already handed the sessions stays: it keeps the
		// root's session alive for the emergency shell.
		<-b.keeperDone
	} else {
		b.earlyKeeper().abort()
	}
	tl := b.log.Timeline()
	bootlog.WriteJSON(tl, filepath.Join(runDir, "timeline.json"))

	action := config.EmergencyShell
	shellOK := true
	if b.plan != nil {
		action = b.plan.Boot.Emergency
		shellOK = b.plan.Boot.Shell
	}
	switch action {
	case config.EmergencyReboot, config.EmergencyPoweroff, config.EmergencyHalt:
		b.log.Errorf("rd.emergency=%s: doing so now", action)
		unix.Sync()
		cmd := map[config.Emergency]int{
			config.EmergencyReboot:   unix.LINUX_REBOOT_CMD_RESTART,
			config.EmergencyPoweroff: unix.LINUX_REBOOT_CMD_POWER_OFF,
			config.EmergencyHalt:     unix.LINUX_REBOOT_CMD_HALT,
		}[action]
		unix.Reboot(cmd)
	}
	if shellOK {
		for {
			if err := b.shell(); err != nil {
				b.log.Errorf("no emergency shell: %v — add one with netroot build -add /bin/busybox:/bin/sh", err)
				break
			}
			b.log.Printf("emergency shell exited; starting another (the boot cannot continue)")
		}
	} else {
		b.log.Errorf("rd.shell=0: no emergency shell; the machine waits here")
	}
	reapForever()
}

// shell runs /bin/sh on the console as a session leader with a
// controlling terminal, and waits for it.
func (b *boot) shell() error {
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		return fmt.Errorf("%s: %w", sh, err)
	}
	b.shells++
	tty, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer tty.Close()
	cmd := exec.Command(sh)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.Env = shellEnv(os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	fmt.Fprintln(tty, "netroot: emergency shell; /run/netroot/timeline.json has the boot's steps")
	return cmd.Run()
}

// bbDir is where a u-root busybox image (mkuimage) keeps its commands.
const bbDir = "/bbin"

// shellEnv is the emergency shell's environment: init's, with HOME, TERM
// and PATH defaults, a prompt naming netroot, and bbDir at the end of
// PATH so that a u-root image's commands (ls, ip, dmesg…) are found.
func shellEnv(environ []string) []string {
	env := switchroot.Env(append(slices.Clip(environ), "PS1=netroot:\\w# "))
	for i, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok && !slices.Contains(filepath.SplitList(p), bbDir) {
			env[i] = kv + string(filepath.ListSeparator) + bbDir
		}
	}
	return env
}

// debugWriter turns writes into debug log lines.
type debugWriter struct{ l *bootlog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.l.Debugf("%s", strings.TrimSpace(string(p)))
	return len(p), nil
}

// reapForever reaps orphans, woken by SIGCHLD, so PID 1 never exits.
func reapForever() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGCHLD)
	for {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		<-sigs
	}
}

// seconds converts a rusage time to seconds.
func seconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
