// Command testfailures prints what a failed `go test -v` run needs to be
// read from the tail of its output: each failed test's assertion lines
// and its last logged lines.
//
// `make integration` shows only the boot lines of its -v output (the full
// log is build/integration.log), so a test's own "paths_test.go:366: …"
// messages, the ones that say what failed, were never shown. CI keeps
// only the head and the tail of a run's output; this digest is the tail.
//
// Usage: testfailures [-dir integration] [-lines 60] < build/integration.log
//
// The -v text is attributed to tests by `go tool test2json`. A line is an
// assertion when its file:line is a t.Error/Errorf/Fatal/Fatalf call in
// the source under -dir; failures a helper reports under its caller's
// line show in the logged lines after them. A panic (a timeout's names
// the tests it stopped) comes first.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	dir := flag.String("dir", "integration", "the tests' package directory, for their source lines")
	lines := flag.Int("lines", 60, "logged lines shown per failed test")
	flag.Parse()
	goTool := os.Getenv("GO")
	if goTool == "" {
		goTool = "go"
	}
	cmd := exec.Command(goTool, "tool", "test2json")
	cmd.Stdin = os.Stdin
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testfailures: go tool test2json: %v\n", err)
		os.Exit(1)
	}
	failed, err := digest(bytes.NewReader(out), os.DirFS(*dir), *lines)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testfailures: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(failed)
}

// event is the part of a test2json event this command reads.
// test2json is run without -p, so a log of several packages is one
// stream: output outside the tests is the test binaries'.
type event struct {
	Action string
	Test   string
	Output string
}

// logLine is a t.Log/t.Error line of -v output: "    file_test.go:12: …".
var logLine = regexp.MustCompile(`^\s+(\w+_test\.go):(\d+): `)

// assertion is a source line that fails its test.
var assertion = regexp.MustCompile(`\bt\.(Error|Errorf|Fatal|Fatalf)\(`)

// running is a test named in a timed-out binary's "running tests:" list.
var running = regexp.MustCompile(`^\t\t(\S+) \(`)

// digest reads test2json events and returns, for each failed test in the
// order they failed, its assertion lines and its last n logged lines.
// A panic's first lines come first (for a timeout, the tests it stopped,
// which count as failed); a test binary that failed outside its tests
// without one (a build, TestMain) shows its last lines.
func digest(r io.Reader, src fs.FS, n int) (string, error) {
	out := map[string][]string{}
	var failed, panics, binary []string
	inPanic, binaryFailed := false, false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return "", fmt.Errorf("not test2json output: %v", err)
		}
		switch e.Action {
		case "output":
			l := strings.TrimRight(e.Output, "\r\n")
			// A panic's lines go to whichever test printed last.
			if inPanic = strings.HasPrefix(l, "panic: ") || inPanic && l != ""; inPanic {
				panics = append(panics, l)
				if m := running.FindStringSubmatch(l); m != nil && !slices.Contains(failed, m[1]) {
					failed = append(failed, m[1])
				}
			}
			switch {
			case e.Test == "":
				binary = append(binary, l)
			case logLine.MatchString(l):
				out[e.Test] = append(out[e.Test], l)
			}
		case "fail":
			if e.Test == "" {
				binaryFailed = true
			} else if !slices.Contains(failed, e.Test) {
				failed = append(failed, e.Test)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if len(failed) == 0 && !binaryFailed {
		return "", nil
	}
	var b strings.Builder
	if len(panics) > 0 {
		b.WriteString("\n" + strings.Join(panics, "\n") + "\n")
	}
	if len(failed) == 0 && len(panics) == 0 {
		from := max(len(binary)-n, 0)
		fmt.Fprintf(&b, "\na test binary failed outside its tests; its last %d line(s):\n", len(binary)-from)
		for _, l := range binary[from:] {
			b.WriteString(l + "\n")
		}
	}
	sources := map[string][]string{}
	isAssertion := func(l string) bool {
		m := logLine.FindStringSubmatch(l)
		file, line := m[1], m[2]
		text, ok := sources[file]
		if !ok {
			if b, err := fs.ReadFile(src, find(src, file)); err == nil {
				text = strings.Split(string(b), "\n")
			}
			sources[file] = text
		}
		i, _ := strconv.Atoi(line)
		return i >= 1 && i <= len(text) && assertion.MatchString(text[i-1])
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "\n%d failed test(s): %s\n", len(failed), strings.Join(failed, " "))
	}
	for _, name := range failed {
		logged := out[name]
		fmt.Fprintf(&b, "=== %s failed:\n", name)
		for _, l := range logged {
			if isAssertion(l) {
				b.WriteString(l + "\n")
			}
		}
		from := max(len(logged)-n, 0)
		fmt.Fprintf(&b, "--- %s: its last %d of %d logged line(s):\n", name, len(logged)-from, len(logged))
		for _, l := range logged[from:] {
			b.WriteString(l + "\n")
		}
	}
	return b.String(), nil
}

// find returns the path of the file named name in src: at its top, else
// the first found below (a failure in a package under -dir).
func find(src fs.FS, name string) string {
	if _, err := fs.Stat(src, name); err == nil {
		return name
	}
	found := name
	fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name {
			found = p
			return fs.SkipAll
		}
		return nil
	})
	return found
}
