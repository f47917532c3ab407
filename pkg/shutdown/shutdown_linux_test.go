package shutdown

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/sysfs"
)

func TestBounded(t *testing.T) {
	if r, ok := bounded(time.Second, func() string { return "done" }); !ok || r != "done" {
		t.Errorf("quick step: %q %v", r, ok)
	}
	block := make(chan struct{})
	defer close(block)
	start := time.Now()
	if _, ok := bounded(50*time.Millisecond, func() string { <-block; return "" }); ok || time.Since(start) > 2*time.Second {
		t.Errorf("a stuck step was not left behind in time")
	}
	if r, ok := bounded(time.Second, func() string { panic("boom") }); !ok || !strings.Contains(r, "boom") {
		t.Errorf("panicking step: %q %v", r, ok)
	}
}

func TestSysfsSessions(t *testing.T) {
	sys := sysfs.FS{Root: t.TempDir()}
	for _, d := range []string{
		"class/iscsi_connection/connection1:0", "class/iscsi_connection/connection7:0",
		"class/iscsi_connection/connectionX:0", "class/iscsi_connection/connection2", // not sessions
		"class/iscsi_session/session1", "class/iscsi_session/session7",
	} {
		if err := os.MkdirAll(sys.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(sys.Path("class/iscsi_session/session1/targetname"), []byte("iqn.2010-01.org.example:root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := sysfsSessions(sys)
	slices.SortFunc(got, func(a, b keeper.SessionRef) int { return int(a.SID) - int(b.SID) })
	// Session 7 has no target name file: listed all the same, for the logout.
	want := []keeper.SessionRef{{SID: 1, CID: 0, Target: "iqn.2010-01.org.example:root"}, {SID: 7, CID: 0}}
	if !slices.Equal(got, want) {
		t.Errorf("sysfsSessions = %+v, want %+v", got, want)
	}
	if got := sysfsSessions(sysfs.FS{Root: filepath.Join(sys.Root, "absent")}); len(got) != 0 {
		t.Errorf("no sysfs: %+v", got)
	}
}

// fakeProc writes a proc directory: stat per pid, children per thread.
func fakeProc(t *testing.T, stats map[int]string, children map[string]string) string {
	t.Helper()
	proc := t.TempDir()
	for pid, comm := range stats {
		dir := filepath.Join(proc, strconv.Itoa(pid))
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(fmt.Sprintf("%d (%s) S 1 1 1", pid, comm)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for path, list := range children {
		path = filepath.Join(proc, path)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(list), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return proc
}

func TestKeepersIn(t *testing.T) {
	stats := map[int]string{
		1: "shutdown", 2: "kthreadd", 3: "rcu_gp", 40: "kworker/0:1-events", // kernel threads
		57: "netroot-keeper", 61: "netroot-keeper", // keeper and guard
		90: "netroot-keeper", 70: "sh",
	}
	// The guard is a child of the keeper's second thread; 90 an orphan of PID 1.
	children := map[string]string{
		"1/task/1/children": "57 70 90 ", "1/task/5/children": "",
		"57/task/57/children": "", "57/task/58/children": "61 ",
		"2/task/2/children": "3 40 ",
	}
	proc := fakeProc(t, stats, children)
	got := keepersIn(proc)
	slices.Sort(got)
	if want := []int{57, 61, 90}; !slices.Equal(got, want) {
		t.Errorf("keepers %v, want %v", got, want)
	}
	if d, ok := descendants(proc, 1); !ok || slices.Contains(d, 40) || len(d) != 4 {
		t.Errorf("descendants of 1: %v %v, want 57 70 90 61 and no kernel thread", d, ok)
	}

	// A zombie keeper is not running; without children lists all of
	// /proc is read.
	proc = fakeProc(t, stats, nil)
	os.WriteFile(filepath.Join(proc, "61", "stat"), []byte("61 (netroot-keeper) Z 57"), 0o644)
	got = keepersIn(proc)
	slices.Sort(got)
	if want := []int{57, 90}; !slices.Equal(got, want) {
		t.Errorf("scan of /proc: keepers %v, want %v", got, want)
	}
}
