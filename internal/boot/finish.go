package boot

import (
	"context"
	"strings"
	"time"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/bootlog"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/shutdown"
	"github.com/netroot/netroot/pkg/switchroot"
)

// prefetchInit starts reading the real init and the libraries it needs
// from the new root into memory while the timeline, the hints and the
// keeper are handled: on a network root, exec would otherwise fault them
// in page by page, a round trip to the target each.
func (b *Boot) prefetchInit(ctx context.Context, p *config.Plan, sw Switcher) {
	goTask(b, ctx, "prefetch", func(context.Context) (struct{}, error) {
		start := time.Now()
		files, err := sw.Prefetch(newRoot, p.Root.Init)
		if err != nil {
			b.log.Debugf("prefetch: %v", err)
		}
		b.log.Debugf("prefetch: asked for %d file(s) of %s in %.3fs: %s", len(files), p.Root.Init,
			time.Since(start).Seconds(), strings.Join(files, " "))
		return struct{}{}, nil
	})
}

// switchRoot waits for the real OS's configuration, writes the timeline,
// waits for the work beside the boot (the keeper's hand-over, the disks'
// settings), ends the uevent loop and hands over to the real init.
func (b *Boot) switchRoot(p *config.Plan, idleAtStart float64, m *modules, a attached, keeperTask, osConfig *task.Task[struct{}],
	sys System, files Files, sw Switcher) error {
	osConfig.Wait(context.Background())
	for _, iface := range b.osNet.close() {
		b.log.Warnf("ip: %s still has no lease as the root is switched to (rd.iscsi.waitnet=0): its DHCP ends with /init; "+
			"the paths through it stay down until the real OS's network stack configures it", iface)
	}
	use := sys.Usage()
	if idle := sys.IdleSeconds(); idle >= 0 && idleAtStart >= 0 {
		use.Idle = idle - idleAtStart
	}
	b.log.RootReady(use)
	tl := b.log.Timeline()
	if err := writeTimeline(files, tl); err != nil {
		b.log.Warnf("writing the timeline: %v", err)
	}
	b.log.Printf("%s", bootlog.Summary(tl))
	b.log.Printf("switching to the root on %s, starting %s", newRoot, p.Root.Init)
	if keeperTask != nil {
		keeperTask.Wait(context.Background())
	}
	b.conns.stop() // the keeper has the sessions, or nobody will

	for _, t := range a.tuning {
		t.Wait(context.Background())
	}
	m.stopHotplug()
	b.reportPanics()
	sys.RestoreKmsgLimit()
	var keep []string
	if b.shutdownBound {
		keep = []string{shutdown.InitramfsDir}
	}
	err := sw.SwitchRoot(switchroot.Options{
		NewRoot: newRoot,
		Init:    p.Root.Init,
		Args:    b.opts.Args,
		Env:     handedEnv(b.opts.Environ),
		Keep:    keep,
	})
	if err == nil { // only a fake returns
		return nil
	}
	return fail("switch_root", err, "check init= and that the root image has an init")
}

// writeTimeline writes /run/netroot/timeline.json.
func writeTimeline(files Files, tl bootlog.Timeline) error {
	data, err := tl.JSON()
	if err != nil {
		return err
	}
	return files.WriteFile(timelineFile, data, 0o644)
}
