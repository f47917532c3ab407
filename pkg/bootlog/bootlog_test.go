package bootlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func fakeUptime(vals ...float64) func() float64 {
	i := 0
	return func() float64 {
		v := vals[len(vals)-1]
		if i < len(vals) {
			v = vals[i]
		}
		i++
		return v
	}
}

func TestStepLinesAndKmsg(t *testing.T) {
	var con, kmsg bytes.Buffer
	l := New(&con, nil, 0, fakeUptime(1.5, 1.7, 2.0))
	l.Printf("before kmsg")
	l.SetKmsg(&kmsg, 7) // console level 7: the kernel echoes levels 0-6
	s := l.Begin("bond")
	s.Done("bond0 up")
	l.Debugf("debug detail")
	if !strings.Contains(con.String(), "netroot: before kmsg\n") {
		t.Errorf("console before kmsg: %q", con.String())
	}
	if strings.Contains(con.String(), "bond0 up") {
		t.Errorf("info line written to the console although the kernel echoes it: %q", con.String())
	}
	if !strings.Contains(kmsg.String(), "<6>netroot: bond: bond0 up (0.") {
		t.Errorf("kmsg = %q", kmsg.String())
	}
	if !strings.Contains(kmsg.String(), "<7>netroot: debug detail") || strings.Contains(con.String(), "debug detail") {
		t.Errorf("debug line: kmsg %q console %q", kmsg.String(), con.String())
	}
	// With quiet (console level 4) the kernel does not echo info lines:
	// they stay in the kernel log only, as dracut's do.
	con.Reset()
	l.SetKmsg(&kmsg, 4)
	l.Errorf("bad thing")
	if con.Len() != 0 {
		t.Errorf("error line echoed by the kernel must not be written twice: %q", con.String())
	}
	l.Printf("info")
	if !strings.Contains(con.String(), "netroot: info") {
		t.Errorf("info line at quiet level must reach the console directly: %q", con.String())
	}
}

func TestTimelineAndSummary(t *testing.T) {
	l := New(&bytes.Buffer{}, nil, 0, fakeUptime(3.0, 3.4, 3.5, 3.62))
	l.Begin("modules").Done("x")
	l.Begin("bond").Done("y")
	l.RootReady(Usage{PeakRSSKiB: 9400, User: 0.25, System: 1.5, Idle: 0.3})
	tl := l.Timeline()
	if len(tl.Steps) != 2 || tl.Steps[0].Step != "modules" || tl.Steps[1].Uptime != 3.5 {
		t.Fatalf("timeline = %+v", tl)
	}
	if tl.InitStartUptime != 3.0 || tl.RootReadyUptime != 3.62 {
		t.Errorf("uptimes = %v %v", tl.InitStartUptime, tl.RootReadyUptime)
	}
	s := Summary(tl)
	if !strings.HasPrefix(s, "root ready at 3.62 s since kernel start, /init took 0.62 s: modules 0.00, bond 0.00") ||
		!strings.HasSuffix(s, "peak RSS 9.2 MiB; CPU 0.25 s user, 1.50 s system, 0.30 s idle") {
		t.Errorf("Summary = %q", s)
	}
	b, err := tl.JSON()
	if err != nil || !bytes.HasSuffix(b, []byte("}\n")) {
		t.Fatalf("JSON = %q, %v", b, err)
	}
	var back Timeline
	if err := json.Unmarshal(b, &back); err != nil || len(back.Steps) != 2 || back.PeakRSSKiB != 9400 {
		t.Errorf("round trip: %+v %v", back, err)
	}
}

func TestParsers(t *testing.T) {
	if v := ParseUptime("12.34 45.67\n"); v != 12.34 {
		t.Errorf("ParseUptime = %v", v)
	}
	if v := ParseUptime("garbage"); v != 0 {
		t.Errorf("ParseUptime(garbage) = %v", v)
	}
	if v := ConsoleLevel("7\t4\t1\t7\n"); v != 7 {
		t.Errorf("ConsoleLevel = %v", v)
	}
	if v := PeakRSSKiB("Name:\tinit\nVmHWM:\t    9876 kB\nVmRSS:\t 100 kB\n"); v != 9876 {
		t.Errorf("PeakRSSKiB = %v", v)
	}
}

func TestSyncUptime(t *testing.T) {
	// New runs before /proc is mounted: uptime reads 0 until then.
	l := New(&bytes.Buffer{}, nil, 0, fakeUptime(0, 2.5))
	l.SyncUptime()
	tl := l.Timeline()
	if tl.InitStartUptime <= 2.4 || tl.InitStartUptime > 2.5 {
		t.Errorf("InitStartUptime = %v, want just under 2.5", tl.InitStartUptime)
	}
}

func TestIdleSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"cpu  120 0 340 250 30 0 5 0 0 0\ncpu0 120 0 340 250 30 0 5 0 0 0\n", 2.8, true},
		{"cpu  1 2 3\n", 0, false},
		{"cpu0 1 2 3 4 5 6\n", 0, false},
		{"cpu  1 2 3 x 5 6\n", 0, false},
		{"", 0, false},
	} {
		got, ok := IdleSeconds(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("IdleSeconds(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// screen is what a console shows: the Logger's own console lines and the

// timedArg is a Timed log argument, as modload passes its inserts.
type timedArg struct {
	name  string
	begin time.Time
	d     time.Duration
	bg    bool
}

func (a timedArg) String() string { return a.name }
func (a timedArg) TimedSpan() (string, string, time.Time, time.Duration) {
	return "module", a.name, a.begin, a.d
}
func (a timedArg) Background() bool { return a.bg }

func TestSpansUnderDebug(t *testing.T) {
	var con bytes.Buffer
	l := New(&con, nil, 0, fakeUptime(1))
	begin := l.start.Add(250 * time.Millisecond)
	l.Debugf("modload: loaded %s (%.3fs)", timedArg{"bonding", begin, 40 * time.Millisecond, false}, 0.04)
	if tl := l.Timeline(); len(tl.Spans) != 0 {
		t.Errorf("spans without rd.debug: %+v", tl.Spans)
	}
	b, _ := json.Marshal(l.Timeline())
	if strings.Contains(string(b), "spans") {
		t.Errorf("JSON without rd.debug has spans: %s", b)
	}
	l.SetDebug(true)
	l.Debugf("modload: loaded %s (%.3fs)", timedArg{"ext4", begin, 40 * time.Millisecond, true}, 0.04)
	l.Debugf("plain %d", 3)
	if !strings.Contains(con.String(), "netroot: modload: loaded ext4 (0.040s)\n") {
		t.Errorf("console = %q", con.String())
	}
	tl := l.Timeline()
	want := []Span{{Kind: "module", Name: "ext4", Start: 0.25, Duration: 0.04, Background: true}}
	if !reflect.DeepEqual(tl.Spans, want) {
		t.Errorf("spans = %+v, want %+v", tl.Spans, want)
	}
	// An older timeline (no spans) still reads.
	var old Timeline
	if err := json.Unmarshal([]byte(`{"init_start_uptime":2,"steps":[{"step":"mount","start":0,"duration":0.1,"uptime":2.1}]}`), &old); err != nil || len(old.Steps) != 1 || old.Spans != nil {
		t.Errorf("old timeline: %+v, %v", old, err)
	}
}

// kernel's echo of the kmsg records below the console level.
type screen struct {
	level int
	out   bytes.Buffer
	kmsg  bytes.Buffer
}

func (s *screen) console() *bytes.Buffer { return &s.out }

type kmsgEcho struct{ s *screen }

func (k kmsgEcho) Write(p []byte) (int, error) {
	k.s.kmsg.Write(p)
	var prio int
	if _, err := fmt.Sscanf(string(p), "<%d>", &prio); err == nil && prio < k.s.level {
		k.s.out.Write(p[strings.Index(string(p), ">")+1:])
	}
	return len(p), nil
}

func TestHoldConsole(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kmsg  bool
		level int
	}{
		{"no kmsg", false, 0},
		{"console level 7 (kernel echoes info)", true, 7},
		{"quiet (console level 4)", true, 4},
		{"kmsg, level unknown", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &screen{level: tc.level}
			l := New(s.console(), nil, 0, fakeUptime(1))
			if tc.kmsg {
				l.SetKmsg(kmsgEcho{s}, tc.level)
			}
			l.Printf("before")
			release := l.HoldConsole()
			before := s.out.String()
			l.Begin("modules-fs").Done("ext4 (in the background)")
			l.Warnf("a warning")
			l.Errorf("an error")
			if s.out.String() != before {
				t.Errorf("console written while held: %q", strings.TrimPrefix(s.out.String(), before))
			}
			if tc.kmsg && (!strings.Contains(s.kmsg.String(), "netroot: modules-fs: ext4") || !strings.Contains(s.kmsg.String(), "netroot: an error")) {
				t.Errorf("held lines missing from kmsg: %q", s.kmsg.String())
			}
			if tl := l.Timeline(); len(tl.Steps) != 1 || tl.Steps[0].Step != "modules-fs" {
				t.Errorf("held step missing from the timeline: %+v", tl.Steps)
			}
			release()
			release() // twice is once
			l.Printf("after")
			if !strings.Contains(s.out.String(), "netroot: after") || !strings.Contains(before, "netroot: before") {
				t.Errorf("console without the hold: %q", s.out.String())
			}
		})
	}
}

func TestOpenSteps(t *testing.T) {
	l := New(io.Discard, nil, 0, func() float64 { return 1 })
	a, b, a2 := l.Begin("modules"), l.Begin("login"), l.Begin("modules")
	if got := l.Open(); !slices.Equal(got, []string{"modules", "login"}) {
		t.Fatalf("Open = %q, want modules, login", got)
	}
	b.Done("x")
	a.Fail(errors.New("y"))
	if got := l.Open(); !slices.Equal(got, []string{"modules"}) {
		t.Fatalf("Open = %q after login and one modules ended, want modules", got)
	}
	a2.Done("z")
	if got := l.Open(); len(got) != 0 {
		t.Fatalf("Open = %q, want none", got)
	}
	// A batch in the background is no step of the boot's own sequence.
	bg := l.BeginBackground("modules-plan")
	l.Begin("links")
	if got := l.Open(); !slices.Equal(got, []string{"links"}) {
		t.Fatalf("Open = %q with a background batch, want links", got)
	}
	bg.Done("w")
}
