// Command demo builds netroot's initramfs and boots the standard scenario
// in QEMU — two virtio NICs bonded, a static address, an iSCSI root served
// by tgtd in a private network namespace — printing the guest's console
// until the real root's init powers it off, then draws the boot with
// netroot analyze. `make boot` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/netroot/netroot/pkg/analyze"
)

func main() {
	cmdline := flag.String("cmdline", rig.ScenarioCmdline, "kernel command line (console=ttyS0 is appended)")
	cpus := flag.Int("smp", 1, "guest virtual CPUs")
	debug := flag.Bool("debug", false, "append rd.debug: the chart then shows each module's load")
	svg := flag.String("svg", "", "where to write the boot's SVG chart (default build/boot.svg in the repository)")
	flag.Parse()
	if *debug {
		*cmdline += " rd.debug"
	}
	if err := run(*cmdline, *cpus, *svg); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// timelineReport is the test init's line carrying /run/netroot/timeline.json.
const timelineReport = "NETROOT-TEST: timeline="

func run(cmdline string, cpus int, svg string) error {
	if reason := rig.Missing(); reason != "" {
		return fmt.Errorf("cannot boot here: %s", reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cache, err := rig.CacheDir()
	if err != nil {
		return err
	}
	if svg == "" {
		root, err := rig.RepoRoot()
		if err != nil {
			return err
		}
		svg = filepath.Join(root, "build", "boot.svg")
	}
	fmt.Println("demo: fetching the kernel, building netroot, the initramfs and the root image…")
	env, err := rig.Prepare(ctx, filepath.Join(cache, "demo"))
	if err != nil {
		return err
	}
	b, err := env.Start(ctx, rig.BootSpec{Name: "demo", Cmdline: cmdline, Target: rig.DefaultTarget(), Shell: true, CPUs: cpus})
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Print(b.BuildOutput)
	fmt.Printf("demo: booting %s\n      cmdline: %s %s\n", env.Kernel.Vmlinuz, cmdline, rig.Console)

	// Follow the console until the root's init is done or the boot fails.
	done := regexp.MustCompile(`NETROOT-TEST: done=|netroot: FATAL`)
	printed := 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		log := b.VM.Log()
		printed = printComplete(log, printed)
		if done.MatchString(log) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the guest did not finish: %w", ctx.Err())
		case <-tick.C:
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	b.VM.Wait(wctx)
	log := b.VM.Log()
	printComplete(log+"\n", printed)
	failed := strings.Contains(log, "netroot: FATAL")
	if failed {
		fmt.Println("\ndemo: the boot failed; its timeline, from the console:")
	} else {
		fmt.Println("\ndemo: the guest reached its iSCSI root; /init's timeline:")
	}
	if err := draw(env.Netroot, b.Dir, log, svg); err != nil {
		fmt.Fprintln(os.Stderr, "demo: drawing the boot:", err)
	}
	if failed {
		return fmt.Errorf("the boot failed (console log: %s)", b.VM.LogPath)
	}
	return nil
}

// printComplete prints the complete lines of log from offset from on,
// except the timeline report (one long line of JSON, drawn instead), and
// returns the offset of the first line not printed.
func printComplete(log string, from int) int {
	for {
		i := strings.IndexByte(log[from:], '\n')
		if i < 0 {
			return from
		}
		line := log[from : from+i+1]
		if !strings.Contains(line, timelineReport) {
			fmt.Print(line)
		}
		from += i + 1
	}
}

// draw writes the guest's timeline into dir — the copy the root's init
// printed, or else one rebuilt from the console's step lines (a failed
// boot's init never runs) — and runs netroot analyze on it.
func draw(netroot, dir, log, svg string) error {
	tl := filepath.Join(dir, "timeline.json")
	var data []byte
	for _, line := range strings.Split(log, "\n") {
		if i := strings.Index(line, timelineReport); i >= 0 {
			data = []byte(strings.TrimSpace(line[i+len(timelineReport):]) + "\n")
		}
	}
	from := "copied from the guest's /run/netroot/timeline.json"
	if data == nil {
		t, err := analyze.ParseConsole(log)
		if err != nil {
			return err
		}
		if data, err = t.JSON(); err != nil {
			return err
		}
		from = "rebuilt from the console's step lines"
	}
	if err := os.WriteFile(tl, data, 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(svg), 0o755); err != nil {
		return err
	}
	fmt.Printf("demo: %s (%s)\ndemo: netroot analyze -o %s %s\n", tl, from, svg, tl)
	cmd := exec.Command(netroot, "analyze", "-o", svg, tl)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return err
	}
	fmt.Printf("demo: the boot's chart is %s\n", svg)
	return nil
}
