// Command uroot builds netroot's init into a u-root busybox initramfs
// (mkuimage: /init is netroot's init in the bb binary, /bin/sh is u-root's
// gosh, u-root's core commands beside them, the kernel modules netroot build
// carries) and prints the sizes of that image and of netroot build's own.
// `make uroot` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

func main() {
	out := flag.String("o", "build/uroot.img", "write the u-root image (gzip newc) to `FILE`")
	netroot := flag.String("netroot", "build/netroot", "the netroot host tool")
	initBin := flag.String("init", "build/netroot-init", "netroot's init, for the netroot image built for comparison")
	modules := flag.String("modules", "", "kernel modules tree `DIR`; default: the Debian kernel the boot tests use (fetched into .cache)")
	cmdline := flag.String("cmdline", "", "command line (dracut syntax) to bake into both images, e.g. the boot tests' scenario")
	flag.Parse()
	if err := run(*out, *netroot, *initBin, *modules, *cmdline); err != nil {
		fmt.Fprintln(os.Stderr, "uroot:", err)
		os.Exit(1)
	}
}

func run(out, netroot, initBin, modules, cmdline string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if modules == "" {
		k, err := rig.FetchKernel(ctx)
		if err != nil {
			return err
		}
		modules = k.ModulesDir
	}
	work := filepath.Join(filepath.Dir(out), "uroot")
	img, err := rig.BuildURoot(ctx, rig.URootOptions{
		Netroot: netroot, Init: initBin, ModulesDir: modules, Cmdline: cmdline, Dir: work,
	})
	if err != nil {
		return err
	}
	if err := os.Rename(img.Path, out); err != nil {
		return err
	}
	fmt.Print(img.Output)
	fmt.Printf("uroot: wrote %s: netroot's init as /init, gosh as /bin/sh, u-root %s\n", out, strings.Join(rig.URootCommands, " "))
	fmt.Printf("size netroot %d %d  # netroot build (%s): %s\n", img.NetrootSize.Compressed, img.NetrootSize.Uncompressed, img.Netroot, img.NetrootSize)
	fmt.Printf("size uroot %d %d  # u-root bb image (%s): %s\n", img.URootSize.Compressed, img.URootSize.Uncompressed, out, img.URootSize)
	return nil
}
