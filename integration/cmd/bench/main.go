// Command bench races netroot's initramfs against the seed's hand-written
// busybox + iscsid one on the same QEMU/tgtd rig: it boots each image N
// times in alternation (A B C D A B C D …) and prints, per image, the
// median and spread of the time from kernel start to the real root's
// init, the /init part, the initramfs size and our peak RSS, then the
// ratios. Then (-realos) it boots a real Debian 12 root with open-iscsi
// through netroot's, Debian's dracut's and initramfs-tools' images and
// prints kernel start → switch_root, → multi-user.target and poweroff for
// each. `make bench` runs it. Figures, not assertions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

// onlySet is -only: the keys of the images to boot (nil: all).
var onlySet map[string]bool

// compress is -compress: the netroot images' compressions.
var compress string

// extra is -extra: kernel parameters added to the netroot image's boots.
var extra string

// vs is -vs: kernel parameters of a second series of the netroot image's
// boots, alternating with the first.
var vs string

// qemuArgs is -qemu: extra QEMU arguments for every boot.
var qemuArgs string

// vcpuNice is -vcpu-nice: the host nice of the vCPU threads of a second
// series of the netroot and floor boots (0: none).
var vcpuNice int

// disksInMemory is -disks-in-memory.
var disksInMemory bool

// moreImages is -variant: more netroot images, each with its own kernel,
// /init binary and build flags, booted in the same alternation.
var moreImages variantFlag

// variantFlag collects -variant values: "NAME;SUITE;INIT;BUILD FLAGS".
type variantFlag []variantSpec

type variantSpec struct {
	name, suite, init string
	build             []string
}

func (v *variantFlag) String() string { return fmt.Sprint(len(*v), " variant(s)") }

func (v *variantFlag) Set(s string) error {
	f := strings.SplitN(s, ";", 4)
	if strings.TrimSpace(f[0]) == "" {
		return fmt.Errorf("variant %q: want NAME;SUITE;INIT;BUILD FLAGS (only NAME required)", s)
	}
	for len(f) < 4 {
		f = append(f, "")
	}
	*v = append(*v, variantSpec{name: strings.TrimSpace(f[0]), suite: strings.TrimSpace(f[1]),
		init: strings.TrimSpace(f[2]), build: strings.Fields(f[3])})
	return nil
}

// tgtParams is -tgt: login keys of the target (tgtadm --op update).
var tgtParams map[string]string

type image struct {
	key         string // for -only
	name        string
	path        string
	size, raw   int64
	compression string // netroot images: as netroot build reports it
	seed        bool
	extra       string               // kernel parameters added to the scenario's (netroot images)
	env         *rig.Env             // the environment (kernel) it boots with; nil: the run's
	parts       map[string][]float64 // /init's steps from its summary line, by step
	rootTimes   []float64            // kernel start → the real init reports (the floor: after loading the modules only)
	byRound     map[int][2]float64   // root and /init times by round, for the paired figures
	initTimes   []float64            // /init start → the same point
	unpack      []float64            // the kernel unpacking the initramfs (inside "root reached", before /init)
	rss         []float64            // MiB, ours only
	host        []hostFigures        // the host's CPU, boot by boot
	vcpuNice    int                  // the vCPU threads' nice on the host (-vcpu-nice)
	failures    int
}

var (
	unpackRE  = regexp.MustCompile(`\[\s*([0-9.]+)\] Trying to unpack rootfs image as initramfs`)
	freedRE   = regexp.MustCompile(`\[\s*([0-9.]+)\] Freeing initrd memory`)
	runInitRE = regexp.MustCompile(`\[\s*([0-9.]+)\] Run /init as init process`)
	uptimeRE  = regexp.MustCompile(`NETROOT-TEST: uptime=([0-9.]+)`)
	rssRE     = regexp.MustCompile(`peak RSS ([0-9.]+) MiB`)
	doneRE    = regexp.MustCompile(`NETROOT-TEST: done=|netroot: FATAL`)
)

func main() {
	n := flag.Int("n", 9, "boots per image (issue 21 reads its targets from N ≥ 9)")
	mem := flag.Int("m", 192, "guest memory in MiB")
	cpus := flag.Int("smp", defaultCPUs(), "guest virtual CPUs (TCG runs one host thread per vCPU; default: 2, or 1 on a one-core host)")
	only := flag.String("only", "", "boot only these images, comma-separated among netroot,seed,poll,floor,realos (default: all); the ratios need all")
	realOS := flag.Int("realos", 3, "boots per initramfs builder (netroot, dracut, initramfs-tools) of the real Debian root, after the table; 0: none")
	realOSCPUs := flag.Int("realos-smp", 1, "guest virtual CPUs of the -realos boots (the real-root tests' and the issue's reference figures' one)")
	flag.StringVar(&realOSRoot, "realos-root", rig.BookwormIfupdownOpenISCSI.Name, "the real root the -realos rows boot (a bookworm root of the rig's)")
	realOSBuilders := flag.String("realos-builders", "dracut,initramfs-tools", "the other initramfs builders whose real-OS rows boot beside netroot's, comma-separated (none: \"\" — a -realos-vs what-if alone); the ratios need both")
	flag.StringVar(&realOSVs, "realos-vs", "", "kernel parameters of a second netroot row (the same image) in the real-OS alternation, for paired what-ifs on the real OS (e.g. rd.iscsi.param=node.session.scan=manual)")
	flag.StringVar(&extra, "extra", "", "kernel parameters added to the netroot image's boots, for what-if runs (e.g. rd.netroot.keeper=0)")
	flag.StringVar(&vs, "vs", "", "kernel parameters of a second series of netroot boots (the same image) alternating with the first, for paired what-if runs (e.g. rd.netroot.keeper=0)")
	flag.StringVar(&compress, "compress", "", "compressions of netroot images, comma-separated (default: netroot build's); the ratios use the first, the others boot beside it")
	flag.StringVar(&qemuArgs, "qemu", "", "extra QEMU arguments for every boot, space-separated, e.g. \"-icount shift=0,sleep=on\": "+
		"the guest's clock then counts its instructions, so its CPU-bound steps time the same whatever the host's load")
	flag.Var(&moreImages, "variant", "a further netroot image to boot in the alternation (repeatable): `NAME;SUITE;INIT;BUILD FLAGS` — "+
		"the kernel of Debian SUITE (e.g. trixie; empty: the run's), the /init binary INIT (empty: the one built), extra netroot build flags; -only selects it by NAME")
	flag.BoolVar(&disksInMemory, "disks-in-memory", true, "give the targets' disks (each boot's copy of its root image) a tmpfs, /dev/shm, when it has room: "+
		"the host's disk then stays out of the figures (its writeback, and the guests' cache flushes, which the target turns into fsyncs)")
	flag.IntVar(&vcpuNice, "vcpu-nice", 0, "what-if of the rig: a second series of the netroot and floor images whose QEMU vCPU threads run at this nice on the host, "+
		"so that QEMU's network I/O and tgtd, which the floor never uses, no longer wait behind them for the host's cores (e.g. 10; 0: none)")
	tgt := flag.String("tgt", "", "login keys of the target, space-separated key=value (e.g. 'HeaderDigest=CRC32C DataDigest=CRC32C': tgt then answers CRC32C to an offer of CRC32C,None)")
	flag.Parse()
	for _, kv := range strings.Fields(*tgt) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "bench: -tgt %q: want key=value\n", kv)
			os.Exit(2)
		}
		if tgtParams == nil {
			tgtParams = map[string]string{}
		}
		tgtParams[k] = v
	}
	realOSOthers = map[string]bool{}
	for _, b := range strings.Split(*realOSBuilders, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if b != rig.Dracut.Name && b != rig.InitramfsTools.Name {
			fmt.Fprintf(os.Stderr, "bench: -realos-builders %q: want %s or %s\n", b, rig.Dracut.Name, rig.InitramfsTools.Name)
			os.Exit(2)
		}
		realOSOthers[b] = true
	}
	if *only != "" {
		onlySet = map[string]bool{}
		for _, k := range strings.Split(*only, ",") {
			onlySet[strings.TrimSpace(k)] = true
		}
	}
	if err := run(*n, *mem, *cpus, *realOS, *realOSCPUs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// defaultCPUs is the guest's vCPU count: two, as the machines netroot
// boots have more than one core, where the targets (issue 8) are meant to
// be met by overlapping module loading with the network, which one vCPU
// cannot (on one, even the floor reaches 0.80–0.86 of the polling seed);
// one on a one-core host, where a second vCPU would only contend.
func defaultCPUs() int {
	return min(2, runtime.NumCPU())
}

// verdict marks a figure against its target.
func verdict(v, target float64) string {
	if v <= target {
		return "met"
	}
	return "missed"
}

func run(n, mem, cpus, realOS, realOSCPUs int) error {
	if reason := rig.Missing(); reason != "" {
		return fmt.Errorf("cannot boot here: %s", reason)
	}
	ctx := context.Background()
	cache, err := rig.CacheDir()
	if err != nil {
		return err
	}
	dir := filepath.Join(cache, "bench")
	env, err := rig.Prepare(ctx, dir)
	if err != nil {
		return err
	}
	fmt.Printf("bench: %s\n", setGuestClock())
	if disksInMemory {
		// A real-OS boot's copy of its root holds ~0.6 GB; one boot at a
		// time, each copy removed as its boot ends.
		if lunDir, why := rig.MemoryDir("netroot-bench-", 2<<30); lunDir != "" {
			defer os.RemoveAll(lunDir)
			env.LUNDir = lunDir
			fmt.Printf("bench: the targets' disks in memory (%s): the host's disk stays out of the figures\n", lunDir)
		} else {
			fmt.Printf("bench: the targets' disks on the host's disk (%s)\n", why)
		}
	}
	var errs []error
	if onlySet == nil || len(onlySet) > 1 || !onlySet["realos"] {
		errs = append(errs, runTable(ctx, env, dir, n, mem, cpus))
	}
	if realOS > 0 && (onlySet == nil || onlySet["realos"]) {
		errs = append(errs, runRealOS(ctx, env, realOS, realOSCPUs))
	}
	return errors.Join(errs...)
}

// runTable boots netroot's image, the seed's two and the floor (and the
// variants asked for) n times each in alternation and prints the table
// and the ratios.
func runTable(ctx context.Context, env *rig.Env, dir string, n, mem, cpus int) error {
	var err error

	// The same modules as the baselines: the scenario's and virtio's.
	var variants []*image
	for i, c := range strings.Split(compress, ",") {
		c = strings.TrimSpace(c)
		im := &image{key: "netroot", name: "netroot", path: filepath.Join(dir, "netroot.img"), extra: extra}
		if i > 0 {
			im.name, im.path = "netroot ("+c+")", filepath.Join(dir, "netroot-"+c+".img")
		}
		args := []string{"build", "-o", im.path, "-modules", env.Kernel.ModulesDir, "-init", env.Init,
			"-drivers", "virtio_pci,virtio_net", "-fs", "ext4", "-cmdline", rig.ScenarioCmdline}
		if c != "" {
			args = append(args, "-compress", c)
		}
		if im.raw, im.compression, err = netrootBuild(ctx, env, args); err != nil {
			return err
		}
		variants = append(variants, im)
	}
	ours := variants[0]
	defaults := filepath.Join(dir, "netroot-default-drivers.img")
	defRaw, _, err := netrootBuild(ctx, env, []string{"build", "-o", defaults, "-modules", env.Kernel.ModulesDir,
		"-init", env.Init, "-cmdline", rig.ScenarioCmdline})
	if err != nil {
		return err
	}
	images := []*image{ours}
	for _, k := range []rig.SeedKind{rig.SeedSleep, rig.SeedPoll, rig.Floor} {
		im := &image{key: [...]string{"seed", "poll", "floor"}[k], name: k.String(), path: filepath.Join(dir, fmt.Sprintf("seed-%d.img", k)), seed: true}
		if im.raw, err = env.BuildSeed(ctx, k, im.path); err != nil {
			return err
		}
		images = append(images, im)
	}
	images = append(images, variants[1:]...)
	suiteEnvs := map[string]*rig.Env{}
	var more []*image // the -variant images
	for _, v := range moreImages {
		ve := env
		if v.suite != "" {
			if ve = suiteEnvs[v.suite]; ve == nil {
				k, err := rig.FetchKernelSuite(ctx, v.suite)
				if err != nil {
					return err
				}
				ve = &rig.Env{Dir: filepath.Join(dir, v.suite), Kernel: k, Netroot: env.Netroot, Init: env.Init,
					TestInit: env.TestInit, Busybox: env.Busybox, RootImg: env.RootImg, LUNDir: env.LUNDir}
				if err := os.MkdirAll(ve.Dir, 0o755); err != nil {
					return err
				}
				suiteEnvs[v.suite] = ve
			}
		}
		init := env.Init
		if v.init != "" {
			init = v.init
		}
		im := &image{key: v.name, name: v.name, path: filepath.Join(dir, "variant-"+v.name+".img"), extra: extra, env: ve}
		args := append([]string{"build", "-o", im.path, "-modules", ve.Kernel.ModulesDir, "-init", init,
			"-drivers", "virtio_pci,virtio_net", "-fs", "ext4", "-cmdline", rig.ScenarioCmdline}, v.build...)
		if im.raw, im.compression, err = netrootBuild(ctx, env, args); err != nil {
			return err
		}
		fmt.Printf("bench: variant %s: kernel %s, /init %s, build flags %q\n", v.name, ve.Kernel.Version, init, v.build)
		images = append(images, im)
		more = append(more, im)
	}
	var nicedOurs, nicedFloor *image
	if vcpuNice != 0 {
		f := images[3]
		nicedOurs = &image{key: "netroot", name: fmt.Sprintf("netroot (nice %d)", vcpuNice), path: ours.path, raw: ours.raw, extra: extra, vcpuNice: vcpuNice}
		nicedFloor = &image{key: "floor", name: fmt.Sprintf("floor (nice %d)", vcpuNice), path: f.path, raw: f.raw, seed: true, vcpuNice: vcpuNice}
		images = append(images, nicedOurs, nicedFloor)
	}
	var what *image
	if vs = strings.TrimSpace(vs); vs != "" {
		what = &image{key: "netroot", name: "netroot -vs", path: ours.path, raw: ours.raw, extra: strings.TrimSpace(extra + " " + vs)}
		images = append(images, what)
	}
	// The u-root busybox image (make uroot) from the same modules and
	// cmdline, for its size beside ours (issue 9).
	ur, err := rig.BuildURoot(ctx, rig.URootOptions{Netroot: env.Netroot, Init: env.Init,
		ModulesDir: env.Kernel.ModulesDir, Cmdline: rig.ScenarioCmdline, Dir: filepath.Join(dir, "uroot")})
	if err != nil {
		fmt.Printf("bench: u-root image not built: %v\n", err)
		ur = nil
	}
	for _, im := range images {
		st, err := os.Stat(im.path)
		if err != nil {
			return err
		}
		im.size = st.Size()
	}

	fmt.Printf("bench: %d boot(s) per image in alternation, -m %dM -smp %d, TCG, kernel %s\n", n, mem, cpus, env.Kernel.Version)
	if extra != "" {
		fmt.Printf("bench: the netroot image boots with %q added\n", extra)
	}
	if qemuArgs != "" {
		fmt.Printf("bench: QEMU runs with %q added\n", qemuArgs)
	}
	if nicedOurs != nil {
		fmt.Printf("bench: %q and %q are the same images booted with QEMU's vCPU threads at nice %d on the host\n", nicedOurs.name, nicedFloor.name, vcpuNice)
	}
	if what != nil {
		fmt.Printf("bench: \"netroot -vs\" is the netroot image booted with %q added\n", what.extra)
	}
	for round := 1; round <= n; round++ {
		for _, im := range images {
			if onlySet != nil && !onlySet[im.key] {
				continue
			}
			benv := env
			if im.env != nil {
				benv = im.env
			}
			r, err := boot(ctx, benv, im, mem, cpus)
			if err != nil {
				im.failures++
				fmt.Printf("  round %d %-22s FAILED: %v\n", round, im.name, err)
				continue
			}
			im.rootTimes = append(im.rootTimes, r.root)
			for step, d := range r.parts {
				if im.parts == nil {
					im.parts = map[string][]float64{}
				}
				im.parts[step] = append(im.parts[step], d)
			}
			if im.byRound == nil {
				im.byRound = map[int][2]float64{}
			}
			im.byRound[round] = [2]float64{r.root, r.init}
			im.initTimes = append(im.initTimes, r.init)
			im.unpack = append(im.unpack, r.unpack)
			if r.rss > 0 {
				im.rss = append(im.rss, r.rss)
			}
			im.host = append(im.host, r.host)
			fmt.Printf("  round %d %-22s root %.2fs  /init %.2fs  unpack %.2fs\n", round, im.name, r.root, r.init, r.unpack)
		}
	}

	fmt.Printf("\n%-22s %-20s %-20s %-20s %-10s %-12s %s\n", "image", "root reached (s)", "/init part (s)", "unpack (s)", "compr. MB", "uncomp. MB", "peak RSS")
	for _, im := range images {
		rss := "-"
		if len(im.rss) > 0 {
			rss = fmt.Sprintf("%.1f MiB", median(im.rss))
		}
		fmt.Printf("%-22s %-20s %-20s %-20s %-10.2f %-12.2f %s\n", im.name, stat(im.rootTimes), stat(im.initTimes), stat(im.unpack),
			float64(im.size)/1e6, float64(im.raw)/1e6, rss)
	}
	fmt.Printf("%-22s %-20s %-20s %-20s %-10.2f %-12.2f\n", "netroot (default -drivers)", "", "", "", float64(fileSize(defaults))/1e6, float64(defRaw)/1e6)
	if ur != nil {
		fmt.Printf("%-22s %-20s %-20s %-20s %-10.2f %-12.2f\n", "u-root bb image", "", "", "", float64(ur.URootSize.Compressed)/1e6, float64(ur.URootSize.Uncompressed)/1e6)
		fmt.Printf("%-22s %-20s %-20s %-20s %-10.2f %-12.2f\n", "netroot (same modules)", "", "", "", float64(ur.NetrootSize.Compressed)/1e6, float64(ur.NetrootSize.Uncompressed)/1e6)
	}

	printParts(images)
	printHost(images)

	seed, poll, floor := images[1], images[2], images[3]
	fmt.Println()
	if len(ours.rootTimes) > 0 && len(seed.rootTimes) > 0 && len(poll.rootTimes) > 0 {
		r := median(ours.rootTimes) / median(seed.rootTimes)
		fmt.Printf("root reached, ours/seed:         %.2f  (target ≤ 0.45: %s)\n", r, verdict(r, 0.45))
		// No target: issue 21 retired the 0.80 (it sat on the rig's own
		// floor, the line below); the floor line further down replaces it.
		r = median(ours.rootTimes) / median(poll.rootTimes)
		fmt.Printf("root reached, ours/seed-polling: %.2f\n", r)
		if len(floor.rootTimes) > 0 {
			// Where the ratio above stands against an init that does
			// nothing but load the modules, one after the other.
			fmt.Printf("  the floor itself/seed-polling: %.2f  (an /init that only insmods the modules)\n", median(floor.rootTimes)/median(poll.rootTimes))
		}
	}
	// The same figures boot by boot: each round boots the images one
	// after the other, so a figure within a round is less swayed by the
	// host's speed drifting over the run than one between the medians.
	paired := func(im, other *image, f func(a, b [2]float64) float64) []float64 {
		var r []float64
		for round, t := range im.byRound {
			if o, ok := other.byRound[round]; ok && o[0] > 0 {
				r = append(r, f(t, o))
			}
		}
		return r
	}
	ratio := func(a, b [2]float64) float64 { return a[0] / b[0] }
	rootGap := func(a, b [2]float64) float64 { return a[0] - b[0] }
	initGap := func(a, b [2]float64) float64 { return a[1] - b[1] }
	kernelGap := func(a, b [2]float64) float64 { return (a[0] - a[1]) - (b[0] - b[1]) }
	for _, other := range []*image{seed, poll} {
		if r := paired(ours, other, ratio); len(r) > 0 {
			fmt.Printf("  paired by round, ours/%-9s %s\n", other.key+":", stat(r))
		}
	}
	if len(ours.rootTimes) > 0 && len(floor.rootTimes) > 0 {
		// Issue 21's target: the root reached no later than by an /init
		// that only loads the modules, boot by boot.
		if r := paired(ours, floor, rootGap); len(r) > 0 {
			g := median(r)
			fmt.Printf("root reached, ours − floor, paired: %s s (target: median ≤ 0: %s)\n", stat(r), verdict(g, 0))
		}
		fmt.Printf("  /init part, ours − floor:        %.2f s by medians, paired %s s\n",
			median(ours.initTimes)-median(floor.initTimes), stat(paired(ours, floor, initGap)))
		// The rest is before /init: the same kernel, so beyond the
		// unpacking's difference it is the host's noise, which can make
		// or miss the target on its own.
		fmt.Printf("  before /init, ours − floor:      paired %s s (the kernel, the same for both but the unpack: %.2f s against %.2f s by medians)\n",
			stat(paired(ours, floor, kernelGap)), median(ours.unpack), median(floor.unpack))
		// The other compressions, for what they change before /init.
		for _, v := range variants[1:] {
			if r := paired(v, floor, rootGap); len(r) > 0 {
				fmt.Printf("  %s − floor, paired: %s s (unpack %.2f s, ours %.2f s, the floor's %.2f s)\n",
					v.name, stat(r), median(v.unpack), median(ours.unpack), median(floor.unpack))
			}
		}
	}
	if nicedOurs != nil {
		if r := paired(nicedOurs, nicedFloor, rootGap); len(r) > 0 {
			fmt.Printf("  vCPUs at nice %d: ours − floor, paired: %s s, /init part %s s\n", vcpuNice, stat(r), stat(paired(nicedOurs, nicedFloor, initGap)))
		}
	}
	if what != nil {
		if root := paired(what, ours, ratio); len(root) > 0 {
			fmt.Printf("netroot -vs / netroot, paired:   root reached %s, /init part %s s\n", stat(root), stat(paired(what, ours, initGap)))
		}
	}
	// Each -variant against the netroot image, round by round: the
	// what-if's own figure.
	for _, v := range more {
		if root := paired(v, ours, rootGap); len(root) > 0 {
			fmt.Printf("%s − netroot, paired: root reached %s s, /init part %s s\n", v.name, stat(root), stat(paired(v, ours, initGap)))
		}
	}
	fmt.Printf("initramfs, ours (%s):           %.2f MB (target ≤ 4: %s)\n", ours.compression, float64(ours.size)/1e6, verdict(float64(ours.size)/1e6, 4))
	for _, im := range images {
		if im.failures > 0 {
			return fmt.Errorf("%d boot(s) of %s failed", im.failures, im.name)
		}
	}
	return nil
}

// buildSizeRE is the end of netroot build's report: "4.13 MB zstd
// (13.21 MB uncompressed)".
var buildSizeRE = regexp.MustCompile(`MB (\S+) \(([0-9.]+) MB uncompressed\)`)

// netrootBuild runs netroot build and returns the image's uncompressed
// size and its compression, as the build reports them.
func netrootBuild(ctx context.Context, env *rig.Env, args []string) (raw int64, compression string, err error) {
	out, err := execOutput(ctx, env.Netroot, args...)
	if err != nil {
		return 0, "", err
	}
	m := buildSizeRE.FindStringSubmatch(out)
	if m == nil {
		return 0, "", fmt.Errorf("netroot build printed no size: %s", out)
	}
	mb, _ := strconv.ParseFloat(m[2], 64)
	return int64(mb * 1e6), m[1], nil
}

// result is one boot's figures.
type result struct {
	root   float64            // kernel start → the real root's init reported (the floor: the same init, exec'd once the modules were loaded)
	init   float64            // the part of root after /init started
	unpack float64            // the kernel unpacking the initramfs
	rss    float64            // our peak RSS, MiB (netroot images)
	parts  map[string]float64 // /init's steps from its summary line
	host   hostFigures        // the host's CPU, QEMU's start → root reached
}

// hostFigures is what the guest's vCPUs, QEMU's other threads and tgtd
// had from the host's CPUs.
type hostFigures struct {
	vcpus, qemu, tgtd rig.HostCPU
}

// boot boots im once.
func boot(ctx context.Context, env *rig.Env, im *image, mem, cpus int) (r result, err error) {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmdline := withClock(rig.ScenarioCmdline)
	if im.extra != "" {
		cmdline += " " + im.extra
	}
	target := rig.DefaultTarget()
	target.Params = tgtParams
	// The host's figures are taken as the done line arrives: the guest
	// goes on to power off (the floor's at once, QEMU then exits).
	var (
		mu      sync.Mutex
		taken   bool
		hostErr error
	)
	onLine := func(v *rig.VM, line string) {
		mu.Lock()
		defer mu.Unlock()
		if taken || !doneRE.MatchString(line) {
			return
		}
		taken = true
		r.host.vcpus, r.host.qemu, hostErr = v.HostCPU()
	}
	b, err := env.Start(ctx, rig.BootSpec{Name: "bench", Initramfs: im.path, Cmdline: cmdline,
		Target: target, MemoryMB: mem, CPUs: cpus, QEMUArgs: strings.Fields(qemuArgs), VCPUNice: im.vcpuNice, OnLine: onLine})
	if err != nil {
		return r, err
	}
	defer b.Close()
	if _, err := b.VM.WaitFor(ctx, doneRE); err != nil {
		return r, err
	}
	mu.Lock()
	err = hostErr
	if taken && err == nil {
		// tgtd has nothing to do once the root's init runs.
		r.host.tgtd, err = b.Target.HostCPU()
	}
	mu.Unlock()
	if err != nil {
		return r, fmt.Errorf("host CPU: %w", err)
	}
	log := b.VM.Log()
	if strings.Contains(log, "netroot: FATAL") {
		return r, fmt.Errorf("boot failed (%s)", b.VM.LogPath)
	}
	ri := runInitRE.FindStringSubmatch(log)
	up := uptimeRE.FindStringSubmatch(log)
	if ri == nil || up == nil {
		return r, fmt.Errorf("no timing on the console (%s)", b.VM.LogPath)
	}
	start, _ := strconv.ParseFloat(ri[1], 64)
	r.root, _ = strconv.ParseFloat(up[1], 64)
	r.init = r.root - start
	if m := rssRE.FindStringSubmatch(log); m != nil {
		r.rss, _ = strconv.ParseFloat(m[1], 64)
	}
	if u, f := unpackRE.FindStringSubmatch(log), freedRE.FindStringSubmatch(log); u != nil && f != nil {
		a, _ := strconv.ParseFloat(u[1], 64)
		b, _ := strconv.ParseFloat(f[1], 64)
		r.unpack = b - a
	}
	r.parts = initParts(log)
	return r, nil
}

// summaryRE is /init's summary line: "/init took 2.39 s: mount 0.06,
// config 0.04, modules 0.88, …; peak RSS …".
var summaryRE = regexp.MustCompile(`/init took ([0-9.]+) s: ([^;\n]*)`)

// initParts returns /init's total ("/init") and its steps' durations from
// its summary line, or nil.
func initParts(log string) map[string]float64 {
	m := summaryRE.FindStringSubmatch(log)
	if m == nil {
		return nil
	}
	out := map[string]float64{}
	out["/init"], _ = strconv.ParseFloat(m[1], 64)
	for _, p := range strings.Split(m[2], ",") {
		f := strings.Fields(p)
		if len(f) != 2 {
			continue
		}
		if d, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] += d
		}
	}
	return out
}

// partSteps are the steps printParts shows, in /init's order.
var partSteps = []string{"/init", "modules", "bond", "modules-plan", "login", "disk", "modules-fs", "mount-root"}

// printParts prints the median of /init's total and main steps (from its
// summary line) per netroot image.
func printParts(images []*image) {
	fmt.Printf("\n%-22s", "/init's steps (median)")
	for _, s := range partSteps {
		fmt.Printf(" %-12s", s)
	}
	fmt.Println()
	for _, im := range images {
		if len(im.parts) == 0 {
			continue
		}
		fmt.Printf("%-22s", im.name)
		for _, s := range partSteps {
			if v := im.parts[s]; len(v) > 0 {
				fmt.Printf(" %-12.2f", median(v))
			} else {
				fmt.Printf(" %-12s", "-")
			}
		}
		fmt.Println()
	}
}

// printHost prints, per image, the median of what the guest's vCPU
// threads, QEMU's other threads and tgtd had from the host's cores from
// QEMU's start to the root reached: time run and time waited runnable.
func printHost(images []*image) {
	fmt.Printf("\n%-22s %-12s %-12s %-12s %-12s %-12s %-12s\n", "host CPU (median s)", "vCPUs run", "vCPUs wait", "QEMU I/O run", "QEMU I/O wait", "tgtd run", "tgtd wait")
	for _, im := range images {
		if len(im.host) == 0 {
			continue
		}
		col := func(f func(h hostFigures) time.Duration) float64 {
			v := make([]float64, len(im.host))
			for i, h := range im.host {
				v[i] = f(h).Seconds()
			}
			return median(v)
		}
		fmt.Printf("%-22s %-12.2f %-12.2f %-12.2f %-12.2f %-12.3f %-12.3f\n", im.name,
			col(func(h hostFigures) time.Duration { return h.vcpus.Run }), col(func(h hostFigures) time.Duration { return h.vcpus.Wait }),
			col(func(h hostFigures) time.Duration { return h.qemu.Run }), col(func(h hostFigures) time.Duration { return h.qemu.Wait }),
			col(func(h hostFigures) time.Duration { return h.tgtd.Run }), col(func(h hostFigures) time.Duration { return h.tgtd.Wait }))
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// stat is the median and range of v, to two decimals.
func stat(v []float64) string { return statN(v, 2) }

// statN is the median and range of v, to prec decimals.
func statN(v []float64, prec int) string {
	if len(v) == 0 {
		return "-"
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return fmt.Sprintf("%.*f [%.*f–%.*f]", prec, median(s), prec, s[0], prec, s[len(s)-1])
}

func execOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
