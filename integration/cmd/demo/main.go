// Command demo builds netroot's initramfs and boots the standard scenario
// in QEMU — two virtio NICs bonded, a static address, an iSCSI root served
// by tgtd in a private network namespace — printing the guest's console
// until the real root's init powers it off. `make boot` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

func main() {
	cmdline := flag.String("cmdline", rig.ScenarioCmdline, "kernel command line (console=ttyS0 is appended)")
	cpus := flag.Int("smp", 1, "guest virtual CPUs")
	flag.Parse()
	if err := run(*cmdline, *cpus); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(cmdline string, cpus int) error {
	if reason := rig.Missing(); reason != "" {
		return fmt.Errorf("cannot boot here: %s", reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cache, err := rig.CacheDir()
	if err != nil {
		return err
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
		fmt.Print(log[printed:])
		printed = len(log)
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
	fmt.Print(log[printed:])
	if strings.Contains(log, "netroot: FATAL") {
		return fmt.Errorf("the boot failed (console log: %s)", b.VM.LogPath)
	}
	fmt.Println("\ndemo: the guest reached its iSCSI root; /init's timeline:")
	for _, line := range strings.Split(log, "\n") {
		if i := strings.Index(line, "netroot: "); i >= 0 {
			fmt.Println("  " + strings.TrimSpace(line[i:]))
		}
	}
	return nil
}
