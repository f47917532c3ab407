package main

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/modload"
)

// modules is the module loading of one boot. It runs in batches so the
// kernel's work overlaps with the waits of the network and the login: the
// NIC drivers and bonding/VLAN modules are loaded before the network comes
// up; the iSCSI stack and the filesystem modules load in the background
// (from the start when there is more than one CPU), and the steps that
// need them wait for them.
type modules struct {
	l *modload.Loader
	// iscsi completes when the iSCSI stack (and every other module the
	// plan names) is loaded; fs when the filesystem modules are.
	iscsi, fs *background
}

// background is a batch of modules loading in the background.
type background struct {
	done chan struct{}
	err  error
}

func (g *background) wait(ctx context.Context) error {
	select {
	case <-g.done:
		return g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// networkModules are needed before the network step.
var networkModules = map[string]bool{"bonding": true, "8021q": true}

// fsModules are the filesystems /init can mount a root of.
var fsModules = []string{"ext4", "xfs", "btrfs", "vfat"}

// loadModules loads rd.driver.pre modules and the drivers of the devices
// present (NICs) and the network modules, and starts loading the rest of
// the plan's modules and the filesystem modules in the background.
func (b *boot) loadModules(ctx context.Context) (*modules, error) {
	st := b.log.Begin("modules")
	dir := "/lib/modules/" + b.kernelRelease
	idx, err := modload.LoadIndex(dir)
	if err != nil {
		st.Fail(err)
		have, _ := filepath.Glob("/lib/modules/*")
		return nil, fail("modules", fmt.Errorf("no module index for kernel %s: %w", b.kernelRelease, err),
			fmt.Sprintf("the initramfs carries modules for %v: rebuild it with netroot build -modules /lib/modules/%s", baseNames(have), b.kernelRelease))
	}
	params := map[string][]string{}
	for k, v := range b.plan.Modules.Params {
		params[k] = append([]string(nil), v...)
	}
	// Without max_bonds=0 the bonding module creates a bond0 of its own.
	if !modload.HasParam(params["bonding"], "max_bonds") {
		params["bonding"] = append(params["bonding"], "max_bonds=0")
	}
	l := &modload.Loader{
		Index:     idx,
		Sys:       modload.KernelSyscalls{},
		Params:    params,
		Blacklist: b.plan.Modules.Blacklist,
		Logf:      b.log.Debugf,
	}
	// Devices that appear after the sysfs scan — created by a probe that
	// runs asynchronously (every driver with rd.netroot.async_probe, some
	// on their own), or hardware that shows up late — come as uevents,
	// subscribed to before any driver loads; hotplug loads their drivers.
	uevents, err := blockdev.NewWatcher()
	if err != nil {
		msg := "drivers of devices that appear after the first scan will not be loaded"
		if b.plan.Boot.AsyncProbe {
			msg += "; rd.netroot.async_probe ignored"
		}
		b.log.Warnf("modules: %v: %s", err, msg)
	} else {
		l.AsyncProbe = b.plan.Boot.AsyncProbe
	}
	if len(b.plan.Modules.Pre) > 0 {
		if err := l.Load(ctx, b.plan.Modules.Pre...); err != nil {
			if uevents != nil {
				uevents.Close()
			}
			st.Fail(err)
			return nil, fail("modules", err, "check rd.driver.pre=")
		}
	}
	var netMods, rest []string
	for _, m := range b.plan.NeededModules() {
		if networkModules[m] {
			netMods = append(netMods, m)
		} else {
			rest = append(rest, m)
		}
	}
	// The iSCSI stack, then the filesystem modules, load in the
	// background at nice 19 (modload.Niced), so that their kernel work
	// takes the CPU time the network steps leave idle instead of slowing
	// them down. With more than one CPU the iSCSI stack starts now, beside
	// the NIC drivers, and is ready before the login needs it (a third
	// batch at once would only contend with the NIC drivers for the CPUs);
	// with one, the NIC drivers' loading leaves no CPU idle (the summary's
	// idle figure is 0.00 s there), so the batches start after it.
	bg := l.WithSys(modload.Niced{Sys: l.Sys, Nice: 19})
	m := &modules{l: l}
	startBackground := func() {
		m.iscsi = b.loadBackground(ctx, bg, "modules-plan", rest, nil)
		m.fs = b.loadBackground(ctx, bg, "modules-fs", b.fsCandidates(idx), m.iscsi)
	}
	oneCPU := runtime.NumCPU() == 1
	if !oneCPU {
		startBackground()
	}

	var (
		wg      sync.WaitGroup
		devMods []string
		devErr  error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer recoverInto(&devErr)
		devMods, devErr = l.LoadForDevices(ctx)
	}()
	netErr := l.Load(ctx, netMods...)
	if netErr == nil {
		b.prepareBonds()
	}
	wg.Wait()
	if uevents != nil {
		b.stopHotplug = b.hotplug(ctx, l, uevents)
	}
	if netErr != nil {
		st.Fail(netErr)
		return nil, fail("modules", netErr, "rebuild the initramfs with this kernel's modules (netroot build -modules DIR)")
	}
	if devErr != nil {
		// A driver failing for some device is worth a warning, not a stop:
		// the NICs the plan needs are checked when the network comes up.
		for _, e := range unjoin(devErr) {
			b.log.Warnf("modules: %v", e)
		}
	}
	all := append(append([]string(nil), devMods...), netMods...)
	sort.Strings(all)
	st.Done("%d loaded for devices and network: %s", len(all), strings.Join(compact(all), " "))
	if oneCPU {
		startBackground()
	}
	return m, nil
}

// hotplug loads the drivers of the devices the kernel adds from now on
// (those an asynchronous probe creates, or hardware that shows up late),
// read from uevents, until the returned function is called; that function
// waits for a load in progress. Should the uevent socket fail (its queue
// overflowed), sysfs is scanned again, so no device is missed.
func (b *boot) hotplug(ctx context.Context, l *modload.Loader, uevents *blockdev.Watcher) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	next := func(ctx context.Context) (string, error) {
		for {
			ev, err := uevents.Next(ctx)
			if err != nil {
				return "", err
			}
			if a := ev.Env["MODALIAS"]; ev.Action == "add" && a != "" {
				return a, nil
			}
		}
	}
	report := func(alias string, loaded []string, err error) {
		if len(loaded) > 0 {
			b.log.Printf("modules: %s for a device added since (%s)", strings.Join(loaded, " "), alias)
		}
		if err != nil {
			for _, e := range unjoin(err) {
				b.log.Warnf("modules: %v", e)
			}
		}
	}
	go func() {
		defer close(done)
		defer uevents.Close()
		err := recovered(func() error {
			const maxFailures = 3
			for failures := 1; ; failures++ {
				err := l.LoadForNewDevices(ctx, next, report)
				if ctx.Err() != nil {
					return nil
				}
				if failures == maxFailures {
					return err
				}
				b.log.Debugf("modules: uevents: %v; scanning sysfs again", err)
				loaded, err := l.LoadForDevices(ctx)
				report("sysfs", loaded, err)
			}
		})
		if err != nil {
			b.log.Warnf("modules: no longer loading drivers for devices added later: %v", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// fsCandidates are the filesystem modules to load ahead of the mount:
// rootfstype='s, or, when the type is to be detected, every filesystem
// module the initramfs carries (it carries only those asked for).
func (b *boot) fsCandidates(idx *modload.Index) []string {
	if t := b.plan.Root.FSType; t != "" {
		return []string{blockdev.FSModule(t)}
	}
	var out []string
	for _, m := range fsModules {
		if _, ok := idx.Module(m); ok {
			out = append(out, m)
		}
	}
	return out
}

// loadBackground loads names in the background after the batch after (if
// any) is done, logging the step when it ends.
func (b *boot) loadBackground(ctx context.Context, l *modload.Loader, step string, names []string, after *background) *background {
	g := &background{done: make(chan struct{})}
	go func() {
		defer close(g.done)
		defer recoverInto(&g.err)
		if after != nil {
			<-after.done
		}
		if len(names) == 0 {
			return
		}
		st := b.log.Begin(step)
		if g.err = l.Load(ctx, names...); g.err != nil {
			st.Fail(g.err)
			return
		}
		st.Done("%s (in the background)", strings.Join(names, " "))
	}()
	return g
}

func baseNames(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	return out
}

func compact(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// recoverInto turns a panic in a goroutine into an error: a panic in any
// goroutine of PID 1 would otherwise kill it, and the kernel with it.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("internal error: %v", r)
	}
}

// recovered runs fn and returns its error, or a panic in it as an error
// (recoverInto).
func recovered(fn func() error) (err error) {
	defer recoverInto(&err)
	return fn()
}
