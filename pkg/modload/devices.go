package modload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/sysfs"
)

// This file loads the drivers of devices: it reads the modaliases of the
// devices in sysfs (and of those the kernel adds later, from uevents),
// matches them against the index's aliases and loads the drivers, round
// after round, until no new device needs one.

func (l *Loader) sysfsRoot() string {
	if l.SysfsRoot == "" {
		return sysfs.Sys.Root
	}
	return l.SysfsRoot
}

// DeviceModaliases returns the modalias of every device on every bus under
// sysfsRoot (sysfsRoot/bus/*/devices/*/modalias), each once, sorted. A
// device that vanishes while being read is skipped.
func DeviceModaliases(sysfsRoot string) ([]string, error) {
	return newDeviceScanner(sysfsRoot).scan(nil)
}

// firstBuses carry the devices a network boot waits for (NICs, storage
// adapters). LoadForDevices reads them before the other buses, whose
// devices (ACPI objects, CPUs, memory blocks…) are many and slow to read
// under emulation, so the NIC drivers start loading that much sooner.
var firstBuses = []string{"pci", "usb", "virtio", "vmbus", "xen"}

// deviceScanner reads device modaliases from sysfs, each device once: a
// later scan reads only the devices that appeared since. sysfs is slow to
// walk (every path is resolved through the bus's symlinks; under emulation
// a full scan of a small VM takes ~0.1 s), so it lists each bus's devices
// directory and opens only the modalias files of devices it has not seen.
type deviceScanner struct {
	root string
	seen map[string]bool // bus/device
}

func newDeviceScanner(sysfsRoot string) *deviceScanner {
	return &deviceScanner{root: sysfsRoot, seen: map[string]bool{}}
}

// scan returns the distinct modaliases of the devices not seen before on
// the buses named in only (every bus when nil), sorted.
func (d *deviceScanner) scan(only []string) ([]string, error) {
	busDir := filepath.Join(d.root, "bus")
	buses := only
	if buses == nil {
		ents, err := os.ReadDir(busDir)
		if err != nil {
			return nil, fmt.Errorf("listing device modaliases: %w (is sysfs mounted?)", err)
		}
		for _, e := range ents {
			buses = append(buses, e.Name())
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, bus := range buses {
		devDir := filepath.Join(busDir, bus, "devices")
		devs, err := os.ReadDir(devDir)
		if err != nil {
			continue // not a bus directory, or it went away
		}
		for _, dev := range devs {
			key := bus + "/" + dev.Name()
			if d.seen[key] {
				continue
			}
			d.seen[key] = true
			// No modalias, or the device went away: "".
			a := sysfs.FS{Root: devDir}.Value(filepath.Join(dev.Name(), "modalias"))
			if a != "" && !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// candidates returns the modules matching aliases, or the aliases of the
// devices their drivers will create (impliedAliases), that are neither in
// tried nor blacklisted, each once, in the order found.
func (l *Loader) candidates(aliases []string, tried map[string]bool, black func(string) bool) []string {
	var out []string
	for _, a := range aliases {
		for _, a := range append([]string{a}, impliedAliases(a)...) {
			for _, m := range l.Index.MatchAliases(a) {
				if !tried[m] && !black(m) && !slices.Contains(out, m) {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// impliedAliases returns the modaliases of the devices that the driver of
// the device with modalias a will create, where a's IDs tell them. A
// virtio PCI function (vendor 0x1af4) becomes, once virtio_pci probes it,
// a virtio device of the type its IDs encode: device IDs 0x1040–0x107f
// are modern (type = ID − 0x1040), 0x1000–0x103f transitional (type = the
// subsystem device ID), and the subsystem vendor is the virtio vendor
// (virtio spec 1.2, 4.1.2; vp_modern_probe in Linux). Loading that
// device's driver (virtio_net, virtio_blk…) beside virtio_pci lets it bind
// while virtio_pci probes, instead of a sysfs round after: under emulation
// each virtio-pci probe takes ~0.3 s, and the round after them ~0.1 s.
func impliedAliases(a string) []string {
	vendor, device, subVendor, subDevice, ok := parsePCIModalias(a)
	if !ok || vendor != 0x1af4 {
		return nil
	}
	var typ uint32
	switch {
	case device >= 0x1040 && device <= 0x107f:
		typ = device - 0x1040
	case device >= 0x1000 && device < 0x1040:
		typ = subDevice
	default:
		return nil
	}
	if typ == 0 { // 0 is reserved: no device
		return nil
	}
	return []string{fmt.Sprintf("virtio:d%08Xv%08X", typ, subVendor)}
}

// parsePCIModalias reads the IDs of a PCI modalias,
// "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X" (the class fields are not
// needed and not checked).
func parsePCIModalias(a string) (vendor, device, subVendor, subDevice uint32, ok bool) {
	rest, found := strings.CutPrefix(a, "pci:")
	if !found {
		return 0, 0, 0, 0, false
	}
	var ids [4]uint32
	for i, tag := range []string{"v", "d", "sv", "sd"} {
		if !strings.HasPrefix(rest, tag) || len(rest) < len(tag)+8 {
			return 0, 0, 0, 0, false
		}
		v, err := strconv.ParseUint(rest[len(tag):len(tag)+8], 16, 32)
		if err != nil {
			return 0, 0, 0, 0, false
		}
		ids[i] = uint32(v)
		rest = rest[len(tag)+8:]
	}
	return ids[0], ids[1], ids[2], ids[3], true
}

// LoadForDevices loads the drivers for the devices in sysfs: it matches
// every device modalias against the index's aliases, loads the matching
// modules (not blacklisted, not tried before by this call), then reads
// sysfs again, since a loaded driver can create new devices (virtio_pci
// creates the virtio devices virtio_net drives), until no new module
// matches or MaxRounds rounds have run. The first round starts with the
// buses NICs and storage adapters sit on (firstBuses) and reads the others
// after loading their drivers.
//
// Only modules in the index are candidates. A module failing to load is
// not fatal: loaded lists the device drivers this call loaded (not their
// dependencies, not those loaded before; a driver that failed is tried
// again by the next call, unless it said ENODEV), and err
// joins one error per module that failed (each a *LoadError) for the
// caller to report; err is also set when sysfs cannot be read, the rounds
// run out, or ctx ends. Drivers whose probe is asynchronous may create
// devices after this returns; call it again later to catch those.
func (l *Loader) LoadForDevices(ctx context.Context) (loaded []string, err error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	maxRounds := l.MaxRounds
	if maxRounds <= 0 {
		maxRounds = DefaultMaxRounds
	}
	black := l.notForDevices()
	tried := map[string]bool{}
	devices := newDeviceScanner(l.sysfsRoot())
	var errs []error
	only := firstBuses
	for round := 1; ; round++ {
		if err := ctx.Err(); err != nil {
			return loaded, errors.Join(append(errs, fmt.Errorf("loading device drivers: %w", err))...)
		}
		scanBegin := time.Now()
		// Round 1 reads the first buses' devices, then the others' (at
		// once when the first have none needing a driver); later rounds
		// only the new devices: every module tried for an older device
		// was tried already.
		aliases, err := devices.scan(only)
		if err != nil {
			return loaded, errors.Join(append(errs, err)...)
		}
		cands := l.candidates(aliases, tried, black)
		if only != nil && len(cands) == 0 {
			more, err := devices.scan(nil)
			if err != nil {
				return loaded, errors.Join(append(errs, err)...)
			}
			aliases = append(aliases, more...)
			cands = l.candidates(more, tried, black)
		}
		only = nil
		for _, m := range cands {
			tried[m] = true
		}
		if len(cands) == 0 {
			scan := since("scan", fmt.Sprintf("round %d", round), scanBegin)
			l.logf("modload: %s: no new drivers (%d new modaliases matched in %.3fs)", scan, len(aliases), scan.d.Seconds())
			return loaded, errors.Join(errs...)
		}
		if round > maxRounds {
			return loaded, errors.Join(append(errs, fmt.Errorf("loading device drivers: still finding new drivers after %d rounds: %s", maxRounds, strings.Join(cands, " ")))...)
		}
		sort.Strings(cands)
		scan := since("scan", fmt.Sprintf("round %d", round), scanBegin)
		l.logf("modload: %s: drivers for devices: %s (%d new modaliases matched in %.3fs)", scan, strings.Join(cands, " "), len(aliases), scan.d.Seconds())
		got, failed, err := l.loadDrivers(ctx, cands, black)
		if err != nil {
			return loaded, errors.Join(append(errs, err)...)
		}
		loaded = append(loaded, got...)
		errs = append(errs, failed...)
	}
}

// loadDrivers loads the device drivers cands with their dependencies and
// returns the drivers it inserted and the failures (one per unmet name);
// err is set when no plan could be made.
func (l *Loader) loadDrivers(ctx context.Context, cands []string, black func(string) bool) (loaded []string, failed []error, err error) {
	p, err := l.Index.plan(cands, black, l.cpuUnfit())
	if err != nil {
		return nil, nil, fmt.Errorf("loading device drivers: %w", err)
	}
	inserted, failed := l.execute(ctx, p)
	for _, m := range cands {
		if inserted[m] {
			loaded = append(loaded, m)
		}
	}
	return loaded, failed, nil
}

// LoadForNewDevices loads the drivers of the devices the kernel adds from
// now on, until next fails (e.g. because ctx ended), and returns next's
// error. next blocks until the kernel adds a device with a modalias and
// returns it (from the device's "add" uevent). Each modalias is matched
// against the index's aliases as in LoadForDevices; modules loaded before,
// tried by this call or blacklisted are skipped. report, when set, is
// called after each load with the modalias, the drivers loaded for it and
// the load's errors (joined, each a *LoadError, or nil).
func (l *Loader) LoadForNewDevices(ctx context.Context, next func(context.Context) (string, error), report func(modalias string, loaded []string, err error)) error {
	if err := l.check(); err != nil {
		return err
	}
	black := l.notForDevices()
	tried := map[string]bool{}
	mem := l.memory()
	for {
		alias, err := next(ctx)
		if err != nil {
			return err
		}
		cands := l.candidates([]string{alias}, tried, black)
		mem.mu.Lock()
		cands = slices.DeleteFunc(cands, func(m string) bool { return mem.loaded[m] })
		mem.mu.Unlock()
		for _, m := range cands {
			tried[m] = true
		}
		if len(cands) == 0 {
			continue
		}
		sort.Strings(cands)
		l.logf("modload: drivers for the added device %s: %s", alias, strings.Join(cands, " "))
		loaded, failed, err := l.loadDrivers(ctx, cands, black)
		if err != nil {
			failed = append(failed, err)
		}
		if report != nil && (len(loaded) > 0 || len(failed) > 0) {
			report(alias, loaded, errors.Join(failed...))
		}
	}
}
