// Package kmsg writes log lines to the kernel log (/dev/kmsg) as records,
// without losing them to the kernel's limit on userspace writes.
//
// With printk_devkmsg=ratelimit (the kernel's default, and what /init
// restores before switch_root) the kernel accepts 10 records per 5 s on
// each open file description of /dev/kmsg and silently drops the rest:
// the write still reports success, and the count of lost lines is only
// printed when the file is closed. A daemon that logs a burst (a path
// that failed and came back, a process restarted) would lose exactly the
// lines that say what happened. A Writer counts its records as the kernel
// does and holds the ones over the limit until the kernel takes records
// again; each such line says how late it is. Lines only vanish when more
// than MaxHeld wait, and then the next line written says how many.
//
// The limit is per open file description, so processes that share one
// (a daemon and the children that inherited its stdout) share the
// budget: each process gives its Writer its own description (Own).
package kmsg

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// The kernel's limit on /dev/kmsg writes (DEFAULT_RATELIMIT_INTERVAL and
// DEFAULT_RATELIMIT_BURST; not tunable for /dev/kmsg).
const (
	Interval = 5 * time.Second
	Burst    = 10
)

// margin makes the Writer's window outlast the kernel's: the kernel's
// counts in jiffies and starts a little before the Writer notes the time.
const margin = 50 * time.Millisecond

// MaxHeld is how many lines a Writer holds at most; older ones are
// dropped first, and counted.
const MaxHeld = 64

// Clock is the time as a Writer sees it; tests drive their own.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once d has passed.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Writer writes lines to the kernel log. It is safe for concurrent use.
type Writer struct {
	// Prefix starts every record's text, e.g. "netroot-keeper: ".
	Prefix string
	// Level is every record's syslog level (the "<N>" prefix); 0 means
	// 5, notice: it reaches the console and the journal.
	Level int
	// Limited reports whether the kernel limits the writes now
	// (printk_devkmsg=ratelimit); it is asked only when a record would
	// pass the limit. Nil means always.
	Limited func() bool
	// Clock is nil for the real one.
	Clock Clock

	mu      sync.Mutex
	out     io.Writer
	begin   time.Time // the window's start; zero: none yet
	written int       // records written in the window
	held    []heldLine
	dropped int
	stop    func() bool // the pending flush; nil: none
}

type heldLine struct {
	at   time.Time
	text string
}

// New returns a Writer to out (normally /dev/kmsg opened for writing).
func New(out io.Writer, prefix string) *Writer {
	return &Writer{out: out, Prefix: prefix}
}

func (w *Writer) clock() Clock {
	if w.Clock == nil {
		return realClock{}
	}
	return w.Clock
}

// Printf writes one line (newlines inside it start further records).
func (w *Writer) Printf(format string, args ...any) {
	w.Write([]byte(fmt.Sprintf(format, args...)))
}

// Write writes each line of p as one record. It never fails: a record
// the kernel refuses is lost, as a log line to a full console would be.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock().Now()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.add(now, line)
	}
	return len(p), nil
}

// add writes line now, or holds it. w.mu is held.
func (w *Writer) add(now time.Time, line string) {
	if len(w.held) == 0 && w.room(now) {
		w.write(now, line)
		return
	}
	if len(w.held) == MaxHeld {
		w.held = w.held[1:]
		w.dropped++
	}
	w.held = append(w.held, heldLine{now, line})
	w.schedule(now)
}

// room reports whether a record written now passes the kernel's limit.
func (w *Writer) room(now time.Time) bool {
	if w.begin.IsZero() || now.Sub(w.begin) >= Interval+margin {
		return true
	}
	if w.written < Burst {
		return true
	}
	// Out of budget by the count; the kernel may not be counting at all.
	return w.Limited != nil && !w.Limited()
}

// write writes one record and counts it.
func (w *Writer) write(now time.Time, text string) {
	if w.begin.IsZero() || now.Sub(w.begin) >= Interval+margin {
		w.begin, w.written = time.Time{}, 0
	}
	if w.dropped > 0 && w.written < Burst-1 {
		n := w.dropped
		w.dropped = 0
		w.record(fmt.Sprintf("%d line(s) not logged: more than the kernel takes on /dev/kmsg (printk_devkmsg=ratelimit) waited", n))
	}
	w.record(text)
}

// record writes one record and counts it in the window, which starts
// once the first record is written: the kernel's starts before that.
func (w *Writer) record(text string) {
	level := w.Level
	if level == 0 {
		level = 5
	}
	w.out.Write([]byte(fmt.Sprintf("<%d>%s%s\n", level, w.Prefix, text)))
	if w.begin.IsZero() {
		w.begin = w.clock().Now()
	}
	w.written++
}

// schedule arranges the flush of the held lines for when the window
// ends. w.mu is held.
func (w *Writer) schedule(now time.Time) {
	if w.stop != nil {
		return
	}
	d := w.begin.Add(Interval + margin).Sub(now)
	if d < 0 {
		d = 0
	}
	w.stop = w.clock().AfterFunc(d, w.flush)
}

// flush writes the held lines the new window takes, each saying how late
// it is, and schedules the rest.
func (w *Writer) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stop = nil
	w.writeHeld(w.clock().Now())
	if len(w.held) > 0 {
		w.schedule(w.clock().Now())
	}
}

// writeHeld writes the held lines the kernel takes now. w.mu is held.
func (w *Writer) writeHeld(now time.Time) {
	for len(w.held) > 0 && w.room(now) {
		h := w.held[0]
		w.held = w.held[1:]
		w.write(now, fmt.Sprintf("%s (logged %.1fs late: printk_devkmsg=ratelimit)", h.text, now.Sub(h.at).Seconds()))
	}
}

// Close is for a process about to end: it writes the held lines the
// kernel takes now (all of them once the limit is lifted, as the shutdown
// role does before it stops the keepers) and counts the rest in one last
// record, which the kernel may drop too.
func (w *Writer) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
	w.writeHeld(w.clock().Now())
	if n := len(w.held) + w.dropped; n > 0 {
		w.held, w.dropped = nil, 0
		w.record(fmt.Sprintf("%d line(s) not logged: the process ended while the kernel's limit on /dev/kmsg (printk_devkmsg=ratelimit) held them", n))
	}
}

// limited reads a printk_devkmsg value: "on" lifts the limit, "off"
// drops every record (nothing to pace), "ratelimit" limits.
func limited(v string) bool {
	v = strings.TrimSpace(v)
	return v != "on" && v != "off"
}

// Held reports how many lines wait.
func (w *Writer) Held() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held)
}
