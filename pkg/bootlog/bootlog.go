// Package bootlog is /init's log: one line per step with its duration,
// written to the console and to the kernel log (/dev/kmsg, so it shows in
// the real root's dmesg and journal), plus a timeline of every step kept
// for /run/netroot/timeline.json and a closing summary.
package bootlog

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kernel log priorities (syslog levels) used for /dev/kmsg lines.
const (
	PrioErr    = 3
	PrioWarn   = 4
	PrioNotice = 5
	PrioInfo   = 6
	PrioDebug  = 7
)

// Entry is one finished step of the timeline.
type Entry struct {
	// Step names it (modules, bond, login …).
	Step string `json:"step"`
	// Start is when it began, in seconds since /init started.
	Start float64 `json:"start"`
	// Duration in seconds.
	Duration float64 `json:"duration"`
	// Uptime is the kernel's uptime (seconds since kernel start) when it
	// ended.
	Uptime float64 `json:"uptime"`
	// Detail is the step's one-line result.
	Detail string `json:"detail,omitempty"`
	// Error is set when the step failed.
	Error string `json:"error,omitempty"`
}

// Span is a sub-entry of the timeline: a timed piece of work inside the
// steps, kept under rd.debug — one module's insert, one device-driver
// round's sysfs scan. Debugf records it from a log argument that
// implements Timed.
type Span struct {
	// Kind says what it is: "module" (an insert) or "scan" (a round's
	// sysfs scan).
	Kind string `json:"kind"`
	// Name names it: the module, or the round ("round 2").
	Name string `json:"name"`
	// Start is when it began, in seconds since /init started.
	Start float64 `json:"start"`
	// Duration in seconds.
	Duration float64 `json:"duration"`
	// Background is set for work of a background batch (at a lower
	// priority, beside the foreground steps).
	Background bool `json:"background,omitempty"`
}

// Timed is implemented by a log argument that is also a span of work
// (modload passes its inserts and scans so, and they print as their
// names): under rd.debug, Debugf records it as a Span as well as logging
// the line. An argument that also has a Background() bool method tells
// whether it was background work.
type Timed interface {
	TimedSpan() (kind, name string, begin time.Time, d time.Duration)
}

// Timeline is what /run/netroot/timeline.json holds.
type Timeline struct {
	// InitStartUptime is the kernel uptime when /init started.
	InitStartUptime float64 `json:"init_start_uptime"`
	// RootReadyUptime is the kernel uptime when the root was ready for
	// switch_root (0 when the boot failed).
	RootReadyUptime float64 `json:"root_ready_uptime,omitempty"`
	// Steps in order.
	Steps []Entry `json:"steps"`
	// Spans are the sub-entries under rd.debug, in the order they ended;
	// absent otherwise.
	Spans []Span `json:"spans,omitempty"`
	// PeakRSSKiB is /init's VmHWM.
	PeakRSSKiB int `json:"peak_rss_kib,omitempty"`
	// CPUUser and CPUSystem are the CPU seconds /init had used when the
	// root was ready, in user space and in the kernel (module loading's
	// relocation and init functions run in the kernel on /init's behalf).
	CPUUser   float64 `json:"cpu_user_s,omitempty"`
	CPUSystem float64 `json:"cpu_system_s,omitempty"`
	// CPUIdle is the time the CPUs (all of them, summed) were idle or
	// waiting for I/O while /init ran: near 0 means the boot was bound by
	// CPU work, more means it waited (for the target, a link, a disk).
	CPUIdle float64 `json:"cpu_idle_s,omitempty"`
}

// Usage is what /init used up to the moment the root was ready.
type Usage struct {
	// PeakRSSKiB is VmHWM from /proc/self/status.
	PeakRSSKiB int
	// User and System are /init's CPU seconds (getrusage).
	User, System float64
	// Idle is the CPUs' idle and iowait seconds since /init started
	// (from /proc/stat; see IdleSeconds).
	Idle float64
}

// Logger writes log lines and keeps the timeline. It is safe for
// concurrent use.
type Logger struct {
	mu      sync.Mutex
	console io.Writer
	kmsg    io.Writer
	// consoleLevel is the kernel's console log level: kmsg lines below it
	// are echoed on the console by the kernel, so they are not written
	// there twice.
	consoleLevel int
	// held counts HoldConsole calls not yet released: while a shell runs
	// on the console, lines are not written there.
	held        int
	debug       bool
	start       time.Time
	startUptime float64
	uptime      func() float64
	timeline    Timeline
	// open are the steps begun and not ended, in the order begun.
	open []*Step
}

// New returns a Logger writing to console and, when not nil, to kmsg.
// consoleLevel is the first field of /proc/sys/kernel/printk (0 when
// unknown: everything goes to the console too). uptime reads the kernel
// uptime; nil uses Uptime.
func New(console, kmsg io.Writer, consoleLevel int, uptime func() float64) *Logger {
	if uptime == nil {
		uptime = Uptime
	}
	l := &Logger{console: console, kmsg: kmsg, consoleLevel: consoleLevel, uptime: uptime, start: time.Now()}
	l.startUptime = uptime()
	l.timeline.InitStartUptime = l.startUptime
	return l
}

// SetKmsg sets (or replaces) the kernel log writer and console level once
// /dev is mounted.
func (l *Logger) SetKmsg(kmsg io.Writer, consoleLevel int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kmsg = kmsg
	l.consoleLevel = consoleLevel
}

// SyncUptime re-reads the kernel uptime once /proc is mounted and dates
// /init's start from it (New may run before /proc exists).
func (l *Logger) SyncUptime() {
	u := l.uptime()
	if u == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.startUptime = u - time.Since(l.start).Seconds()
	l.timeline.InitStartUptime = l.startUptime
}

// SetDebug makes Debugf lines visible on the console.
func (l *Logger) SetDebug(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.debug = on
}

// Since returns the time since /init started.
func (l *Logger) Since() time.Duration { return time.Since(l.start) }

// HoldConsole stops the Logger's writing to the console until release is
// called, for a shell running there: lines still go to the kernel log and
// the timeline, but at a level the kernel does not echo on the console
// (the console level itself, at most debug; debug when it is unknown), so
// neither writer prints over the shell's prompt.
func (l *Logger) HoldConsole() (release func()) {
	l.mu.Lock()
	l.held++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.held--
			l.mu.Unlock()
		})
	}
}

func (l *Logger) log(prio int, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kprio := prio
	if l.held > 0 {
		kprio = max(prio, min(l.consoleLevel, PrioDebug))
		if l.consoleLevel == 0 {
			kprio = PrioDebug
		}
	}
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		echoed := false
		if l.kmsg != nil {
			// One write is one kernel log record.
			if _, err := fmt.Fprintf(l.kmsg, "<%d>netroot: %s\n", kprio, line); err == nil {
				echoed = l.consoleLevel > 0 && kprio < l.consoleLevel
			}
		}
		if !echoed && l.held == 0 && (prio < PrioDebug || l.debug) && l.console != nil {
			fmt.Fprintf(l.console, "netroot: %s\n", line)
		}
	}
}

// Printf logs an informational line.
func (l *Logger) Printf(format string, args ...any) { l.log(PrioInfo, fmt.Sprintf(format, args...)) }

// Warnf logs a warning.
func (l *Logger) Warnf(format string, args ...any) { l.log(PrioWarn, fmt.Sprintf(format, args...)) }

// Errorf logs an error.
func (l *Logger) Errorf(format string, args ...any) { l.log(PrioErr, fmt.Sprintf(format, args...)) }

// Debugf logs a line shown on the console only with rd.debug; with
// rd.debug, the arguments that are Timed are recorded as Spans.
func (l *Logger) Debugf(format string, args ...any) {
	l.recordSpans(args)
	l.log(PrioDebug, fmt.Sprintf(format, args...))
}

// recordSpans adds the Timed arguments to the timeline under rd.debug.
func (l *Logger) recordSpans(args []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.debug {
		return
	}
	for _, a := range args {
		t, ok := a.(Timed)
		if !ok {
			continue
		}
		kind, name, begin, d := t.TimedSpan()
		sp := Span{Kind: kind, Name: name, Start: begin.Sub(l.start).Seconds(), Duration: d.Seconds()}
		if bg, ok := a.(interface{ Background() bool }); ok {
			sp.Background = bg.Background()
		}
		l.timeline.Spans = append(l.timeline.Spans, sp)
	}
}

// Step is a step in progress.
type Step struct {
	l          *Logger
	name       string
	begin      time.Time
	background bool
}

// Begin starts timing a step.
func (l *Logger) Begin(name string) *Step {
	return l.begin(name, false)
}

// BeginBackground starts timing a step run beside the others (a batch of
// module loads): it is timed and logged as any step, but Open leaves it
// out, as what goes wrong in the boot's own sequence is not its doing.
func (l *Logger) BeginBackground(name string) *Step {
	return l.begin(name, true)
}

func (l *Logger) begin(name string, background bool) *Step {
	s := &Step{l: l, name: name, begin: time.Now(), background: background}
	l.mu.Lock()
	l.open = append(l.open, s)
	l.mu.Unlock()
	return s
}

// Open returns the names of the steps begun (not in the background) and
// not ended, in the order begun, each once: what was under way when
// something went wrong.
func (l *Logger) Open() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var names []string
	for _, s := range l.open {
		if !s.background && !slices.Contains(names, s.name) {
			names = append(names, s.name)
		}
	}
	return names
}

// Done ends the step, logging "<step>: <detail> (0.123s)".
func (s *Step) Done(format string, args ...any) {
	s.end(fmt.Sprintf(format, args...), nil)
}

// Fail ends the step with an error; the error line itself is the
// caller's to print (once).
func (s *Step) Fail(err error) {
	s.end("", err)
}

func (s *Step) end(detail string, err error) {
	now := time.Now()
	d := now.Sub(s.begin)
	e := Entry{
		Step:     s.name,
		Start:    s.begin.Sub(s.l.start).Seconds(),
		Duration: d.Seconds(),
		Uptime:   s.l.uptime(),
		Detail:   detail,
	}
	if err != nil {
		e.Error = err.Error()
	}
	s.l.mu.Lock()
	s.l.timeline.Steps = append(s.l.timeline.Steps, e)
	s.l.open = slices.DeleteFunc(s.l.open, func(o *Step) bool { return o == s })
	s.l.mu.Unlock()
	if err == nil {
		s.l.Printf("%s: %s (%.3fs)", s.name, detail, d.Seconds())
	}
}

// RootReady records the moment the root is ready and what /init used.
func (l *Logger) RootReady(use Usage) {
	u := l.uptime()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timeline.RootReadyUptime = u
	l.timeline.PeakRSSKiB = use.PeakRSSKiB
	l.timeline.CPUUser, l.timeline.CPUSystem, l.timeline.CPUIdle = use.User, use.System, use.Idle
}

// IdleSeconds reads the idle and iowait time of all CPUs from the
// aggregate "cpu" line of /proc/stat (in USER_HZ ticks, 100 a second on
// every Linux architecture's ABI); ok is false when the line is missing
// or malformed.
func IdleSeconds(procStat string) (s float64, ok bool) {
	line, _, _ := strings.Cut(procStat, "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, false
	}
	var ticks uint64
	for _, v := range f[4:6] { // idle, iowait
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return float64(ticks) / 100, true
}

// Timeline returns a copy of the timeline so far.
func (l *Logger) Timeline() Timeline {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.timeline
	t.Steps = append([]Entry(nil), t.Steps...)
	t.Spans = append([]Span(nil), t.Spans...)
	return t
}

// Summary is the closing line: "root ready at 4.21 s since kernel start,
// /init took 1.02 s: modules 0.55, bond 0.12 …; peak RSS 9.1 MiB; CPU
// 0.20 s user, 0.61 s system, 0.15 s idle".
func Summary(t Timeline) string {
	var b strings.Builder
	total := t.RootReadyUptime - t.InitStartUptime
	fmt.Fprintf(&b, "root ready at %.2f s since kernel start, /init took %.2f s:", t.RootReadyUptime, total)
	for i, e := range t.Steps {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s %.2f", e.Step, e.Duration)
	}
	if t.PeakRSSKiB > 0 {
		fmt.Fprintf(&b, "; peak RSS %.1f MiB", float64(t.PeakRSSKiB)/1024)
	}
	if t.CPUUser+t.CPUSystem > 0 {
		fmt.Fprintf(&b, "; CPU %.2f s user, %.2f s system, %.2f s idle", t.CPUUser, t.CPUSystem, t.CPUIdle)
	}
	return b.String()
}

// JSON is the timeline as /run/netroot/timeline.json holds it.
func (t Timeline) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// procUptime reads the kernel uptime from /proc/uptime; 0 when unreadable.
func procUptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	return ParseUptime(string(b))
}

// ProcIdle reads the CPUs' idle seconds from /proc/stat (IdleSeconds); -1
// when unreadable.
func ProcIdle() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	if s, ok := IdleSeconds(string(b)); ok {
		return s
	}
	return -1
}

// ParseUptime parses the first field of /proc/uptime.
func ParseUptime(s string) float64 {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return v
}

// ConsoleLevel parses /proc/sys/kernel/printk's first field.
func ConsoleLevel(printk string) int {
	f := strings.Fields(printk)
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.Atoi(f[0])
	return v
}

// PeakRSSKiB reads VmHWM from a /proc/<pid>/status text.
func PeakRSSKiB(status string) int {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.Atoi(f[0])
				return v
			}
		}
	}
	return 0
}
