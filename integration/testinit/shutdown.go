package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// initramfs is where /init leaves its shutdown role (systemd's initrd
// interface, https://systemd.io/INITRD_INTERFACE/).
const initramfs = "/run/initramfs"

// shutdownThroughInitramfs powers the guest off the way systemd-shutdown
// ends a real OS's shutdown: when /init left a shutdown role in
// /run/initramfs, return into that directory (the real root moved to
// /oldroot, /proc, /sys, /dev and /run bound below it) and run it as
// "/shutdown poweroff", which unmounts the root and logs out of the
// sessions before the power goes off. Powering off with a session still
// logged in is not what a real OS does, and the guest kernel can hang
// there (its iSCSI transmit worker spins on a virtio NIC that
// device_shutdown has reset). Without a role (rd.netroot.osconfig=0), or
// if the return fails, it powers off at once, as systemd does.
func shutdownThroughInitramfs() {
	unix.Sync()
	if err := unix.Access(initramfs+"/shutdown", unix.X_OK); err != nil {
		powerOff(false)
	}
	drainConsole()
	if err := returnToInitramfs(); err != nil {
		report("shutdown-return", "<"+err.Error()+">")
		powerOff(false)
	}
	err := unix.Exec("/shutdown", []string{"/shutdown", "poweroff"}, os.Environ())
	// The root is /run/initramfs now; its init is gone with the old root.
	report("shutdown-return", "<exec /shutdown: "+err.Error()+">")
	powerOff(false)
}

// returnToInitramfs is systemd-shutdown's switch_root_initramfs: the
// directory made a private mount of its own, the API file systems bound
// into it, and the root pivoted onto it with the old one at /oldroot.
func returnToInitramfs() error {
	if err := unix.Mount(initramfs, initramfs, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", initramfs, err)
	}
	if err := unix.Mount("", initramfs, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", initramfs, err)
	}
	for _, d := range []string{"/proc", "/sys", "/dev", "/run"} {
		if err := unix.Mount(d, initramfs+d, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", d, err)
		}
	}
	if err := unix.Chdir(initramfs); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "oldroot"); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}
