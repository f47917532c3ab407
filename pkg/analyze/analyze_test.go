package analyze

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/bootlog"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// node is an element of the parsed SVG.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []*node    `xml:",any"`
	parent   *node
}

func (n *node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *node) num(t *testing.T, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s> %s=%q: %v", n.XMLName.Local, name, n.attr(name), err)
	}
	return v
}

func (n *node) hasClass(c string) bool {
	for _, f := range strings.Fields(n.attr("class")) {
		if f == c {
			return true
		}
	}
	return false
}

// all returns the elements below n (n included) matching keep, in
// document order, with their parents set.
func (n *node) all(keep func(*node) bool) []*node {
	var out []*node
	var walk func(*node)
	walk = func(m *node) {
		if keep(m) {
			out = append(out, m)
		}
		for _, c := range m.Children {
			c.parent = m
			walk(c)
		}
	}
	walk(n)
	return out
}

func byClass(tag, class string) func(*node) bool {
	return func(n *node) bool { return n.XMLName.Local == tag && n.hasClass(class) }
}

// readTestdata reads testdata/name with Read.
func readTestdata(t *testing.T, name string) bootlog.Timeline {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tl, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func renderSVG(t *testing.T, tl bootlog.Timeline, o Options) (*node, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := NewChart(tl).WriteSVG(&buf, o); err != nil {
		t.Fatal(err)
	}
	var root node
	if err := xml.Unmarshal(buf.Bytes(), &root); err != nil {
		t.Fatalf("the SVG is not XML: %v", err)
	}
	return &root, buf.Bytes()
}

// axis returns the axis' origin and scale, fitted from the ticks' lines
// and labels ("1.5 s"), and checks that the ticks lie on one line.
func axis(t *testing.T, root *node) (x0, scale float64) {
	t.Helper()
	lines := root.all(byClass("line", "tick"))
	labels := root.all(byClass("text", "tick-label"))
	if len(lines) < 3 || len(lines) != len(labels) {
		t.Fatalf("%d tick lines, %d labels", len(lines), len(labels))
	}
	at := func(i int) (sec, x float64) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(labels[i].Text, " s"), 64)
		if err != nil {
			t.Fatalf("tick label %q", labels[i].Text)
		}
		return v, lines[i].num(t, "x1")
	}
	s0, xa := at(0)
	s1, xb := at(len(lines) - 1)
	scale = (xb - xa) / (s1 - s0)
	x0 = xa - s0*scale
	for i := range lines {
		s, x := at(i)
		if math.Abs(x0+s*scale-x) > 0.11 {
			t.Errorf("tick %q at x=%v, off the axis x0=%v scale=%v", labels[i].Text, x, x0, scale)
		}
	}
	return x0, scale
}

// TestSVGStructure renders the known timeline of testdata and checks the
// drawing against it: each step's bar on the axis' scale, rows, overlaps,
// sub-bars, markers, texts.
func TestSVGStructure(t *testing.T) {
	tl := readTestdata(t, "timeline.json")
	root, _ := renderSVG(t, tl, Options{})
	if root.XMLName.Space != "http://www.w3.org/2000/svg" || root.XMLName.Local != "svg" {
		t.Fatalf("root element %v", root.XMLName)
	}
	width, height := root.num(t, "width"), root.num(t, "height")
	if width <= 0 || height <= 0 || root.attr("viewBox") != fmt.Sprintf("0 0 %.0f %.0f", width, height) {
		t.Errorf("size %vx%v viewBox %q", width, height, root.attr("viewBox"))
	}
	if imgs := root.all(func(n *node) bool { return n.XMLName.Local == "image" || n.attr("href") != "" }); len(imgs) > 0 {
		t.Errorf("external references: %v", imgs[0].XMLName)
	}
	x0, scale := axis(t, root)
	if x0 < 0 || x0+tl.RootReadyUptime*scale > width {
		t.Errorf("axis x0=%v scale=%v does not fit %v pixels", x0, scale, width)
	}

	// One row for the kernel, one a step, one for the insert outside the
	// modules steps.
	rows := root.all(byClass("g", "row"))
	if want := 1 + len(tl.Steps) + 1; len(rows) != want {
		t.Errorf("%d rows, want %d", len(rows), want)
	}
	kernel := root.all(byClass("rect", "kernel"))
	if len(kernel) != 1 || math.Abs(kernel[0].num(t, "x")-x0) > 0.11 || math.Abs(kernel[0].num(t, "width")-tl.InitStartUptime*scale) > 0.11 {
		t.Errorf("kernel bar %+v", kernel)
	}

	bars := map[string]*node{}
	for _, r := range root.all(byClass("rect", "step")) {
		bars[r.attr("data-name")] = r
	}
	wantLabel := map[string]string{"modules": "modules 614 ms", "root": "root 6 ms", "modules-fs": "modules-fs 482 ms", "mount-root": "mount-root 327 ms"}
	for _, e := range tl.Steps {
		b := bars[e.Step]
		if b == nil {
			t.Errorf("no bar for step %s", e.Step)
			continue
		}
		start := tl.InitStartUptime + e.Start
		if x := b.num(t, "x"); math.Abs(x-(x0+start*scale)) > 0.11 {
			t.Errorf("%s: x=%v, want %v (start %v s)", e.Step, x, x0+start*scale, start)
		}
		if w := b.num(t, "width"); math.Abs(w-max(e.Duration*scale, 1)) > 0.11 {
			t.Errorf("%s: width=%v, want %v (%v s)", e.Step, w, e.Duration*scale, e.Duration)
		}
		if got := b.hasClass("background"); got != IsBackground(e) {
			t.Errorf("%s: background %v", e.Step, got)
		}
		// The bar's text: its name and duration, inside the page.
		texts := b.parent.all(byClass("text", "label"))
		if len(texts) == 0 || !strings.HasPrefix(texts[0].Text, e.Step+" ") || !regexp.MustCompile(` \d+(\.\d+)? (ms|s)$`).MatchString(texts[0].Text) {
			t.Errorf("%s: label %v", e.Step, texts)
			continue
		}
		if w, ok := wantLabel[e.Step]; ok && texts[0].Text != w {
			t.Errorf("%s: label %q, want %q", e.Step, texts[0].Text, w)
		}
		checkInside(t, texts[0], fontSize, width)
	}
	// Background batches look different from the steps of the path.
	if bars["modules-plan"].attr("fill") == bars["modules"].attr("fill") {
		t.Error("a background batch is drawn like a foreground step")
	}
	// Steps that overlap in time are on rows of their own.
	for i, a := range tl.Steps {
		for _, b := range tl.Steps[i+1:] {
			if a.Start < b.Start+b.Duration && b.Start < a.Start+a.Duration {
				ya, yb := bars[a.Step].num(t, "y"), bars[b.Step].num(t, "y")
				if math.Abs(ya-yb) < stepH {
					t.Errorf("overlapping steps %s and %s on one row (y %v, %v)", a.Step, b.Step, ya, yb)
				}
			}
		}
	}

	// Module inserts and scans: thin bars in the row of the step they ran
	// in, on the axis' scale, overlapping ones on lanes of their own.
	owners := map[string]string{
		"round 1": "modules", "bonding": "modules", "virtio_pci": "modules", "round 2": "modules",
		"scsi_mod": "modules-plan", "crc32c_generic": "modules-plan", "ext4": "modules-fs", "jbd2": "modules-fs",
		"cdc_ether": "module loads outside the modules steps",
	}
	subs := root.all(func(n *node) bool {
		return n.XMLName.Local == "rect" && (n.hasClass("module") || n.hasClass("scan"))
	})
	if len(subs) != len(tl.Spans) {
		t.Errorf("%d sub-bars, want %d", len(subs), len(tl.Spans))
	}
	seen := map[string]*node{}
	for _, sb := range subs {
		name := sb.attr("data-name")
		seen[name] = sb
		if h := sb.num(t, "height"); h >= stepH/2 {
			t.Errorf("%s: sub-bar %v high, not thin", name, h)
		}
		if o, ok := owners[name]; ok && sb.parent.attr("data-name") != o {
			t.Errorf("%s drawn in row %q, want %q", name, sb.parent.attr("data-name"), o)
		}
	}
	for _, s := range tl.Spans {
		sb := seen[s.Name]
		if sb == nil {
			t.Errorf("no sub-bar for %s", s.Name)
			continue
		}
		start := tl.InitStartUptime + s.Start
		if x := sb.num(t, "x"); math.Abs(x-(x0+start*scale)) > 0.11 {
			t.Errorf("%s: x=%v, want %v", s.Name, x, x0+start*scale)
		}
		if w := sb.num(t, "width"); math.Abs(w-max(s.Duration*scale, 1)) > 0.11 {
			t.Errorf("%s: width=%v, want %v", s.Name, w, s.Duration*scale)
		}
		if sb.hasClass("background") != s.Background {
			t.Errorf("%s: background class %q", s.Name, sb.attr("class"))
		}
	}
	for i, a := range tl.Spans {
		for _, b := range tl.Spans[i+1:] {
			na, nb := seen[a.Name], seen[b.Name]
			if na == nil || nb == nil || na.parent != nb.parent {
				continue
			}
			if a.Start < b.Start+b.Duration && b.Start < a.Start+a.Duration && na.num(t, "y") == nb.num(t, "y") {
				t.Errorf("overlapping %s and %s on one lane", a.Name, b.Name)
			}
		}
	}
	for _, l := range root.all(byClass("text", "sub")) {
		checkInside(t, l, subFont, width)
	}

	// Markers at /init's start and the root's readiness, and the summary.
	for class, at := range map[string]float64{"init-start": tl.InitStartUptime, "root-ready": tl.RootReadyUptime} {
		m := root.all(func(n *node) bool { return n.XMLName.Local == "line" && n.hasClass("marker") && n.hasClass(class) })
		if len(m) != 1 || math.Abs(m[0].num(t, "x1")-(x0+at*scale)) > 0.11 {
			t.Errorf("marker %s: %v, want x=%v", class, m, x0+at*scale)
		}
	}
	var all strings.Builder
	for _, n := range root.all(func(n *node) bool { return n.XMLName.Local == "text" }) {
		all.WriteString(n.Text + "\n")
	}
	for _, want := range []string{
		"root ready at 4.14 s since kernel start; /init started at 2.53 s and took 1.61 s",
		"peak RSS 7.1 MiB; CPU 0.34 s user, 2.02 s system, 0.01 s idle",
		"/init start 2.53 s", "root ready 4.14 s",
		"background batch", "module insert (rd.debug)", "sysfs scan of a device round",
	} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no text %q in\n%s", want, all.String())
		}
	}
}

// checkInside fails when a text's estimated extent leaves the page.
func checkInside(t *testing.T, n *node, size, width float64) {
	t.Helper()
	x, tw := n.num(t, "x"), textWidth(n.Text, size)
	left := x
	switch n.attr("text-anchor") {
	case "end":
		left = x - tw
	case "middle":
		left = x - tw/2
	}
	if left < 0 || left+tw > width {
		t.Errorf("text %q spans %v..%v, outside 0..%v", n.Text, left, left+tw, width)
	}
}

// TestSVGWidth checks that the axis follows Options.Width.
func TestSVGWidth(t *testing.T) {
	tl := readTestdata(t, "timeline.json")
	for _, w := range []int{400, 3000} {
		root, _ := renderSVG(t, tl, Options{Width: w})
		axis(t, root)
		ticks := root.all(byClass("line", "tick"))
		if got := ticks[len(ticks)-1].num(t, "x1") - ticks[0].num(t, "x1"); math.Abs(got-float64(w)) > 0.11 {
			t.Errorf("width %d: axis %v pixels", w, got)
		}
		if end := ticks[len(ticks)-1].num(t, "x1"); end+pad != root.num(t, "width") {
			t.Errorf("width %d: axis ends at %v in a page %v wide", w, end, root.num(t, "width"))
		}
	}
}

// TestSVGFailedBoot draws a boot that failed: no root-ready marker, the
// failed step in its own colour and named in the summary, hostile text
// escaped.
func TestSVGFailedBoot(t *testing.T) {
	tl := bootlog.Timeline{InitStartUptime: 2, Steps: []bootlog.Entry{
		{Step: "mount", Start: 0, Duration: 0.03},
		{Step: "login", Start: 0.1, Duration: 2.5, Error: `target said <"no"> & closed`},
	}}
	root, raw := renderSVG(t, tl, Options{})
	if m := root.all(byClass("line", "root-ready")); len(m) != 0 {
		t.Error("root-ready marker on a failed boot")
	}
	failed := root.all(byClass("rect", "failed"))
	if len(failed) != 1 || failed[0].attr("data-name") != "login" {
		t.Fatalf("failed bars %v", failed)
	}
	if !bytes.Contains(raw, []byte("failed: login: target said &lt;&#34;no&#34;&gt; &amp; closed")) {
		t.Errorf("the failure is not in the summary:\n%s", raw)
	}
	if !bytes.Contains(raw, []byte("root not reached")) {
		t.Error("no 'root not reached'")
	}
}

func TestTableGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := NewChart(readTestdata(t, "timeline.json")).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		os.WriteFile(golden, buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("table:\n%s\nwant (%s):\n%s", buf.String(), golden, want)
	}
}

func TestParseConsole(t *testing.T) {
	tl := readTestdata(t, "console.log")
	var names []string
	for _, e := range tl.Steps {
		names = append(names, e.Step)
	}
	if got, want := strings.Join(names, " "), "mount config modules links bond ip modules-plan login disk root keeper modules-fs mount-root"; got != want {
		t.Errorf("steps %q, want %q", got, want)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	if !near(tl.InitStartUptime, 2.53) || !near(tl.RootReadyUptime, 4.14) || tl.PeakRSSKiB != 7270 ||
		!near(tl.CPUUser, 0.34) || !near(tl.CPUSystem, 2.02) || !near(tl.CPUIdle, 0.01) {
		t.Errorf("summary figures: %+v", tl)
	}
	// The kernel's timestamps are moved onto /proc/uptime's clock by the
	// summary line's (4.198962 for a root ready at 4.14).
	const off = 4.198962 - 4.14
	m := tl.Steps[2]
	if !near(m.Uptime, 3.267790-off) || !near(m.Start, 3.267790-off-0.614-2.53) || m.Duration != 0.614 ||
		m.Detail != "3 loaded for devices and network: bonding virtio_net virtio_pci" {
		t.Errorf("modules step %+v", m)
	}
	if b := tl.Steps[4]; b.Step != "bond" || !strings.HasSuffix(b.Detail, "eth1 backup") {
		t.Errorf("bond step (its line ends in CR) %+v", b)
	}
	// Debug lines carry no timestamp: the last one before them dates them.
	want := []bootlog.Span{
		{Kind: "scan", Name: "round 1", Start: 3.038567 - off - 0.095 - 2.53, Duration: 0.095},
		{Kind: "module", Name: "virtio_pci", Start: 3.038567 - off - 0.210 - 2.53, Duration: 0.210},
	}
	if len(tl.Spans) != len(want) {
		t.Fatalf("spans %+v", tl.Spans)
	}
	for i, s := range tl.Spans {
		if s.Kind != want[i].Kind || s.Name != want[i].Name || !near(s.Start, want[i].Start) || s.Duration != want[i].Duration {
			t.Errorf("span %+v, want %+v", s, want[i])
		}
	}
}

func TestParseConsoleWithoutTimestamps(t *testing.T) {
	// A quiet boot's lines come from /init itself, with no timestamp: the
	// steps are laid one after the other; a FATAL line ends the boot.
	log := "netroot: mount: proc, sys, dev, run (0.030s)\nnetroot: config: x (0.020s)\n" +
		"netroot: modules: 3 loaded (0.500s)\nnetroot: FATAL login: no answer from 10.0.0.1:3260 — check the portal\n"
	tl, err := ParseConsole(log)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Steps) != 4 || tl.InitStartUptime != 0 || tl.RootReadyUptime != 0 {
		t.Fatalf("%+v", tl)
	}
	for i, want := range []float64{0, 0.03, 0.05} {
		if math.Abs(tl.Steps[i].Start-want) > 1e-9 {
			t.Errorf("step %s starts at %v, want %v", tl.Steps[i].Step, tl.Steps[i].Start, want)
		}
	}
	if f := tl.Steps[3]; f.Step != "login" || f.Error != "no answer from 10.0.0.1:3260 — check the portal" || math.Abs(f.Start-0.55) > 1e-9 {
		t.Errorf("failed step %+v", f)
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "no netroot timeline"},
		{"other log", "[    0.000000] Linux version 6.1.0\nhello\n", "no netroot timeline"},
		{"bad json", `{"steps": [`, "reading the timeline"},
		{"negative duration", `{"init_start_uptime": 1, "steps": [{"step": "bond", "start": 0.1, "duration": -2}]}`, `step 1 ("bond"): bad start 0.1 or duration -2`},
		{"negative span", `{"steps": [], "spans": [{"kind": "module", "name": "x", "start": -1, "duration": 0}]}`, `span 1 ("x")`},
		{"absurd uptime", `{"init_start_uptime": 1e300, "steps": []}`, "bad uptime"},
	} {
		_, err := Read(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// FuzzRead feeds Read anything: it must not panic, and whatever it
// accepts must draw as well-formed XML and print as a table.
func FuzzRead(f *testing.F) {
	for _, p := range []string{"testdata/timeline.json", "testdata/console.log"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"init_start_uptime": 3, "steps": [{"step": "<&\"x\u0001", "start": 0, "duration": 1e8}]}`))
	f.Add([]byte("[ 1.0] netroot: a: b (0.1s)\nnetroot: root ready at 0.5 s since kernel start, /init took 9.0 s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tl, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		c := NewChart(tl)
		var svg, table bytes.Buffer
		if err := c.WriteSVG(&svg, Options{Width: 300}); err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(&svg)
		for {
			_, err := d.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("SVG not well-formed: %v", err)
				}
				break
			}
		}
		if err := c.WriteTable(&table); err != nil {
			t.Fatal(err)
		}
	})
}
