package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/netroot/netroot/pkg/analyze"
)

// stdin is what "-" reads (a variable for the tests).
var stdin io.Reader = os.Stdin

const analyzeUsage = `usage: netroot analyze [-o FILE.svg] [-width PIXELS] [TIMELINE]

Draws a boot as an SVG timeline (like systemd-analyze plot) and prints its
steps as a table. TIMELINE is /init's timeline.json (default
/run/netroot/timeline.json), or a console log or dmesg with netroot's step
lines, or - for standard input. With -o -, the SVG goes to standard output
and no table is printed.
`

func runAnalyze(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, analyzeUsage); fs.PrintDefaults() }
	out := fs.String("o", "boot.svg", "write the SVG to `FILE` (- for standard output)")
	width := fs.Int("width", analyze.DefaultWidth, "width of the time axis in `PIXELS`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	in := "/run/netroot/timeline.json"
	if fs.NArg() == 1 {
		in = fs.Arg(0)
	}
	var r io.Reader = stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			fmt.Fprintf(stderr, "netroot analyze: %v\n", err)
			return 1
		}
		defer f.Close()
		r = f
	}
	tl, err := analyze.Read(r)
	if err != nil {
		fmt.Fprintf(stderr, "netroot analyze: %s: %v\n", in, err)
		return 1
	}
	c := analyze.NewChart(tl)
	var svg bytes.Buffer
	if err := c.WriteSVG(&svg, analyze.Options{Width: *width}); err != nil {
		fmt.Fprintf(stderr, "netroot analyze: %v\n", err)
		return 1
	}
	if *out == "-" {
		if _, err := stdout.Write(svg.Bytes()); err != nil {
			fmt.Fprintf(stderr, "netroot analyze: %v\n", err)
			return 1
		}
		return 0
	}
	if err := os.WriteFile(*out, svg.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "netroot analyze: %v\n", err)
		return 1
	}
	if err := c.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "netroot analyze: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "SVG written to %s\n", *out)
	return 0
}
