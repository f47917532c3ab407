package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/netroot/netroot/pkg/blockdev"
	"golang.org/x/sys/unix"
)

// attachRoot logs in to the iSCSI targets and waits for the device root=
// names. The uevent watcher is subscribed before the logins so no disk
// or partition that appears meanwhile is missed.
func (b *boot) attachRoot(ctx context.Context, mods *modules) (*blockdev.Device, error) {
	sel, err := blockdev.ParseSelector(b.plan.Root.Spec())
	if err != nil {
		return nil, fail("root", err, "check root=")
	}
	w, err := blockdev.NewWatcher()
	if err != nil {
		return nil, fail("root", err, "the kernel needs CONFIG_NET and uevents")
	}
	defer w.Close()
	scanner := blockdev.NewScanner()

	if err := b.loginTargets(ctx, mods.iscsi.wait, w, scanner); err != nil {
		return nil, err
	}

	st := b.log.Begin("root")
	wctx, cancel := context.WithTimeout(ctx, b.plan.Boot.Retry)
	defer cancel()
	dev, err := w.WaitFor(wctx, sel, scanner.Scan)
	if err != nil {
		st.Fail(err)
		return nil, fail("root", err, "check root= against the devices listed")
	}
	st.Done("%s is %s", sel, dev)
	return dev, nil
}

// mountRoot mounts the root device on /sysroot, read-only unless rw,
// loading its filesystem's module first.
func (b *boot) mountRoot(ctx context.Context, mods *modules, dev *blockdev.Device) error {
	st := b.log.Begin("mount-root")
	r := b.plan.Root
	fstype := r.FSType
	if fstype == "" {
		fstype = dev.FSType
	}
	if fstype == "" {
		err := fmt.Errorf("no filesystem recognised on %s", dev.Path)
		st.Fail(err)
		return fail("mount-root", err, "set rootfstype= or check the root device")
	}
	// The filesystem modules were loading in the background; a failure
	// there matters only if the one needed now does not load either.
	mods.fs.wait(ctx)
	if m := blockdev.FSModule(fstype); m != "" {
		if err := mods.l.Load(ctx, m); err != nil {
			st.Fail(err)
			return fail("mount-root", err, fmt.Sprintf("rebuild the initramfs with the %s module (netroot build -fs %s)", m, m))
		}
	}
	var flags uintptr = unix.MS_RDONLY
	mode := "ro"
	if r.ReadWrite {
		flags, mode = 0, "rw"
	}
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return fail("mount-root", err, "")
	}
	if err := unix.Mount(dev.Path, newRoot, fstype, flags, r.Flags); err != nil {
		err = fmt.Errorf("mounting %s (%s) on %s %s with %q: %w", dev.Path, fstype, newRoot, mode, r.Flags, err)
		st.Fail(err)
		return fail("mount-root", err, "check rootfstype= and rootflags=; the kernel log (dmesg) says more")
	}
	opts := mode
	if r.Flags != "" {
		opts += "," + r.Flags
	}
	st.Done("%s %s on %s (%s)", dev.Path, fstype, newRoot, strings.TrimSuffix(opts, ","))
	return nil
}
