package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/modload"
)

// checkUsage is the synopsis of "netroot check".
const checkUsage = `usage: netroot check [-modules DIR] 'CMDLINE'
       netroot check [-modules DIR] -f FILE [-f FILE …]

Parses a kernel command line in dracut's syntax (dracut.cmdline(7)) and
prints the boot plan netroot's /init would follow, or every problem found.
With -f, the files are read in order as /init reads /etc/cmdline.d/*.conf
and /proc/cmdline (later values win); a CMDLINE argument comes last.
-modules DIR checks that every kernel module the plan needs is in DIR, a
/lib/modules/<kernel version> tree.
`

// fileList is a repeatable -f flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// runCheck implements "netroot check"; it returns the exit status: 0 when
// the command line is valid (and the modules are present), 1 when it is
// not, 2 for a usage error.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("check", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, checkUsage) }
	var files fileList
	fl.Var(&files, "f", "read the command line from `FILE` (repeatable; /etc/cmdline.d/*.conf syntax)")
	modDir := fl.String("modules", "", "check the needed kernel modules exist in `DIR` (/lib/modules/<kver>)")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(files) == 0 && fl.NArg() == 0 {
		fmt.Fprint(stderr, checkUsage)
		return 2
	}
	var sources []config.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "netroot check: reading the command line: %v\n", err)
			return 2
		}
		sources = append(sources, config.Source{Name: f, Text: string(b)})
	}
	if fl.NArg() > 0 {
		sources = append(sources, config.Source{Name: "command line", Text: strings.Join(fl.Args(), " ")})
	}
	plan, err := config.Parse(sources...)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			fmt.Fprintf(stderr, "netroot check: %d problem(s):\n", len(errs))
			for _, e := range errs {
				fmt.Fprintf(stderr, "  %s\n", e)
			}
		} else {
			fmt.Fprintf(stderr, "netroot check: %v\n", err)
		}
		return 1
	}
	fmt.Fprint(stdout, plan.Describe())
	if *modDir == "" {
		return 0
	}
	missing, err := missingModules(*modDir, plan.NeededModules())
	if err != nil {
		fmt.Fprintf(stderr, "netroot check: looking for kernel modules in %s: %v\n", *modDir, err)
		return 1
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "netroot check: kernel modules missing from %s: %s\n", *modDir, strings.Join(missing, " "))
		return 1
	}
	fmt.Fprintf(stdout, "all %d needed kernel modules found in %s\n", len(plan.NeededModules()), *modDir)
	return 0
}

// missingModules returns the modules of want (names or aliases, such as
// crc32c) that the tree at dir cannot provide, sorted. It reads the tree
// as /init and netroot build do: depmod files when present, else each
// module's .modinfo.
func missingModules(dir string, want []string) ([]string, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	idx, err := modload.LoadIndex(dir)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, m := range want {
		if _, err := idx.Resolve(m); err != nil {
			missing = append(missing, modload.NormalizeName(m))
		}
	}
	sort.Strings(missing)
	return missing, nil
}
