package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

// osRow is one initramfs builder booting the real Debian root: netroot
// (builder nil), dracut or initramfs-tools.
type osRow struct {
	name      string
	builder   *rig.InitrdBuilder
	initramfs string
	cmdline   string
	size      int64
	// Seconds on the guest kernel's clock: kernel start → the real root's
	// systemd (switch_root done), kernel start → multi-user.target,
	// `systemctl poweroff` → power off.
	switchRoot, multiUser []float64
	poweroff              []rig.ShutdownSpan
	states                []string // systemctl is-system-running, per boot
	failures              []string
	// byRound are the figures by round, for the paired ones.
	byRound map[int]osFigures
}

// osFigures are one boot's three figures, in seconds.
type osFigures struct{ switchRoot, multiUser, poweroff float64 }

// realOSMemoryMB is the real-OS guests' memory: dracut's --no-hostonly
// image unpacks to ~150 MB, which in the rig's usual 384 MiB stalled its
// guest (RCU stalls, the iSCSI connection's ping timeout) — a machine that
// runs a full distribution has more.
const realOSMemoryMB = 1024

// realOSTimeout bounds one boot to multi-user: dracut's took 45 s to a
// marker root here; a boot that loses its root never gets there.
const realOSTimeout = 6 * time.Minute

// realOSRoot is -realos-root: the name of the rig.Distros root the
// real-OS rows boot; realOSVs is -realos-vs: kernel parameters of a
// second netroot row (the same image) in the alternation, for paired
// what-ifs on the real OS.
var realOSRoot, realOSVs string

// realOSOthers is -realos-builders: the other builders' rows to boot
// beside netroot's (dracut, initramfs-tools); nil: both.
var realOSOthers map[string]bool

// runRealOS boots a real Debian 12 root with open-iscsi installed (by
// default rig.BookwormIfupdownOpenISCSI: the installer's ifupdown, as a
// dracut or initramfs-tools user's root is set up) n times per builder,
// in alternation, and prints the three figures per builder and netroot's
// ratios to the others (issue 21).
func runRealOS(ctx context.Context, env *rig.Env, n, cpus int) error {
	if reason := rig.MissingDistro(); reason != "" {
		return fmt.Errorf("real-OS rows: %s", reason)
	}
	var d *rig.Distro
	var names []string
	for _, x := range rig.Distros() {
		if x.Name == realOSRoot {
			d = &x
		}
		names = append(names, x.Name)
	}
	if d == nil || d.Suite != "bookworm" {
		return fmt.Errorf("-realos-root %q: want a bookworm root among %s", realOSRoot, strings.Join(names, ", "))
	}
	img, err := rig.BuildDistro(ctx, *d, env.Kernel)
	if err != nil {
		return err
	}
	// netroot's image as a user builds it: the defaults, nothing baked.
	ours := &osRow{name: "netroot", initramfs: filepath.Join(env.Dir, "realos-netroot.img"), cmdline: rig.RealRootCmdline}
	if _, _, err := netrootBuild(ctx, env, []string{"build", "-o", ours.initramfs, "-modules", env.Kernel.ModulesDir, "-init", env.Init}); err != nil {
		return err
	}
	ours.size = fileSize(ours.initramfs)
	rows := []*osRow{ours}
	var dracut, itools *osRow
	for _, b := range []*rig.InitrdBuilder{&rig.Dracut, &rig.InitramfsTools} {
		if realOSOthers != nil && !realOSOthers[b.Name] {
			continue
		}
		path, err := rig.BuildInitrd(ctx, *b, env.Kernel)
		if err != nil {
			return err
		}
		r := &osRow{name: b.Name, builder: b, initramfs: path, cmdline: b.Cmdline, size: fileSize(path)}
		if b == &rig.Dracut {
			dracut = r
		} else {
			itools = r
		}
		rows = append(rows, r)
	}
	var vs *osRow
	if realOSVs != "" {
		vs = &osRow{name: "netroot -vs", initramfs: ours.initramfs, cmdline: ours.cmdline + " " + realOSVs, size: ours.size}
		rows = append(rows, vs)
	}
	fmt.Printf("\nbench: real OS: %s (%s), %d boot(s) per initramfs in alternation, -smp %d -m %dM\n", img.Distro.Name, img.Distro.About, n, cpus, realOSMemoryMB)
	for _, r := range rows[1:] {
		if r == vs {
			fmt.Printf("bench:   %s: netroot's image with %s\n", r.name, realOSVs)
			continue
		}
		fmt.Printf("bench:   %s: %s\n", r.name, r.builder.About)
	}
	for round := 1; round <= n; round++ {
		for _, r := range rows {
			sr, mu, span, state, err := bootRealOS(ctx, env, img, r, cpus)
			if state != "" {
				r.states = append(r.states, state)
			}
			if sr > 0 {
				r.switchRoot = append(r.switchRoot, sr)
			}
			if err != nil {
				r.failures = append(r.failures, err.Error())
				fmt.Printf("  round %d %-16s FAILED: %v\n", round, r.name, firstLine(err.Error()))
				continue
			}
			r.multiUser = append(r.multiUser, mu)
			r.poweroff = append(r.poweroff, span)
			if r.byRound == nil {
				r.byRound = map[int]osFigures{}
			}
			r.byRound[round] = osFigures{sr, mu, span.Total()}
			role := ""
			if span.Role > 0 {
				role = fmt.Sprintf(", netroot's role %.2f", span.Role)
			}
			fmt.Printf("  round %d %-16s switch_root %.2fs  multi-user %.2fs (%s)  poweroff %.2fs (units %.2f, then %.2f%s)\n",
				round, r.name, sr, mu, state, span.Total(), span.Units(), span.After(), role)
		}
	}
	fmt.Printf("\n%-16s %-22s %-22s %-22s %-10s %s\n", "real OS", "switch_root (s)", "multi-user (s)", "poweroff (s)", "compr. MB", "states")
	for _, r := range rows {
		size := "-"
		if r.size > 0 {
			size = fmt.Sprintf("%.2f", float64(r.size)/1e6)
		}
		fmt.Printf("%-16s %-22s %-22s %-22s %-10s %s\n", r.name, stat(r.switchRoot), stat(r.multiUser), stat(spans(r.poweroff, rig.ShutdownSpan.Total)), size, strings.Join(r.states, ","))
	}
	fmt.Println("\npoweroff, its parts (median [range], s): systemd stopping the units, then the rest (systemd-shutdown, a shutdown role, the kernel)")
	for _, r := range rows {
		fmt.Printf("%-16s units %-22s then %s\n", r.name, stat(spans(r.poweroff, rig.ShutdownSpan.Units)), stat(spans(r.poweroff, rig.ShutdownSpan.After)))
	}
	// ratio prints what of ours against other (a row not booted, with
	// -realos-builders, prints nothing): the ratio of the medians, which
	// the target is read from, then the median and range of the rounds'
	// own ratios — the boots of a round follow each other, so a paired
	// figure is less swayed by the host's speed drifting over the run.
	ratio := func(what string, other *osRow, all func(*osRow) []float64, of func(osFigures) float64, target float64) {
		if other == nil {
			return
		}
		a, b := all(ours), all(other)
		paired := pairedRatios(ours, other, of)
		if len(a) == 0 || len(b) == 0 {
			fmt.Printf("%-44s -  (a side has no successful boot)\n", what)
			return
		}
		r := median(a) / median(b)
		fmt.Printf("%-44s %.3f  (target ≤ %.2f: %s)", what, r, target, verdict(r, target))
		if len(paired) > 0 {
			fmt.Printf("; paired by round %s", statN(paired, 3))
		}
		fmt.Println()
	}
	// A boot that failed after its switch_root still has that figure.
	switchRoots := func(r *osRow) []float64 { return r.switchRoot }
	multiUsers := func(r *osRow) []float64 { return r.multiUser }
	poweroffs := func(r *osRow) []float64 { return spans(r.poweroff, rig.ShutdownSpan.Total) }
	switchRoot := func(f osFigures) float64 { return f.switchRoot }
	multiUser := func(f osFigures) float64 { return f.multiUser }
	poweroff := func(f osFigures) float64 { return f.poweroff }
	fmt.Println()
	ratio("initrd part, netroot/dracut:", dracut, switchRoots, switchRoot, 0.10)
	ratio("initrd part, netroot/initramfs-tools:", itools, switchRoots, switchRoot, 0.35)
	ratio("kernel → multi-user, netroot/dracut:", dracut, multiUsers, multiUser, 0.45)
	ratio("poweroff, netroot/dracut:", dracut, poweroffs, poweroff, 1)
	ratio("poweroff, netroot/initramfs-tools:", itools, poweroffs, poweroff, 1)
	if vs != nil {
		var sw, mu []float64
		for round, a := range vs.byRound {
			if b, ok := ours.byRound[round]; ok {
				sw, mu = append(sw, a.switchRoot-b.switchRoot), append(mu, a.multiUser-b.multiUser)
			}
		}
		fmt.Printf("netroot -vs − netroot, paired:               switch_root %s s, multi-user %s s\n", stat(sw), stat(mu))
	}
	for _, r := range rows {
		for _, f := range r.failures {
			fmt.Printf("bench: %s failed: %s\n", r.name, f)
		}
	}
	if len(ours.failures) > 0 {
		return fmt.Errorf("%d real-OS boot(s) of netroot failed", len(ours.failures))
	}
	return nil
}

// bootRealOS boots the root once with r's initramfs, waits for
// multi-user, reads when the real root's systemd started (its line on the
// console, switchRootTime) and multi-user.target's
// ActiveEnterTimestampMonotonic (systemd's own, on the kernel's clock),
// and powers off, reading the poweroff's span from the console.
func bootRealOS(ctx context.Context, env *rig.Env, img *rig.DistroImage, r *osRow, cpus int) (switchRoot, multiUser float64, poweroff rig.ShutdownSpan, state string, err error) {
	ctx, cancel := context.WithTimeout(ctx, realOSTimeout+4*time.Minute)
	defer cancel()
	rr, err := env.StartRealRoot(ctx, rig.RealRootSpec{Name: "realos-" + r.name, Image: img, Cmdline: withClock(r.cmdline),
		Initramfs: r.initramfs, CPUs: cpus, MemoryMB: realOSMemoryMB, DHCP: rig.RealRootDHCP()})
	if err != nil {
		return 0, 0, poweroff, "", err
	}
	defer rr.Close()
	wctx, wcancel := context.WithTimeout(ctx, realOSTimeout)
	defer wcancel()
	if err := rr.WaitShell(wctx); err != nil {
		return switchRootTime(rr.VM.Log()), 0, poweroff, "", fmt.Errorf("no shell within %v (console %s): %w", realOSTimeout, rr.VM.LogPath, err)
	}
	state, err = rr.WaitMultiUser(wctx)
	// The real root's systemd has started once its shell answers; a boot
	// that never gets to multi-user still shows how long its initrd took.
	switchRoot = switchRootTime(rr.VM.Log())
	if err != nil {
		return switchRoot, 0, poweroff, "", fmt.Errorf("not at multi-user within %v (console %s): %w", realOSTimeout, rr.VM.LogPath, err)
	}
	out, _, err := rr.RunOS(wctx, "systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target")
	if err != nil {
		return switchRoot, 0, poweroff, state, err
	}
	mu, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if err != nil || mu <= 0 {
		return switchRoot, 0, poweroff, state, fmt.Errorf("systemctl show printed %q", out)
	}
	if _, err := rr.Shutdown(ctx, "poweroff", 3*time.Minute); err != nil {
		return switchRoot, mu / 1e6, poweroff, state, fmt.Errorf("poweroff (console %s): %w", rr.VM.LogPath, err)
	}
	poweroff, err = rig.ParseShutdownSpan(rr.VM.Log(), "poweroff")
	if err != nil {
		return switchRoot, mu / 1e6, poweroff, state, fmt.Errorf("poweroff (console %s): %w", rr.VM.LogPath, err)
	}
	return switchRoot, mu / 1e6, poweroff, state, nil
}

// spans maps the spans through f.
func spans(s []rig.ShutdownSpan, f func(rig.ShutdownSpan) float64) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = f(x)
	}
	return out
}

// systemdStartRE is the line every systemd prints as it starts; the last
// one on the console is the real root's (dracut's initrd runs one too).
var systemdStartRE = regexp.MustCompile(`\[\s*([0-9.]+)\] systemd\[1\]: systemd [0-9][^ ]* running in system mode`)

// switchRootTime is the kernel uptime at which the real root's systemd
// announced itself, or 0.
func switchRootTime(console string) float64 {
	m := systemdStartRE.FindAllStringSubmatch(console, -1)
	if len(m) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(m[len(m)-1][1], 64)
	return v
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// pairedRatios are a's figures over b's, round by round, in the rounds
// both booted through.
func pairedRatios(a, b *osRow, of func(osFigures) float64) []float64 {
	var out []float64
	for _, round := range slices.Sorted(maps.Keys(a.byRound)) {
		y, ok := b.byRound[round]
		if ok && of(y) > 0 {
			out = append(out, of(a.byRound[round])/of(y))
		}
	}
	return out
}
