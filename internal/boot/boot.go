package boot

import (
	"context"
	"errors"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/bootlog"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/limit"
)

// Paths of the initramfs.
const (
	newRoot      = "/sysroot"
	runDir       = "/run/netroot"
	cmdlineDir   = "/etc/cmdline.d"
	procCmdline  = "/proc/cmdline"
	timelineFile = runDir + "/timeline.json"
)

// DefaultGrace bounds the wait for the background work when the boot
// fails (Options.Grace).
const DefaultGrace = 5 * time.Second

// Options are what the process hands the boot.
type Options struct {
	// Args are /init's arguments, passed on to the real init.
	Args []string
	// Environ is /init's environment, the real init's and the shell's
	// base (without the entries that can carry a CHAP secret: handedEnv).
	Environ []string
	// Grace bounds the wait for the background work (module batches,
	// the uevent loop) when the boot fails, before the emergency shell
	// starts; DefaultGrace when 0.
	Grace time.Duration
}

// Boot is one boot. Run it, then hand its error to Emergency.
type Boot struct {
	env  Env
	log  *bootlog.Logger
	opts Options

	// What Emergency needs of a boot that failed, set by Run.
	cancel context.CancelFunc
	plan   *config.Plan // nil until the config step succeeded
	keeper keeperTasks
	// conns watches the sessions until the keeper has them (connwatch.go).
	conns *connWatch

	mu         sync.Mutex
	background []background

	// shutdownBound: the shutdown role is bound from the initramfs
	// (shutdownBind is why not), so switch_root keeps its directory.
	shutdownBound bool
	shutdownBind  error
	// osNet orders late leases against the real OS's files (osconfig.go).
	osNet osNet
}

// background is work the boot started and did not (yet) wait for.
type background struct {
	name string
	done <-chan struct{}
	err  func() error // its error, once done
}

// New returns a boot on env logging to log.
func New(env Env, log *bootlog.Logger, opts Options) *Boot {
	if opts.Grace == 0 {
		opts.Grace = DefaultGrace
	}
	return &Boot{env: env, log: log, opts: opts}
}

// goTask starts fn as a task of the boot: Emergency waits for it (up to
// Options.Grace) before the emergency shell, and a panic in it is logged.
func goTask[T any](b *Boot, ctx context.Context, name string, fn func(context.Context) (T, error)) *task.Task[T] {
	t := task.Go(ctx, fn)
	b.mu.Lock()
	b.background = append(b.background, background{name: name, done: t.Done(), err: func() error {
		_, err := t.Wait(context.Background())
		return err
	}})
	b.mu.Unlock()
	return t
}

// settle waits up to grace for the boot's tasks to end, then logs the
// panics of those that ended.
func (b *Boot) settle(grace time.Duration) {
	b.mu.Lock()
	bg := slices.Clone(b.background)
	b.mu.Unlock()
	timer := time.NewTimer(grace)
	defer timer.Stop()
wait:
	for _, t := range bg {
		select {
		case <-t.done:
		case <-timer.C:
			b.log.Debugf("background work still running after %s", grace)
			break wait
		}
	}
	b.reportPanics()
}

// reportPanics logs (once) the panics of the boot's tasks that ended.
func (b *Boot) reportPanics() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.background = slices.DeleteFunc(b.background, func(t background) bool {
		select {
		case <-t.done:
		default:
			return false
		}
		if pe, ok := errors.AsType[*task.PanicError](t.err()); ok {
			b.log.Warnf("%s: %v (please report this with the console log)", t.name, pe)
			b.log.Debugf("%s", pe.Stack)
		}
		return true
	})
}

// Run boots: mount, config, modules, network, login, root, mount-root,
// switch_root. It returns only when the boot failed (or when a fake
// switch_root returns).
func (b *Boot) Run(ctx context.Context) (err error) {
	ctx, b.cancel = context.WithCancel(ctx)
	defer func() {
		if r := recover(); r != nil {
			step := "boot"
			if open := b.log.Open(); len(open) > 0 {
				step = strings.Join(open, ", ")
			}
			err = fail(step, b.bug(&task.PanicError{Value: r, Stack: debug.Stack()}), bugHint)
		}
	}()
	e := b.env
	m, err := b.mount(e.System)
	if err != nil {
		return err
	}
	plan, err := b.config(e.Files)
	if err != nil {
		return err
	}
	b.plan = plan
	// rd.retry bounds each wait for the network root; rd.timeout bounds
	// the whole search for the root.
	if plan.Boot.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = limit.WithTimeout(ctx, plan.Boot.Timeout, plan.Boot.TimeoutLimit())
		defer cancel()
	}

	mods, err := b.loadModules(ctx, plan, m.release, e.Modules, e.Links, e.System.CPUs())
	if err != nil {
		return err
	}
	if err := b.breakpoint(plan, "pre-net", e.Console); err != nil {
		return err
	}
	b.keeper.early = b.prelaunchKeeper(ctx, plan, e.Keeper)
	fw, err := b.readFirmware(ctx, plan, mods.loader, e.NICs)
	if err != nil {
		return err
	}
	net, err := b.network(ctx, plan, e.Links, e.Addrs, e.Files, mods.bonds, e.NICs, e.IPv6, fw)
	if err != nil {
		return err
	}
	root, err := b.attachRoot(ctx, plan, net, mods.stack, e.ISCSI, e.Disks, e.Links, e.Addrs, e.DM, e.Files)
	if err != nil {
		return err
	}
	b.bindShutdown(plan, root, e.OS)
	b.keeper.handOver = b.startKeeper(ctx, plan, root, b.keeper.early, e.Keeper, e.ISCSI, e.Files, e.Addrs)
	osConfig := b.startOSConfig(ctx, plan, root, e.Files, e.OS)
	if err := b.breakpoint(plan, "pre-mount", e.Console); err != nil {
		return err
	}
	if err := b.mountRoot(ctx, plan, mods, root.dev, e.Disks); err != nil {
		return err
	}
	b.prefetchInit(ctx, plan, e.Switch)
	if err := b.breakpoint(plan, "pre-pivot", e.Console); err != nil {
		return err
	}
	return b.switchRoot(plan, m.idle, mods, root, b.keeper.handOver, osConfig, e.System, e.Files, e.Switch)
}

// StepError is a failed step: which, why, and what to check.
type StepError struct {
	// Step names the step (bond, login …).
	Step string
	// Err is the cause.
	Err error
	// hint is the step's advice, for a cause without one of its own.
	hint string
}

// Error is "step: cause"; a cause that already names the step (a
// package's errors carry its name) is not prefixed twice.
func (e *StepError) Error() string {
	msg := e.Err.Error()
	if strings.HasPrefix(msg, e.Step+": ") {
		return msg
	}
	return e.Step + ": " + msg
}

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }

// Hint is the cause's own hint, else the step's.
func (e *StepError) Hint() string {
	if h := hint.Of(e.Err); h != "" {
		return h
	}
	return e.hint
}

// bugHint is what to do about a panic: it is netroot's bug.
const bugHint = "this is a bug in netroot: please report it with the console log (and the stack above)"

// bug returns err; a panic (*task.PanicError: in work run as a task, or
// in the boot's own goroutine) has its stack logged and gets bugHint.
func (b *Boot) bug(err error) error {
	pe, ok := errors.AsType[*task.PanicError](err)
	if !ok {
		return err
	}
	b.log.Errorf("internal error: %v\n%s", pe.Value, pe.Stack)
	return hint.Wrap(err, bugHint)
}

// fail is a failure of step caused by err; def is what to check unless
// err says it.
func fail(step string, err error, def string) error {
	return &StepError{Step: step, Err: err, hint: def}
}

// render is the FATAL text of a boot's error: each failure (several
// targets, paths, NICs or parameters may fail together) as "step: cause —
// hint", one a line.
func render(err error) string {
	var lines []string
	for _, f := range failures(err) {
		lines = append(lines, hint.Format(f))
	}
	return strings.Join(lines, "\n")
}

// failures splits err into its failures, one a line: the parts of an
// error that puts each part on a line of its own (errors.Join,
// config.Errors), found through the steps and wrappers above them. Each
// part keeps what those add: the step's name and default hint, a
// wrapper's text and hint — a part's own hint first.
func failures(err error) []error {
	switch e := err.(type) {
	case *StepError:
		parts := failures(e.Err)
		if len(parts) == 1 {
			return []error{err}
		}
		for i, p := range parts {
			if _, ok := p.(*StepError); !ok {
				parts[i] = &StepError{Step: e.Step, Err: p, hint: e.hint}
			}
		}
		return parts
	case interface{ Unwrap() []error }:
		parts := e.Unwrap()
		if !onePerLine(err, parts) {
			return []error{err}
		}
		var out []error
		for _, p := range parts {
			out = append(out, failures(p)...)
		}
		return out
	case interface{ Unwrap() error }:
		inner := e.Unwrap()
		if inner == nil {
			return []error{err}
		}
		parts := failures(inner)
		prefix, ok := strings.CutSuffix(err.Error(), inner.Error())
		if len(parts) == 1 || !ok {
			return []error{err}
		}
		wrapHint := ""
		if h, ok := err.(hint.Hinter); ok {
			wrapHint = h.Hint()
		}
		for i, p := range parts {
			parts[i] = &partError{prefix: prefix, err: p, hint: wrapHint}
		}
		return parts
	}
	return []error{err}
}

// warn logs err, a failure the boot goes on with, as render writes it:
// one line a failure, with its hint.
func (b *Boot) warn(step string, err error) {
	for _, f := range failures(err) {
		b.log.Warnf("%s: %s", step, hint.Format(f))
	}
}

// onePerLine reports whether err's message is its parts' messages, one a
// line.
func onePerLine(err error, parts []error) bool {
	msgs := make([]string, len(parts))
	for i, p := range parts {
		msgs[i] = p.Error()
	}
	return len(parts) > 0 && err.Error() == strings.Join(msgs, "\n")
}

// partError is one failure of several, with the text and the hint of the
// error that wrapped them all.
type partError struct {
	prefix string
	err    error
	hint   string
}

func (e *partError) Error() string { return e.prefix + e.err.Error() }

func (e *partError) Unwrap() error { return e.err }

// Hint is the part's own hint, else the wrapper's.
func (e *partError) Hint() string {
	if h := hint.Of(e.err); h != "" {
		return h
	}
	return e.hint
}

// orNone is s, or "none" when empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
