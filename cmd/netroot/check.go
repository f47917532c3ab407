package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/modload"
)

// checkUsage is the synopsis of "netroot check".
const checkUsage = `usage: netroot check [-modules DIR] 'CMDLINE'
       netroot check [-modules DIR] -f FILE [-f FILE …]

Parses a kernel command line in dracut's syntax (dracut.cmdline(7)) and
prints the boot plan netroot's /init would follow. Every parameter /init
cannot honour is an error (exit status 1) naming it; parameters accepted
with a note (ignored, or done differently than dracut) are warnings.
With -f, the files are read in order as /init reads /etc/cmdline.d/*.conf
and /proc/cmdline (later values win); a CMDLINE argument comes last.
-modules DIR checks that every kernel module the plan needs is in DIR, a
/lib/modules/<kernel version> tree, and that none of their dependencies
is blacklisted (rd.driver.blacklist=).
`

// fileList is a repeatable -f flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// runCheck implements "netroot check"; it returns the exit status: 0 when
// /init boots the command line (and the modules are present), 1 when it
// does not, 2 for a usage error. The plan goes to stdout; errors and
// warnings, one a line and marked as such, to stderr.
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
			fmt.Fprintf(stderr, "netroot check: %s: /init would refuse this command line\n", count(len(errs), "error"))
			for _, e := range errs {
				fmt.Fprintf(stderr, "  error: %s\n", hint.Format(e))
			}
		} else {
			fmt.Fprintf(stderr, "netroot check: error: %v\n", err)
		}
		return 1
	}
	fmt.Fprint(stdout, plan.Describe())
	if len(plan.Warnings) > 0 {
		fmt.Fprintf(stderr, "netroot check: %s (accepted; the boot goes on):\n", count(len(plan.Warnings), "warning"))
		for _, w := range plan.Warnings {
			fmt.Fprintf(stderr, "  warning: %s\n", w)
		}
	}
	if *modDir != "" {
		if code := checkModules(*modDir, plan, stdout, stderr); code != 0 {
			return code
		}
	}
	fmt.Fprintf(stdout, "netroot check: OK: /init boots this command line (%s)\n", count(len(plan.Warnings), "warning"))
	return 0
}

// checkModules checks that the tree at dir has every module the plan
// needs and, when the root's type is detected, a filesystem module.
func checkModules(dir string, plan *config.Plan, stdout, stderr io.Writer) int {
	want := plan.NeededModules()
	missing, err := missingModules(dir, want)
	if err != nil {
		fmt.Fprintf(stderr, "netroot check: error: looking for kernel modules in %s: %v\n", dir, err)
		return 1
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "netroot check: error: kernel modules missing from %s: %s\n", dir, strings.Join(missing, " "))
		return 1
	}
	if blocked := blacklistedModules(dir, want, plan.Modules.Blacklist); len(blocked) > 0 {
		fmt.Fprintf(stderr, "netroot check: error: kernel modules the plan needs would not load with rd.driver.blacklist=%s (/init never loads a blacklisted module; drop it from rd.driver.blacklist=):\n",
			strings.Join(plan.Modules.Blacklist, ","))
		for _, e := range blocked {
			fmt.Fprintf(stderr, "  error: %v\n", e)
		}
		return 1
	}
	if plan.Root.FSType == "" {
		fsMissing, err := missingModules(dir, blockdev.FSModules())
		if err == nil && len(fsMissing) == len(blockdev.FSModules()) {
			fmt.Fprintf(stderr, "netroot check: error: %s has none of the filesystem modules %s: the root could not be mounted\n",
				dir, strings.Join(blockdev.FSModules(), " "))
			return 1
		}
	}
	fmt.Fprintf(stdout, "all %d needed kernel modules found in %s\n", len(want), dir)
	return 0
}

// count is "1 error", "2 errors", "no warnings".
func count(n int, what string) string {
	switch n {
	case 0:
		return "no " + what + "s"
	case 1:
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// blacklistedModules returns, for each module of want that the tree at
// dir provides, why it would not load with the blacklist: a dependency,
// or every module providing the alias, is blacklisted (config.Parse
// already refuses blacklisting a module of want itself). It resolves as
// /init's loader does.
func blacklistedModules(dir string, want, blacklist []string) []error {
	if len(blacklist) == 0 {
		return nil
	}
	idx, err := modload.LoadIndex(dir)
	if err != nil {
		return []error{err}
	}
	var out []error
	for _, m := range want {
		if _, err := idx.Resolve(m); err != nil {
			continue // missing: reported as such
		}
		if _, err := idx.ResolveBlacklisted(blacklist, m); err != nil {
			out = append(out, err)
		}
	}
	return out
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
