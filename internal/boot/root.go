package boot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/netroot/netroot/internal/task"
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
	m.post.Wait(ctx) // rd.driver.post='s, before the root is mounted, as dracut's
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
	// rootflags= is mount(8)'s -o, as dracut passes it: its flag words
	// are mount(2)'s flags, the rest the filesystem's data; ro/rw are the
	// plan's (which weighed rootflags' own).
	o, err := blockdev.ParseMountOptions(r.Flags)
	if err != nil {
		st.Fail(err)
		return fail("mount-root", fmt.Errorf("rootflags=%s: %w", r.Flags, err), "check rootflags=")
	}
	flags := o.Flags
	if !r.ReadWrite {
		flags |= blockdev.MountReadOnly
	}
	// rd.retry bounds the mount as it bounds the other waits for the
	// root: a target gone while the kernel reads the superblock or
	// replays the journal would hold it for as long as the keeper's
	// recovery takes.
	mctx, cancel := context.WithTimeout(ctx, p.Boot.Retry)
	defer cancel()
	_, err = guarded(b.conns, mctx, func(ctx context.Context) (struct{}, error) {
		// Waited for until ctx ends; a mount stuck in the kernel is
		// left behind.
		return task.Do(ctx, func(context.Context) error {
			return disks.Mount(dev.Path, newRoot, fstype, flags, o.Data)
		}).Wait(ctx)
	})
	// ro or rw, then the flag words (noatime …)
	how := strings.TrimSuffix(mode+","+o.Flags.String(), ",")
	if err != nil {
		hint := "check rootfstype= and rootflags=; the kernel log (dmesg) says more"
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("not mounted within %s s", p.Boot.RetryLimit())
			hint = "the root's target stopped answering? the keeper's lines say whether it is logging in again; rd.retry= bounds the wait"
		}
		err = fmt.Errorf("mounting %s (%s) on %s %s with data %q: %w", dev.Path, fstype, newRoot, how, o.Data, err)
		st.Fail(err)
		return fail("mount-root", err, hint)
	}
	if o.Data != "" {
		how += "," + o.Data
	}
	st.Done("%s %s on %s (%s)", dev.Path, fstype, newRoot, how)
	return nil
}
