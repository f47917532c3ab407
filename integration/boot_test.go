// Package integration holds netroot's QEMU boot tests: each boots Debian's
// kernel with a netroot initramfs on two virtio NICs bridged to tgtd in a
// private network namespace, and asserts from the serial console what the
// guest did.
//
// They need root, qemu-system-x86_64, tgt and e2fsprogs (`make deps`);
// without them they skip, except under CI (CI set), where they fail.
package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

var (
	envOnce sync.Once
	envErr  error
	shared  *rig.Env
)

// env prepares the kernel, binaries and root image once per test binary.
func env(t *testing.T) *rig.Env {
	t.Helper()
	if reason := rig.Missing(); reason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the boot tests, but: %s", reason)
		}
		t.Skip(reason)
	}
	envOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cache, err := rig.CacheDir()
		if err != nil {
			envErr = err
			return
		}
		shared, envErr = rig.Prepare(ctx, filepath.Join(cache, "boot-tests"))
		if envErr == nil {
			shared.LUNDir = memoryLUNs()
		}
	})
	if envErr != nil {
		t.Fatalf("preparing the rig: %v", envErr)
	}
	return shared
}

// waitsMostly marks a test whose time is mostly waiting (outages, a
// writer's minutes, recovery timers) rather than booting: such tests run
// side by side (go test -parallel) once the others are done, so the fault
// and keeper suites cost their longest cases, not their sum.
func waitsMostly(t *testing.T) {
	t.Helper()
	t.Parallel()
}

// start boots s and registers its cleanup; on failure the console log is
// printed.
func start(t *testing.T, s rig.BootSpec) *rig.Boot {
	t.Helper()
	e := env(t)
	if s.Name == "" {
		s.Name = strings.ReplaceAll(t.Name(), "/", "-")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := e.Start(ctx, s)
	if err != nil {
		t.Fatalf("starting the boot: %v", err)
	}
	t.Logf("%s", strings.TrimSpace(b.BuildOutput))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console log (%s):\n%s", b.VM.LogPath, b.VM.Log())
		}
		b.Close()
	})
	return b
}

// waitFor waits for re on the console, failing the test on timeout.
func waitFor(t *testing.T, b *rig.Boot, re string, timeout time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := b.VM.WaitFor(ctx, regexp.MustCompile(re))
	if err != nil {
		t.Fatalf("%v", err)
	}
	return m
}

// waitFatal waits for /init's FATAL line to be on the console whole — up
// to its line end: the console arrives in pieces, and a match on what came
// so far can cut the line short — logs it and returns its text after
// "FATAL ".
func waitFatal(t *testing.T, b *rig.Boot, timeout time.Duration) string {
	t.Helper()
	m := waitFor(t, b, `netroot: FATAL ([^\r\n]*)\r?\n`, timeout)
	t.Logf("error line: %s", strings.TrimRight(m[0], "\r\n"))
	return m[1]
}

// reported returns the value of the test init's "NETROOT-TEST: key=value"
// lines for key.
func reported(log, key string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimRight(line, "\r")
		if i := strings.Index(line, "NETROOT-TEST: "+key+"="); i >= 0 {
			out = append(out, line[i+len("NETROOT-TEST: "+key+"="):])
		}
	}
	return out
}

// netrootLines returns /init's log lines from the console.
func netrootLines(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if i := strings.Index(line, "netroot: "); i >= 0 {
			out = append(out, strings.TrimRight(line[i:], "\r"))
		}
	}
	return out
}

// assertRealRoot checks that the guest reached the real root's init over
// bond0 with both slaves, read-only ext4, and powered off.
func assertRealRoot(t *testing.T, b *rig.Boot) string {
	t.Helper()
	return assertRealRootFS(t, b, "ext4")
}

// assertRealRootFS is assertRealRoot for a root of the given type.
func assertRealRootFS(t *testing.T, b *rig.Boot, fstype string) string {
	t.Helper()
	waitFor(t, b, `NETROOT-TEST: done=`, 4*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.VM.Wait(ctx); err != nil {
		t.Errorf("guest did not power off: %v", err)
	}
	log := b.VM.Log()
	for _, l := range netrootLines(log) {
		t.Log(l)
	}
	if got := reported(log, "init"); len(got) != 1 || !strings.HasPrefix(got[0], "pid=1 ") {
		t.Errorf("real init: got %q, want it to run as pid 1", got)
	}
	if got := reported(log, "root-ro"); len(got) != 1 || got[0] != "true" {
		t.Errorf("root-ro = %q, want true", got)
	}
	if got := reported(log, "root-mount"); len(got) != 1 || !strings.Contains(got[0], " "+fstype+" ro") {
		t.Errorf("root mount = %q, want %s mounted ro", got, fstype)
	}
	// The disk's I/O scheduler is blk-mq's "none" (set by /init).
	if got := reported(log, "root-scheduler"); len(got) != 1 || !strings.Contains(got[0], "[none]") {
		t.Errorf("root disk's scheduler = %q, want [none]", got)
	}
	bonds := reported(log, "bond")
	if len(bonds) != 1 || !strings.HasPrefix(bonds[0], "bond0 ") ||
		// A PXE NIC named by BOOTIF is enslaved first (primary), so either order.
		!(strings.Contains(bonds[0], `slaves="eth0 eth1"`) || strings.Contains(bonds[0], `slaves="eth1 eth0"`)) ||
		!strings.Contains(bonds[0], "active-backup") {
		t.Errorf("bond = %q, want bond0 active-backup with slaves eth0 eth1", bonds)
	}
	if got := reported(log, "timeline-bytes"); len(got) != 1 || strings.HasPrefix(got[0], "<") {
		t.Errorf("/run/netroot/timeline.json in the real root: %q", got)
	}
	if strings.Contains(log, "Kernel panic") {
		t.Errorf("kernel panic on the console")
	}
	assertShutdownRole(t, log)
	return log
}

// roleLogoutRe is the shutdown role's logout line.
var roleLogoutRe = regexp.MustCompile(`netroot-shutdown: logout: ([^\n]*)`)

// assertShutdownRole checks the way down of a guest whose init powers off
// through /init's shutdown role (testinit's shutdownThroughInitramfs, as
// systemd-shutdown does): the role ran to its end and logged out of every
// session, the target answering.
func assertShutdownRole(t *testing.T, log string) {
	t.Helper()
	if !strings.Contains(log, "shutdown role in /run/initramfs") {
		return // rd.netroot.osconfig=0: the init powers off itself
	}
	if got := reported(log, "shutdown-return"); len(got) > 0 {
		t.Errorf("the init did not return into /run/initramfs: %q", got)
	}
	if !strings.Contains(log, "netroot-shutdown: poweroff after") {
		t.Errorf("the power-off did not go through the shutdown role")
	}
	m := roleLogoutRe.FindStringSubmatch(log)
	if m == nil || strings.Count(m[1], "(response 0)") != len(reported(log, "iscsi-session")) {
		t.Errorf("the shutdown role's logout: %q, want a Logout Response 0 for each of the %d session(s)", m, len(reported(log, "iscsi-session")))
	}
}

// TestBootScenario boots issue 2's command line to the real root and
// checks that every step logged one line with its duration. Its image is
// compressed as netroot build's default does where the zstd program is
// installed (the rig's other images use the built-in encoder): the
// kernel unpacks level 19's frame.
func TestBootScenario(t *testing.T) {
	tool, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal("the zstd program is not installed (make deps installs it)")
	}
	b := start(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline, Target: rig.DefaultTarget(), Shell: true, BuildArgs: []string{"-zstd-tool", tool}})
	if !strings.Contains(b.BuildOutput, "MB zstd") || !strings.Contains(b.BuildOutput, ", by "+tool+" -19") {
		t.Errorf("build output %q: want a zstd image by %s -19", b.BuildOutput, tool)
	}
	log := assertRealRoot(t, b)
	lines := strings.Join(netrootLines(log), "\n")
	for _, step := range []string{"mount", "config", "modules", "links", "bond", "ip", "login", "root", "mount-root"} {
		re := regexp.MustCompile(`(?m)^netroot: ` + regexp.QuoteMeta(step) + `: .* \([0-9]+\.[0-9]{3}s\)$`)
		if !re.MatchString(lines) {
			t.Errorf("no step line with a duration for %q", step)
		}
	}
	if !strings.Contains(lines, "root ready at ") {
		t.Errorf("no closing timeline summary")
	}
	// The modules step loads virtio_net (beside virtio_pci: the PCI IDs
	// name the virtio devices its probes create), not the uevent loop.
	if m, ok := modulesStep(log); !ok || !strings.Contains(m, "virtio_net") || strings.Contains(lines, "for a device added since") {
		t.Errorf("modules step %q: want virtio_net loaded there, not by the uevent loop", m)
	}
}

// TestBootTwoCPUs boots the scenario on two vCPUs, as the machines netroot
// boots have several cores and the bench measures: the NIC drivers load
// beside the background batches on the other CPU, and the boot runs with
// more Go Ps than CPUs (boot.BootProcs); the other tests boot on one.
func TestBootTwoCPUs(t *testing.T) {
	b := start(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline, Target: rig.DefaultTarget(), CPUs: 2})
	log := assertRealRoot(t, b)
	if got := reported(log, "cpus"); len(got) != 1 || got[0] != "2" {
		t.Errorf("the real root saw %q CPUs, want 2", got)
	}
}

// modulesStep returns the drivers the modules step's line lists as loaded
// for devices and network.
func modulesStep(log string) (string, bool) {
	m := regexp.MustCompile(`netroot: modules: [^\r\n]*loaded for devices and network: ([^(\r\n]*)`).FindStringSubmatch(log)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// TestBootBakedCmdline boots with the scenario baked into the initramfs;
// the kernel command line adds only console= and rd.netroot.async_probe,
// which keeps that path proven: the NIC drivers are inserted with
// async_probe and the virtio-pci probes run in the kernel's async workers;
// virtio_net, loaded beside virtio_pci, must still be inserted only once
// (the uevent loop sees the virtio devices it binds to).
func TestBootBakedCmdline(t *testing.T) {
	b := start(t, rig.BootSpec{Baked: rig.ScenarioCmdline, Cmdline: "rd.netroot.async_probe", Target: rig.DefaultTarget()})
	assertRealRoot(t, b)
	log := b.VM.Log()
	step, ok := modulesStep(log)
	late := strings.Contains(log, "netroot: modules: virtio_net for a device added since")
	if !ok || late == strings.Contains(step, "virtio_net") {
		t.Errorf("modules step %q, uevent loop loaded virtio_net: %v — want virtio_net loaded exactly once", step, late)
	}
}

// TestBootNoTarget boots against a portal nobody serves: the boot must end
// in one clear error line and a working emergency shell, not a hang.
func TestBootNoTarget(t *testing.T) {
	waitsMostly(t) // rd.retry runs out
	b := start(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline + " rd.retry=5", Shell: true})
	msg := waitFatal(t, b, 3*time.Minute)
	for _, want := range []string{"10.77.0.1:3260", "iqn.2010-01.org.example:root", "—"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error line lacks %q", want)
		}
	}
	waitFor(t, b, `netroot:/# `, time.Minute)
	if err := b.VM.Send("echo shell-$((6*7))\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, `shell-42`, 30*time.Second)
	log := b.VM.Log()
	if n := strings.Count(log, "netroot: FATAL"); n != 1 {
		t.Errorf("%d FATAL lines, want exactly 1", n)
	}
	if strings.Contains(log, "Kernel panic") {
		t.Errorf("kernel panic on the console")
	}
}

// TestBootTrixieKernel boots the scenario on Debian 13's kernel (6.12; its
// modules under /usr/lib/modules, xz-compressed, decompressed by netroot
// build) with the marker root: the same steps reach the same root on both
// kernels users run. (TestRealRootTrixieNetworkd boots trixie's own root.)
func TestBootTrixieKernel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env(t)
	k, err := rig.FetchKernelSuite(ctx, "trixie")
	if err != nil {
		t.Fatalf("fetching trixie's kernel: %v", err)
	}
	if !strings.HasPrefix(k.Version, "6.12") {
		t.Errorf("trixie's kernel is %s, want 6.12.x", k.Version)
	}
	b := start(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline, Target: rig.DefaultTarget(), Kernel: k})
	log := assertRealRoot(t, b)
	if !strings.Contains(log, "(kernel "+k.Version+")") {
		t.Errorf("the mount step does not name kernel %s", k.Version)
	}
	if m, ok := modulesStep(log); !ok || !strings.Contains(m, "virtio_net") {
		t.Errorf("modules step %q: want virtio_net", m)
	}
}
