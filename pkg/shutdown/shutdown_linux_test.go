package shutdown

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// stuckMachine is a system whose every step can be made to block for ever
// (a target that is gone) or panic; it records the steps it was asked for.
type stuckMachine struct {
	mu       sync.Mutex
	calls    []string
	block    map[string]bool // steps that never return
	panicOn  string
	finished chan Action
}

func (m *stuckMachine) do(step string) {
	m.mu.Lock()
	m.calls = append(m.calls, step)
	m.mu.Unlock()
	if step == m.panicOn {
		panic("boom in " + step)
	}
	if m.block[step] {
		select {}
	}
}

func (m *stuckMachine) mountAPI() string                 { m.do("mount"); return "" }
func (m *stuckMachine) stopKeepers(time.Duration) string { m.do("keeper"); return "" }
func (m *stuckMachine) unmountAll(string) string         { m.do("unmount"); return "" }
func (m *stuckMachine) sync()                            { m.do("sync") }
func (m *stuckMachine) failQueueing() string             { m.do("multipath"); return "" }
func (m *stuckMachine) endSessions(time.Duration) string { m.do("logout"); return "" }
func (m *stuckMachine) finish(a Action, _ func(string, ...any)) {
	m.do("finish")
	m.finished <- a
}

// TestRunReachesTheEnd: whatever step a dead target makes wait — the last
// sync too, which a multipath map queueing I/O with no path used to hang
// for ever — the machine still powers off, and the maps are told to fail
// their I/O before the sessions end.
func TestRunReachesTheEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		block   []string
		panicOn string
		want    []string
	}{
		{"nothing stuck", nil, "", []string{"mount", "keeper", "unmount", "sync", "multipath", "logout", "sync", "finish"}},
		{"every sync stuck", []string{"sync"}, "", []string{"mount", "keeper", "unmount", "sync", "multipath", "logout", "sync", "finish"}},
		{"all stuck", []string{"unmount", "sync", "multipath", "logout"}, "", []string{"mount", "keeper", "unmount", "sync", "multipath", "logout", "sync", "finish"}},
		{"panic, then a stuck sync", []string{"sync"}, "keeper", []string{"mount", "keeper", "sync", "finish"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &stuckMachine{block: map[string]bool{}, panicOn: tc.panicOn, finished: make(chan Action, 1)}
			for _, s := range tc.block {
				m.block[s] = true
			}
			var log strings.Builder
			o := Options{Log: &syncWriter{w: &log}, UnmountTimeout: 20 * time.Millisecond, EndTimeout: 20 * time.Millisecond}
			go run([]string{"poweroff"}, o, m)
			select {
			case a := <-m.finished:
				if a != Poweroff {
					t.Errorf("finished with %s, want poweroff", a)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the machine never went down; steps %v", m.calls)
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if !slices.Equal(m.calls, tc.want) {
				t.Errorf("steps %v, want %v", m.calls, tc.want)
			}
		})
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

type fakeDM struct {
	sent []string
	fail map[string]error
}

func (f *fakeDM) Message(name string, sector uint64, msg string) (string, error) {
	if err := f.fail[name]; err != nil {
		return "", err
	}
	f.sent = append(f.sent, fmt.Sprintf("%s@%d %s", name, sector, msg))
	return "", nil
}

func TestFailQueueing(t *testing.T) {
	sys := sysfs.FS{Root: t.TempDir()}
	for dev, attrs := range map[string][2]string{
		"dm-0": {"36001405aa", "mpath-36001405aa"},             // the root's map
		"dm-1": {"36001405aa-part1", "part1-mpath-36001405aa"}, // its partition: not a map of multipathd's
		"dm-2": {"vg-root", "LVM-abcdef"},
		"dm-3": {"36001405bb", "mpath-36001405bb"},
	} {
		dir := sys.Path("block/" + dev + "/dm")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "name"), []byte(attrs[0]+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "uuid"), []byte(attrs[1]+"\n"), 0o644)
	}
	dm := &fakeDM{fail: map[string]error{"36001405bb": fmt.Errorf("no such map")}}
	got := failQueueing(sys, func() (messenger, error) { return dm, nil })
	if want := []string{"36001405aa@0 fail_if_no_path"}; !slices.Equal(dm.sent, want) {
		t.Errorf("sent %v, want %v", dm.sent, want)
	}
	if !strings.Contains(got, "1 of 2 map(s)") || !strings.Contains(got, "no such map") {
		t.Errorf("result %q", got)
	}
	if got := failQueueing(sysfs.FS{Root: t.TempDir()}, nil); got != "no multipath map" {
		t.Errorf("without maps: %q", got)
	}
}

// TestEndSessionsWithoutSysfs: a /sys that could not be mounted lists no
// session, which is not "no iSCSI session" — the step says it could not
// look; a sysfs without the tcp transport has none.
func TestEndSessionsWithoutSysfs(t *testing.T) {
	empty := sysfs.FS{Root: t.TempDir()}
	if got := endSessions(empty, time.Second); !strings.Contains(got, "cannot list the iSCSI sessions: "+empty.Root+" is not mounted") {
		t.Errorf("unmounted sysfs: %q", got)
	}
	if err := os.MkdirAll(empty.Path("class/net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := endSessions(empty, time.Second); got != "no iSCSI session" {
		t.Errorf("no iscsi_tcp: %q", got)
	}
}
