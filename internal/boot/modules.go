package boot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/modload"
	"github.com/netroot/netroot/pkg/prio"
)

// modules is what the modules step leaves running. The loading runs in
// batches so the kernel's work overlaps with the waits of the network and
// the login: the NIC drivers and bonding/VLAN modules are loaded before
// the network comes up; the iSCSI stack and the filesystem modules load in
// the background (from the start when there is more than one CPU), and the
// steps that need them wait for them.
type modules struct {
	loader ModuleLoader
	// stack is done when the iSCSI stack (and every other module the
	// plan names) is loaded; fs when the filesystem modules are; post
	// when the modules only rd.driver.post= names are (or failed to).
	stack, fs, post *task.Task[struct{}]
	// bonds are the plan's bonds, created while the NIC drivers probe;
	// nil when they were not (prepareBonds).
	bonds *task.Task[preparedBonds]
	// hotplug loads the drivers of devices added later until cancelled;
	// nil without device events.
	hotplug *task.Task[struct{}]
}

// backgroundProcs are the Go Ps added beyond the CPUs on a machine with
// several: the background batches' inserts (as many as six in flight at
// once) each hold a P for the length of finit_module at nice 19, and a
// niced thread back from it holds its P until the kernel runs it again.
// With only one P per CPU the foreground's goroutines (the NIC drivers'
// batch, the bond, the login) then wait for the runtime's monitor to take
// a P back; with more the kernel's scheduler alone decides, by nice.
const backgroundProcs = 6

// BootProcs is the GOMAXPROCS of the boot on a machine with cpus CPUs. One
// CPU keeps one P: there, idle Ps only wake threads that spin on the CPU
// the boot needs.
func BootProcs(cpus int) int {
	if cpus <= 1 {
		return 1
	}
	return cpus + backgroundProcs
}

// networkModules are needed before the network step.
var networkModules = []string{"bonding", "8021q"}

// loadModules loads rd.driver.pre modules, the drivers of the devices
// present (NICs) and the network modules, and starts loading the rest of
// the plan's modules and the filesystem modules in the background.
func (b *Boot) loadModules(ctx context.Context, p *config.Plan, release string, mods Modules, links Links, cpus int) (*modules, error) {
	st := b.log.Begin("modules")
	post := p.PostModules()
	o := ModuleOptions{Params: moduleParams(p.Modules.Params), Blacklist: p.Modules.Blacklist, NoAutoload: post, Logf: b.log.Debugf}
	// Devices that appear after the sysfs scan — created by a probe that
	// runs asynchronously (every driver with rd.netroot.async_probe, some
	// on their own), or hardware that shows up late — come as uevents,
	// subscribed to before any driver loads; hotplug loads their drivers.
	events, err := mods.WatchDevices()
	if err != nil {
		msg := "drivers of devices that appear after the first scan will not be loaded"
		if p.Boot.AsyncProbe {
			msg += "; rd.netroot.async_probe ignored"
		}
		b.log.Warnf("modules: %v: %s", err, msg)
		events = nil
	} else {
		o.AsyncProbe = p.Boot.AsyncProbe
	}
	closeEvents := func() {
		if events != nil {
			events.Close()
		}
	}
	l, err := mods.Open(release, o)
	if err != nil {
		closeEvents()
		st.Fail(err)
		return nil, fail("modules", fmt.Errorf("no module index for kernel %s: %w", release, err),
			fmt.Sprintf("the initramfs carries modules for %v: rebuild it with netroot build -modules /lib/modules/%s", mods.Releases(), release))
	}
	if len(p.Modules.Pre) > 0 {
		if err := l.Load(ctx, p.Modules.Pre...); err != nil {
			closeEvents()
			st.Fail(err)
			return nil, fail("modules", err, "check rd.driver.pre=")
		}
	}
	netMods, rest := moduleBatches(slices.DeleteFunc(p.NeededModules(), func(m string) bool { return slices.Contains(post, m) }))
	// The iSCSI stack, then the filesystem modules, load in the
	// background at nice 19, so that their kernel work takes the CPU time
	// the network steps leave idle instead of slowing them down. With more
	// than one CPU the iSCSI stack starts now, beside the NIC drivers, and
	// is ready before the login needs it (a third batch at once would only
	// contend with the NIC drivers for the CPUs); with one, the NIC
	// drivers' loading leaves no CPU idle (the summary's idle figure is
	// 0.00 s there), so the batches start after it.
	m := &modules{loader: l}
	startBackground := func() {
		m.stack = b.loadBackground(ctx, l, "modules-plan", rest, nil)
		m.fs = b.loadBackground(ctx, l, "modules-fs", fsCandidates(p, l.Carries), m.stack)
		m.post = b.loadPost(ctx, l, post, m.fs)
	}
	oneCPU := cpus == 1
	if !oneCPU {
		startBackground()
	}
	devices := task.Go(ctx, l.LoadForDevices)
	netErr := l.Load(ctx, netMods...)
	if netErr == nil {
		m.bonds = b.prepareBonds(ctx, p, links)
	}
	devMods, devErr := devices.Wait(context.Background())
	if events != nil {
		m.hotplug = b.hotplug(ctx, l, events)
	}
	if netErr != nil {
		st.Fail(netErr)
		return nil, fail("modules", netErr, "rebuild the initramfs with this kernel's modules (netroot build -modules DIR)")
	}
	if devErr != nil {
		// A driver failing for some device is worth a warning, not a stop:
		// the NICs the plan needs are checked when the network comes up.
		b.warn("modules", devErr)
	}
	all := slices.Compact(slices.Sorted(slices.Values(slices.Concat(devMods, netMods))))
	st.Done("%d loaded for devices and network: %s", len(all), strings.Join(all, " "))
	if oneCPU {
		startBackground()
	}
	return m, nil
}

// moduleParams copies the plan's module parameters, adding max_bonds=0 to
// bonding's: without it the bonding module creates a bond0 of its own.
func moduleParams(plan map[string][]string) map[string][]string {
	params := make(map[string][]string, len(plan)+1)
	for k, v := range plan {
		params[k] = slices.Clone(v)
	}
	if !modload.HasParam(params["bonding"], "max_bonds") {
		params["bonding"] = append(params["bonding"], "max_bonds=0")
	}
	return params
}

// moduleBatches splits the plan's modules into those the network step
// needs (loaded in the foreground) and the rest (the iSCSI stack and what
// else the plan names, loaded in the background).
func moduleBatches(needed []string) (network, rest []string) {
	for _, m := range needed {
		if slices.Contains(networkModules, m) {
			network = append(network, m)
		} else {
			rest = append(rest, m)
		}
	}
	return network, rest
}

// fsCandidates are the filesystem modules to load ahead of the mount:
// rootfstype='s; when the type is to be detected, ext4 (the common root,
// and netroot build's first -fs) if the initramfs carries it, else every
// filesystem module it carries. Another type is loaded when the mount
// step finds it on the disk: preloading every module carried would put
// xfs's and btrfs's (whose raid6 and xor modules benchmark their
// algorithms as they load) on the way to the mount, seconds of CPU on a
// slow machine.
func fsCandidates(p *config.Plan, carries func(string) bool) []string {
	if t := p.Root.FSType; t != "" {
		return []string{blockdev.FSModule(t)}
	}
	if ext4 := blockdev.FSModule("ext4"); carries(ext4) {
		return []string{ext4}
	}
	return slices.DeleteFunc(blockdev.FSModules(), func(m string) bool { return !carries(m) })
}

// loadBackground loads names at nice 19 after the batch after (if any) is
// done, logging the step when it ends.
func (b *Boot) loadBackground(ctx context.Context, l ModuleLoader, step string, names []string, after *task.Task[struct{}]) *task.Task[struct{}] {
	return goTask(b, ctx, step, func(ctx context.Context) (struct{}, error) {
		if after != nil {
			select {
			case <-after.Done():
			case <-ctx.Done():
				return struct{}{}, ctx.Err()
			}
		}
		if len(names) == 0 {
			return struct{}{}, nil
		}
		st := b.log.BeginBackground(step)
		if err := l.LoadNiced(ctx, prio.Background, names...); err != nil {
			st.Fail(err)
			return struct{}{}, err
		}
		st.Done("%s (in the background)", strings.Join(names, " "))
		return struct{}{}, nil
	})
}

// loadPost loads the modules only rd.driver.post= names once the other
// batches are done, as dracut's insmodpost does once udev settled: one
// that fails to load is warned of, and the boot goes on, as dracut's.
func (b *Boot) loadPost(ctx context.Context, l ModuleLoader, names []string, after *task.Task[struct{}]) *task.Task[struct{}] {
	batch := b.loadBackground(ctx, l, "modules-post", names, after)
	return goTask(b, ctx, "modules-post", func(ctx context.Context) (struct{}, error) {
		if _, err := batch.Wait(ctx); err != nil && ctx.Err() == nil {
			b.warn("modules-post", hint.Wrap(err, "rd.driver.post= modules are loaded as dracut loads them: one that fails does not stop the boot"))
		}
		return struct{}{}, nil
	})
}

// preparedBonds are the plan's bonds by name, created while the NICs'
// drivers probe, each with why it could not be made.
type preparedBonds map[string]preparedBond

type preparedBond struct {
	bond Bond
	err  error
}

// prepareBonds creates the plan's bonds in the background, up and without
// slaves, as soon as the bonding module is loaded: creating a bond is tens
// of milliseconds of kernel work (more under emulation) that then overlaps
// with the NIC drivers' probes instead of following them. The network
// step enslaves the NICs. Not done when rd.break=pre-net asks to stop
// before the network is touched.
func (b *Boot) prepareBonds(ctx context.Context, p *config.Plan, links Links) *task.Task[preparedBonds] {
	if len(p.Net.Bonds) == 0 || slices.Contains(p.Boot.Breaks, "pre-net") {
		return nil
	}
	return goTask(b, ctx, "bond", func(context.Context) (preparedBonds, error) {
		out := make(preparedBonds, len(p.Net.Bonds))
		for _, bc := range p.Net.Bonds {
			bd, err := links.CreateBond(bondConfig(bc))
			out[bc.Name] = preparedBond{bond: bd, err: err}
		}
		return out, nil
	})
}

// bondConfig translates a bond= entry.
func bondConfig(bc config.Bond) bond.Config {
	cfg := bond.Config{Name: bc.Name, MTU: bc.MTU}
	for _, o := range bc.Options {
		cfg.Options = append(cfg.Options, bond.Option{Name: o.Name, Value: o.Value})
	}
	return cfg
}

// hotplug loads the drivers of the devices the kernel adds from now on
// (those an asynchronous probe creates, or hardware that shows up late),
// read from events, until the task is cancelled. Should the events fail
// (their socket's queue overflowed), sysfs is scanned again, so no device
// is missed.
func (b *Boot) hotplug(ctx context.Context, l ModuleLoader, events DeviceEvents) *task.Task[struct{}] {
	report := func(alias string, loaded []string, err error) {
		if len(loaded) > 0 {
			b.log.Printf("modules: %s for a device added since (%s)", strings.Join(loaded, " "), alias)
		}
		if err != nil {
			b.warn("modules", err)
		}
	}
	return goTask(b, ctx, "modules", func(ctx context.Context) (struct{}, error) {
		defer events.Close()
		const maxFailures = 3
		for failures := 1; ; failures++ {
			err := l.LoadForNewDevices(ctx, events.Next, report)
			if ctx.Err() != nil {
				return struct{}{}, nil
			}
			if failures == maxFailures {
				b.log.Warnf("modules: no longer loading drivers for devices added later: %v", err)
				return struct{}{}, err
			}
			b.log.Debugf("modules: uevents: %v; scanning sysfs again", err)
			loaded, err := l.LoadForDevices(ctx)
			report("sysfs", loaded, err)
		}
	})
}

// stopHotplug ends the uevent loop and waits for a load in progress.
func (m *modules) stopHotplug() {
	if m.hotplug == nil {
		return
	}
	m.hotplug.Cancel()
	m.hotplug.Wait(context.Background())
}
