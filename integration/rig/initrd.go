package rig

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// InitrdBuilder is another initramfs generator netroot is compared with
// on a real root (issue 21): Debian's dracut or initramfs-tools, installed
// from the mirror into a bookworm chroot of its own (so the machine's
// packages stay as they are) and run there for the guest kernel.
type InitrdBuilder struct {
	// Name names the builder and its cache directory.
	Name string
	// Packages are installed into the builder's chroot.
	Packages []string
	// Files are written into the chroot before Script runs.
	Files map[string]string
	// Script runs in the chroot with $KVER set and writes /initrd.img.
	Script string
	// Cmdline boots the real root with the image: the scenario in the
	// builder's own syntax.
	Cmdline string
	// About says how the image is made.
	About string
}

// The builders, set up as the facts in NOTES found they boot this rig:
// dracut with its legacy network module (the bond from the cmdline) and
// iscsi, with Debian's iscsid pre-start script; initramfs-tools with
// open-iscsi's hook on one NIC (it cannot bond). Both keep kernel names
// (net.ifnames=0), as their command lines name eth0/eth1.
var (
	Dracut = InitrdBuilder{
		Name:     "dracut",
		Packages: []string{"dracut", "dracut-network", "open-iscsi", "isc-dhcp-client", "iputils-arping"},
		Script: `dracut --force --no-hostonly --no-hostonly-cmdline --kver "$KVER" --compress gzip \
	-m "systemd systemd-initrd dracut-systemd base fs-lib rootfs-block kernel-modules kernel-network-modules udev-rules network-legacy network iscsi shutdown" \
	-I /lib/open-iscsi/startup-checks.sh /initrd.img`,
		Cmdline: RealRootCmdline + " net.ifnames=0",
		About:   "Debian 12's dracut 059: --no-hostonly, systemd + network-legacy + iscsi, gzip; the bond on the cmdline",
	}
	InitramfsTools = InitrdBuilder{
		Name:     "initramfs-tools",
		Packages: []string{"initramfs-tools-core", "open-iscsi"},
		// open-iscsi's hook carries iSCSI into the image when this file
		// exists; the target comes from the command line.
		Files: map[string]string{"etc/iscsi/iscsi.initramfs": ""},
		// mkinitramfs reads /boot/config-$KVER (copied in by BuildInitrd).
		Script: `mkinitramfs -o /initrd.img "$KVER"`,
		Cmdline: "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:eth0:off " +
			"iscsi_initiator=" + InitiatorIQN + " iscsi_target_name=" + TargetIQN +
			" iscsi_target_ip=10.77.0.1 iscsi_target_port=3260 root=LABEL=" + RootLabel + " rw net.ifnames=0",
		About: "Debian 12's initramfs-tools 0.142 with open-iscsi's hook (MODULES=most), one NIC",
	}
)

// BuildInitrd returns the initramfs b makes for kernel k, building its
// chroot and the image unless cached under $NETROOT_CACHE/distro.
func BuildInitrd(ctx context.Context, b InitrdBuilder, k *Kernel) (string, error) {
	root, unlock, err := lockDistroCache()
	if err != nil {
		return "", err
	}
	defer unlock()
	d := Distro{Name: "initrd-" + b.Name, Suite: "bookworm", Packages: b.Packages, Files: b.Files}
	variant, treeKey, err := buildTree(ctx, root, d, k, func(string, bool, time.Duration) {})
	if err != nil {
		return "", err
	}
	out := filepath.Join(variant, "initrd-"+recipeHash(treeKey, b.Script)+".img")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	tree := filepath.Join(variant, "tree")
	config := filepath.Join(filepath.Dir(k.Vmlinuz), "config-"+k.Version)
	if err := os.MkdirAll(filepath.Join(tree, "boot"), 0o755); err != nil {
		return "", err
	}
	if err := copyFile(config, filepath.Join(tree, "boot", "config-"+k.Version)); err != nil {
		return "", fmt.Errorf("rig: %s needs the kernel's config: %w", b.Name, err)
	}
	logPath := filepath.Join(variant, "initrd.log")
	script := "export KVER=" + k.Version + "\nrm -f /initrd.img\n" + b.Script + "\n"
	if err := chrootScript(ctx, tree, logPath, script); err != nil {
		return "", fmt.Errorf("rig: %s: %w (log in %s)", b.Name, err, logPath)
	}
	if err := os.Rename(filepath.Join(tree, "initrd.img"), out); err != nil {
		return "", err
	}
	old, _ := filepath.Glob(filepath.Join(variant, "initrd-*.img"))
	for _, p := range old {
		if p != out {
			os.Remove(p)
		}
	}
	return out, nil
}
