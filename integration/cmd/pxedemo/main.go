// Command pxedemo boots the standard scenario the way a diskless machine
// boots: QEMU gets no kernel; one NIC's boot ROM (iPXE) asks dnsmasq —
// DHCP and TFTP in a private network namespace — for pxelinux.0 (or an
// iPXE script), which loads the kernel and netroot's initramfs over TFTP
// with BOOTIF= appended; /init then bonds both NICs and mounts the iSCSI
// root. It prints the console, then dnsmasq's DHCP/TFTP lines and /init's
// timeline. `make pxe-boot` runs it.
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
	mode := flag.String("mode", "pxelinux", "what DHCP hands the firmware: pxelinux or ipxe (an iPXE script)")
	nic := flag.Int("nic", 0, "the NIC that network-boots (0 or 1); the bond makes it primary via BOOTIF")
	flag.Parse()
	m := rig.PXELinuxMode
	switch *mode {
	case "pxelinux":
	case "ipxe":
		m = rig.IPXEScriptMode
	default:
		fmt.Fprintf(os.Stderr, "pxedemo: -mode %q: want pxelinux or ipxe\n", *mode)
		os.Exit(2)
	}
	if err := run(m, *nic); err != nil {
		fmt.Fprintln(os.Stderr, "pxedemo:", err)
		os.Exit(1)
	}
}

// ansi matches the terminal escapes iPXE and SeaBIOS print.
var ansi = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|c)`)

func run(mode rig.PXEMode, nic int) error {
	for _, reason := range []string{rig.Missing(), rig.MissingPXE()} {
		if reason != "" {
			return fmt.Errorf("cannot boot here: %s", reason)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cache, err := rig.CacheDir()
	if err != nil {
		return err
	}
	fmt.Println("pxedemo: fetching the kernel, building netroot, the initramfs and the root image…")
	env, err := rig.Prepare(ctx, filepath.Join(cache, "pxedemo"))
	if err != nil {
		return err
	}
	b, err := env.Start(ctx, rig.BootSpec{
		Name: "pxedemo-" + mode.String(), Cmdline: rig.ScenarioCmdline, Target: rig.DefaultTarget(), Shell: true,
		PXE: &rig.PXESpec{Mode: mode, NIC: nic},
	})
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Print(b.BuildOutput)
	fmt.Printf("pxedemo: %s boot from NIC %d; dnsmasq serves %s (log %s)\n",
		mode, nic, filepath.Join(b.Dir, "tftp"), b.PXE.LogPath)

	done := regexp.MustCompile(`NETROOT-TEST: done=|netroot: FATAL`)
	printed := 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		log := b.VM.Log()
		fmt.Print(ansi.ReplaceAllString(log[printed:], ""))
		printed = len(log)
		if done.MatchString(log) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the guest did not finish: %w (console %s)", ctx.Err(), b.VM.LogPath)
		case <-tick.C:
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	b.VM.Wait(wctx)
	log := b.VM.Log()
	fmt.Print(ansi.ReplaceAllString(log[printed:], ""))
	if strings.Contains(log, "netroot: FATAL") {
		return fmt.Errorf("the boot failed (console log: %s)", b.VM.LogPath)
	}
	fmt.Println("\npxedemo: dnsmasq's DHCP and TFTP:")
	witness := regexp.MustCompile(`DHCP(DISCOVER|OFFER|REQUEST|ACK)\(|option: 67 bootfile-name|dnsmasq-tftp.*: sent `)
	for _, line := range strings.Split(b.PXE.Log(), "\n") {
		if witness.MatchString(line) {
			fmt.Println("  " + line)
		}
	}
	fmt.Println("pxedemo: the guest reached its iSCSI root; /init's timeline:")
	for _, line := range strings.Split(log, "\n") {
		if i := strings.Index(line, "netroot: "); i >= 0 {
			fmt.Println("  " + strings.TrimSpace(line[i:]))
		}
	}
	return nil
}
