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
	var events strings.Builder
	emit := func(action, test, output string) {
		b, _ := json.Marshal(event{Action: action, Test: test, Output: output})
		events.Write(append(b, '\n'))
	}
	emit("run", "TestA", "")
	emit("output", "TestA", "=== RUN   TestA\n")
	for i := range 5 {
		emit("output", "TestA", "    a_test.go:3: booted "+string(rune('0'+i))+"\n")
	}
	emit("output", "TestB", "    a_test.go:4: from a test that passed\n")
	emit("output", "TestA", "    a_test.go:4: map \"x\"\n")
	emit("output", "TestA", "    a_test.go:5: writer: stalled\n")
	emit("output", "TestA", "netroot: a console line\n")
	emit("output", "", "FAIL\n")
	emit("pass", "TestB", "")
	emit("fail", "TestA", "")

	got, err := digest(strings.NewReader(events.String()), src, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := `
1 failed test(s): TestA
=== TestA failed:
    a_test.go:4: map "x"
--- TestA: its last 3 of 7 logged line(s):
    a_test.go:3: booted 4
    a_test.go:4: map "x"
    a_test.go:5: writer: stalled
`
	if got != want {
		t.Errorf("digest:\n%s\nwant:\n%s", got, want)
	}

	got, err = digest(strings.NewReader(strings.ReplaceAll(events.String(), `"fail"`, `"pass"`)), src, 3)
	if err != nil || got != "" {
		t.Errorf("no failure: digest %q, %v; want nothing", got, err)
	}
	if _, err := digest(strings.NewReader("--- FAIL: TestA\n"), src, 3); err == nil {
		t.Errorf("plain -v text: no error, want one")
	}

	// A timeout's panic goes to the test that printed last; the tests
	// it lists count as failed, also one that logged nothing.
	events.Reset()
	emit("output", "TestA", "    a_test.go:3: booted\n")
	emit("output", "TestA", "panic: test timed out after 10m0s\n")
	emit("output", "TestA", "\trunning tests:\n")
	emit("output", "TestA", "\t\tTestA (50s)\n")
	emit("output", "TestA", "\t\tTestC (52s)\n")
	emit("output", "TestA", "\n")
	emit("output", "TestA", "goroutine 1811 [running]:\n")
	emit("fail", "", "")
	got, err = digest(strings.NewReader(events.String()), src, 3)
	want = `
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
`
	if err != nil || got != want {
		t.Errorf("timeout: digest (%v):\n%s\nwant:\n%s", err, got, want)
	}

	// A package that failed outside its tests shows its last lines.
	events.Reset()
	emit("output", "", "# example.com/a\n")
	emit("output", "", "./a.go:3:1: syntax error\n")
	emit("output", "", "FAIL\texample.com/a [build failed]\n")
	emit("fail", "", "")
	got, err = digest(strings.NewReader(events.String()), src, 2)
	want = `
a test binary failed outside its tests; its last 2 line(s):
./a.go:3:1: syntax error
FAIL	example.com/a [build failed]
`
	if err != nil || got != want {
		t.Errorf("build failure: digest (%v):\n%s\nwant:\n%s", err, got, want)
	}
}
