package analyze

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// Options tune the SVG.
type Options struct {
	// Width is the time axis' width in pixels (DefaultWidth when 0).
	Width int
}

// DefaultWidth is the time axis' default width in pixels.
const DefaultWidth = 1400

// Layout, in pixels. Text is monospace, so its width is known without
// fonts: charW × font size a character (DejaVu Sans Mono's advance).
const (
	pad      = 14
	charW    = 0.602
	fontSize = 12
	subFont  = 10
	stepH    = 18
	rowGap   = 5
	laneH    = 11
	subH     = 7
	axisTop  = 84
	maxLabel = 160 // runes of an error or detail shown in the text
)

// style is how a kind of bar is drawn.
type style struct {
	fill, text string // bar, and text inside it
	legend     string
}

var (
	kernelStyle     = style{"#b8b8b8", "#000000", "kernel, until /init starts"}
	stepStyle       = style{"#2f6db5", "#ffffff", "step of /init"}
	backgroundStyle = style{"#f0a33a", "#000000", "background batch (beside the steps)"}
	failedStyle     = style{"#d0342c", "#ffffff", "failed step"}
	moduleStyle     = style{"#6f9fde", "#000000", "module insert (rd.debug)"}
	moduleBgStyle   = style{"#f6c27f", "#000000", "module insert, background batch"}
	scanStyle       = style{"#8a8a8a", "#000000", "sysfs scan of a device round"}
	outsideText     = "#222222"
	initColor       = "#2a9d4b"
	readyColor      = "#8e44ad"
)

func styleOf(b Bar) style {
	switch {
	case b.Kind == "kernel":
		return kernelStyle
	case b.Error != "":
		return failedStyle
	case b.Kind == "scan":
		return scanStyle
	case b.Kind == "module" && b.Background:
		return moduleBgStyle
	case b.Kind == "module":
		return moduleStyle
	case b.Background:
		return backgroundStyle
	}
	return stepStyle
}

// svg builds the document.
type svg struct {
	bytes.Buffer
	scale float64 // pixels a second
	width float64 // the document's
}

func (s *svg) x(t float64) float64 { return pad + t*s.scale }

func (s *svg) printf(format string, args ...any) { fmt.Fprintf(s, format, args...) }

// esc escapes text for XML content and attribute values.
func esc(v string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(v))
	return b.String()
}

func textWidth(v string, size float64) float64 {
	return float64(len([]rune(v))) * size * charW
}

func clip(v string) string {
	if r := []rune(v); len(r) > maxLabel {
		return string(r[:maxLabel-1]) + "…"
	}
	return v
}

// dur formats a duration for a label: milliseconds below a second.
func dur(d float64) string {
	switch {
	case d < 0.001:
		return fmt.Sprintf("%.1f ms", d*1000)
	case d < 1:
		return fmt.Sprintf("%.0f ms", d*1000)
	}
	return fmt.Sprintf("%.2f s", d)
}

// ticks returns the axis' tick interval and its end (a whole number of
// intervals at or after end), aiming at a tick every ~90 pixels.
func ticks(end float64, width int) (step, axisEnd float64) {
	if end <= 0 {
		end = 1
	}
	raw := end / math.Max(float64(width)/90, 1)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * p
	for _, m := range []float64{1, 2, 5} {
		if m*p >= raw {
			step = m * p
			break
		}
	}
	return step, math.Ceil(end/step-1e-9) * step
}

// label places a bar's text: inside when it may and fits, else after the
// bar, else before it. It returns the x, the anchor and the text's colour,
// and the pixels the bar and its text take on each side.
func (s *svg) label(x0, x1 float64, text string, size float64, st style, inside bool) (x float64, anchor, color string, left, right float64) {
	tw := textWidth(text, size)
	switch {
	case inside && tw+8 <= x1-x0:
		return x0 + 4, "start", st.text, x0, x1
	case x1+4+tw <= s.width-pad:
		return x1 + 4, "start", outsideText, x0, x1 + 4 + tw
	case x0-4-tw >= pad:
		return x0 - 4, "end", outsideText, x0 - 4 - tw, x1
	}
	return x0 + 4, "start", st.text, x0, x1
}

// WriteSVG draws the chart as a standalone SVG document: a time axis from
// the kernel's start, a row a step (the kernel's time first), background
// batches and failed steps in colours of their own, module inserts and
// scans as thin bars under the step they ran in, /init's start and the
// root's readiness as markers, the summary and a legend.
func (c *Chart) WriteSVG(w io.Writer, o Options) error {
	width := o.Width
	if width <= 0 {
		width = DefaultWidth
	}
	step, axisEnd := ticks(c.End, width)
	s := &svg{scale: float64(width) / axisEnd, width: float64(width + 2*pad)}

	// The rows first: the document's height depends on them.
	var body, stripes svg
	body.scale, body.width = s.scale, s.width
	y := float64(axisTop + 6)
	kinds := map[style]bool{}
	for i, r := range c.Rows {
		top := y
		body.printf("<g class=\"row\" data-name=\"%s\">\n", esc(r.Bar.Name))
		if r.Group {
			body.printf("<text class=\"label group\" x=\"%.1f\" y=\"%.1f\" fill=\"%s\" font-style=\"italic\">%s</text>\n",
				body.x(r.Bar.Start), y+stepH-5, outsideText, esc(r.Bar.Name))
		} else {
			kinds[styleOf(r.Bar)] = true
			body.bar(r.Bar, y, stepH, fontSize)
		}
		y += stepH
		if len(r.Subs) > 0 {
			y += 2
			lanes := body.subs(r.Subs, y, kinds)
			y += float64(lanes*laneH) + 2
		}
		body.printf("</g>\n")
		y += rowGap
		if i%2 == 1 { // every other row shaded, to follow a row by eye
			stripes.printf("<rect class=\"stripe\" x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f4f6f8\"/>\n",
				pad, top-float64(rowGap)/2, s.width-2*pad, y-top)
		}
	}
	bottom := y

	// Markers.
	var marks svg
	marks.scale, marks.width = s.scale, s.width
	if c.InitStart > 0 {
		marks.marker("init-start", c.InitStart, fmt.Sprintf("/init start %.2f s", c.InitStart), initColor, bottom, "start")
	}
	if c.RootReady > 0 {
		marks.marker("root-ready", c.RootReady, fmt.Sprintf("root ready %.2f s", c.RootReady), readyColor, bottom, "end")
	}

	// Legend.
	var legend svg
	legend.scale, legend.width = s.scale, s.width
	ly := bottom + 36
	lx := float64(pad)
	item := func(draw func(x, y float64), text string) {
		tw := 18 + textWidth(text, fontSize)
		if lx+tw > s.width-pad && lx > pad {
			lx, ly = pad, ly+20
		}
		draw(lx, ly)
		legend.printf("<text class=\"legend-label\" x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s</text>\n", lx+18, ly+10, outsideText, esc(text))
		lx += tw + 22
	}
	legend.printf("<g class=\"legend\">\n")
	for _, st := range []style{kernelStyle, stepStyle, backgroundStyle, failedStyle, moduleStyle, moduleBgStyle, scanStyle} {
		if !kinds[st] {
			continue
		}
		item(func(x, y float64) {
			legend.printf("<rect class=\"swatch\" x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", x, y, st.fill)
		}, st.legend)
	}
	for _, m := range []struct {
		on          bool
		color, text string
	}{{c.InitStart > 0, initColor, "/init starts"}, {c.RootReady > 0, readyColor, "root ready for switch_root"}} {
		if m.on {
			item(func(x, y float64) {
				legend.printf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>\n",
					x+6, y-1, x+6, y+13, m.color)
			}, m.text)
		}
	}
	legend.printf("</g>\n")
	height := ly + 14 + pad

	// The document.
	s.printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	s.printf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"%d\">\n",
		s.width, height, s.width, height, fontSize)
	s.printf("<title>netroot boot timeline</title>\n")
	s.printf("<rect class=\"page\" x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", s.width, height)
	lines := c.summary()
	s.printf("<text class=\"title\" x=\"%d\" y=\"24\" font-size=\"16\" font-weight=\"bold\" fill=\"#000000\">netroot boot: %s</text>\n", pad, esc(clip(lines[0])))
	for i, l := range lines[1:] {
		s.printf("<text class=\"summary\" x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", pad, 44+16*i, outsideText, esc(clip(l)))
	}
	s.Write(stripes.Bytes())
	s.printf("<g class=\"axis\">\n")
	n := int(math.Round(axisEnd / step))
	for i := 0; i <= n; i++ {
		t := float64(i) * step
		anchor := "middle" // the first and last stay inside the page
		switch i {
		case 0:
			anchor = "start"
		case n:
			anchor = "end"
		}
		s.printf("<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n", s.x(t), axisTop, s.x(t), bottom)
		s.printf("<text class=\"tick-label\" x=\"%.1f\" y=\"%d\" text-anchor=\"%s\" fill=\"%s\">%s</text>\n", s.x(t), axisTop-6, anchor, outsideText, tickLabel(t, step))
	}
	s.printf("</g>\n")
	s.Write(marks.Bytes())
	s.Write(body.Bytes())
	s.Write(legend.Bytes())
	s.printf("</svg>\n")
	_, err := w.Write(s.Bytes())
	return err
}

func tickLabel(t, step float64) string {
	switch {
	case step >= 1:
		return fmt.Sprintf("%.0f s", t)
	case step >= 0.1:
		return fmt.Sprintf("%.1f s", t)
	case step >= 0.01:
		return fmt.Sprintf("%.2f s", t)
	}
	return fmt.Sprintf("%.3f s", t)
}

// bar draws a step's (or the kernel's) bar with its name and duration.
func (s *svg) bar(b Bar, y, h float64, size int) {
	st := styleOf(b)
	x0, x1 := s.x(b.Start), s.x(b.End)
	w := math.Max(x1-x0, 1)
	text := b.Name + " " + dur(b.Duration())
	if b.Error != "" {
		text = b.Name + " failed after " + dur(b.Duration())
	}
	tip := fmt.Sprintf("%s: %.3f s → %.3f s (%s)", b.Name, b.Start, b.End, dur(b.Duration()))
	if b.Background {
		tip += ", in the background"
	}
	if b.Detail != "" {
		tip += "\n" + clip(b.Detail)
	}
	if b.Error != "" {
		tip += "\nfailed: " + clip(b.Error)
	}
	class := "bar " + b.Kind
	if b.Background {
		class += " background"
	}
	if b.Error != "" {
		class += " failed"
	}
	s.printf("<rect class=\"%s\" data-name=\"%s\" data-start=\"%.6f\" data-duration=\"%.6f\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"2\" fill=\"%s\"><title>%s</title></rect>\n",
		class, esc(b.Name), b.Start, b.Duration(), x0, y, w, h, st.fill, esc(tip))
	lx, anchor, color, _, _ := s.label(x0, x0+w, text, float64(size), st, true)
	s.printf("<text class=\"label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\">%s</text>\n", lx, y+h-5, anchor, color, esc(text))
}

// subs draws module inserts and scans as thin bars with their labels, in
// as many lanes as it takes for no two (labels included) to overlap, and
// returns the number of lanes.
func (s *svg) subs(subs []Bar, y float64, kinds map[style]bool) int {
	var laneEnd []float64 // the rightmost pixel taken in each lane
	for _, b := range subs {
		st := styleOf(b)
		kinds[st] = true
		x0, x1 := s.x(b.Start), s.x(b.End)
		x1 = math.Max(x1, x0+1)
		text := b.Name + " " + dur(b.Duration())
		lx, anchor, color, left, right := s.label(x0, x1, text, subFont, st, false)
		lane := -1
		for i, e := range laneEnd {
			if e+3 <= left {
				lane = i
				break
			}
		}
		if lane < 0 {
			lane = len(laneEnd)
			laneEnd = append(laneEnd, 0)
		}
		laneEnd[lane] = right
		ly := y + float64(lane*laneH)
		class := "bar " + b.Kind
		if b.Background {
			class += " background"
		}
		tip := fmt.Sprintf("%s %s: %.3f s → %.3f s (%s)", b.Kind, b.Name, b.Start, b.End, dur(b.Duration()))
		s.printf("<rect class=\"%s\" data-name=\"%s\" data-start=\"%.6f\" data-duration=\"%.6f\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s</title></rect>\n",
			class, esc(b.Name), b.Start, b.Duration(), x0, ly+float64(laneH-subH)/2, x1-x0, subH, st.fill, esc(tip))
		s.printf("<text class=\"label sub\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" fill=\"%s\">%s</text>\n",
			lx, ly+laneH-2, anchor, subFont, color, esc(text))
	}
	return len(laneEnd)
}

// marker draws a dashed vertical line at uptime t with its label under
// the rows.
func (s *svg) marker(class string, t float64, text, color string, bottom float64, anchor string) {
	x := s.x(t)
	s.printf("<line class=\"marker %s\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>\n",
		class, x, axisTop, x, bottom+4, color)
	lx := x + 4
	if anchor == "end" {
		lx = x - 4
	}
	s.printf("<text class=\"marker-label %s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\">%s</text>\n", class, lx, bottom+18, anchor, color, esc(text))
}
