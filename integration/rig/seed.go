package rig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/netroot/netroot/pkg/initramfs"
	"github.com/netroot/netroot/pkg/modload"
)

// SeedKind selects a baseline initramfs for the benchmark.
type SeedKind int

// The baselines.
const (
	// SeedSleep is the classic hand-written initramfs: busybox sh /init,
	// insmod in dependency order, bond via sysfs, iscsid + iscsiadm, then
	// `sleep 5` before mounting the root.
	SeedSleep SeedKind = iota
	// SeedPoll is the same with the sleep replaced by a poll for the root
	// (the fairest version of the seed).
	SeedPoll
	// Floor loads the same modules and nothing else, then execs the test
	// root's init (carried in the initramfs), which reports the uptime as
	// it does on the real root: the unavoidable cost up to the same end
	// point as the other images.
	Floor
)

func (k SeedKind) String() string {
	return [...]string{"seed (sleep 5)", "seed (poll)", "floor (modules only)"}[k]
}

// SeedModules are the modules every benchmark image carries: what the
// scenario needs, and the virtio NIC driver the seed knows it has.
var SeedModules = []string{"virtio_pci", "virtio_net", "bonding", "iscsi_tcp", "sd_mod", "crc32c_generic", "ext4"}

// BuildSeed writes a baseline initramfs for the scenario (static address
// on an active-backup bond0 of eth0+eth1, target rig.TargetIQN at LUN 1,
// root LABEL=RootLabel) to out, gzip-compressed. It needs busybox-static
// on the host and fetches open-iscsi's packages with apt-get download.
func (e *Env) BuildSeed(ctx context.Context, kind SeedKind, out string) (raw int64, err error) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return 0, fmt.Errorf("rig: the seed images need busybox-static: %w", err)
	}
	a := initramfs.New()
	if err := a.AddHostFile("bin/busybox", busybox, 0o755); err != nil {
		return 0, err
	}
	for _, applet := range []string{"sh", "mount", "mkdir", "insmod", "ip", "sleep", "usleep", "echo", "cat", "cut",
		"findfs", "switch_root", "poweroff", "ls"} {
		if err := a.AddSymlink("bin/"+applet, "busybox"); err != nil {
			return 0, err
		}
	}
	for _, d := range []string{"dev", "proc", "sys", "run", "newroot", "etc/iscsi/nodes", "etc/iscsi/send_targets",
		"etc/iscsi/ifaces", "var/lib/iscsi", "run/lock/iscsi", "tmp"} {
		if err := a.AddDir(d, 0o755); err != nil {
			return 0, err
		}
	}
	if err := a.AddCharDev("dev/console", 0o600, 5, 1); err != nil {
		return 0, err
	}

	// Modules, in dependency order, for insmod.
	idx, err := modload.ScanTree(e.Kernel.ModulesDir)
	if err != nil {
		return 0, err
	}
	order, err := idx.Resolve(SeedModules...)
	if err != nil {
		return 0, err
	}
	var insmods []string
	for _, n := range order {
		m, ok := idx.Module(n)
		if !ok || n == "crc32c_intel" { // builtin; or needs SSE4.2, which TCG lacks
			continue
		}
		dst := "lib/modules/" + m.Path
		if err := a.AddHostFile(dst, filepath.Join(e.Kernel.ModulesDir, m.Path), 0o644); err != nil {
			return 0, err
		}
		insmods = append(insmods, "/"+dst)
	}

	var script string
	switch kind {
	case Floor:
		if err := a.AddHostFile("sbin/init", e.TestInit, 0o755); err != nil {
			return 0, err
		}
		script = floorScript(insmods)
	default:
		if err := e.addOpenISCSI(ctx, a); err != nil {
			return 0, err
		}
		script = seedScript(insmods, kind == SeedPoll)
	}
	if err := a.AddFile("init", []byte(script), 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	raw, err = a.Write(f, "gzip")
	if err != nil {
		return 0, err
	}
	return raw, f.Close()
}

const seedPrologue = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
`

func insmodLines(mods []string) string {
	var b strings.Builder
	for _, m := range mods {
		fmt.Fprintf(&b, "insmod %s\n", m)
	}
	return b.String()
}

func floorScript(mods []string) string {
	return seedPrologue + insmodLines(mods) + "exec /sbin/init\n"
}

func seedScript(mods []string, poll bool) string {
	wait := "sleep 5\n"
	if poll {
		wait = "while ! findfs LABEL=" + RootLabel + " >/dev/null 2>&1; do usleep 20000; done\n"
	}
	prologue := seedPrologue
	if os.Getenv("NETROOT_SEED_TRACE") != "" {
		prologue += "set -x\n"
	}
	return prologue + insmodLines(mods) + `
echo active-backup > /sys/class/net/bond0/bonding/mode
echo 100 > /sys/class/net/bond0/bonding/miimon
ip link set eth0 down
ip link set eth1 down
echo +eth0 > /sys/class/net/bond0/bonding/slaves
echo +eth1 > /sys/class/net/bond0/bonding/slaves
ip link set bond0 up
ip addr add 10.77.0.10/24 dev bond0
echo InitiatorName=` + InitiatorIQN + ` > /etc/iscsi/initiatorname.iscsi
iscsid
iscsiadm -m discovery -t sendtargets -p ` + HostAddr + `:3260 || echo "seed: discovery failed: $?"
iscsiadm -m node -T ` + TargetIQN + ` -p ` + HostAddr + `:3260 --login || echo "seed: login failed: $?"
` + wait + `mount -t ext4 -o ro $(findfs LABEL=` + RootLabel + `) /newroot
exec switch_root /newroot /sbin/init
echo "netroot: FATAL seed init: switch_root failed"
poweroff -f
`
}

// addOpenISCSI adds Debian's iscsid and iscsiadm with every library they
// load and the accounts iscsid needs (OpenISCSIFiles).
func (e *Env) addOpenISCSI(ctx context.Context, a *initramfs.Archive) error {
	files, err := OpenISCSIFiles(ctx)
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(OpenISCSIAccounts) {
		if err := a.AddFile(name, []byte(OpenISCSIAccounts[name]), 0o644); err != nil {
			return err
		}
	}
	for _, dst := range sortedKeys(files) {
		perm := os.FileMode(0o755)
		if strings.HasPrefix(dst, "etc/") {
			perm = 0o600
		}
		if err := a.AddHostFile(dst, files[dst], perm); err != nil {
			return err
		}
	}
	return nil
}
