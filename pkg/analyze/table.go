package analyze

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteTable prints the chart's steps as a table sorted by start — times
// in seconds since the kernel started — then, under rd.debug, the module
// inserts and sysfs scans, then the summary.
func (c *Chart) WriteTable(w io.Writer) error {
	var b strings.Builder
	var subs []Bar
	rows := [][2]string{}
	for _, r := range c.Rows {
		subs = append(subs, r.Subs...)
		if !r.Group {
			rows = append(rows, [2]string{tableName(r.Bar), row(r.Bar)})
		}
	}
	table(&b, "STEP", rows)
	if len(subs) > 0 {
		slices.SortStableFunc(subs, func(a, b Bar) int { return cmp.Compare(a.Start, b.Start) })
		rows = rows[:0]
		for _, s := range subs {
			name := s.Name
			if s.Kind == "scan" {
				name += " (sysfs scan)"
			}
			rows = append(rows, [2]string{name, row(s)})
		}
		b.WriteString("\n")
		table(&b, "MODULE OR SCAN", rows)
	}
	b.WriteString("\n")
	for _, line := range c.summary() {
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// table writes a header and rows of a name and the formatted times.
func table(b *strings.Builder, title string, rows [][2]string) {
	width := len(title)
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	fmt.Fprintf(b, "%-*s  %8s  %8s  %8s  %s\n", width, title, "START", "DURATION", "END", "RUNS IN")
	for _, r := range rows {
		fmt.Fprintf(b, "%-*s  %s\n", width, r[0], r[1])
	}
}

func row(b Bar) string {
	return fmt.Sprintf("%8.3f  %8.3f  %8.3f  %s", b.Start, b.Duration(), b.End, runsIn(b))
}

func tableName(b Bar) string {
	switch {
	case b.Kind == "kernel":
		return "(kernel)"
	case b.Error != "":
		return b.Name + " (failed)"
	}
	return b.Name
}

func runsIn(b Bar) string {
	switch {
	case b.Kind == "kernel":
		return "kernel"
	case b.Background:
		return "background"
	}
	return "foreground"
}

// summary is the chart's closing lines: when the root was ready, /init's
// share, and what /init used.
func (c *Chart) summary() []string {
	t := c.Timeline
	var out []string
	if c.RootReady > 0 {
		out = append(out, fmt.Sprintf("root ready at %.2f s since kernel start; /init started at %.2f s and took %.2f s",
			c.RootReady, c.InitStart, c.RootReady-c.InitStart))
	} else {
		out = append(out, fmt.Sprintf("root not reached; /init started at %.2f s since kernel start", c.InitStart))
	}
	var use []string
	if t.PeakRSSKiB > 0 {
		use = append(use, fmt.Sprintf("peak RSS %.1f MiB", float64(t.PeakRSSKiB)/1024))
	}
	if t.CPUUser+t.CPUSystem > 0 {
		use = append(use, fmt.Sprintf("CPU %.2f s user, %.2f s system, %.2f s idle", t.CPUUser, t.CPUSystem, t.CPUIdle))
	}
	if len(use) > 0 {
		out = append(out, strings.Join(use, "; "))
	}
	for _, r := range c.Rows {
		if r.Bar.Error != "" {
			out = append(out, fmt.Sprintf("failed: %s: %s", r.Bar.Name, r.Bar.Error))
		}
	}
	return out
}
