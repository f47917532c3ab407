package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunAnalyze(t *testing.T) {
	timeline := filepath.Join("..", "..", "pkg", "analyze", "testdata", "timeline.json")
	data, err := os.ReadFile(timeline)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name      string
		args      []string
		stdin     string
		code      int
		out, errs string // substrings (out's spaces collapsed)
		svg       string // the file the SVG goes to
	}{
		{name: "file", args: []string{"analyze", "-o", filepath.Join(dir, "a.svg"), timeline}, out: "modules-plan 3.220 0.384 3.604 background", svg: filepath.Join(dir, "a.svg")},
		{name: "stdin", args: []string{"analyze", "-o", filepath.Join(dir, "b.svg"), "-"}, stdin: string(data), out: "SVG written to " + filepath.Join(dir, "b.svg"), svg: filepath.Join(dir, "b.svg")},
		{name: "svg to stdout", args: []string{"analyze", "-o", "-", "-width", "600", "-"}, stdin: string(data), out: "<svg xmlns="},
		{name: "console log", args: []string{"analyze", "-o", filepath.Join(dir, "c.svg"), "-"}, stdin: "[ 2.5] netroot: mount: x (0.030s)\n", out: "mount 2.470 0.030 2.500 foreground"},
		{name: "not a timeline", args: []string{"analyze", "-o", filepath.Join(dir, "d.svg"), "-"}, stdin: "hello\n", code: 1, errs: "no netroot timeline"},
		{name: "missing", args: []string{"analyze", filepath.Join(dir, "nope.json")}, code: 1, errs: "no such file"},
		{name: "two files", args: []string{"analyze", "a", "b"}, code: 2, errs: "usage: netroot analyze"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdin = strings.NewReader(tc.stdin)
			var out, errs bytes.Buffer
			if code := run(tc.args, &out, &errs); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, errs.String())
			}
			// The table's columns are padded: compare words.
			words := strings.Join(strings.Fields(out.String()), " ")
			if !strings.Contains(words, tc.out) || !strings.Contains(errs.String(), tc.errs) {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant %q / %q", out.String(), errs.String(), tc.out, tc.errs)
			}
			if tc.svg != "" {
				b, err := os.ReadFile(tc.svg)
				if err != nil {
					t.Fatal(err)
				}
				if err := xml.Unmarshal(b, new(struct{})); err != nil {
					t.Errorf("SVG: %v", err)
				}
			}
		})
	}
	stdin = os.Stdin
}
