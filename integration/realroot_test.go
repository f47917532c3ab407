package integration

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/netroot/netroot/integration/writelog"
)

// The real-root tests boot full Debian systems (rig.Distros) through
// today's netroot — the scenario's bonded, static-address iSCSI root,
// mounted read-write, on a LAN with a DHCP server — and drive them over a
// root shell on the second serial port. They assert what a user of a
// diskless distribution needs: the OS reaches multi-user; it is "running",
// or "degraded" only by units explained in realRootExplained; no interface
// rename failed and no start job waited for a device that never came; the
// root keeps taking writes before and after the OS restarts its network
// stack, and the restart leaves the root's network as it was; reboot and
// poweroff finish in bounded time; the filesystem is clean after the
// poweroff, with every record the writer wrote.

// Deadlines of the real-root scenario.
const (
	realRootBoot     = 6 * time.Minute // kernel start → multi-user, TCG
	realRootShutdown = 3 * time.Minute // systemctl reboot/poweroff → the kernel's last line
	realRootCommand  = 2 * time.Minute // one command in the guest
	// writerMaxGap bounds the longest pause between two of the root
	// writer's records (one every 100 ms): the root must stay usable
	// while the OS restarts its network stack.
	writerMaxGap = 10 * time.Second
)

// realRootExplained lists, per image, failed units that have a cause
// outside netroot and the OS's network stack, with that cause. A failed
// unit not listed here fails the test.
var realRootExplained = map[string]map[string]string{}

// realRootImage builds d's image (cached) for its suite's kernel and logs
// the build steps.
func realRootImage(t *testing.T, d rig.Distro) *rig.DistroImage {
	t.Helper()
	env(t)
	if reason := rig.MissingDistro(); reason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the real-root tests, but: %s", reason)
		}
		t.Skip(reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	k, err := rig.FetchKernelSuite(ctx, d.Suite)
	if err != nil {
		t.Fatalf("kernel for %s: %v", d.Suite, err)
	}
	img, err := rig.BuildDistro(ctx, d, k)
	if err != nil {
		t.Fatalf("building %s: %v", d.Name, err)
	}
	for _, s := range img.Steps {
		t.Logf("image %s: %s %.1fs (cached %v)", d.Name, s.Name, s.Took.Seconds(), s.Cached)
	}
	t.Logf("image %s: %s, kernel %s, %d MiB used of %d MiB", d.Name, img.Path, k.Version, img.Used>>20, img.Size>>20)
	return img
}

// startRealRoot boots img and registers its cleanup: on failure the
// console's tail and where the full logs are.
func startRealRoot(t *testing.T, img *rig.DistroImage) *rig.RealRoot {
	t.Helper()
	// NETROOT_REALROOT_CPUS and _MEM (MiB) override the guest's vCPUs (the
	// rig's 1) and memory (rig.RealRootMemoryMB), for measurements.
	cpus, _ := strconv.Atoi(os.Getenv("NETROOT_REALROOT_CPUS"))
	mem, _ := strconv.Atoi(os.Getenv("NETROOT_REALROOT_MEM"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := env(t).StartRealRoot(ctx, rig.RealRootSpec{
		Name: strings.ReplaceAll(t.Name(), "/", "-"), Image: img, CPUs: cpus, MemoryMB: mem,
		// A LAN with DHCP, as the machine was installed on: the OS's DHCP
		// clients get answers, and act on them.
		DHCP: rig.RealRootDHCP(),
	})
	if err != nil {
		t.Fatalf("starting %s: %v", img.Distro.Name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console tail (full log %s, shell %s/shell.log*):\n%s", r.VM.LogPath, r.Dir, r.ConsoleTail(60))
		}
		r.Close()
	})
	return r
}

// osRun runs cmd in the guest with realRootCommand as deadline; an error
// is fatal (the shell is gone), a non-zero status is returned.
func osRun(t *testing.T, r *rig.RealRoot, cmd string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), realRootCommand)
	defer cancel()
	out, code, err := r.RunOS(ctx, cmd)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out, code
}

// osLog runs cmd and logs its output as an observation.
func osLog(t *testing.T, r *rig.RealRoot, cmd string) string {
	t.Helper()
	out, code := osRun(t, r, cmd)
	t.Logf("$ %s  (exit %d)\n%s", cmd, code, out)
	return out
}

// bootToMultiUser waits for the shell and the end of systemd's boot, and
// asserts the system state; it returns the state and the failed units.
func bootToMultiUser(t *testing.T, r *rig.RealRoot, d rig.Distro, sum *summary, n string) (string, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), realRootBoot)
	defer cancel()
	start := time.Now()
	err := r.WaitShell(ctx)
	if err != nil {
		err = fmt.Errorf("%s never gave a shell on %s: %w", d.Name, rig.ShellTTY, err)
	}
	var state string
	if err == nil {
		if state, err = r.WaitMultiUser(ctx); err != nil {
			err = fmt.Errorf("%s: systemctl is-system-running --wait: %w", d.Name, err)
		}
	}
	if err != nil {
		sum.add("state"+n, "none")
		t.Fatalf("boot %d: %v", r.Boots, err)
	}
	t.Logf("%s boot %d: system %q after %.1fs (from QEMU start)", d.Name, r.Boots, state, time.Since(start).Seconds())
	failed, err := r.FailedUnits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	switch state {
	case "running":
	case "degraded":
		for _, u := range failed {
			if why, ok := realRootExplained[d.Name][u]; ok {
				t.Logf("failed unit %s: explained: %s", u, why)
				continue
			}
			status, _ := osRun(t, r, "systemctl status --no-pager --full --lines=25 "+u)
			t.Errorf("%s: unit %s failed (not explained):\n%s", d.Name, u, status)
		}
		if len(failed) == 0 {
			t.Errorf("%s: degraded with no failed unit listed", d.Name)
		}
	default:
		t.Errorf("%s: system state %q, want running (or degraded by explained units)", d.Name, state)
	}
	return state, failed
}

// renameLines returns the journal's interface-rename lines and the
// failed ones among them.
var (
	renameRe = regexp.MustCompile(`(?i)rename`)
	// udev's words for a rename it could not do (systemd 252: "Network
	// interface 'eth0' is already up, cannot rename to 'ens2'"; older and
	// newer: "Failed to rename network interface", "Error changing net
	// interface name").
	renameFailedRe = regexp.MustCompile(`(?i)cannot rename|failed to rename|error changing net interface name`)
)

func renames(journal string) (all, failed []string) {
	for _, l := range strings.Split(journal, "\n") {
		if renameRe.MatchString(l) {
			all = append(all, l)
			if renameFailedRe.MatchString(l) {
				failed = append(failed, l)
			}
		}
	}
	return all, failed
}

// networkStatus is a command showing what the OS's network stack made of
// the interfaces, and the runtime configuration it found.
func networkStatus(d rig.Distro) string {
	cmd := "ls -l /run/netroot /run/network /run/systemd/network /run/NetworkManager/system-connections /run/initramfs 2>&1; " +
		"ps -eo pid,args | grep -E '[n]etroot|[i]scsid'; "
	if slices.Contains(d.Packages, "open-iscsi") {
		cmd += "iscsiadm -m session -P 1; systemctl --no-pager status iscsid.service open-iscsi.service | grep -E 'Active|●'; "
	}
	switch d.Network {
	case "networkd":
		return cmd + "head -50 /run/systemd/network/*; networkctl list --no-pager"
	case "NetworkManager":
		return cmd + "nmcli -f DEVICE,TYPE,STATE,CONNECTION device; nmcli -f NAME,TYPE,DEVICE,FILENAME connection"
	case "ifupdown":
		return cmd + "cat /run/network/ifstate*; ifquery --state"
	}
	return cmd
}

// Start jobs that waited for a device that never came (ifupdown's
// ifup@<install NIC>.service waits for the NIC's predictable name).
var startJobFailedRe = regexp.MustCompile(`Timed out waiting for device|Dependency failed for|start job .* timed out`)

// checkBoot asserts one boot: multi-user reached, the system state and
// failed units, no failed interface rename, no start job timed out; it
// logs /init's lines and where systemd's boot time went.
func checkBoot(t *testing.T, r *rig.RealRoot, d rig.Distro, sum *summary) {
	t.Helper()
	n := ""
	if r.Boots > 1 {
		n = strconv.Itoa(r.Boots)
	}
	state, failed := bootToMultiUser(t, r, d, sum, n)
	sum.add("state"+n, state)
	sum.add("failed"+n, strings.Join(failed, ","))
	if r.Boots == 1 {
		for _, l := range netrootLines(r.VM.Log()) {
			t.Log(l)
		}
		osLog(t, r, "findmnt -no SOURCE,FSTYPE,OPTIONS /; cat /proc/cmdline")
	}
	osLog(t, r, "systemd-analyze time; systemd-analyze blame --no-pager | head -8; free -m")
	ctx, cancel := context.WithTimeout(context.Background(), realRootCommand)
	defer cancel()
	journal, err := r.Journal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, failedRenames := renames(journal)
	t.Logf("boot %d: rename lines in the journal:\n%s", r.Boots, strings.Join(all, "\n"))
	sum.add("failed_renames"+n, len(failedRenames))
	if len(failedRenames) > 0 {
		t.Errorf("%s boot %d: %d failed interface renames:\n%s", d.Name, r.Boots, len(failedRenames), strings.Join(failedRenames, "\n"))
	}
	var jobs []string
	for _, l := range strings.Split(journal, "\n") {
		if startJobFailedRe.MatchString(l) {
			jobs = append(jobs, l)
		}
	}
	sum.add("failed_jobs"+n, len(jobs))
	if len(jobs) > 0 {
		t.Errorf("%s boot %d: start jobs timed out or failed on a dependency:\n%s", d.Name, r.Boots, strings.Join(jobs, "\n"))
	}
}

// shutdownLineRe picks the console lines that tell how a shutdown went.
var shutdownLineRe = regexp.MustCompile(`systemd-shutdown|[Ff]ailed|timed out|Timed out|A stop job|connection[0-9]+:|I/O error|EXT4-fs|netroot|bond0|iscsi`)

// consoleSince is the console from offset from (all of it if the log is
// shorter: the rig started a new one).
func consoleSince(r *rig.RealRoot, from int) string {
	log := r.VM.Log()
	if from > len(log) {
		from = 0
	}
	return log[from:]
}

// logShutdown logs the console's shutdown lines after the command.
func logShutdown(t *testing.T, r *rig.RealRoot, verb string, from int) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(consoleSince(r, from), "\r", ""), "\n") {
		if shutdownLineRe.MatchString(l) {
			lines = append(lines, l)
		}
	}
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	t.Logf("console during systemctl %s (selected lines):\n%s", verb, strings.Join(lines, "\n"))
}

// roleFailRe is systemd-shutdown failing on the shutdown role's mount.
var roleFailRe = regexp.MustCompile(`[Ff]ailed[^\n]*/run/initramfs|/run/initramfs[^\n]*(failed|timed out)`)

// roleUnmountRe is the shutdown role's unmount line.
var roleUnmountRe = regexp.MustCompile(`netroot-shutdown: unmount: [^\n]*: \d+ unmounted, (\d+) detached`)

// shutdownRoleRan checks that systemd returned into netroot's shutdown
// role, that it unmounted the old root's every mount (none left busy and
// detached: nothing of the OS survived, and the keepers were gone first)
// and that it ended the shutdown with verb, with no failure on the role's
// mount at /run/initramfs.
func shutdownRoleRan(t *testing.T, r *rig.RealRoot, d rig.Distro, verb string, from int) {
	t.Helper()
	log := consoleSince(r, from)
	if !strings.Contains(log, "netroot-shutdown: "+verb+" after") {
		t.Errorf("%s: systemctl %s did not end in netroot's shutdown role", d.Name, verb)
	}
	if m := roleUnmountRe.FindStringSubmatch(log); m == nil {
		t.Errorf("%s: systemctl %s: no unmount line of the shutdown role", d.Name, verb)
	} else if m[1] != "0" {
		t.Errorf("%s: systemctl %s: %q — mounts were busy", d.Name, verb, m[0])
	}
	if m := roleFailRe.FindString(log); m != "" {
		t.Errorf("%s: systemctl %s: %q", d.Name, verb, m)
	}
}

// netState is the root path's network as the OS sees it.
func netState(t *testing.T, r *rig.RealRoot, when string) string {
	t.Helper()
	out, _ := osRun(t, r, "ip -br link; ip -br -4 addr; ip route; grep -E '^(Currently Active Slave|Slave Interface|MII Status)' /proc/net/bonding/bond0")
	t.Logf("network %s:\n%s", when, out)
	return out
}

// poweroffClean powers the real root off with systemctl, within
// realRootShutdown, and checks its filesystem is clean on the LUN.
func poweroffClean(t *testing.T, r *rig.RealRoot, d rig.Distro, sum *summary) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), realRootShutdown+time.Minute)
	from := len(r.VM.Log())
	took, err := r.Shutdown(ctx, "poweroff", realRootShutdown)
	logShutdown(t, r, "poweroff", from)
	cancel()
	if err != nil {
		t.Errorf("%s: poweroff: %v", d.Name, err)
		sum.add("poweroff", "hang")
	} else {
		t.Logf("%s: systemctl poweroff → %q in %.1fs", d.Name, "reboot: Power down", took.Seconds())
		sum.add("poweroff", fmt.Sprintf("%.1fs", took.Seconds()))
		shutdownRoleRan(t, r, d, "poweroff", from)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := r.Fsck(ctx)
	t.Logf("e2fsck -fn %s:\n%s", r.LUN(), out)
	if err != nil {
		t.Errorf("%s: the root is not clean after poweroff: %v", d.Name, err)
		sum.add("fsck", "dirty")
	} else {
		sum.add("fsck", "clean")
	}
}

// summary collects one line per variant for the report.
type summary struct {
	fields []string
	// start, when set, is the test's start: log adds the wall time.
	start time.Time
}

func (s *summary) add(k string, v any) { s.fields = append(s.fields, fmt.Sprintf("%s=%v", k, v)) }

// log logs the REALROOT-SUMMARY line (deferred by the test).
func (s *summary) log(t *testing.T) {
	if !s.start.IsZero() {
		s.add("wall", fmt.Sprintf("%.0fs", time.Since(s.start).Seconds()))
	}
	t.Logf("REALROOT-SUMMARY %s", strings.Join(s.fields, " "))
}

// testRealRoot is the whole scenario for one image.
func testRealRoot(t *testing.T, d rig.Distro) {
	waitsMostly(t) // a systemd boot, a network restart, two shutdowns
	img := realRootImage(t, d)
	testStart := time.Now()
	r := startRealRoot(t, img)
	var sum summary
	sum.add("variant", d.Name)
	defer func() {
		sum.add("wall", fmt.Sprintf("%.0fs", time.Since(testStart).Seconds()))
		t.Logf("REALROOT-SUMMARY %s", strings.Join(sum.fields, " "))
	}()
	// A guest that stopped answering (t.Fatal above) still shows how it
	// shuts down: the power button works without a shell.
	defer func() {
		if !t.Failed() || !r.Running() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), realRootShutdown+time.Minute)
		defer cancel()
		from := len(r.VM.Log())
		took, err := r.PowerButton(ctx, realRootShutdown)
		logShutdown(t, r, "power button", from)
		if err != nil {
			sum.add("power_button", "hang")
			t.Errorf("%s: the power button did not power the lost guest off either: %v", d.Name, err)
			return
		}
		sum.add("power_button", fmt.Sprintf("%.1fs", took.Seconds()))
		t.Logf("%s: the power button powered the lost guest off in %.1fs", d.Name, took.Seconds())
	}()

	// 1. Multi-user, system state, failed units, renames, start jobs.
	checkBoot(t, r, d, &sum)
	osLog(t, r, "ip -o link show | grep -o '^[0-9]*: [^:]*\\|altname [^ ]*'; for i in /sys/class/net/*; do n=${i##*/}; echo \"$n: $(udevadm info -q property -p $i | grep -E '^ID_NET_NAME_(SLOT|PATH|ONBOARD)=' | tr '\\n' ' ')\"; done")
	osLog(t, r, networkStatus(d))
	before := netState(t, r, "after boot")
	networkJournal := func(when string) {
		// udev and networkd log to the kernel log too (Instrumentation).
		out, _ := osRun(t, r, "journalctl -b --no-pager -q -o short-monotonic -u "+d.RestartUnit+" | tail -30; echo ---; "+
			"journalctl -b -k --no-pager -q -o short-monotonic | grep -E 'networkd|udev|bond0|renamed' | tail -30")
		t.Logf("journal of %s %s:\n%s", d.RestartUnit, when, out)
	}
	networkJournal("after boot")

	// 3. Restart the network stack while the root writer runs.
	ctx, cancel := context.WithTimeout(context.Background(), realRootCommand)
	if err := r.StartWriter(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	cancel()
	time.Sleep(5 * time.Second)
	restartOK := restartNetwork(t, r, d, &sum)
	time.Sleep(15 * time.Second)
	after := netState(t, r, "15 s after the restart")
	osLog(t, r, networkStatus(d))
	sum.add("net_changed", before != after)
	// The root's path is netroot's: the OS's stack must leave the bond,
	// its slaves, their addresses and routes as they were.
	if before != after {
		t.Errorf("%s: restarting %s changed the root's network:\nbefore:\n%s\nafter:\n%s", d.Name, d.RestartUnit, before, after)
	}
	networkJournal("after the restart")
	ctx, cancel = context.WithTimeout(context.Background(), realRootCommand)
	writerLog, err := r.StopWriter(ctx)
	cancel()
	t.Logf("root writer: %s", strings.TrimSpace(writerLog))
	if err != nil {
		t.Errorf("%s: root writer: %v", d.Name, err)
	}
	if restartOK != nil {
		rep, err := func() (writelog.Report, error) {
			ctx, cancel := context.WithTimeout(context.Background(), realRootCommand)
			defer cancel()
			return r.WriterRecords(ctx)
		}()
		if err != nil {
			t.Fatalf("reading the root writer's records: %v", err)
		}
		checkRecords(t, d, rep, restartOK[0], restartOK[1], &sum)
	}

	// 4. Reboot: bounded, and the machine comes back on the same LUN.
	ctx, cancel = context.WithTimeout(context.Background(), realRootShutdown+time.Minute)
	from := len(r.VM.Log())
	took, err := r.Shutdown(ctx, "reboot", realRootShutdown)
	logShutdown(t, r, "reboot", from)
	cancel()
	if err != nil {
		t.Errorf("%s: reboot: %v", d.Name, err)
		sum.add("reboot", "hang")
	} else {
		t.Logf("%s: systemctl reboot → %q in %.1fs", d.Name, "reboot: Restarting system", took.Seconds())
		sum.add("reboot", fmt.Sprintf("%.1fs", took.Seconds()))
		shutdownRoleRan(t, r, d, "reboot", from)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	err = r.Restart(ctx)
	cancel()
	if err != nil {
		t.Fatalf("booting again: %v", err)
	}
	checkBoot(t, r, d, &sum)
	if rep, err := func() (writelog.Report, error) {
		ctx, cancel := context.WithTimeout(context.Background(), realRootCommand)
		defer cancel()
		return r.WriterRecords(ctx)
	}(); err != nil || !rep.OK() || rep.Records == 0 {
		t.Errorf("%s: root writer's records after the reboot: %v %v", d.Name, rep, err)
	}

	// 5. Poweroff, then the filesystem.
	poweroffClean(t, r, d, &sum)
	ctx, cancel = context.WithTimeout(context.Background(), realRootCommand)
	defer cancel()
	data, err := r.ReadRootFile(ctx, rig.WriterFile)
	if err != nil {
		t.Errorf("%s: root writer's records on the LUN: %v", d.Name, err)
	} else if rep := writelog.Verify(data); !rep.OK() || rep.Records == 0 {
		t.Errorf("%s: root writer's records on the LUN after poweroff: %v", d.Name, rep)
	} else {
		t.Logf("root writer's records on the LUN after poweroff: %v", rep)
	}
}

// restartNetwork restarts d's network stack and returns the guest times
// just before and just after the restart, or nil when the restart did not
// return (the failure is recorded).
func restartNetwork(t *testing.T, r *rig.RealRoot, d rig.Distro, sum *summary) []time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*realRootCommand)
	defer cancel()
	t0, err := r.GuestTime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, code, err := r.RunOS(ctx, "systemctl restart "+d.RestartUnit)
	if err != nil {
		t.Errorf("%s: systemctl restart %s did not return: %v", d.Name, d.RestartUnit, err)
		sum.add("restart", "hang")
		return nil
	}
	t1, err := r.GuestTime(ctx)
	if err != nil {
		t.Errorf("%s: the guest stopped answering after systemctl restart %s: %v", d.Name, d.RestartUnit, err)
		sum.add("restart", "lost")
		return nil
	}
	t.Logf("systemctl restart %s: exit %d in %.1fs %s", d.RestartUnit, code, t1.Sub(t0).Seconds(), out)
	sum.add("restart", fmt.Sprintf("exit%d/%.1fs", code, t1.Sub(t0).Seconds()))
	if code != 0 {
		t.Errorf("%s: systemctl restart %s exited %d: %s", d.Name, d.RestartUnit, code, out)
	}
	return []time.Time{t0, t1}
}

// checkRecords asserts that the root took the writer's records before the
// network restart (t0) and after it (t1), without a long stall.
func checkRecords(t *testing.T, d rig.Distro, rep writelog.Report, t0, t1 time.Time, sum *summary) {
	t.Helper()
	pre, post := rep.Between(rep.First, t0), rep.Between(t1, rep.Last.Add(time.Nanosecond))
	t.Logf("root writer's records: %v; %d before the restart, %d during, %d after", rep, pre, rep.Records-pre-post, post)
	sum.add("records", fmt.Sprintf("%d/%d/%d", pre, rep.Records-pre-post, post))
	sum.add("max_gap", fmt.Sprintf("%.1fs", rep.MaxGap.Seconds()))
	if !rep.OK() {
		t.Errorf("%s: damaged records: %v", d.Name, rep)
	}
	// Up to 10 records a second (fewer when each fsync takes longer under
	// TCG on a loaded host): 5 s before, 15 s after.
	if pre < 5 {
		t.Errorf("%s: only %d records landed before the network restart", d.Name, pre)
	}
	if post < 20 {
		t.Errorf("%s: only %d records landed in the 15 s after the network restart (last at %v, restart done at %v)",
			d.Name, post, rep.Last.Format(time.StampMilli), t1.Format(time.StampMilli))
	}
	if rep.MaxGap > writerMaxGap {
		t.Errorf("%s: the root stalled %.1fs (after the record of %v; restart %v–%v)", d.Name, rep.MaxGap.Seconds(),
			rep.MaxGapAfter.Format(time.StampMilli), t0.Format(time.StampMilli), t1.Format(time.StampMilli))
	}
}

// TestRealRootIfupdown: Debian 12 as its installer leaves it (ifupdown,
// allow-hotplug <install NIC> inet dhcp).
func TestRealRootIfupdown(t *testing.T) { testRealRoot(t, rig.BookwormIfupdown) }

// TestRealRootNetworkd: Debian 12 with systemd-networkd and a catch-all
// DHCP .network.
func TestRealRootNetworkd(t *testing.T) { testRealRoot(t, rig.BookwormNetworkd) }

// TestRealRootNetworkManager: Debian 12 with NetworkManager's defaults.
func TestRealRootNetworkManager(t *testing.T) { testRealRoot(t, rig.BookwormNetworkManager) }

// TestRealRootOpenISCSI: the networkd image with open-iscsi installed and
// enabled.
func TestRealRootOpenISCSI(t *testing.T) { testRealRoot(t, rig.BookwormOpenISCSI) }

// TestRealRootTrixieNetworkd: Debian 13 and its 6.12 kernel with
// systemd-networkd.
func TestRealRootTrixieNetworkd(t *testing.T) { testRealRoot(t, rig.TrixieNetworkd) }

// TestRealRootNoOSConfig is the control: the trixie root booted with
// rd.netroot.osconfig=0 — no runtime files for the OS's network stack, no
// shutdown role — shows what they prevent. It records every failure seen
// (a NIC renamed under the bond or a failed rename, the bond losing its
// slaves, iSCSI connection errors, a root that stops taking writes after
// the network restart, a poweroff that hangs, a dirty filesystem) and fails
// if there was none: then the switch protects nothing on this rig.
func TestRealRootNoOSConfig(t *testing.T) {
	d := rig.TrixieNetworkd
	img := realRootImage(t, d)
	testStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	r, err := env(t).StartRealRoot(ctx, rig.RealRootSpec{
		Name: t.Name(), Image: img, DHCP: rig.RealRootDHCP(),
		Cmdline: rig.RealRootCmdline + " rd.netroot.osconfig=0",
	})
	cancel()
	if err != nil {
		t.Fatalf("starting %s: %v", d.Name, err)
	}
	defer r.Close()
	var seen []string
	note := func(format string, a ...any) {
		s := fmt.Sprintf(format, a...)
		seen = append(seen, s)
		t.Logf("without osconfig: %s", s)
	}
	defer func() {
		t.Logf("REALROOT-SUMMARY variant=%s-no-osconfig failures=%d wall=%.0fs: %s", d.Name, len(seen),
			time.Since(testStart).Seconds(), strings.Join(seen, " | "))
	}()
	// Boot, bounded: a root lost during the boot never gives a shell.
	ctx, cancel = context.WithTimeout(context.Background(), realRootBoot)
	state := ""
	if err := r.WaitShell(ctx); err != nil {
		note("no shell within %s", realRootBoot)
	} else if state, err = r.WaitMultiUser(ctx); err != nil {
		note("systemctl is-system-running did not answer: %v", firstLine(err))
	}
	cancel()
	if state != "" {
		t.Logf("system state %q", state)
	}
	shellOK := state != ""
	if shellOK {
		// The network restart, then one write that must reach the disk.
		ctx, cancel = context.WithTimeout(context.Background(), realRootCommand)
		out, code, err := r.RunOS(ctx, "systemctl restart "+d.RestartUnit+"; sleep 10; ip -br link; "+
			"echo probe > "+rig.WriterDir+"/probe && sync "+rig.WriterDir+"/probe && echo WRITTEN")
		cancel()
		switch {
		case err != nil:
			note("the root stopped answering after systemctl restart %s: %v", d.RestartUnit, firstLine(err))
			shellOK = false
		case code != 0 || !strings.Contains(out, "WRITTEN"):
			note("write after the network restart failed (exit %d): %s", code, out)
		default:
			t.Logf("after the network restart:\n%s", out)
		}
	}
	// The way down: from the shell if it still answers, else the power
	// button.
	ctx, cancel = context.WithTimeout(context.Background(), realRootShutdown+time.Minute)
	from := len(r.VM.Log())
	var took time.Duration
	verb, how := "poweroff", "systemctl poweroff"
	if shellOK {
		took, err = r.Shutdown(ctx, verb, realRootShutdown)
	} else {
		verb, how = "power button", "the power button (the shell was gone)"
		took, err = r.PowerButton(ctx, realRootShutdown)
	}
	cancel()
	logShutdown(t, r, verb, from)
	if err != nil {
		note("%s hung (no 'reboot: Power down' within %s)", how, realRootShutdown)
		r.VM.Kill()
	} else {
		t.Logf("%s → 'reboot: Power down' in %.1fs", how, took.Seconds())
		if strings.Contains(consoleSince(r, from), "netroot-shutdown") {
			t.Errorf("the shutdown role ran although rd.netroot.osconfig=0")
		}
	}
	// What the console showed, the way down included.
	log := r.VM.Log()
	for _, re := range []struct {
		re   *regexp.Regexp
		what string
	}{
		{regexp.MustCompile(`renamed from eth[0-9] \(while UP\)`), "a bond slave renamed while up"},
		{renameFailedRe, "a failed rename"},
		{regexp.MustCompile(`bond0: \(slave [^)]*\): Releasing`), "the bond lost a slave"},
		{regexp.MustCompile(`bond0: now running without any active interface`), "the bond had no active slave"},
		{regexp.MustCompile(`connection[0-9]+:[0-9]+: detected conn error`), "iSCSI connection error"},
		{regexp.MustCompile(`I/O error`), "I/O error"},
	} {
		if m := re.re.FindAllString(log, -1); len(m) > 0 {
			note("%s (%d× on the console, e.g. %q)", re.what, len(m), m[0])
		}
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := r.Fsck(ctx); err != nil {
		note("the root is not clean: %v\n%s", err, out)
	}
	if len(seen) == 0 {
		t.Errorf("%s with rd.netroot.osconfig=0 booted, survived its network restart and powered off cleanly: "+
			"the runtime files and the shutdown role prevented nothing on this rig", d.Name)
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
