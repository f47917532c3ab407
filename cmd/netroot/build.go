package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/initramfs"
	"github.com/netroot/netroot/pkg/modload"
	"golang.org/x/sys/unix"
)

// defaultDrivers are the NIC drivers (and their bus drivers) an initramfs
// carries unless -drivers says otherwise: virtual machines and the common
// server NICs. /init loads those whose devices are present.
const defaultDrivers = "virtio_pci,virtio_net,e1000,e1000e,igb,ixgbe,r8169,tg3"

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// buildOptions are netroot build's inputs.
type buildOptions struct {
	Output      string
	ModulesDir  string
	Cmdline     string
	Adds        []string
	Init        string
	Drivers     []string
	FS          []string
	Compression string

	// NoInit leaves /init out: the archive is a base (modules, baked
	// cmdline, device nodes) for another image builder, e.g. mkuimage -base.
	NoInit bool
}

func runBuild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("netroot build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o buildOptions
	var adds listFlag
	var drivers, fsMods string
	fs.StringVar(&o.Output, "o", "", "write the initramfs to `FILE` (required)")
	fs.StringVar(&o.ModulesDir, "modules", "", "kernel modules tree `DIR` (/lib/modules/<version>); default: the running kernel's")
	fs.StringVar(&o.Cmdline, "cmdline", "", "kernel command line (dracut syntax) to bake into /etc/cmdline.d/")
	fs.Var(&adds, "add", "add host file `SRC:DST` (repeatable), e.g. /bin/busybox:/bin/sh for an emergency shell")
	fs.StringVar(&o.Init, "init", "", "the netroot init binary to install as /init; default: netroot-init beside this program")
	fs.BoolVar(&o.NoInit, "no-init", false, "leave out /init: write only the modules, baked cmdline and device nodes, as a base for another image builder (e.g. mkuimage -base)")
	fs.StringVar(&drivers, "drivers", defaultDrivers, "comma-separated NIC/bus `modules` to carry (those missing from the tree are skipped)")
	fs.StringVar(&fsMods, "fs", "ext4", "comma-separated filesystem `modules` to carry besides rootfstype's")
	fs.StringVar(&o.Compression, "compress", "gzip", "compression: "+strings.Join(initramfs.Compressions, ", "))
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.Output == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "netroot build: -o FILE is required and no arguments are taken")
		fs.Usage()
		return 2
	}
	o.Adds = adds
	o.Drivers = splitList(drivers)
	o.FS = splitList(fsMods)
	if err := build(o, stdout); err != nil {
		fmt.Fprintf(stderr, "netroot build: %v\n", err)
		return 1
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, f)
	}
	return out
}

func build(o buildOptions, stdout io.Writer) error {
	var plan *config.Plan
	if strings.TrimSpace(o.Cmdline) != "" {
		p, err := config.Parse(config.Source{Name: "-cmdline", Text: o.Cmdline})
		if err != nil {
			return fmt.Errorf("-cmdline is not valid:\n%w", err)
		}
		plan = p
	}
	if o.ModulesDir == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return err
		}
		o.ModulesDir = "/lib/modules/" + unix.ByteSliceToString(u.Release[:])
	}
	if o.Init == "" && !o.NoInit {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Init = filepath.Join(filepath.Dir(exe), "netroot-init")
	}

	a := initramfs.New()
	if !o.NoInit {
		if err := a.AddHostFile("init", o.Init, 0o755); err != nil {
			return fmt.Errorf("the init binary: %w (build it with `make`, or pass -init)", err)
		}
	}
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "sysroot", "etc/cmdline.d", "bin", "sbin"} {
		if err := a.AddDir(d, 0o755); err != nil {
			return err
		}
	}
	if err := a.AddCharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := a.AddCharDev("dev/null", 0o666, 1, 3); err != nil {
		return err
	}
	if plan != nil {
		if err := a.AddFile("etc/cmdline.d/50-netroot.conf", []byte(strings.TrimSpace(o.Cmdline)+"\n"), 0o600); err != nil {
			return err
		}
	}
	for _, add := range o.Adds {
		src, dst, ok := strings.Cut(add, ":")
		if !ok || src == "" || dst == "" {
			return fmt.Errorf("-add %q: want SRC:DST", add)
		}
		if err := a.AddHostFile(dst, src, 0); err != nil {
			return fmt.Errorf("-add %s: %w", add, err)
		}
	}
	if plan != nil {
		if err := secretFiles(a, plan); err != nil {
			return err
		}
	}

	mods, err := addModules(a, o, plan)
	if err != nil {
		return err
	}

	tmp, err := os.CreateTemp(filepath.Dir(o.Output), ".netroot-build-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	raw, err := a.Write(tmp, o.Compression)
	if err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	st, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), o.Output); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "netroot build: wrote %s: %d entries, %d modules (%s), %.2f MB %s (%.2f MB uncompressed)\n",
		o.Output, len(a.Names()), len(mods), strings.Join(mods, " "), float64(st.Size())/1e6, o.Compression, float64(raw)/1e6)
	return nil
}

// secretFiles checks that every CHAP secret file the plan names is in
// the archive, and makes it readable by root only.
func secretFiles(a *initramfs.Archive, plan *config.Plan) error {
	for _, t := range plan.ISCSI.Targets {
		for _, s := range []config.Secret{t.Auth.Password, t.Auth.InPassword} {
			if s.File == "" {
				continue
			}
			if !a.Has(s.File) {
				return fmt.Errorf("the cmdline reads a CHAP secret from %s, which is not in the initramfs: add it with -add HOSTFILE:%s", s.File, s.File)
			}
		}
	}
	return a.Chmod(secretPaths(plan), 0o600)
}

func secretPaths(plan *config.Plan) []string {
	var out []string
	for _, t := range plan.ISCSI.Targets {
		for _, s := range []config.Secret{t.Auth.Password, t.Auth.InPassword} {
			if s.File != "" {
				out = append(out, s.File)
			}
		}
	}
	return out
}

// addModules puts the modules the plan needs, the NIC drivers and their
// dependencies into the archive with depmod files describing just them.
func addModules(a *initramfs.Archive, o buildOptions, plan *config.Plan) ([]string, error) {
	idx, err := modload.ScanTree(o.ModulesDir)
	if err != nil {
		return nil, fmt.Errorf("reading the modules tree %s: %w", o.ModulesDir, err)
	}
	want := map[string]bool{}
	var names []string
	add := func(n string) {
		n = modload.NormalizeName(n)
		if !want[n] {
			want[n] = true
			names = append(names, n)
		}
	}
	// Always: the iSCSI stack, bonding, VLANs and SCSI disks are
	// netroot's job even when the cmdline is given only at boot.
	for _, n := range []string{"iscsi_tcp", "sd_mod", "crc32c", "bonding", "8021q"} {
		add(n)
	}
	if plan != nil {
		for _, n := range plan.NeededModules() {
			add(n)
		}
		if plan.Root.FSType != "" {
			add(blockdev.FSModule(plan.Root.FSType))
		}
	}
	for _, n := range o.FS {
		add(blockdev.FSModule(n))
	}
	// NIC drivers this kernel lacks are simply not carried.
	for _, n := range o.Drivers {
		if _, ok := idx.Module(n); ok || idx.IsBuiltin(n) {
			add(n)
		}
	}
	order, err := idx.Resolve(names...)
	if err != nil {
		return nil, err
	}
	kver := filepath.Base(filepath.Clean(o.ModulesDir))
	base := "lib/modules/" + kver
	for _, n := range order {
		m, ok := idx.Module(n)
		if !ok {
			continue // built in
		}
		if err := a.AddHostFile(base+"/"+m.Path, filepath.Join(o.ModulesDir, filepath.FromSlash(m.Path)), 0o644); err != nil {
			return nil, err
		}
	}
	err = idx.WriteDepmodFiles(func(name string, data []byte) error {
		return a.AddFile(base+"/"+name, data, 0o644)
	}, order)
	if err != nil {
		return nil, err
	}
	sort.Strings(order)
	return order, nil
}
