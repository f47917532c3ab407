package modload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Syscalls is the seam between the Loader and the kernel: the two module
// loading system calls. KernelSyscalls is the real one.
type Syscalls interface {
	// FinitModule is finit_module(2) on the open module file fd.
	FinitModule(fd int, params string, flags int) error
	// InitModule is init_module(2) on an uncompressed module image.
	InitModule(image []byte, params string) error
}

// Defaults of the Loader's optional fields.
const (
	DefaultParallel  = 4
	DefaultMaxRounds = 8
)

// Loader loads kernel modules of an Index. Set the fields, then call Load
// or LoadForDevices; a Loader remembers what it loaded and must not be
// copied after first use. Its methods are safe for concurrent use.
type Loader struct {
	// Index is the module tree to load from (required).
	Index *Index
	// Sys makes the system calls (required): KernelSyscalls{} on Linux, a
	// fake in tests.
	Sys Syscalls
	// Params maps a module name to its parameters ("max_bonds=0"), from
	// the kernel command line's module.param=value entries; they are
	// passed joined with spaces. Keys may use '-' or '_'.
	Params map[string][]string
	// Blacklist names modules never to load (rd.driver.blacklist=).
	Blacklist []string
	// ProcRoot is where procfs is mounted ("/proc" when empty); its
	// "modules" file tells which modules are loaded already. When it is
	// unreadable every module is assumed not loaded (EEXIST still counts
	// as success).
	ProcRoot string
	// SysfsRoot is where sysfs is mounted ("/sys" when empty).
	SysfsRoot string
	// Parallel bounds the modules loaded at once (DefaultParallel when 0).
	// Modules only start after everything they depend on has finished;
	// with 1 they load one by one in Index.Resolve's order.
	Parallel int
	// MaxRounds bounds LoadForDevices' rounds (DefaultMaxRounds when 0).
	MaxRounds int
	// AsyncProbe passes "async_probe" to every module it inserts (unless
	// Params set async_probe for it): the kernel then probes a driver's
	// devices in its async workers, in parallel, and the insert returns
	// without waiting for them (nor, for any module, for other async work
	// such as another driver's probes). Devices a driver creates while
	// probing then appear after LoadForDevices returns: LoadForNewDevices
	// loads their drivers.
	AsyncProbe bool
	// Logf, when set, receives progress and non-fatal problems.
	Logf func(format string, args ...any)

	once sync.Once
	mem  *memory // shared with the Loaders WithSys made
}

// memory is what a Loader remembers between calls.
type memory struct {
	mu     sync.Mutex
	loaded map[string]bool // loaded (or found loaded) by this Loader
	// absent remembers the modules whose init said ENODEV (the hardware
	// or CPU feature they drive is not there, e.g. crc32c_intel without
	// SSE4.2): the kernel reads, checks and relocates a module before
	// its init can say so, so it is not tried again by this Loader.
	absent map[string]error
	// inflight holds the modules some call is inserting right now; the
	// channel closes when it is done. A concurrent call (another batch)
	// needing the same module waits for it instead of making the kernel
	// read and relocate the module a second time only to say EEXIST.
	inflight map[string]chan struct{}
}

// memory returns l's memory, made on first use.
func (l *Loader) memory() *memory {
	l.once.Do(func() {
		if l.mem == nil {
			l.mem = &memory{loaded: map[string]bool{}, absent: map[string]error{}, inflight: map[string]chan struct{}{}}
		}
	})
	return l.mem
}

// WithSys returns a Loader like l that makes its system calls through sys
// (e.g. Niced, for loading in the background) and shares l's memory of
// what was loaded and what said ENODEV.
func (l *Loader) WithSys(sys Syscalls) *Loader {
	return &Loader{
		Index: l.Index, Sys: sys, Params: l.Params, Blacklist: l.Blacklist,
		ProcRoot: l.ProcRoot, SysfsRoot: l.SysfsRoot, Parallel: l.Parallel, MaxRounds: l.MaxRounds,
		AsyncProbe: l.AsyncProbe, Logf: l.Logf, mem: l.memory(),
	}
}

// LoadError is the failure to load one module.
type LoadError struct {
	// Module is the module's name.
	Module string
	// Path is its file, or "" when no file was tried.
	Path string
	// Err is the cause: a syscall.Errno from the kernel, a file error, or
	// the failure of a dependency.
	Err error
	// Hint explains the cause when it is a known errno.
	Hint string
}

// Error implements error.
func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "loading module %s", e.Module)
	if e.Path != "" {
		fmt.Fprintf(&b, " (%s)", e.Path)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Hint != "" {
		fmt.Fprintf(&b, ": %s", e.Hint)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *LoadError) Unwrap() error { return e.Err }

// errDependency is the cause of a LoadError for a module that was not tried
// because a module it depends on failed.
type errDependency struct {
	dep string
	err error
}

func (e *errDependency) Error() string {
	return fmt.Sprintf("not loaded: its dependency failed: %v", e.err)
}

func (e *errDependency) Unwrap() error { return e.err }

func (l *Loader) logf(format string, args ...any) {
	if l.Logf != nil {
		l.Logf(format, args...)
	}
}

func (l *Loader) procRoot() string {
	if l.ProcRoot == "" {
		return "/proc"
	}
	return l.ProcRoot
}

func (l *Loader) sysfsRoot() string {
	if l.SysfsRoot == "" {
		return "/sys"
	}
	return l.SysfsRoot
}

func (l *Loader) blacklisted() func(string) bool {
	set := make(map[string]bool, len(l.Blacklist))
	for _, b := range l.Blacklist {
		set[NormalizeName(b)] = true
	}
	return func(m string) bool { return set[m] }
}

// Load loads the named modules (module names or aliases, see
// Index.Resolve) with their dependencies, in dependency order, skipping
// builtin and already loaded modules; independent modules load
// concurrently. It loads everything it can and returns an error, joining
// one per name that could not be satisfied (unknown, blacklisted, or a
// failed load: a *LoadError naming the module, its file and the errno's
// meaning), or nil. A soft dependency that fails is an error too, but does
// not stop the module that wanted it from loading. Among several modules
// providing one alias (crc32c_generic and crc32c_intel for "crc32c") one
// success is enough; the others' failures are only logged.
func (l *Loader) Load(ctx context.Context, names ...string) error {
	if err := l.check(); err != nil {
		return err
	}
	p, err := l.Index.plan(names, l.blacklisted())
	if err != nil {
		return fmt.Errorf("loading modules: %w", err)
	}
	results, _ := l.execute(ctx, p)
	errs := slices.Clone(p.errs)
	for _, n := range p.needs {
		if err := needError(n, results); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("loading modules: %w", err))
	}
	return errors.Join(errs...)
}

func (l *Loader) check() error {
	if l.Index == nil || l.Sys == nil {
		return errors.New("modload: Loader needs an Index and Sys")
	}
	return nil
}

// needError returns why the need n is unmet, or nil when one of its
// providers loaded.
func needError(n need, results map[string]error) error {
	var errs []error
	for _, m := range n.providers {
		err, ok := results[m]
		if ok && err == nil {
			return nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil // builtin: nothing to load
	}
	err := errors.Join(errs...)
	switch {
	case n.by != "":
		return fmt.Errorf("%s (%s): %w", n.name, n.by, err)
	case len(n.providers) == 1 && n.providers[0] == NormalizeName(n.name):
		return err
	default:
		return fmt.Errorf("%s: %w", n.name, err)
	}
}

// alreadyLoaded reads /proc/modules: the names of the loaded modules.
func (l *Loader) alreadyLoaded() map[string]bool {
	set := map[string]bool{}
	data, err := os.ReadFile(filepath.Join(l.procRoot(), "modules"))
	if err != nil {
		l.logf("modload: cannot tell which modules are loaded: %v", err)
		return set
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			set[NormalizeName(f[0])] = true
		}
	}
	return set
}

// execute loads the modules of the plan, each after the modules it must
// follow, at most Parallel at once. It returns each module's result (nil
// when loaded or already loaded) and the modules it inserted.
func (l *Loader) execute(ctx context.Context, p *plan) (results map[string]error, inserted map[string]bool) {
	loadedBefore := l.alreadyLoaded()
	mem := l.memory()
	mem.mu.Lock()
	for m := range mem.loaded {
		loadedBefore[m] = true
	}
	mem.mu.Unlock()

	type state struct {
		done     chan struct{}
		err      error
		inserted bool
		// remembered: err is an earlier call's ENODEV, already logged.
		remembered bool
	}
	states := make(map[string]*state, len(p.order))
	for _, m := range p.order {
		states[m] = &state{done: make(chan struct{})}
	}
	parallel := l.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	sem := make(chan struct{}, parallel)
	step := func(m string) {
		st := states[m]
		defer close(st.done)
		if loadedBefore[m] {
			return
		}
		for _, d := range p.after[m] {
			select {
			case <-states[d].done:
			case <-ctx.Done():
				st.err = &LoadError{Module: m, Err: ctx.Err()}
				return
			}
		}
		for _, d := range p.hard[m] {
			if err := states[d].err; err != nil {
				st.err = &LoadError{Module: m, Err: &errDependency{d, err}}
				return
			}
		}
		if err := ctx.Err(); err != nil {
			st.err = &LoadError{Module: m, Err: err}
			return
		}
		// Another call may have loaded it, found it absent, or be loading
		// it right now (then wait and look again).
		mem.mu.Lock()
		for {
			if mem.loaded[m] {
				mem.mu.Unlock()
				return
			}
			if prev := mem.absent[m]; prev != nil {
				mem.mu.Unlock()
				st.err, st.remembered = prev, true
				return
			}
			busy, ok := mem.inflight[m]
			if !ok {
				break
			}
			mem.mu.Unlock()
			select {
			case <-busy:
			case <-ctx.Done():
				st.err = &LoadError{Module: m, Err: ctx.Err()}
				return
			}
			mem.mu.Lock()
		}
		mine := make(chan struct{})
		mem.inflight[m] = mine
		mem.mu.Unlock()
		defer func() {
			mem.mu.Lock()
			switch {
			case st.err == nil:
				st.inserted = true
				mem.loaded[m] = true
			case errors.Is(st.err, syscall.ENODEV):
				mem.absent[m] = st.err
			}
			delete(mem.inflight, m)
			mem.mu.Unlock()
			close(mine)
		}()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			st.err = &LoadError{Module: m, Err: ctx.Err()}
			return
		}
		st.err = l.insert(m)
		<-sem
	}
	if parallel == 1 {
		// Sequential: exactly the plan's order, which is deterministic.
		for _, m := range p.order {
			step(m)
		}
	} else {
		var wg sync.WaitGroup
		for _, m := range p.order {
			wg.Go(func() { step(m) })
		}
		wg.Wait()
	}
	results = make(map[string]error, len(states))
	inserted = map[string]bool{}
	for m, st := range states {
		results[m] = st.err
		if st.inserted {
			inserted[m] = true
		}
		if st.err != nil && !st.remembered {
			l.logf("modload: %v", st.err)
		}
	}
	return results, inserted
}

// insert loads one module's file with its parameters.
func (l *Loader) insert(name string) error {
	m := l.Index.modules[name]
	path := filepath.FromSlash(m.Path)
	if !filepath.IsAbs(path) { // old depmods wrote absolute paths
		path = filepath.Join(l.Index.Dir, path)
	}
	params := strings.Join(l.insertParams(name), " ")
	begin := time.Now()
	err := l.insertFile(path, params)
	if err == nil || errors.Is(err, syscall.EEXIST) {
		l.logf("modload: loaded %s (%.3fs)", name, time.Since(begin).Seconds())
		return nil
	}
	le := &LoadError{Module: name, Path: path, Err: err}
	le.Hint = hint(err, path, params)
	if errors.Is(err, syscall.ENOEXEC) {
		if rel, rerr := os.ReadFile(filepath.Join(l.procRoot(), "sys", "kernel", "osrelease")); rerr == nil {
			le.Hint += fmt.Sprintf(" (running kernel %s)", strings.TrimSpace(string(rel)))
		}
	}
	return le
}

// insertParams returns the parameters to insert the module name with: its
// Params, and async_probe when AsyncProbe is set and they do not say.
func (l *Loader) insertParams(name string) []string {
	p := l.paramsFor(name)
	if !l.AsyncProbe || HasParam(p, "async_probe") {
		return p
	}
	return append(slices.Clip(p), "async_probe")
}

// HasParam reports whether params ("name=value" or "name") set name.
func HasParam(params []string, name string) bool {
	for _, kv := range params {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

// paramsFor returns the parameters of the module name, whose key in Params
// may be spelt with '-' or '_'.
func (l *Loader) paramsFor(name string) []string {
	if p, ok := l.Params[name]; ok {
		return p
	}
	for k, p := range l.Params {
		if NormalizeName(k) == name {
			return p
		}
	}
	return nil
}

// insertFile loads the module file at path: with finit_module(2) when it is
// uncompressed (falling back to init_module(2) on ENOSYS), else by
// decompressing it in memory and calling init_module(2). The target kernel
// (6.1) predates finit_module's MODULE_INIT_COMPRESSED_FILE flag.
func (l *Loader) insertFile(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if c := compressionOf(path); c != compNone {
		image, err := decompress(c, f)
		if err != nil {
			return err
		}
		return l.Sys.InitModule(image, params)
	}
	err = l.Sys.FinitModule(int(f.Fd()), params, 0)
	if !errors.Is(err, syscall.ENOSYS) {
		return err
	}
	image, err := io.ReadAll(io.LimitReader(f, maxModuleSize))
	if err != nil {
		return err
	}
	return l.Sys.InitModule(image, params)
}

// hint explains a module loading error.
func hint(err error, path, params string) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, fs.ErrNotExist) {
			return "the module file is missing: was it left out of the initramfs?"
		}
		return ""
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	switch errno {
	case syscall.ENOEXEC:
		h := "not a module for this kernel: built for another kernel version or architecture?"
		if mi, err := ReadModInfoFile(path); err == nil && mi.Vermagic != "" {
			h += fmt.Sprintf(" (module vermagic %q)", mi.Vermagic)
		}
		return h
	case syscall.ENOENT:
		return "unknown symbol: a dependency is missing or built for another kernel (see dmesg)"
	case syscall.EBADMSG:
		return "malformed module signature"
	case syscall.EINVAL:
		if params != "" {
			return fmt.Sprintf("invalid module or parameter (parameters %q; see dmesg)", params)
		}
		return "invalid module (see dmesg)"
	case syscall.ENODEV:
		return "the hardware or CPU feature it drives is absent"
	case syscall.EPERM:
		return "module loading disabled (kernel.modules_disabled, lockdown) or no CAP_SYS_MODULE"
	case syscall.ENOSYS:
		return "the kernel has no loadable module support"
	case syscall.EBUSY:
		return "the module is being loaded or unloaded concurrently"
	}
	return signingHint(errno)
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
			data, err := os.ReadFile(filepath.Join(devDir, dev.Name(), "modalias"))
			if err != nil {
				continue // no modalias, or the device went away
			}
			a := strings.TrimSpace(string(data))
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
	black := l.blacklisted()
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
			l.logf("modload: round %d: no new drivers (%d new modaliases matched in %.3fs)", round, len(aliases), time.Since(scanBegin).Seconds())
			return loaded, errors.Join(errs...)
		}
		if round > maxRounds {
			return loaded, errors.Join(append(errs, fmt.Errorf("loading device drivers: still finding new drivers after %d rounds: %s", maxRounds, strings.Join(cands, " ")))...)
		}
		sort.Strings(cands)
		l.logf("modload: round %d: drivers for devices: %s (%d new modaliases matched in %.3fs)", round, strings.Join(cands, " "), len(aliases), time.Since(scanBegin).Seconds())
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
	p, err := l.Index.plan(cands, black)
	if err != nil {
		return nil, nil, fmt.Errorf("loading device drivers: %w", err)
	}
	failed = slices.Clone(p.errs)
	results, inserted := l.execute(ctx, p)
	for _, n := range p.needs {
		if err := needError(n, results); err != nil {
			failed = append(failed, err)
		}
	}
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
	black := l.blacklisted()
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
