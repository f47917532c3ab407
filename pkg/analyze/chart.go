package analyze

import (
	"cmp"
	"slices"
	"strings"

	"github.com/netroot/netroot/pkg/bootlog"
)

// Bar is one bar of the chart, in seconds since the kernel started.
type Bar struct {
	// Kind is "kernel" (the time before /init), "step", "module" (an
	// insert) or "scan" (a device round's sysfs scan).
	Kind string
	// Name is the step's, module's or round's name.
	Name       string
	Start, End float64
	// Background marks a background batch's step or insert.
	Background bool
	// Error is the failed step's error.
	Error string
	// Detail is the step's one-line result.
	Detail string
}

// Duration is End − Start.
func (b Bar) Duration() float64 { return b.End - b.Start }

// Row is one row of the chart: a step (or the kernel) and, under
// rd.debug, the module inserts and scans that ran inside it.
type Row struct {
	Bar Bar
	// Group marks a row without a step of its own, holding the sub-entries
	// that fall in no modules step (hotplug's loads).
	Group bool
	Subs  []Bar
}

// Chart is a timeline in rows: the kernel's, then one a step, by start.
type Chart struct {
	Rows []Row
	// InitStart and RootReady are kernel uptimes; RootReady is 0 when the
	// boot did not reach its root.
	InitStart, RootReady float64
	// End is the latest end of any bar or marker.
	End float64
	// Timeline is what the chart was made from.
	Timeline bootlog.Timeline
}

// backgroundSteps are the steps /init runs beside the others: the module
// batches, the keeper's hand-over and the real OS's configuration.
var backgroundSteps = map[string]bool{"modules-plan": true, "modules-fs": true, "keeper": true, "osconfig": true}

// IsBackground reports whether the step ran in the background, beside the
// steps of the boot's path.
func IsBackground(e bootlog.Entry) bool {
	return backgroundSteps[e.Step] || strings.Contains(e.Detail, "(in the background)")
}

// NewChart arranges t in rows.
func NewChart(t bootlog.Timeline) *Chart {
	c := &Chart{InitStart: t.InitStartUptime, RootReady: t.RootReadyUptime, Timeline: t}
	c.End = max(c.InitStart, c.RootReady)
	if c.InitStart > 0 {
		c.Rows = append(c.Rows, Row{Bar: Bar{Kind: "kernel", Name: "kernel", End: c.InitStart,
			Detail: "from the kernel's start to /init's (the kernel unpacks the initramfs first)"}})
	}
	var steps []Row
	for _, e := range t.Steps {
		b := Bar{Kind: "step", Name: e.Step, Start: c.InitStart + e.Start, Background: IsBackground(e), Error: e.Error, Detail: e.Detail}
		b.End = b.Start + e.Duration
		c.End = max(c.End, b.End)
		steps = append(steps, Row{Bar: b})
	}
	slices.SortStableFunc(steps, func(a, b Row) int { return cmp.Compare(a.Bar.Start, b.Bar.Start) })
	// The spans say which inserts were a background batch's only when
	// they come from timeline.json (at least one then is); from a console
	// log they do not, and any modules step around an insert owns it.
	strict := slices.ContainsFunc(t.Spans, func(s bootlog.Span) bool { return s.Background })
	var other *Row
	for _, s := range t.Spans {
		b := Bar{Kind: s.Kind, Name: s.Name, Start: c.InitStart + s.Start, Background: s.Background}
		b.End = b.Start + s.Duration
		c.End = max(c.End, b.End)
		if i := owner(steps, b, strict); i >= 0 {
			steps[i].Subs = append(steps[i].Subs, b)
			continue
		}
		if other == nil {
			other = &Row{Group: true, Bar: Bar{Kind: "group", Name: "module loads outside the modules steps", Start: b.Start, End: b.End}}
		}
		other.Bar.Start, other.Bar.End = min(other.Bar.Start, b.Start), max(other.Bar.End, b.End)
		other.Subs = append(other.Subs, b)
	}
	if other != nil {
		steps = append(steps, *other)
		slices.SortStableFunc(steps, func(a, b Row) int { return cmp.Compare(a.Bar.Start, b.Bar.Start) })
	}
	for i := range steps {
		slices.SortStableFunc(steps[i].Subs, func(a, b Bar) int { return cmp.Compare(a.Start, b.Start) })
	}
	c.Rows = append(c.Rows, steps...)
	return c
}

// owner returns the index of the modules step that sub ran in, or -1: a
// step running at the time, as much in the background as sub (when
// strict, only such a step). The timeline does not say which batch an
// insert belonged to; its time and priority do.
func owner(steps []Row, sub Bar, strict bool) int {
	const slack = 0.002 // the two clocks are read a little apart
	best := -1
	for i, r := range steps {
		b := r.Bar
		if !strings.HasPrefix(b.Name, "modules") || sub.Start < b.Start-slack || sub.Start > b.End+slack {
			continue
		}
		if (sub.Kind == "scan" || strict) && b.Background != sub.Background {
			continue // device rounds run in the foreground step
		}
		if best < 0 || (b.Background == sub.Background && steps[best].Bar.Background != sub.Background) {
			best = i
		}
	}
	return best
}
