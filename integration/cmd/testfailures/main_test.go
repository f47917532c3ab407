package main

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"
)

func TestDigest(t *testing.T) {
	src := fstest.MapFS{"rig/a_test.go": {Data: []byte(strings.Join([]string{
		"package a",                      // 1
		"func TestA(t *testing.T) {",     // 2
		`	t.Logf("booted")`,              // 3
		`	t.Errorf("map %q", m)`,         // 4
		`	f.finish(t) // reports for us`, // 5
		"}",
	}, "\n"))}}
	out := func(test, line string) event { return event{Action: "output", Test: test, Output: line + "\n"} }
	failedA := []event{
		out("TestA", "=== RUN   TestA"),
		out("TestA", "    a_test.go:3: booted 0"),
		out("TestA", "    a_test.go:3: booted 1"),
		out("TestB", "    a_test.go:4: from a test that passed"),
		out("TestA", "    a_test.go:4: map \"x\""),
		out("TestA", "    a_test.go:5: writer: stalled"),
		out("TestA", "netroot: a console line"),
		out("", "FAIL"),
		{Action: "pass", Test: "TestB"},
		{Action: "fail", Test: "TestA"},
	}
	passed := []event{out("TestA", "    a_test.go:4: map \"x\""), {Action: "pass", Test: "TestA"}, {Action: "pass"}}
	for _, tc := range []struct {
		name   string
		events []event
		want   string
	}{
		{"a failed test", failedA, `
1 failed test(s): TestA
=== TestA failed:
    a_test.go:4: map "x"
--- TestA: its last 3 of 4 logged line(s):
    a_test.go:3: booted 1
    a_test.go:4: map "x"
    a_test.go:5: writer: stalled
`},
		{"nothing failed", passed, ""},
		// A timeout's panic goes to the test that printed last; the
		// tests it lists count as failed, also one that logged nothing.
		{"a timeout", []event{
			out("TestA", "    a_test.go:3: booted"),
			out("TestA", "panic: test timed out after 10m0s"),
			out("TestA", "\trunning tests:"),
			out("TestA", "\t\tTestA (50s)"),
			out("TestA", "\t\tTestC (52s)"),
			out("TestA", ""),
			out("TestA", "goroutine 1811 [running]:"),
			{Action: "fail"},
		}, `
panic: test timed out after 10m0s
	running tests:
		TestA (50s)
		TestC (52s)

2 failed test(s): TestA TestC
=== TestA failed:
--- TestA: its last 1 of 1 logged line(s):
    a_test.go:3: booted
=== TestC failed:
--- TestC: its last 0 of 0 logged line(s):
`},
		// A binary that failed outside its tests shows its last lines.
		{"a build failure", []event{
			out("", "# example.com/a"),
			out("", "./a.go:3:1: syntax error"),
			out("", "./a.go:4:1: syntax error"),
			out("", "FAIL\texample.com/a [build failed]"),
			{Action: "fail"},
		}, `
a test binary failed outside its tests; its last 3 line(s):
./a.go:3:1: syntax error
./a.go:4:1: syntax error
FAIL	example.com/a [build failed]
`},
	} {
		var in strings.Builder
		for _, e := range tc.events {
			b, _ := json.Marshal(e)
			in.Write(append(b, '\n'))
		}
		got, err := digest(strings.NewReader(in.String()), src, 3)
		if err != nil || got != tc.want {
			t.Errorf("%s: digest (%v):\n%s\nwant:\n%s", tc.name, err, got, tc.want)
		}
	}
	if _, err := digest(strings.NewReader("--- FAIL: TestA\n"), src, 3); err == nil {
		t.Errorf("plain -v text: no error, want one")
	}
}
