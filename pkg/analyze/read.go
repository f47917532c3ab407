// Package analyze draws a netroot boot: it reads the timeline /init
// writes (/run/netroot/timeline.json, see pkg/bootlog) — or rebuilds it
// from the console log's step lines — and renders it as an SVG chart in
// the manner of systemd-analyze plot (Chart.WriteSVG) and as a text table
// (WriteTable).
package analyze

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/netroot/netroot/pkg/bootlog"
)

// Limits on what Read accepts: a timeline is a few kilobytes; a console
// log of a boot with rd.debug a few hundred.
const (
	maxInput   = 64 << 20
	maxEntries = 100000
)

// Read reads a timeline: timeline.json, or a console log (or dmesg) with
// /init's "netroot: <step>: … (0.123s)" lines, which ParseConsole turns
// into one.
func Read(r io.Reader) (bootlog.Timeline, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return bootlog.Timeline{}, err
	}
	if len(data) > maxInput {
		return bootlog.Timeline{}, fmt.Errorf("input larger than %d MiB: not a timeline or a console log", maxInput>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var tl bootlog.Timeline
		if err := json.Unmarshal(t, &tl); err != nil {
			return bootlog.Timeline{}, fmt.Errorf("reading the timeline: %w", err)
		}
		return tl, Check(tl)
	}
	tl, err := ParseConsole(string(data))
	if err != nil {
		return bootlog.Timeline{}, err
	}
	return tl, Check(tl)
}

// Check reports a timeline that cannot be drawn: negative or non-finite
// times, or more entries than a boot makes.
func Check(t bootlog.Timeline) error {
	if len(t.Steps)+len(t.Spans) > maxEntries {
		return fmt.Errorf("timeline has %d entries, more than %d: not a boot's", len(t.Steps)+len(t.Spans), maxEntries)
	}
	bad := func(v float64) bool { return v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > 1e9 }
	for _, v := range []float64{t.InitStartUptime, t.RootReadyUptime, t.CPUUser, t.CPUSystem, t.CPUIdle} {
		if bad(v) {
			return fmt.Errorf("timeline: bad uptime or CPU figure %v", v)
		}
	}
	for i, e := range t.Steps {
		if bad(e.Start) || bad(e.Duration) {
			return fmt.Errorf("timeline: step %d (%q): bad start %v or duration %v", i+1, e.Step, e.Start, e.Duration)
		}
	}
	for i, s := range t.Spans {
		if bad(s.Start) || bad(s.Duration) {
			return fmt.Errorf("timeline: span %d (%q): bad start %v or duration %v", i+1, s.Name, s.Start, s.Duration)
		}
	}
	return nil
}

var (
	// consoleLine is a line of /init's log: "netroot: …", after the
	// kernel's "[    3.267790] " when the kernel printed it.
	consoleLine = regexp.MustCompile(`^(?:\[\s*(\d+\.\d+)\]\s*)?netroot: (.*)$`)
	// kernelStamp is any kernel line's timestamp.
	kernelStamp = regexp.MustCompile(`^\[\s*(\d+\.\d+)\]`)
	// stepLine is a step's closing line: "<step>: <detail> (0.123s)".
	stepLine   = regexp.MustCompile(`^([a-z][a-z0-9-]*): (.*) \((\d+\.\d+)s\)$`)
	moduleLine = regexp.MustCompile(`^modload: loaded (\S+) \((\d+\.\d+)s\)$`)
	scanLine   = regexp.MustCompile(`^modload: (round \d+): .* in (\d+\.\d+)s\)$`)
	fatalLine  = regexp.MustCompile(`^FATAL ([a-z][a-z0-9_-]*): (.*)$`)
	readyLine  = regexp.MustCompile(`^root ready at (\d+\.\d+) s since kernel start, /init took (\d+\.\d+) s`)
	rssPart    = regexp.MustCompile(`; peak RSS (\d+\.\d+) MiB`)
	cpuPart    = regexp.MustCompile(`; CPU (\d+\.\d+) s user, (\d+\.\d+) s system, (\d+\.\d+) s idle`)
)

// ParseConsole rebuilds a timeline from a console log or dmesg: the step
// lines ("netroot: bond: … (0.062s)"), the closing summary (root ready,
// /init's duration, peak RSS, CPU), a FATAL line, and under rd.debug the
// module inserts and device rounds. A line ends when the kernel's
// timestamp in front of it says; a line without one (written by /init
// itself, as debug lines and quiet boots' are) is dated by the last
// timestamp before it, so its place is approximate. timeline.json is
// exact.
func ParseConsole(log string) (bootlog.Timeline, error) {
	type ended struct {
		step *bootlog.Entry
		span *bootlog.Span
		end  float64
		// printk: end is a kernel timestamp (else a sum of durations).
		printk bool
	}
	var (
		tl      bootlog.Timeline
		items   []ended
		last    float64 // the last kernel timestamp seen
		seen    bool    // whether any line had one
		elapsed float64 // without any timestamp: the steps one after another
		took    = -1.0
		// readyAt is the summary line's kernel timestamp (-1 if none).
		readyAt = -1.0
	)
	num := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := kernelStamp.FindStringSubmatch(line); m != nil {
			last, seen = num(m[1]), true
		}
		m := consoleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		msg := m[2]
		end := last
		if !seen {
			end = elapsed
		}
		switch {
		case moduleLine.MatchString(msg):
			sm := moduleLine.FindStringSubmatch(msg)
			items = append(items, ended{span: &bootlog.Span{Kind: "module", Name: sm[1], Duration: num(sm[2])}, end: end, printk: seen})
		case scanLine.MatchString(msg):
			sm := scanLine.FindStringSubmatch(msg)
			items = append(items, ended{span: &bootlog.Span{Kind: "scan", Name: sm[1], Duration: num(sm[2])}, end: end, printk: seen})
		case strings.HasPrefix(msg, "modload: "):
		case readyLine.MatchString(msg):
			sm := readyLine.FindStringSubmatch(msg)
			tl.RootReadyUptime, took = num(sm[1]), num(sm[2])
			if m[1] != "" {
				readyAt = num(m[1])
			}
			if r := rssPart.FindStringSubmatch(msg); r != nil {
				tl.PeakRSSKiB = int(math.Round(num(r[1]) * 1024))
			}
			if c := cpuPart.FindStringSubmatch(msg); c != nil {
				tl.CPUUser, tl.CPUSystem, tl.CPUIdle = num(c[1]), num(c[2]), num(c[3])
			}
		case fatalLine.MatchString(msg):
			sm := fatalLine.FindStringSubmatch(msg)
			items = append(items, ended{step: &bootlog.Entry{Step: sm[1], Error: sm[2]}, end: end, printk: seen})
		case stepLine.MatchString(msg):
			sm := stepLine.FindStringSubmatch(msg)
			d := num(sm[3])
			if !seen {
				elapsed += d
				end = elapsed
			}
			items = append(items, ended{step: &bootlog.Entry{Step: sm[1], Detail: sm[2], Duration: d}, end: end, printk: seen})
		}
		if len(items) > maxEntries {
			return tl, fmt.Errorf("console log has more than %d netroot lines", maxEntries)
		}
	}
	if len(items) == 0 {
		return tl, errors.New("no netroot timeline: neither timeline.json nor a console log with netroot's step lines")
	}
	// The kernel stamps its log with its scheduler clock, /init reads
	// CLOCK_BOOTTIME (/proc/uptime's): on an emulated machine they differ by tens of
	// milliseconds. The summary line, printed as the root is ready, gives
	// the difference.
	if off := readyAt - tl.RootReadyUptime; readyAt >= 0 && off > 0 && off < 1 {
		for i := range items {
			if items[i].printk {
				items[i].end -= off
			}
		}
	}
	// /init's start: from the summary, else the earliest start a line
	// implies.
	if took >= 0 && tl.RootReadyUptime >= took {
		tl.InitStartUptime = tl.RootReadyUptime - took
	} else {
		tl.InitStartUptime = math.Inf(1)
		for _, it := range items {
			d := 0.0
			if it.step != nil {
				d = it.step.Duration
			} else {
				d = it.span.Duration
			}
			tl.InitStartUptime = min(tl.InitStartUptime, it.end-d)
		}
		tl.InitStartUptime = max(tl.InitStartUptime, 0)
	}
	for _, it := range items {
		if it.step != nil {
			e := *it.step
			e.Start = max(it.end-e.Duration-tl.InitStartUptime, 0)
			e.Uptime = it.end
			tl.Steps = append(tl.Steps, e)
		} else {
			s := *it.span
			s.Start = max(it.end-s.Duration-tl.InitStartUptime, 0)
			tl.Spans = append(tl.Spans, s)
		}
	}
	return tl, nil
}
