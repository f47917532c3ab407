package rig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/netroot/netroot/integration/writelog"
)

// RealRootCmdline is the scenario's command line with the root mounted
// read-write, as a full distribution boots.
var RealRootCmdline = strings.TrimSuffix(ScenarioCmdline, " ro") + " rw"

// RealRootMemoryMB is the guest memory the real roots boot with: the
// networkd root uses about 65 MiB at multi-user and passes its whole test
// with 256; this leaves room for the heavier stacks.
const RealRootMemoryMB = 384

// RealRootSpec describes a boot of a real distribution root.
type RealRootSpec struct {
	// Name names the boot's directory.
	Name string
	// Image is the root; its Kernel is booted.
	Image *DistroImage
	// Cmdline defaults to RealRootCmdline.
	Cmdline string
	// Initramfs, when set, boots this image (another builder's, see
	// BuildInitrd) instead of netroot's.
	Initramfs string
	// MemoryMB defaults to RealRootMemoryMB; CPUs to 1.
	MemoryMB, CPUs int
	// DHCP, when set, serves DHCP on the LAN as the network the machine
	// was installed on would (see RealRootDHCP).
	DHCP *DHCPConfig
	// Target defaults to DefaultTarget; NetSetup and Baked are as in
	// BootSpec (a second bridge, the command line baked into the
	// initramfs).
	Target   *TargetConfig
	NetSetup func(ctx context.Context, n *Net) error
	Baked    string
}

// RealRootDHCP is the LAN's DHCP server: it gives the machine (the bond's
// MAC, the first NIC's) the address the scenario configures statically,
// as a site's reservation for a diskless machine does, and others
// addresses from the default range.
func RealRootDHCP() *DHCPConfig {
	return &DHCPConfig{Hosts: []string{"52:54:00:77:00:10,10.77.0.10"}, Options: []string{"3,10.77.0.1"}}
}

// RealRoot is a real distribution booted on the rig through netroot: the
// Boot (console on ttyS0, network, tgtd serving a fresh copy of the image)
// plus a root shell on ttyS1 to drive the OS.
type RealRoot struct {
	*Boot
	Image *DistroImage
	Shell *Shell
	// Boots counts the guest's boots (Restart adds one).
	Boots int

	sockDir string
}

// StartRealRoot boots s.Image's kernel with netroot's initramfs onto the
// image served as the scenario's LUN. Close releases everything.
func (e *Env) StartRealRoot(ctx context.Context, s RealRootSpec) (_ *RealRoot, err error) {
	if s.Cmdline == "" {
		s.Cmdline = RealRootCmdline
	}
	if s.MemoryMB == 0 {
		s.MemoryMB = RealRootMemoryMB
	}
	// A short directory of its own: a socket path must fit in 108 bytes.
	sockDir, err := os.MkdirTemp("", "nr-sh-")
	if err != nil {
		return nil, err
	}
	if s.Target == nil {
		s.Target = DefaultTarget()
	}
	r := &RealRoot{Image: s.Image, sockDir: sockDir, Boots: 1}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	r.Boot, err = e.Start(ctx, BootSpec{
		Name: s.Name, Cmdline: s.Cmdline + " " + InstrumentationCmdline, Target: s.Target, NetSetup: s.NetSetup, Baked: s.Baked, MemoryMB: s.MemoryMB, CPUs: s.CPUs,
		Kernel: s.Image.Kernel, RootImage: s.Image.Path, Initramfs: s.Initramfs, QEMUArgs: shellPortArgs(r.sock()), DHCP: s.DHCP,
	})
	if err != nil {
		return nil, err
	}
	r.Shell, err = dialShell(ctx, r.sock(), filepath.Join(r.Dir, "shell.log"))
	return r, err
}

func (r *RealRoot) sock() string {
	return filepath.Join(r.sockDir, "shell"+strconv.Itoa(r.Boots)+".sock")
}

// shellPortArgs gives the guest a second serial port (ttyS1) on a socket.
func shellPortArgs(sock string) []string {
	return []string{"-chardev", "socket,id=shell,path=" + sock + ",server=on,wait=off", "-serial", "chardev:shell"}
}

// Restart boots the guest again on the same network, target and LUN — the
// machine coming back after a reboot (the rig's QEMU exits on a guest
// reboot). The previous guest must have exited; its console log is kept
// as console.log.<boot>.
func (r *RealRoot) Restart(ctx context.Context) error {
	select {
	case <-r.VM.done:
	default:
		return errors.New("rig: Restart while the guest still runs")
	}
	r.Shell.Close()
	os.Rename(r.VM.LogPath, r.VM.LogPath+"."+strconv.Itoa(r.Boots))
	os.Rename(filepath.Join(r.Dir, "shell.log"), filepath.Join(r.Dir, "shell.log."+strconv.Itoa(r.Boots)))
	r.Boots++
	cfg := r.VM.cfg
	cfg.Extra = shellPortArgs(r.sock())
	vm, err := StartVM(cfg)
	if err != nil {
		return err
	}
	r.VM = vm
	r.Shell, err = dialShell(ctx, r.sock(), filepath.Join(r.Dir, "shell.log"))
	return err
}

// Close stops everything the boot started.
func (r *RealRoot) Close() {
	if r.Shell != nil {
		r.Shell.Close()
	}
	if r.Boot != nil {
		r.Boot.Close()
	}
	os.RemoveAll(r.sockDir)
}

// Running reports whether the guest still runs.
func (r *RealRoot) Running() bool {
	select {
	case <-r.VM.done:
		return false
	default:
		return true
	}
}

// ConsoleTail returns the last n lines of the console (ttyS0).
func (r *RealRoot) ConsoleTail(n int) string { return tailLines(r.VM.Log(), n) }

// RunOS runs cmd in the OS's root shell and returns its output and exit
// status; see Shell.Run. A failure carries the console's tail too.
func (r *RealRoot) RunOS(ctx context.Context, cmd string) (string, int, error) {
	out, code, err := r.Shell.Run(ctx, cmd)
	if err != nil {
		err = fmt.Errorf("%w\nconsole tail:\n%s", err, r.ConsoleTail(30))
	}
	return out, code, err
}

// WaitShell waits for the root shell on ttyS1.
func (r *RealRoot) WaitShell(ctx context.Context) error {
	if err := r.Shell.Ready(ctx); err != nil {
		return fmt.Errorf("%w\nconsole tail:\n%s", err, r.ConsoleTail(40))
	}
	return nil
}

// WaitMultiUser waits until systemd has finished booting and returns the
// system state (running, degraded, …) `systemctl is-system-running
// --wait` prints.
func (r *RealRoot) WaitMultiUser(ctx context.Context) (string, error) {
	out, _, err := r.RunOS(ctx, "systemctl is-system-running --wait")
	return strings.TrimSpace(out), err
}

// FailedUnits lists the failed units' names.
func (r *RealRoot) FailedUnits(ctx context.Context) ([]string, error) {
	out, _, err := r.RunOS(ctx, "systemctl list-units --failed --plain --no-legend --full")
	if err != nil {
		return nil, err
	}
	var units []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			units = append(units, f[0])
		}
	}
	return units, nil
}

// Journal returns `journalctl -b` of this boot (monotonic timestamps) with
// extra arguments, e.g. "-u", "systemd-networkd" or "-k".
func (r *RealRoot) Journal(ctx context.Context, args ...string) (string, error) {
	out, _, err := r.RunOS(ctx, "journalctl -b --no-pager -q -o short-monotonic "+strings.Join(args, " "))
	return out, err
}

// The root writer's files in the guest: its records on the root, its log
// and pid on /run (tmpfs: they outlive a lost root).
const (
	WriterFile    = WriterDir + "/records"
	writerLog     = "/run/netroot-rootwriter.log"
	writerPIDFile = "/run/netroot-rootwriter.pid"
)

// StartWriter starts the root writer in the guest: one fsynced record
// every 100 ms appended to WriterFile until StopWriter.
func (r *RealRoot) StartWriter(ctx context.Context) error {
	_, code, err := r.RunOS(ctx, WriterPath+" write "+WriterFile+" >"+writerLog+" 2>&1 & echo $! >"+writerPIDFile)
	if err == nil && code != 0 {
		err = fmt.Errorf("rig: starting the root writer exited %d", code)
	}
	return err
}

// StopWriter stops the root writer (SIGTERM, it finishes the record in
// hand) and returns its log; an error when it does not exit within 10 s
// or reported failed writes.
func (r *RealRoot) StopWriter(ctx context.Context) (string, error) {
	out, code, err := r.RunOS(ctx, "p=$(cat "+writerPIDFile+"); kill $p; i=0; "+
		"while [ -d /proc/$p ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; cat "+writerLog+"; [ ! -d /proc/$p ]")
	if err == nil && code != 0 {
		err = fmt.Errorf("rig: the root writer did not exit within 10 s of SIGTERM: %s", out)
	}
	if err == nil && !strings.Contains(out, "errors=0 ") {
		err = fmt.Errorf("rig: the root writer reported failures: %s", out)
	}
	return out, err
}

// WriterRecords reads WriterFile through the shell and verifies it.
func (r *RealRoot) WriterRecords(ctx context.Context) (writelog.Report, error) {
	out, code, err := r.RunOS(ctx, "cat "+WriterFile)
	if err == nil && code != 0 {
		err = fmt.Errorf("rig: cat %s exited %d: %s", WriterFile, code, out)
	}
	if err != nil {
		return writelog.Report{}, err
	}
	return writelog.Verify([]byte(out)), nil
}

// GuestTime returns the guest's wall clock (the records' time base).
func (r *RealRoot) GuestTime(ctx context.Context) (time.Time, error) {
	out, _, err := r.RunOS(ctx, "date +%s%N")
	if err != nil {
		return time.Time{}, err
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("rig: guest date: %q", out)
	}
	return time.Unix(0, ns), nil
}

// Shutdown types `systemctl <verb>` (poweroff or reboot), after a mark
// in the kernel's log that ParseShutdownSpan reads, and waits, at
// most deadline, for the kernel's last word on the console ("reboot: Power
// down" / "reboot: Restarting system") and QEMU's exit. It returns the
// time from the command to that line. A shutdown that hangs is killed and
// reported with the console's tail.
func (r *RealRoot) Shutdown(ctx context.Context, verb string, deadline time.Duration) (time.Duration, error) {
	var final *regexp.Regexp
	switch verb {
	case "poweroff":
		final = regexp.MustCompile(`reboot: Power down`)
	case "reboot":
		final = regexp.MustCompile(`reboot: Restarting system`)
	default:
		return 0, fmt.Errorf("rig: Shutdown verb %q: want poweroff or reboot", verb)
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	// A line in the kernel's log marks the command on the console, with
	// the kernel's clock (ShutdownSpan's start); the shell's own port is
	// not the console.
	if err := r.Shell.Type(`echo "<5>` + shutdownMark + verb + `" >/dev/kmsg; systemctl ` + verb + "\n"); err != nil {
		return 0, err
	}
	if _, err := r.VM.WaitFor(ctx, final); err != nil {
		took := time.Since(start)
		tail := r.ConsoleTail(40)
		r.VM.Kill()
		return took, fmt.Errorf("rig: systemctl %s: no %q within %v (%w); console tail:\n%s", verb, final, deadline, err, tail)
	}
	took := time.Since(start)
	if err := r.VM.Wait(ctx); err != nil {
		r.VM.Kill()
		return took, fmt.Errorf("rig: systemctl %s: QEMU did not exit after %q: %w", verb, final, err)
	}
	return took, nil
}

// shutdownMark starts the line Shutdown has the shell write to the
// kernel's log as it runs systemctl.
const shutdownMark = "rig: systemctl "

// ShutdownSpan is a shutdown on the kernel's clock (seconds of uptime),
// read from the console.
type ShutdownSpan struct {
	// Command is when the shell ran systemctl; Final when systemd, its
	// units stopped, began its final phase (systemd-shutdown's first
	// line); End the kernel's last line.
	Command, Final, End float64
	// Role is netroot's shutdown role's own duration ("netroot-shutdown:
	// <verb> after …"), 0 when the shutdown did not end in it.
	Role float64
}

// Units is the time systemd took to stop the units; After the rest (its
// final phase, netroot's role, the kernel).
func (s ShutdownSpan) Units() float64 { return s.Final - s.Command }
func (s ShutdownSpan) After() float64 { return s.End - s.Final }
func (s ShutdownSpan) Total() float64 { return s.End - s.Command }

var (
	spanFinalRe = regexp.MustCompile(`\[\s*([0-9.]+)\] systemd-shutdown\[1\]:`)
	spanEndRe   = regexp.MustCompile(`\[\s*([0-9.]+)\] reboot: (Power down|Restarting system)`)
	spanRoleRe  = regexp.MustCompile(`netroot-shutdown: [a-z]+ after ([0-9.]+)s`)
)

// ParseShutdownSpan reads the last Shutdown(verb) on console.
func ParseShutdownSpan(console, verb string) (ShutdownSpan, error) {
	var s ShutdownSpan
	markRe := regexp.MustCompile(`\[\s*([0-9.]+)\] ` + regexp.QuoteMeta(shutdownMark+verb) + `\b`)
	ms := markRe.FindAllStringSubmatchIndex(console, -1)
	if len(ms) == 0 {
		return s, fmt.Errorf("rig: no %q line on the console", shutdownMark+verb)
	}
	m := ms[len(ms)-1]
	s.Command, _ = strconv.ParseFloat(console[m[2]:m[3]], 64)
	rest := console[m[1]:]
	for _, x := range []struct {
		re   *regexp.Regexp
		into *float64
		what string
	}{{spanFinalRe, &s.Final, "systemd-shutdown line"}, {spanEndRe, &s.End, "reboot: line"}} {
		sm := x.re.FindStringSubmatch(rest)
		if sm == nil {
			return s, fmt.Errorf("rig: no %s after systemctl %s", x.what, verb)
		}
		*x.into, _ = strconv.ParseFloat(sm[1], 64)
	}
	if sm := spanRoleRe.FindStringSubmatch(rest); sm != nil {
		s.Role, _ = strconv.ParseFloat(sm[1], 64)
	}
	if s.Final < s.Command || s.End < s.Final {
		return s, fmt.Errorf("rig: shutdown times out of order: %+v", s)
	}
	return s, nil
}

// PowerButton presses the ACPI power button (QEMU's system_powerdown),
// which systemd-logind turns into a poweroff without a shell — for a guest
// whose shell no longer answers — and waits like Shutdown.
func (r *RealRoot) PowerButton(ctx context.Context, deadline time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	if err := r.VM.Monitor("system_powerdown"); err != nil {
		return 0, err
	}
	final := regexp.MustCompile(`reboot: Power down`)
	if _, err := r.VM.WaitFor(ctx, final); err != nil {
		took := time.Since(start)
		tail := r.ConsoleTail(40)
		r.VM.Kill()
		return took, fmt.Errorf("rig: power button: no %q within %v (%w); console tail:\n%s", final, deadline, err, tail)
	}
	took := time.Since(start)
	if err := r.VM.Wait(ctx); err != nil {
		r.VM.Kill()
		return took, fmt.Errorf("rig: power button: QEMU did not exit after %q: %w", final, err)
	}
	return took, nil
}

// LUN returns the path of the target's LUN 1 backing file (the root).
func (r *RealRoot) LUN() string { return r.Target.cfg.LUNs[0] }

// Fsck runs e2fsck -fn on the LUN (the guest must be off) and returns its
// output; an error when it found anything to fix.
func (r *RealRoot) Fsck(ctx context.Context) (string, error) {
	out, err := run(ctx, "e2fsck", "-fn", r.LUN())
	return out, err
}

// ReadRootFile copies a file out of the LUN's filesystem with debugfs (the
// guest must be off).
func (r *RealRoot) ReadRootFile(ctx context.Context, path string) ([]byte, error) {
	tmp, err := os.CreateTemp("", "nr-dump-")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	out, err := run(ctx, "debugfs", "-R", "dump "+path+" "+tmp.Name(), r.LUN())
	if err != nil {
		return nil, err
	}
	if strings.Contains(out, "File not found") {
		return nil, fmt.Errorf("rig: %s not in the root: %s", path, strings.TrimSpace(out))
	}
	return os.ReadFile(tmp.Name())
}
