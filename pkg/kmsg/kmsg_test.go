package kmsg

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/sysfs"
)

// fakeClock runs its timers when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool { t.stopped = true; return true }
}

// advance moves the clock by d, running the timers due on the way.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.stopped && !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		next.stopped = true
		c.now = next.at
		c.mu.Unlock()
		next.f()
	}
}

// kernel is /dev/kmsg as the kernel's ___ratelimit treats one open file
// description: Burst records per Interval from the first record after the
// last window ended; the rest vanish.
type kernel struct {
	c       *fakeClock
	begin   time.Time
	printed int
	got     []string
	lost    []string
	on      bool // printk_devkmsg=on: nothing counted
}

func (k *kernel) Write(p []byte) (int, error) {
	now := k.c.now // the Writer holds its lock, the clock's is free
	if k.begin.IsZero() || now.After(k.begin.Add(Interval)) {
		k.begin, k.printed = now, 0
	}
	if k.on || k.printed < Burst {
		k.printed++
		k.got = append(k.got, string(p))
	} else {
		k.lost = append(k.lost, string(p))
	}
	return len(p), nil
}

func newTest() (*Writer, *kernel, *fakeClock) {
	c := &fakeClock{now: time.Unix(1000, 0)}
	k := &kernel{c: c}
	w := New(k, "netroot-keeper: ")
	w.Clock = c
	return w, k, c
}

func TestBurstIsHeldNotLost(t *testing.T) {
	w, k, c := newTest()
	for i := range 14 {
		w.Printf("line %d", i)
		c.advance(100 * time.Millisecond)
	}
	if len(k.got) != Burst || w.Held() != 4 {
		t.Fatalf("after the burst: %d written, %d held; want %d and 4", len(k.got), w.Held(), Burst)
	}
	c.advance(Interval)
	if len(k.lost) != 0 {
		t.Fatalf("the kernel dropped %q", k.lost)
	}
	if len(k.got) != 14 || w.Held() != 0 {
		t.Fatalf("%d written, %d held: %q", len(k.got), w.Held(), k.got)
	}
	if k.got[0] != "<5>netroot-keeper: line 0\n" {
		t.Errorf("first record %q", k.got[0])
	}
	// Line 10 was held from 1.0 s to the end of the window that began
	// at 0 s.
	want := regexp.MustCompile(`^<5>netroot-keeper: line 10 \(logged 4\.0s late: printk_devkmsg=ratelimit\)\n$`)
	if !want.MatchString(k.got[10]) {
		t.Errorf("first held record %q, want %v", k.got[10], want)
	}
	for i, r := range k.got {
		if !strings.Contains(r, fmt.Sprintf("line %d", i)) {
			t.Errorf("record %d is %q: out of order", i, r)
		}
	}
}

func TestSpreadLinesAreNotHeld(t *testing.T) {
	w, k, c := newTest()
	for i := range 40 {
		w.Printf("line %d", i)
		c.advance(Interval / Burst * 11 / 10)
	}
	if len(k.got) != 40 || len(k.lost) != 0 {
		t.Fatalf("%d written, %d lost", len(k.got), len(k.lost))
	}
	for _, r := range k.got {
		if strings.Contains(r, "late") {
			t.Fatalf("a line was held: %q", r)
		}
	}
}

func TestManyHeldAreCounted(t *testing.T) {
	w, k, c := newTest()
	n := Burst + MaxHeld + 7
	for i := range n {
		w.Printf("line %d", i)
	}
	if w.Held() != MaxHeld {
		t.Fatalf("%d held, want %d", w.Held(), MaxHeld)
	}
	c.advance(20 * Interval)
	if len(k.lost) != 0 {
		t.Fatalf("the kernel dropped %q", k.lost)
	}
	// The dropped lines are the oldest held ones; the count comes first.
	if got, want := k.got[Burst], "<5>netroot-keeper: 7 line(s) not logged: more than the kernel takes on /dev/kmsg (printk_devkmsg=ratelimit) waited\n"; got != want {
		t.Errorf("record after the burst %q, want %q", got, want)
	}
	if !strings.Contains(k.got[Burst+1], fmt.Sprintf("line %d ", Burst+7)) {
		t.Errorf("first held record written %q, want line %d", k.got[Burst+1], Burst+7)
	}
	if last := k.got[len(k.got)-1]; !strings.Contains(last, fmt.Sprintf("line %d ", n-1)) {
		t.Errorf("last record %q", last)
	}
	if len(k.got) != Burst+1+MaxHeld {
		t.Errorf("%d records, want %d", len(k.got), Burst+1+MaxHeld)
	}
}

func TestUnlimitedWritesAtOnce(t *testing.T) {
	w, k, _ := newTest()
	asked := 0
	w.Limited = func() bool { asked++; return false }
	k.on = true
	for i := range 30 {
		w.Printf("line %d", i)
	}
	if len(k.got) != 30 || w.Held() != 0 {
		t.Fatalf("%d written, %d held", len(k.got), w.Held())
	}
	if asked == 0 {
		t.Errorf("Limited never asked")
	}
}

func TestLinesOfOneWrite(t *testing.T) {
	var b bytes.Buffer
	w := New(&b, "p: ")
	w.Level = 4
	w.Write([]byte("one\ntwo\n"))
	if got := b.String(); got != "<4>p: one\n<4>p: two\n" {
		t.Errorf("%q", got)
	}
}

func TestLimitedValues(t *testing.T) {
	for v, want := range map[string]bool{"ratelimit\n": true, "on\n": false, "off": false, "": true} {
		if got := limited(v); got != want {
			t.Errorf("limited(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestCloseWritesWhatTheKernelTakes(t *testing.T) {
	for _, on := range []bool{false, true} {
		w, k, c := newTest()
		for i := range 13 {
			w.Printf("line %d", i)
		}
		// The shutdown role lifts the limit before it stops the keeper.
		k.on = on
		w.Limited = func() bool { return !on }
		w.Close()
		want := []string{"<5>netroot-keeper: 3 line(s) not logged: the process ended while the kernel's limit on /dev/kmsg (printk_devkmsg=ratelimit) held them\n"}
		if on {
			want = []string{"line 10", "line 11", "line 12"}
		}
		// With the limit on, the kernel drops the count too; it was
		// tried.
		got := append(k.got[Burst:], k.lost...)
		if len(got) != len(want) {
			t.Fatalf("limit lifted %v: after the burst %q, want %q", on, got, want)
		}
		for i := range want {
			if !strings.Contains(got[i], want[i]) {
				t.Errorf("limit lifted %v: record %q, want %q", on, got[i], want[i])
			}
		}
		if w.Held() != 0 {
			t.Errorf("%d still held after Close", w.Held())
		}
		// The flush it had scheduled writes nothing more.
		n := len(k.got) + len(k.lost)
		c.advance(2 * Interval)
		if len(k.got)+len(k.lost) != n {
			t.Errorf("records after Close: %q", k.got[n:])
		}
	}
}

func TestLimitedReadsTheSysctl(t *testing.T) {
	dir := t.TempDir()
	tree := sysfs.FS{Root: dir}
	if !limitedIn(tree) {
		t.Error("no printk_devkmsg: not limited, want limited (cannot tell)")
	}
	os.MkdirAll(filepath.Join(dir, "sys/kernel"), 0o755)
	for v, want := range map[string]bool{"on\n": false, "ratelimit\n": true} {
		os.WriteFile(filepath.Join(dir, limitFile), []byte(v), 0o644)
		if got := limitedIn(tree); got != want {
			t.Errorf("printk_devkmsg %q: limited %v, want %v", v, got, want)
		}
	}
}
