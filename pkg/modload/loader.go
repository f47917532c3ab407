package modload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/sysfs"
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
	// NoAutoload names modules a device's modalias does not load, though
	// Load does (rd.driver.post=: dracut keeps udev from loading them and
	// loads them after the rest).
	NoAutoload []string
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
	// Logf, when set, receives progress and non-fatal problems. The
	// lines of timed work (a module's insert, a round's sysfs scan) carry
	// an argument that prints as the work's name and has a method
	// TimedSpan() (kind, name string, begin time.Time, d time.Duration),
	// and Background() bool: a logger that keeps a timeline (bootlog)
	// records it.
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
	// unfit is Loader.cpuUnfit's predicate, made once.
	unfitOnce sync.Once
	unfit     func(string) bool
	// kernelComp is the compression the kernel decompresses in
	// finit_module (compNone: none or unknown), read once.
	compOnce   sync.Once
	kernelComp atomic.Int32
}

// noKernelDecompress records that the kernel refused to decompress a
// module after all: later inserts decompress in /init at once.
func (m *memory) noKernelDecompress() {
	m.compOnce.Do(func() {})
	m.kernelComp.Store(int32(compNone))
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
		Index: l.Index, Sys: sys, Params: l.Params, Blacklist: l.Blacklist, NoAutoload: l.NoAutoload,
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
	// HintText explains the cause when it is a known errno (Hint).
	HintText string
}

// Error implements error.
func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "loading module %s", e.Module)
	if e.Path != "" {
		fmt.Fprintf(&b, " (%s)", e.Path)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns the cause.
func (e *LoadError) Unwrap() error { return e.Err }

// Hint explains the cause, "" when it is no known errno.
func (e *LoadError) Hint() string { return e.HintText }

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

// timing is a timed piece of the Loader's work, passed to Logf as an
// argument (see Loader.Logf): it prints as its name.
type timing struct {
	kind, name string
	begin      time.Time
	d          time.Duration
	background bool
}

// since returns the timing of work of kind and name that began at begin
// and ends now.
func since(kind, name string, begin time.Time) timing {
	return timing{kind: kind, name: name, begin: begin, d: time.Since(begin)}
}

func (t timing) String() string { return t.name }

// TimedSpan returns what the work was, when it began and how long it took.
func (t timing) TimedSpan() (kind, name string, begin time.Time, d time.Duration) {
	return t.kind, t.name, t.begin, t.d
}

// Background reports whether the work was done at a lower priority, by a
// Loader made with WithSys(Niced{…}) for a background batch.
func (t timing) Background() bool { return t.background }

// niced reports whether l's system calls run at a lower priority.
func (l *Loader) niced() bool {
	n, ok := l.Sys.(Niced)
	return ok && n.Nice > 0
}

func (l *Loader) procRoot() string {
	if l.ProcRoot == "" {
		return "/proc"
	}
	return l.ProcRoot
}

func (l *Loader) blacklisted() func(string) bool { return blacklistFunc(l.Blacklist) }

// notForDevices is what a device's modalias may not load: the blacklist
// and NoAutoload.
func (l *Loader) notForDevices() func(string) bool {
	return blacklistFunc(slices.Concat(l.Blacklist, l.NoAutoload))
}

// cpuUnfit returns whether a module cannot work on this CPU: it declares
// the CPU features it drives (an x86cpu device table: aliases such as
// "cpu:type:x86,ven*fam*mod*:feature:*0094*") and none of them matches the
// CPU's modalias (<sysfs>/devices/system/cpu/modalias). Such a module's
// init says ENODEV only after the kernel has read, checked and relocated
// it (crc32c_intel without SSE4.2, crct10dif_pclmul without PCLMULQDQ, as
// on a virtual machine's baseline CPU), so among several providers of one
// alias it is not tried. Without a readable CPU modalias nothing is unfit.
func (l *Loader) cpuUnfit() func(string) bool {
	m := l.memory()
	m.unfitOnce.Do(func() {
		cpu, err := sysfs.FS{Root: l.sysfsRoot()}.ReadTrim("devices/system/cpu/modalias")
		if err != nil {
			return
		}
		fits := map[string]bool{}
		for _, n := range l.Index.MatchAliases(cpu) {
			fits[n] = true
		}
		m.unfit = func(name string) bool {
			if fits[name] {
				return false
			}
			mod, ok := l.Index.Module(name)
			return ok && slices.ContainsFunc(mod.Aliases, func(a string) bool { return strings.HasPrefix(a, "cpu:") })
		}
	})
	return m.unfit
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
// success is enough; the others' failures are only logged, and one that
// cannot work on this CPU is not tried (cpuUnfit).
func (l *Loader) Load(ctx context.Context, names ...string) error {
	if err := l.check(); err != nil {
		return err
	}
	p, err := l.Index.plan(names, l.blacklisted(), l.cpuUnfit())
	if err != nil {
		return fmt.Errorf("loading modules: %w", err)
	}
	_, errs := l.execute(ctx, p)
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
	lines(data, func(_ int, line string) error {
		set[NormalizeName(strings.Fields(line)[0])] = true
		return nil
	})
	return set
}

// execute loads the modules of the plan, each after the modules it must
// follow, at most Parallel at once. It returns the modules it inserted and
// the plan's failures: its own errors and one per name it could not
// satisfy (needError).
func (l *Loader) execute(ctx context.Context, p *plan) (inserted map[string]bool, failed []error) {
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
	results := make(map[string]error, len(states))
	inserted = map[string]bool{}
	for m, st := range states {
		results[m] = st.err
		if st.inserted {
			inserted[m] = true
		}
		if st.err != nil && !st.remembered {
			l.logf("modload: %s", hint.Format(st.err))
		}
	}
	failed = slices.Clone(p.errs)
	for _, n := range p.needs {
		if err := needError(n, results); err != nil {
			failed = append(failed, err)
		}
	}
	return inserted, failed
}
