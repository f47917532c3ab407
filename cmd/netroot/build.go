package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/initramfs"
	"github.com/netroot/netroot/pkg/modload"
	"github.com/netroot/netroot/pkg/switchroot"
	"golang.org/x/sys/unix"
)

// defaultDrivers are the NIC drivers (and their bus drivers) an initramfs
// carries unless -drivers says otherwise: those of common servers (Intel
// e1000e, igb, igc, ixgbe, i40e, ice; Broadcom bnxt_en, tg3; Mellanox
// mlx5_core; Realtek r8169) and clouds and hypervisors (virtio, VMware
// vmxnet3, Hyper-V hv_netvsc, AWS ena, Google gve, QEMU's e1000). /init
// loads those whose devices are present; a kernel without one skips it.
const defaultDrivers = "virtio_pci,virtio_net,e1000,e1000e,igb,igc,ixgbe,i40e,ice,bnxt_en,mlx5_core,tg3,r8169,vmxnet3,hv_netvsc,ena,gve"

// defaultFS are the root filesystems an initramfs carries modules for
// unless -fs says otherwise.
const defaultFS = "ext4,xfs,btrfs"

// hostInitiatorFile is the build host's open-iscsi initiator name, which
// netroot build bakes unless told otherwise (as dracut and
// initramfs-tools copy it into the initramfs they build on the machine).
const hostInitiatorFile = "/etc/iscsi/initiatorname.iscsi"

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
	// ZstdTool is the zstd program that compresses a zstd image ("": the
	// built-in encoder).
	ZstdTool string
	// InitiatorFile is the open-iscsi initiatorname.iscsi to bake ("":
	// none); InitiatorName a name to bake instead (-initiator).
	// InitiatorDefault is set when InitiatorFile is the host's, taken by
	// default: a file that is not usable is then skipped, not an error.
	InitiatorFile    string
	InitiatorName    string
	InitiatorDefault bool

	// ModuleCompression is how modules are stored (ModulesAuto,
	// ModulesNone, ModulesKeep; "": ModulesAuto).
	ModuleCompression string

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
	fs.StringVar(&fsMods, "fs", defaultFS, "comma-separated root filesystem `types` to carry modules for besides rootfstype's ("+strings.Join(blockdev.FilesystemTypes(), ", ")+")")
	initiatorFile := fs.String("initiator-name-file", "", "bake this open-iscsi initiatorname.iscsi `FILE` as /etc/iscsi/initiatorname.iscsi, the name /init uses without rd.iscsi.initiator= or an iBFT; default: this host's "+hostInitiatorFile+" when present; \"none\" bakes none")
	initiator := fs.String("initiator", "", "bake this initiator `IQN` (instead of -initiator-name-file)")
	fs.StringVar(&o.Compression, "compress", "auto", "compression: auto (zstd for kernels from 5.9, which unpack it faster than gzip and get a smaller image; gzip before), "+strings.Join(initramfs.Compressions, ", "))
	fs.StringVar(&o.ModuleCompression, "module-compress", ModulesAuto, "how modules are stored: "+ModulesAuto+" (those every boot loads — the iSCSI stack, what -cmdline names, the one -fs — decompressed here, "+
		"the others — NIC drivers, other filesystems — each its own zstd file, decompressed at boot only if loaded: the kernel unpacks less before /init, however many drivers the image carries), "+
		ModulesNone+" (all decompressed here; the initramfs's compression covers them), "+ModulesKeep+" (compressed modules copied as the tree has them)")
	zstdTool := fs.String("zstd-tool", "auto", "the zstd `program` that compresses a zstd image at its level 19, about a tenth smaller than the built-in encoder's best, unpacked as fast: "+
		"auto (zstd on PATH when there is one, else the built-in encoder), builtin, or a path")
	keep := fs.Bool("compressed-modules", false, "the same as -module-compress "+ModulesKeep)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.Output == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "netroot build: -o FILE is required and no arguments are taken")
		fs.Usage()
		return 2
	}
	o.Adds = adds
	switch *zstdTool {
	case "auto":
		o.ZstdTool = initramfs.FindZstdTool()
	case "builtin", "":
	default:
		o.ZstdTool = *zstdTool
	}
	if *keep {
		o.ModuleCompression = ModulesKeep
	}
	if !slices.Contains([]string{ModulesAuto, ModulesNone, ModulesKeep}, o.ModuleCompression) {
		fmt.Fprintf(stderr, "netroot build: -module-compress %s: want %s, %s or %s\n", o.ModuleCompression, ModulesAuto, ModulesNone, ModulesKeep)
		return 2
	}
	switch {
	case *initiator != "" && *initiatorFile != "":
		fmt.Fprintln(stderr, "netroot build: -initiator and -initiator-name-file exclude each other")
		return 2
	case *initiator != "":
		o.InitiatorName = *initiator
	case *initiatorFile == "none":
	case *initiatorFile != "":
		o.InitiatorFile = *initiatorFile
	default:
		if _, err := os.Stat(hostInitiatorFile); err == nil {
			o.InitiatorFile, o.InitiatorDefault = hostInitiatorFile, true
		}
	}
	o.Drivers = splitList(drivers)
	o.FS = splitList(fsMods)
	for _, f := range o.FS {
		if blockdev.FSModule(f) == "" {
			fmt.Fprintf(stderr, "netroot build: -fs %s: not a root filesystem netroot mounts (%s)\n", f, strings.Join(blockdev.FilesystemTypes(), ", "))
			return 2
		}
	}
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
	if o.ModuleCompression == "" {
		o.ModuleCompression = ModulesAuto
	}
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
	// Command-line files added as they are (-add …:/etc/cmdline.d/x.conf)
	// that hold inline secrets.
	var secretConfs []string
	for _, add := range o.Adds {
		src, dst, ok := strings.Cut(add, ":")
		if !ok || src == "" || dst == "" {
			return fmt.Errorf("-add %q: want SRC:DST", add)
		}
		if err := a.AddHostFile(dst, src, 0); err != nil {
			return fmt.Errorf("-add %s: %w", add, err)
		}
		if d := strings.TrimPrefix(path.Clean(dst), "/"); strings.HasPrefix(d, "etc/cmdline.d/") && strings.HasSuffix(d, ".conf") {
			if b, err := os.ReadFile(src); err == nil && config.HasInlineSecrets(config.Source{Name: d, Text: string(b)}) {
				secretConfs = append(secretConfs, d)
			}
		}
	}
	if err := a.Chmod(secretConfs, 0o600); err != nil {
		return err
	}
	unrunnable := unrunnableAdds(a, o.Adds)
	secrets := len(secretConfs) > 0
	if plan != nil {
		if err := secretFiles(a, plan); err != nil {
			return err
		}
		secrets = secrets || len(plan.SecretFiles()) > 0 || config.HasInlineSecrets(config.Source{Name: "-cmdline", Text: o.Cmdline})
	}
	initiatorNote, err := bakeInitiator(a, o, plan)
	if err != nil {
		return err
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
	if o.Compression == "auto" || o.Compression == "" {
		o.Compression = autoCompression(filepath.Base(filepath.Clean(o.ModulesDir)))
	}
	raw, err := a.WriteTool(tmp, o.Compression, o.ZstdTool)
	if err != nil {
		tmp.Close()
		return err
	}
	// Readable by all (TFTP and HTTP daemons often run as another user),
	// unless it carries secrets: then by its owner only, as dracut
	// writes every image.
	mode := os.FileMode(0o644)
	if secrets {
		mode = 0o600
	}
	if err := tmp.Chmod(mode); err != nil {
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
	if initiatorNote != "" {
		fmt.Fprintf(stdout, "netroot build: %s\n", initiatorNote)
	}
	for _, w := range unrunnable {
		fmt.Fprintf(stdout, "netroot build: warning: %s\n", w)
	}
	if secrets {
		fmt.Fprintf(stdout, "netroot build: %s carries CHAP secrets (the -cmdline's, an -add'ed /etc/cmdline.d file's, or secret files): written 0600, readable by its owner only; anyone who can fetch it over TFTP/HTTP can read them\n", o.Output)
	}
	stored := ""
	switch o.ModuleCompression {
	case ModulesAuto:
		stored = fmt.Sprintf(", %d of them each zstd-compressed", len(mods.compressed))
	case ModulesKeep:
		stored = ", as the tree has them"
	}
	by := ""
	if o.Compression == "zstd" && o.ZstdTool != "" {
		by = fmt.Sprintf(", by %s %s", o.ZstdTool, initramfs.ZstdToolArgs[0])
	}
	fmt.Fprintf(stdout, "netroot build: wrote %s: %d entries, %d modules%s (%s), %.2f MB %s (%.2f MB uncompressed)%s\n",
		o.Output, len(a.Names()), len(mods.names), stored, strings.Join(mods.names, " "), float64(st.Size())/1e6, o.Compression, float64(raw)/1e6, by)
	return nil
}

// unrunnableAdds are the programs -add'ed that cannot run in the
// initramfs: dynamically linked, without their loader (ELF interpreter)
// — a distribution's /bin/sh as the emergency shell would not start.
func unrunnableAdds(a *initramfs.Archive, adds []string) []string {
	var out []string
	for _, add := range adds {
		src, _, _ := strings.Cut(add, ":")
		loader, err := switchroot.Interpreter(src)
		if err != nil || loader == "" || a.Has(loader) {
			continue
		}
		out = append(out, fmt.Sprintf("-add %s: %s is dynamically linked and its loader %s is not in the initramfs: it cannot run there; "+
			"add a statically linked program (for a shell, busybox-static's /bin/busybox)", add, src, loader))
	}
	return out
}

// bakeInitiator puts the initiator name into the archive as
// /etc/iscsi/initiatorname.iscsi and returns the line that says so ("":
// none baked). The name is checked as /init reads it.
func bakeInitiator(a *initramfs.Archive, o buildOptions, plan *config.Plan) (string, error) {
	name, from := o.InitiatorName, "-initiator"
	if o.InitiatorFile != "" {
		data, err := os.ReadFile(o.InitiatorFile)
		if err == nil {
			name, err = config.ParseInitiatorName(data)
		}
		from = o.InitiatorFile
		if o.InitiatorDefault {
			from += " (this host's)"
		}
		switch {
		case err != nil && o.InitiatorDefault:
			return fmt.Sprintf("no initiator name baked: %s: %v", from, err), nil
		case err != nil:
			return "", fmt.Errorf("-initiator-name-file %s: %w", o.InitiatorFile, err)
		}
	} else if name != "" {
		if _, err := config.ParseInitiatorName([]byte("InitiatorName=" + name)); err != nil {
			return "", fmt.Errorf("-initiator %q: %w", name, err)
		}
	}
	if name == "" {
		return "", nil
	}
	if err := a.AddFile(strings.TrimPrefix(config.InitiatorNameFile, "/"), []byte("InitiatorName="+name+"\n"), 0o600); err != nil {
		return "", err
	}
	note := fmt.Sprintf("initiator name %s (from %s) baked as %s: every machine that boots this image uses it when its command line has no rd.iscsi.initiator= and the firmware no iBFT (names must be unique per machine: give each its own with rd.iscsi.initiator=, or -initiator-name-file none)",
		name, from, config.InitiatorNameFile)
	if plan != nil && plan.ISCSI.Initiator != "" {
		note += "; the baked -cmdline's rd.iscsi.initiator=" + plan.ISCSI.Initiator + " comes first"
	}
	return note, nil
}

// secretFiles checks that every CHAP secret file the plan names (its
// targets' and rd.iscsi.password='s, whatever the targets: netroot=dhcp,
// the iBFT) is in the archive, and makes it readable by root only.
func secretFiles(a *initramfs.Archive, plan *config.Plan) error {
	files := plan.SecretFiles()
	for _, f := range files {
		if !a.Has(f) {
			return fmt.Errorf("the cmdline reads a CHAP secret from %s, which is not in the initramfs: add it with -add HOSTFILE:%s", f, f)
		}
	}
	return a.Chmod(files, 0o600)
}

// How netroot build stores modules (-module-compress).
const (
	// ModulesAuto stores the modules every boot of the image loads
	// (bootLoads) decompressed, under the archive's compression, and each
	// of the others — NIC drivers, of which a machine loads one family;
	// filesystems and features the baked command line does not name — as
	// its own zstd file, which the kernel unpacks as the incompressible
	// data it is, quickly: it is decompressed (by the kernel when its
	// CONFIG_MODULE_DECOMPRESS reads zstd, else by /init) only if a boot
	// loads it.
	ModulesAuto = "auto"
	// ModulesNone decompresses every module into the archive, whose
	// compression covers them; the kernel decompresses all of them before
	// /init.
	ModulesNone = "none"
	// ModulesKeep copies the tree's files as they are (.ko.xz on Debian 13).
	ModulesKeep = "keep"
)

// moduleEncoder compresses modules for ModulesAuto; EncodeAll records each
// module's size in its frame, so /init decodes it into one allocation.
var moduleEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err) // only for invalid options
	}
	return e
})

// addModules puts the modules the plan needs, the NIC drivers and their
// dependencies into the archive with depmod files describing just them.
func addModules(a *initramfs.Archive, o buildOptions, plan *config.Plan) (carried, error) {
	idx, err := modload.ScanTree(o.ModulesDir)
	if err != nil {
		return carried{}, fmt.Errorf("reading the modules tree %s: %w", o.ModulesDir, err)
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
	// Always: the iSCSI stack, bonding, VLANs, SCSI disks and the iBFT
	// are netroot's job even when the cmdline is given only at boot.
	for _, n := range []string{"iscsi_tcp", "sd_mod", "crc32c", "bonding", "8021q"} {
		add(n)
	}
	if _, ok := idx.Module("iscsi_ibft"); ok || idx.IsBuiltin("iscsi_ibft") {
		add("iscsi_ibft") // x86 only
	}
	if plan != nil {
		// rootfstype='s module and rd.driver.post's are among them.
		for _, n := range plan.NeededModules() {
			add(n)
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
		return carried{}, err
	}
	var sure map[string]bool
	if o.ModuleCompression == ModulesAuto {
		if sure, err = bootLoads(idx, o, plan); err != nil {
			return carried{}, err
		}
	}
	kver := filepath.Base(filepath.Clean(o.ModulesDir))
	base := "lib/modules/" + kver
	var c carried
	stored := map[string]string{} // a module's path in the tree → in the archive
	for _, n := range order {
		m, ok := idx.Module(n)
		if !ok {
			continue // built in
		}
		src := filepath.Join(o.ModulesDir, filepath.FromSlash(m.Path))
		if o.ModuleCompression == ModulesKeep {
			if err := a.AddHostFile(base+"/"+m.Path, src, 0o644); err != nil {
				return carried{}, err
			}
			continue
		}
		image, err := modload.ReadModuleFile(src)
		if err != nil {
			return carried{}, fmt.Errorf("module %s: %w", n, err)
		}
		data, path := image, modload.UncompressedPath(m.Path)
		if o.ModuleCompression == ModulesAuto && !sure[n] {
			data, path = moduleEncoder().EncodeAll(image, nil), modload.ZstdPath(m.Path)
			c.compressed = append(c.compressed, n)
		}
		if err := a.AddFile(base+"/"+path, data, 0o644); err != nil {
			return carried{}, err
		}
		stored[m.Path] = path
	}
	if o.ModuleCompression != ModulesKeep {
		idx = idx.WithPaths(func(p string) string {
			if s, ok := stored[p]; ok {
				return s
			}
			return p
		})
	}
	err = idx.WriteDepmodFiles(func(name string, data []byte) error {
		return a.AddFile(base+"/"+name, data, 0o644)
	}, order)
	if err != nil {
		return carried{}, err
	}
	sort.Strings(order)
	sort.Strings(c.compressed)
	c.names = order
	return c, nil
}

// carried is what addModules put into the archive: every module's name,
// and those stored as their own zstd files.
type carried struct {
	names, compressed []string
}

// bootLoads returns the modules every boot of the image loads, with their
// dependencies: the iSCSI stack, what the baked command line names
// (bond=, rootfstype=, rd.driver.pre/post, …), and the root filesystem's
// when the image carries one filesystem and the command line names none.
// NIC drivers are not among them: which one loads is the machine's.
func bootLoads(idx *modload.Index, o buildOptions, plan *config.Plan) (map[string]bool, error) {
	names := []string{"iscsi_tcp", "sd_mod", "crc32c"}
	if plan != nil {
		names = append(names, plan.NeededModules()...)
	}
	if len(o.FS) == 1 && (plan == nil || plan.Root.FSType == "") {
		names = append(names, blockdev.FSModule(o.FS[0]))
	}
	order, err := idx.Resolve(names...)
	if err != nil {
		return nil, err
	}
	sure := make(map[string]bool, len(order))
	for _, n := range order {
		sure[n] = true
	}
	return sure, nil
}

// autoCompression picks the initramfs compression for kernel release kver
// (e.g. 6.1.0-57-amd64): zstd from 5.9, the first kernel that unpacks a
// zstd initramfs (CONFIG_RD_ZSTD, set by Debian, Ubuntu and Fedora), else
// gzip, which every kernel unpacks. An unknown release gets gzip.
func autoCompression(kver string) string {
	var major, minor int
	if _, err := fmt.Sscanf(kver, "%d.%d", &major, &minor); err != nil {
		return "gzip"
	}
	if major > 5 || major == 5 && minor >= 9 {
		return "zstd"
	}
	return "gzip"
}
