package integration

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

// minWholeRun is the least -timeout a run of the whole package gets: it
// boots over a hundred machines under TCG (make test gives it 55m).
const minWholeRun = 30 * time.Minute

// TestMain stops a run of every QEMU test that go test's timeout would cut
// short (its default is ten minutes, as in a plain go test ./...): it says
// how to run them instead of panicking ten minutes in.
func TestMain(m *testing.M) {
	flag.Parse()
	if msg := runBudget(flagValue("test.run"), flagValue("test.list"), flagValue("test.timeout")); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(2)
	}
	code := m.Run()
	if lunDir != "" {
		os.RemoveAll(lunDir)
	}
	os.Exit(code)
}

// lunDir holds the boots' copies of their root images when a tmpfs has
// room for them (see memoryLUNs).
var lunDir string

// memoryLUNs makes lunDir for rig.Env.LUNDir (see there why). Four guests
// at once with real roots, two LUNs each at most, hold ~5 GB; without
// that much room the copies stay on disk.
func memoryLUNs() string {
	dir, why := rig.MemoryDir("netroot-tests-", 8<<30)
	if dir == "" {
		fmt.Fprintf(os.Stderr, "integration: the targets' disks on the host's disk: %s\n", why)
	}
	lunDir = dir
	return dir
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// runBudget returns why a run with these -run, -list and -timeout values
// cannot finish, or "". A run of chosen tests (-run) or a listing is
// trusted; so is no timeout at all.
func runBudget(run, list, timeout string) string {
	if run != "" || list != "" {
		return ""
	}
	d, err := time.ParseDuration(timeout)
	if err != nil || d == 0 || d >= minWholeRun {
		return ""
	}
	return fmt.Sprintf("integration: the QEMU boot tests take longer than -timeout %s: run them with make test "+
		"(or go test -timeout 60m ./integration/), or pick some with -run", d)
}

func TestRunBudget(t *testing.T) {
	for _, tc := range []struct {
		run, list, timeout string
		refuse             bool
	}{
		{"", "", "10m0s", true}, // go test ./... as it comes
		{"", "", "55m0s", false},
		{"", "", "0s", false},
		{"^TestBoot$", "", "10m0s", false},
		{"", ".", "10m0s", false},
		{"", "", "garbage", false},
	} {
		if got := runBudget(tc.run, tc.list, tc.timeout) != ""; got != tc.refuse {
			t.Errorf("runBudget(%q, %q, %q) refuses: %v, want %v", tc.run, tc.list, tc.timeout, got, tc.refuse)
		}
	}
}
