package boot

import (
	"context"
	"fmt"
	"strings"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/config"
)

// mountRoot mounts the root device on /sysroot, read-only unless rw,
// loading its filesystem's module first.
func (b *Boot) mountRoot(ctx context.Context, p *config.Plan, m *modules, dev *blockdev.Device, disks Disks) error {
	st := b.log.Begin("mount-root")
	r := p.Root
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
	m.fs.Wait(ctx)
	if mod := blockdev.FSModule(fstype); mod != "" {
		if err := m.loader.Load(ctx, mod); err != nil {
			st.Fail(err)
			return fail("mount-root", err, fmt.Sprintf("rebuild the initramfs with the %s module (netroot build -fs %s)", mod, mod))
		}
	}
	mode := "ro"
	if r.ReadWrite {
		mode = "rw"
	}
	_, err := guarded(b.conns, ctx, func(context.Context) (struct{}, error) {
		return struct{}{}, disks.Mount(dev.Path, newRoot, fstype, !r.ReadWrite, r.Flags)
	})
	if err != nil {
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
