// Command netroot is the host-side tool of netroot.
//
//	netroot build -o FILE [-modules DIR] [-cmdline '…'] [-add SRC:DST]…
//	    writes a newc initramfs (zstd, or gzip for kernels before 5.9) with netroot's /init, the kernel
//	    modules the configuration needs and the baked command line.
//	netroot check [-modules DIR] 'CMDLINE' | -f FILE
//	    validates a dracut-style command line and prints the boot plan.
//	netroot analyze [-o FILE.svg] [TIMELINE | -]
//	    draws a boot's timeline as an SVG and prints it as a table.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: netroot <command> [flags]

commands:
  build   write an initramfs (netroot build -h for flags)
  check   validate a kernel command line and print the boot plan
  analyze draw a boot's timeline.json (or console log) as SVG and a table
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "build":
		return runBuild(args[1:], stdout, stderr)
	case "check":
		return runCheck(args[1:], stdout, stderr)
	case "analyze":
		return runAnalyze(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "netroot: unknown command %q\n%s", args[0], usage)
	return 2
}
