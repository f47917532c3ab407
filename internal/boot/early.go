package boot

import (
	"path"
	"slices"
	"strings"

	"github.com/netroot/netroot/pkg/config"
)

// mounted is what the mount step learnt.
type mounted struct {
	// release is the kernel's (uname -r).
	release string
	// idle is the CPUs' idle seconds when /proc was mounted (-1:
	// unknown), for the summary's idle figure.
	idle float64
}

// mount mounts the pseudo-filesystems and starts logging to the kernel
// log.
func (b *Boot) mount(sys System) (mounted, error) {
	st := b.log.Begin("mount")
	if err := sys.MountPseudo(); err != nil {
		st.Fail(err)
		return mounted{}, fail("mount", err, "the kernel needs proc, sysfs, devtmpfs and tmpfs support")
	}
	b.log.SyncUptime()
	m := mounted{idle: sys.IdleSeconds()}
	if kmsg, level, err := sys.OpenKmsg(); err != nil {
		b.log.Warnf("no /dev/kmsg (%v): logging to the console only", err)
	} else {
		b.log.SetKmsg(kmsg, level)
	}
	m.release = sys.KernelRelease()
	st.Done("proc, sys, dev, run (kernel %s)", m.release)
	return m, nil
}

// config reads the plan.
func (b *Boot) config(files Files) (*config.Plan, error) {
	st := b.log.Begin("config")
	plan, sources, err := readConfig(files)
	if err != nil {
		st.Fail(err)
		return nil, fail("config", err, "fix the kernel command line (check it on the admin host with `netroot check`)")
	}
	b.log.SetDebug(plan.Boot.Debug)
	for _, w := range plan.Warnings {
		b.log.Warnf("%s", w)
	}
	st.Done("%s; root %s; %d iSCSI target(s)", strings.Join(sources, " + "), rootName(plan), len(plan.ISCSI.Targets))
	return plan, nil
}

// readConfig reads the baked /etc/cmdline.d/*.conf files, then
// /proc/cmdline (a later value wins, as in dracut), and returns the plan
// and the sources' names.
func readConfig(files Files) (*config.Plan, []string, error) {
	names, _ := files.Glob(path.Join(cmdlineDir, "*.conf"))
	slices.Sort(names)
	names = append(names, procCmdline)
	srcs := make([]config.Source, 0, len(names))
	for _, n := range names {
		text, err := files.ReadFile(n)
		if err != nil {
			return nil, nil, err
		}
		srcs = append(srcs, config.Source{Name: n, Text: string(text)})
	}
	plan, err := config.Parse(srcs...)
	return plan, names, err
}

// rootName names the root device for the config line.
func rootName(p *config.Plan) string {
	if s := p.RootSpec(); s != "" {
		return s
	}
	return "the LUN of the DHCP root-path"
}
