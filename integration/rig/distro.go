package rig

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Distro is the recipe of a real Debian root image, configured the way
// people install it: a debootstrap --variant=minbase of Suite from the
// machine's Debian mirror with BasePackages, then Packages installed from
// the same mirror in a chroot, the installer's files (InstallerFiles) and
// Files written, Enable'd units enabled, and the guest kernel's modules
// copied in. Nothing in it is tuned for netroot; the test instrumentation
// (Instrumentation) is added apart, last, to each image.
type Distro struct {
	// Name names the image, e.g. bookworm-networkd.
	Name string
	// Suite is the Debian release, e.g. bookworm or trixie.
	Suite string
	// Packages are installed on top of the base, without recommends.
	Packages []string
	// Files maps a path in the root to its contents (mode 0644).
	Files map[string]string
	// Enable are units enabled with systemctl enable in the chroot.
	Enable []string
	// Network names the network stack the OS runs ("ifupdown",
	// "networkd", "NetworkManager") and RestartUnit the unit whose
	// restart restarts it.
	Network, RestartUnit string
	// About says what the image models.
	About string
}

// BasePackages are debootstrap --include'd into every root: init and udev
// as the brief of the images asks, and what every installed Debian has
// (iproute2, kmod, netbase, e2fsprogs, procps; dbus, which systemd
// recommends and the installer therefore installs).
var BasePackages = []string{"systemd-sysv", "udev", "dbus", "iproute2", "kmod", "netbase", "e2fsprogs", "procps"}

// InstallNIC is the name Debian's installer sees for the first NIC on this
// rig's hardware: systemd-udev's slot name for the first virtio-net-pci
// device (see NOTES: "ens2: renamed from eth0"), which it writes into
// /etc/network/interfaces.
const InstallNIC = "ens2"

// installerFiles are what Debian's installer writes on every system
// (hostname, hosts, fstab with the root by label — the installer uses
// UUID=, the rig's images get a fresh UUID per build).
var installerFiles = map[string]string{
	"etc/hostname": "debian\n",
	"etc/hosts": "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n\n" +
		"# The following lines are desirable for IPv6 capable hosts\n" +
		"::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n",
	"etc/fstab": "# /etc/fstab: static file system information.\n#\n" +
		"# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n" +
		"LABEL=" + RootLabel + " /               ext4    errors=remount-ro 0       1\n",
}

// networkdCatchAll is the cloud-image style .network: DHCP on every
// Ethernet NIC, by kernel or predictable name.
const networkdCatchAll = "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"

// The image variants.
var (
	BookwormIfupdown = Distro{
		Name: "bookworm-ifupdown", Suite: "bookworm",
		Packages: []string{"ifupdown", "isc-dhcp-client"},
		Files: map[string]string{"etc/network/interfaces": "# This file describes the network interfaces available on your system\n" +
			"# and how to activate them. For more information, see interfaces(5).\n\n" +
			"source /etc/network/interfaces.d/*\n\n" +
			"# The loopback network interface\nauto lo\niface lo inet loopback\n\n" +
			"# The primary network interface\nallow-hotplug " + InstallNIC + "\niface " + InstallNIC + " inet dhcp\n"},
		Network: "ifupdown", RestartUnit: "networking.service",
		About: "Debian 12 as its installer leaves it: ifupdown + isc-dhcp-client, allow-hotplug " + InstallNIC + " inet dhcp",
	}
	BookwormNetworkd = Distro{
		Name: "bookworm-networkd", Suite: "bookworm",
		Files:   map[string]string{"etc/systemd/network/20-wired.network": networkdCatchAll},
		Enable:  []string{"systemd-networkd.service"},
		Network: "networkd", RestartUnit: "systemd-networkd.service",
		About: "Debian 12, systemd-networkd enabled with a catch-all DHCP .network (Name=en* eth*), no resolved",
	}
	BookwormNetworkManager = Distro{
		Name: "bookworm-nm", Suite: "bookworm",
		Packages: []string{"network-manager"},
		Network:  "NetworkManager", RestartUnit: "NetworkManager.service",
		About: "Debian 12 with NetworkManager and its defaults (no ifupdown)",
	}
	BookwormOpenISCSI = Distro{
		Name: "bookworm-networkd-open-iscsi", Suite: "bookworm",
		Packages: []string{"open-iscsi"},
		Files:    map[string]string{"etc/systemd/network/20-wired.network": networkdCatchAll},
		Enable:   []string{"systemd-networkd.service"},
		Network:  "networkd", RestartUnit: "systemd-networkd.service",
		About: "bookworm-networkd plus open-iscsi installed with its units enabled (iscsid.socket, open-iscsi.service)",
	}
	// BookwormIfupdownOpenISCSI is the root a Debian installer leaves for
	// an iSCSI root: BookwormIfupdown plus open-iscsi. The benchmark's
	// real-OS rows boot it through netroot, dracut and initramfs-tools.
	BookwormIfupdownOpenISCSI = Distro{
		Name: "bookworm-ifupdown-open-iscsi", Suite: "bookworm",
		Packages: []string{"ifupdown", "isc-dhcp-client", "open-iscsi"},
		Files:    BookwormIfupdown.Files,
		Network:  "ifupdown", RestartUnit: "networking.service",
		About: "bookworm-ifupdown (the installer's allow-hotplug " + InstallNIC + " inet dhcp) plus open-iscsi with its units enabled",
	}
	// BookwormMultipath is BookwormNetworkd plus multipath-tools as
	// Debian installs it: no /etc/multipath.conf (the built-in defaults:
	// find_multipaths "strict", user_friendly_names no), multipathd.service
	// and .socket enabled by the package.
	BookwormMultipath = Distro{
		Name: "bookworm-multipath", Suite: "bookworm",
		Packages: []string{"multipath-tools"},
		Files:    map[string]string{"etc/systemd/network/20-wired.network": networkdCatchAll},
		Enable:   []string{"systemd-networkd.service"},
		Network:  "networkd", RestartUnit: "systemd-networkd.service",
		About: "bookworm-networkd plus multipath-tools with Debian's defaults (no multipath.conf), multipathd enabled by the package",
	}
	TrixieNetworkd = Distro{
		Name: "trixie-networkd", Suite: "trixie",
		Files:   map[string]string{"etc/systemd/network/20-wired.network": networkdCatchAll},
		Enable:  []string{"systemd-networkd.service"},
		Network: "networkd", RestartUnit: "systemd-networkd.service",
		About: "Debian 13 with its 6.12 kernel, systemd-networkd enabled with the catch-all DHCP .network",
	}
)

// Distros lists every variant.
func Distros() []Distro {
	return []Distro{BookwormIfupdown, BookwormNetworkd, BookwormNetworkManager, BookwormOpenISCSI, BookwormIfupdownOpenISCSI, BookwormMultipath, TrixieNetworkd}
}

// Test instrumentation, apart from the OS's own configuration: a root
// shell on the second serial port (ttyS1) for RealRoot's commands, the root
// writer, udev and networkd logging to the kernel log too, and
// InstrumentationCmdline.
const (
	// WriterPath is the root writer (integration/cmd/rootwriter) in the
	// image; WriterDir is where the tests let it write.
	WriterPath = "/usr/local/sbin/netroot-rootwriter"
	WriterDir  = "/var/lib/netroot-test"
	// ShellTTY is the serial port the test shell runs on.
	ShellTTY = "ttyS1"
	// InstrumentationCmdline is added to the real roots' command line:
	// userspace lines in the kernel log are not rate-limited away.
	InstrumentationCmdline = "printk.devkmsg=on"
)

// Instrumentation returns the test's additions to every image: path in
// the root → contents; a contents starting with "->" is a symlink target.
func Instrumentation() map[string]string {
	return map[string]string{
		"etc/systemd/system/serial-getty@" + ShellTTY + ".service.d/netroot-test-autologin.conf": "# netroot test instrumentation: a root shell for the test harness.\n" +
			"[Service]\nExecStart=\nExecStart=-/sbin/agetty -o '-p -f -- \\\\u' --autologin root --noclear --keep-baud 115200 - $TERM\n",
		"etc/systemd/system/getty.target.wants/serial-getty@" + ShellTTY + ".service": "->/lib/systemd/system/serial-getty@.service",
		// udev's and networkd's decisions also go to the console, which
		// keeps them when the root (and the journal) is gone: udev logs to
		// the kernel log; networkd, which runs as an unprivileged user that
		// cannot write /dev/kmsg, to stderr, which journald copies to the
		// console.
		"etc/systemd/system/systemd-udevd.service.d/netroot-test-log.conf": "# netroot test instrumentation: log to the console too.\n" +
			"[Service]\nEnvironment=SYSTEMD_LOG_TARGET=kmsg\n",
		"etc/systemd/system/systemd-networkd.service.d/netroot-test-log.conf": "# netroot test instrumentation: log to the console too.\n" +
			"[Service]\nEnvironment=SYSTEMD_LOG_TARGET=console\nStandardError=journal+console\n",
	}
}

// MissingDistro returns why real-root images cannot be built here (a tool
// absent), or "".
func MissingDistro() string {
	for _, tool := range []string{"debootstrap", "unshare", "chroot", "debugfs", "e2fsck"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "real-root images need " + tool + " (run `make deps`)"
		}
	}
	return ""
}

// DistroImage is a built root image.
type DistroImage struct {
	Distro Distro
	// Path is the sparse ext4 image, labelled RootLabel.
	Path string
	// Kernel is the kernel whose modules the root carries.
	Kernel *Kernel
	// Cached is true when nothing had to be built.
	Cached bool
	// Steps are the build steps and their durations (from the cache's
	// record for steps built earlier).
	Steps []BuildStep
	// Size is the image's apparent size and Used its allocated bytes.
	Size, Used int64
}

// BuildStep is one timed step of an image build.
type BuildStep struct {
	Name   string        `json:"name"`
	Took   time.Duration `json:"took"`
	Cached bool          `json:"cached"`
}

// DistroImageMB is the size of the real-root images (sparse).
const DistroImageMB = 2048

// distroRecipeVersion changes when the build procedure changes in a way
// the recipes' contents do not show.
const distroRecipeVersion = "1"

var distroMu sync.Mutex

// BuildDistro returns d's root image for kernel k, building what the
// cache lacks: the suite's debootstrap base (shared by its variants), the
// variant's tree, the image. Each is cached under $NETROOT_CACHE/distro in
// a directory keyed by a hash of its recipe, so a changed recipe rebuilds.
func BuildDistro(ctx context.Context, d Distro, k *Kernel) (*DistroImage, error) {
	root, unlock, err := lockDistroCache()
	if err != nil {
		return nil, err
	}
	defer unlock()
	img := &DistroImage{Distro: d, Kernel: k, Cached: true}
	step := func(name string, cached bool, took time.Duration) {
		img.Steps = append(img.Steps, BuildStep{Name: name, Took: took, Cached: cached})
		if !cached {
			img.Cached = false
		}
	}
	variant, treeKey, err := buildTree(ctx, root, d, k, step)
	if err != nil {
		return nil, err
	}

	writer := filepath.Join(root, "bin", "netroot-rootwriter")
	if err := GoBuild(ctx, "./integration/cmd/rootwriter", writer); err != nil {
		return nil, err
	}
	writerSum, err := fileHash(writer)
	if err != nil {
		return nil, err
	}
	imgKey := recipeHash(distroRecipeVersion, treeKey, Instrumentation(), writerSum, DistroImageMB)
	img.Path = filepath.Join(variant, "root-"+imgKey+".img")
	if _, err := os.Stat(img.Path); err != nil {
		start := time.Now()
		if err := makeImage(ctx, filepath.Join(variant, "tree"), writer, img.Path); err != nil {
			return nil, fmt.Errorf("rig: image %s: %w", d.Name, err)
		}
		took := time.Since(start)
		step("mkfs "+d.Name, false, took)
		writeStepTime(img.Path+".time", took)
		// Images of older instrumentation go.
		old, _ := filepath.Glob(filepath.Join(variant, "root-*.img*"))
		for _, p := range old {
			if !strings.HasPrefix(p, img.Path) {
				os.Remove(p)
			}
		}
	} else {
		step("mkfs "+d.Name, true, readStepTime(img.Path+".time"))
	}
	var st syscall.Stat_t
	if err := syscall.Stat(img.Path, &st); err == nil {
		img.Size, img.Used = st.Size, st.Blocks*512
	}
	return img, nil
}

// lockDistroCache returns $NETROOT_CACHE/distro, locked against other
// goroutines and test binaries building there; unlock releases it.
func lockDistroCache() (root string, unlock func(), err error) {
	distroMu.Lock()
	cache, err := CacheDir()
	if err != nil {
		distroMu.Unlock()
		return "", nil, err
	}
	root = filepath.Join(cache, "distro")
	if err := os.MkdirAll(root, 0o755); err != nil {
		distroMu.Unlock()
		return "", nil, err
	}
	lock, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		distroMu.Unlock()
		return "", nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		distroMu.Unlock()
		return "", nil, err
	}
	return root, func() { lock.Close(); distroMu.Unlock() }, nil
}

// buildTree makes (or finds cached under root) the suite's debootstrap
// base and d's tree on it for kernel k; it returns the variant's directory
// (its tree is dir/tree) and the tree's recipe hash.
func buildTree(ctx context.Context, root string, d Distro, k *Kernel, step func(string, bool, time.Duration)) (variant, treeKey string, err error) {
	mirror, err := DebianMirror()
	if err != nil {
		return "", "", err
	}
	baseKey := recipeHash(distroRecipeVersion, d.Suite, mirror, BasePackages)
	base := filepath.Join(root, "base-"+d.Suite+"-"+baseKey)
	if err := buildOnce(ctx, base, "base-"+d.Suite+"-", step, "debootstrap "+d.Suite, func(tree string) error {
		return debootstrap(ctx, d.Suite, mirror, tree, filepath.Join(base, "build.log"))
	}); err != nil {
		return "", "", err
	}
	treeKey = recipeHash(distroRecipeVersion, baseKey, d.Packages, d.Files, installerFiles, d.Enable, k.Version)
	variant = filepath.Join(root, d.Name+"-"+treeKey)
	if err := buildOnce(ctx, variant, d.Name+"-", step, "install "+d.Name, func(tree string) error {
		return installVariant(ctx, d, k, filepath.Join(base, "tree"), tree, filepath.Join(variant, "build.log"))
	}); err != nil {
		return "", "", err
	}
	return variant, treeKey, nil
}

// buildOnce makes dir/tree with build unless dir/.complete exists, timing
// it; on success it removes the siblings of dir named prefix* (older
// recipes). A failed build leaves dir for inspection and is redone next
// time.
func buildOnce(ctx context.Context, dir, prefix string, step func(string, bool, time.Duration), name string, build func(tree string) error) error {
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		step(name, true, readStepTime(filepath.Join(dir, ".complete")))
		return nil
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	start := time.Now()
	if err := build(filepath.Join(dir, "tree")); err != nil {
		return fmt.Errorf("rig: %s: %w (log in %s)", name, err, dir)
	}
	took := time.Since(start)
	step(name, false, took)
	siblings, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), prefix+"*"))
	for _, s := range siblings {
		// Only this recipe's own older builds: prefix plus a hash.
		if s != dir && len(strings.TrimPrefix(filepath.Base(s), prefix)) == len(filepath.Base(dir))-len(prefix) {
			os.RemoveAll(s)
		}
	}
	writeStepTime(filepath.Join(dir, ".complete"), took)
	return nil
}

func writeStepTime(path string, took time.Duration) {
	os.WriteFile(path, []byte(took.String()+"\n"), 0o644)
}

func readStepTime(path string) time.Duration {
	b, _ := os.ReadFile(path)
	d, _ := time.ParseDuration(strings.TrimSpace(string(b)))
	return d
}

// recipeHash is a short hash of the JSON of parts.
func recipeHash(parts ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, p := range parts {
		enc.Encode(p)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// runLogged runs a command appending its output to logPath; the error
// carries the log's tail.
func runLogged(ctx context.Context, logPath string, name string, args ...string) error {
	out, err := run(ctx, name, args...)
	if f, ferr := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
		fmt.Fprintf(f, "$ %s %s\n%s\n", name, strings.Join(args, " "), out)
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, tailErr(err))
	}
	return nil
}

// tailErr keeps the last lines of a long command error.
func tailErr(err error) error {
	s := err.Error()
	lines := strings.Split(s, "\n")
	if len(lines) > 25 {
		s = "…\n" + strings.Join(lines[len(lines)-25:], "\n")
	}
	return fmt.Errorf("%s", s)
}

// debootstrap makes a minbase root of suite in tree, inside a private
// mount namespace so nothing it mounts outlives it.
func debootstrap(ctx context.Context, suite, mirror, tree, logPath string) error {
	return runLogged(ctx, logPath, "unshare", "--mount", "--propagation", "private",
		"debootstrap", "--variant=minbase", "--include="+strings.Join(BasePackages, ","), suite, tree, mirror)
}

// chrootScript runs script with sh -e in tree's chroot, with /proc, /sys,
// /dev and a fresh /run mounted in a private mount namespace (gone when it
// ends).
func chrootScript(ctx context.Context, tree, logPath, script string) error {
	return runLogged(ctx, logPath, "unshare", "--mount", "--propagation", "private", "sh", "-ec",
		`t=$0
mount -t proc proc "$t/proc"
mount -t sysfs sysfs "$t/sys"
mount --rbind /dev "$t/dev"
mount -t tmpfs tmpfs "$t/run"
exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive chroot "$t" sh -ec "$1"`,
		tree, script)
}

// hostAptOptions are the machine's own Acquire::Check-Valid-Until and
// Check-Date settings, passed to the chroot's apt so it accepts the same
// mirror the machine's apt does (a snapshot mirror's Release files expire).
func hostAptOptions(ctx context.Context) string {
	var opts []string
	for _, key := range []string{"Acquire::Check-Valid-Until", "Acquire::Check-Date"} {
		out, err := run(ctx, "apt-config", "shell", "V", key)
		if err == nil && strings.TrimSpace(out) == "V='false'" {
			opts = append(opts, "-o "+key+"=false")
		}
	}
	return strings.Join(opts, " ")
}

// installVariant copies the base tree and makes d of it: packages, the
// installer's and d's files, enabled units, the kernel's modules; then
// drops what an image does not need (apt's lists and cache, docs, man
// pages, locales).
func installVariant(ctx context.Context, d Distro, k *Kernel, base, tree, logPath string) error {
	if err := runLogged(ctx, logPath, "cp", "-a", "--reflink=auto", base, tree); err != nil {
		return err
	}
	// The build's own name service and service policy, removed below.
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return err
	}
	os.Remove(filepath.Join(tree, "etc/resolv.conf"))
	if err := os.WriteFile(filepath.Join(tree, "etc/resolv.conf"), resolv, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tree, "usr/sbin/policy-rc.d"), []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return err
	}
	files := map[string]string{}
	for p, c := range installerFiles {
		files[p] = c
	}
	for p, c := range d.Files {
		files[p] = c
	}
	if err := writeTree(tree, files); err != nil {
		return err
	}
	apt := "apt-get -q " + hostAptOptions(ctx)
	script := apt + " update\n"
	if len(d.Packages) > 0 {
		script += apt + " install -y --no-install-recommends " + strings.Join(d.Packages, " ") + "\n"
	}
	for _, u := range d.Enable {
		script += "systemctl enable " + u + "\n"
	}
	script += apt + " clean\nrm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d /etc/resolv.conf\n" +
		"rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/*\n"
	if err := chrootScript(ctx, tree, logPath, script); err != nil {
		return err
	}
	// The kernel's modules where the OS looks for them (lib is usr/lib on
	// a merged-/usr root), with the modules.dep a kernel package's
	// postinst would have made.
	modules := filepath.Join(tree, "lib", "modules")
	if fi, err := os.Lstat(filepath.Join(tree, "lib")); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		modules = filepath.Join(tree, "usr", "lib", "modules")
	}
	if err := os.MkdirAll(modules, 0o755); err != nil {
		return err
	}
	if err := runLogged(ctx, logPath, "cp", "-a", k.ModulesDir, filepath.Join(modules, k.Version)); err != nil {
		return err
	}
	return chrootScript(ctx, tree, logPath, "depmod -a "+k.Version)
}

// writeTree writes files (path in tree → contents; "->target" makes a
// symlink) into tree, replacing what is there.
func writeTree(tree string, files map[string]string) error {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		dst := filepath.Join(tree, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		os.Remove(dst)
		var err error
		if target, ok := strings.CutPrefix(files[p], "->"); ok {
			err = os.Symlink(target, dst)
		} else {
			err = os.WriteFile(dst, []byte(files[p]), 0o644)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// makeImage writes the sparse ext4 image of tree plus the instrumentation
// with mkfs.ext4 -d (no loop mount): tree is hard-link copied to a stage
// the instrumentation is added to, so the cached tree stays the OS's own.
func makeImage(ctx context.Context, tree, writer, path string) error {
	stage := path + ".stage"
	os.RemoveAll(stage)
	defer os.RemoveAll(stage)
	logPath := path + ".log"
	if err := runLogged(ctx, logPath, "cp", "-al", tree, stage); err != nil {
		return err
	}
	if err := writeTree(stage, Instrumentation()); err != nil {
		return err
	}
	dst := filepath.Join(stage, strings.TrimPrefix(WriterPath, "/"))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := copyFile(writer, dst); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(stage, strings.TrimPrefix(WriterDir, "/")), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = f.Truncate(int64(DistroImageMB) << 20)
	f.Close()
	if err != nil {
		return err
	}
	if err := runLogged(ctx, logPath, "mkfs.ext4", "-q", "-F", "-L", RootLabel, "-d", stage, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
