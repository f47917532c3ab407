package boot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/bootlog"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/kmsg"
	"github.com/netroot/netroot/pkg/shutdown"
	"github.com/netroot/netroot/pkg/switchroot"
	"golang.org/x/sys/unix"
)

// Linux is the machine's Env: netroot's pkg/ libraries over the running
// kernel. self is the name this binary was started as (os.Args[0]), for
// the keeper's argv.
func Linux(self string) Env {
	return Env{
		System:  linuxSystem{},
		Files:   DirFiles{Root: "/"},
		Modules: linuxModules{},
		Links:   linuxLinks{},
		Addrs:   linuxAddrs{},
		ISCSI:   linuxISCSI{},
		Disks:   linuxDisks{},
		DM:      linuxDM{},
		Keeper:  linuxKeeper{self: self},
		Switch:  linuxSwitcher{},
		Console: linuxConsole{},
		NICs:    linuxNICs{},
		IPv6:    linuxIPv6{},
		OS:      linuxOS{self: self},
	}
}

type linuxSystem struct{}

// MountPseudo mounts /proc, /sys, /dev and /run.
func (linuxSystem) MountPseudo() error {
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

func (linuxSystem) KernelRelease() string {
	var u unix.Utsname
	unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}

// OpenKmsg opens /dev/kmsg. Writes from userspace are rate-limited by
// default (10 lines per 5 s), so /init lifts the limit while it runs and
// restores it before switching root.
func (linuxSystem) OpenKmsg() (io.Writer, int, error) {
	kmsg.Lift()
	printk, _ := os.ReadFile("/proc/sys/kernel/printk")
	k, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return nil, 0, err
	}
	return k, bootlog.ConsoleLevel(string(printk)), nil
}

func (linuxSystem) RestoreKmsgLimit() {
	kmsg.Restore()
}

func (linuxSystem) CPUs() int { return runtime.NumCPU() }

func (linuxSystem) IdleSeconds() float64 { return bootlog.ProcIdle() }

func (linuxSystem) Usage() bootlog.Usage {
	status, _ := os.ReadFile("/proc/self/status")
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	seconds := func(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	return bootlog.Usage{PeakRSSKiB: bootlog.PeakRSSKiB(string(status)), User: seconds(ru.Utime), System: seconds(ru.Stime)}
}

type linuxSwitcher struct{}

func (linuxSwitcher) Prefetch(root, init string) ([]string, error) {
	return switchroot.Prefetch(root, init)
}

func (linuxSwitcher) SwitchRoot(o switchroot.Options) error { return switchroot.SwitchRoot(o) }

type linuxConsole struct{}

// Shell runs /bin/sh on the console as a session leader with a
// controlling terminal, and waits for it.
func (linuxConsole) Shell(env []string) error {
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		return fmt.Errorf("%s: %w", sh, err)
	}
	tty, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer tty.Close()
	cmd := exec.Command(sh)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	fmt.Fprintf(tty, "netroot: emergency shell; %s has the boot's steps\n", filepath.Join(runDir, "timeline.json"))
	if err := cmd.Start(); err != nil {
		if serr := unrunnableShell("/", sh, err); serr != nil {
			return serr
		}
		return err
	}
	return cmd.Wait()
}

// unrunnableShell explains the exec of a shell that is there failing
// with ENOENT: its ELF interpreter (the dynamic loader) is missing under
// root. nil when that is not why.
func unrunnableShell(root, sh string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	loader, ierr := switchroot.Interpreter(filepath.Join(root, sh))
	if ierr != nil || loader == "" {
		return nil
	}
	if _, serr := os.Stat(filepath.Join(root, loader)); serr == nil {
		return nil
	}
	return &shellError{shell: sh, loader: loader, err: err}
}

// Reboot syncs and reboots, powers off or halts.
func (linuxConsole) Reboot(action config.Emergency) error {
	cmd, ok := map[config.Emergency]int{
		config.EmergencyReboot:   unix.LINUX_REBOOT_CMD_RESTART,
		config.EmergencyPoweroff: unix.LINUX_REBOOT_CMD_POWER_OFF,
		config.EmergencyHalt:     unix.LINUX_REBOOT_CMD_HALT,
	}[action]
	if !ok {
		return fmt.Errorf("no such action %q", action)
	}
	// The boot failed: a session may be gone with writes waiting on it.
	shutdown.Sync(10 * time.Second)
	return unix.Reboot(cmd)
}

// Forever reaps orphans, woken by SIGCHLD, so PID 1 never exits.
func (linuxConsole) Forever() {
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
