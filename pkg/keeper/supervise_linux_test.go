package keeper

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
	"golang.org/x/sys/unix"
)

// The pair tests run real processes: this test binary plays /init and
// PID 1 (CLONE_PARENT makes every keeper process its child), and started
// with pairTestEnv it is a keeper process whose loop is a fake that
// records the State it got. Files in the test's directory steer the fake:
// "crash" makes a keeper exit before it is ready ("crash-late": half a
// second after its start), "iscsid" plays a running iscsid.
const pairTestEnv = "NETROOT_KEEPER_PAIR_TEST"

func TestMain(m *testing.M) {
	if dir := os.Getenv(pairTestEnv); dir != "" {
		os.Exit(pairTestProcess(dir))
	}
	os.Exit(m.Run())
}

func pairTestProcess(dir string) int {
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, "%d: "+format+"\n", append([]any{os.Getpid()}, args...)...)
	}
	code := Process(ProcessOptions{
		Logf:        logf,
		PIDFile:     strings.TrimPrefix(filepath.Join(dir, "keeper.pid"), "/"),
		PIDFileRoot: "self/root", // PID 1's may be out of reach in a sandbox
		Restart:     backoff.Policy{Initial: 200 * time.Millisecond, Max: 800 * time.Millisecond},
		StableAfter: time.Second,
		OtherDaemon: func() bool { return exists("iscsid") },
		Run: func(ctx context.Context, st State, o Options) error {
			if exists("crash") {
				os.Exit(3)
			}
			if exists("crash-late") {
				// Time for the guard to start and get the State.
				time.Sleep(500 * time.Millisecond)
				os.Exit(3)
			}
			b, err := Encode(st)
			if err != nil {
				return err
			}
			// Whole or not at all: the tests wait for the file to
			// appear, then read it.
			name := filepath.Join(dir, "state."+strconv.Itoa(os.Getpid()))
			if err := os.WriteFile(name+".tmp", b, 0o600); err != nil {
				return err
			}
			if err := os.Rename(name+".tmp", name); err != nil {
				return err
			}
			o.Ready()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
					if o.OtherDaemon() {
						return ErrSteppedAside
					}
				}
			}
		},
	})
	// A SIGTERM that comes once the process is on its way out (the
	// shutdown role signals every keeper process, and its partner's stop
	// message may have ended this one first) must not kill it: the pair
	// tests want "exit 0" of every process they stopped. Sent to this
	// thread, so that it is handled before the exit.
	runtime.LockOSThread()
	unix.Tgkill(os.Getpid(), unix.Gettid(), unix.SIGTERM)
	return code
}

// pair is one test's keeper processes, seen from "PID 1".
type pair struct {
	t   *testing.T
	dir string
	// first is the keeper "/init" started.
	first  int
	ready  *os.File
	status map[int]unix.WaitStatus // reaped
	known  map[int]bool            // seen running
}

// startPair starts the first keeper as /init does and hands it st (none
// when st has no sessions: the pipe closes empty).
func startPair(t *testing.T, st State) *pair {
	t.Helper()
	return startPairIn(t, st, t.TempDir())
}

func startPairIn(t *testing.T, st State, dir string) *pair {
	t.Helper()
	p, stateW := launchPair(t, dir)
	if st.Sessions != nil {
		b, err := Encode(st)
		if err != nil {
			t.Fatal(err)
		}
		stateW.Write(b)
	}
	stateW.Close()
	return p
}

// launchPair starts the first keeper as /init does, without its State:
// the caller writes it on stateW, or closes stateW empty as /init's
// abort does.
func launchPair(t *testing.T, dir string) (*pair, *os.File) {
	t.Helper()
	if _, err := unix.PidfdOpen(os.Getpid(), 0); err != nil {
		t.Skipf("no pidfd: %v", err)
	}
	p := &pair{t: t, dir: dir, status: map[int]unix.WaitStatus{}, known: map[int]bool{}}
	log, err := os.Create(filepath.Join(p.dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	stateR, stateW, _ := os.Pipe()
	readyR, readyW, _ := os.Pipe()
	devnull, _ := os.Open(os.DevNull)
	pid, _, err := syscall.StartProcess(os.Args[0], []string{ProcessName, "pair-test"}, &syscall.ProcAttr{
		// GORACE: under go test -race the pair is instrumented too, and
		// by default the race runtime sleeps a second at every exit,
		// which the pair's stop timers would count.
		Env:   []string{pairTestEnv + "=" + p.dir, "GORACE=atexit_sleep_ms=0"},
		Files: []uintptr{devnull.Fd(), log.Fd(), log.Fd(), stateR.Fd(), readyW.Fd()},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	stateR.Close()
	readyW.Close()
	devnull.Close()
	log.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.first, p.ready = pid, readyR
	p.known[pid] = true
	t.Cleanup(p.cleanup)
	return p, stateW
}

// waitReady waits for the first keeper's "ready", as /init does.
func (p *pair) waitReady() {
	p.t.Helper()
	p.ready.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 16)
	n, err := p.ready.Read(b)
	if err != nil || !strings.HasPrefix(string(b[:n]), "ready") {
		p.t.Fatalf("first keeper: %q, %v; log:\n%s", b[:n], err, p.log())
	}
}

func (p *pair) log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "log"))
	return string(b)
}

// procs returns the live keeper processes of this test by role, reaping
// the dead ones.
func (p *pair) procs() map[Role][]int {
	out := map[Role][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		if f[0] == "Z" {
			// A zombie's environment is gone: known by its pid.
			var ws unix.WaitStatus
			if p.known[pid] {
				if got, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got == pid {
					p.status[pid] = ws
				}
			}
			continue
		}
		env, _ := os.ReadFile(d + "/environ")
		if !bytes.Contains(env, []byte(pairTestEnv+"="+p.dir+"\x00")) {
			continue
		}
		p.known[pid] = true
		role := RoleKeeper
		if bytes.Contains(env, []byte(RoleEnv+"="+string(RoleGuard)+"\x00")) {
			role = RoleGuard
		}
		out[role] = append(out[role], pid)
	}
	return out
}

// waitPair waits until one keeper and one guard run, neither among old,
// and the guard holds the State; it returns them.
func (p *pair) waitPair(timeout time.Duration, old ...int) (keeper, guard int) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[Role][]int
	for time.Now().Before(deadline) {
		last = p.procs()
		if len(last[RoleKeeper]) == 1 && len(last[RoleGuard]) == 1 {
			k, g := last[RoleKeeper][0], last[RoleGuard][0]
			fresh := true
			for _, o := range old {
				if k == o || g == o {
					fresh = false
				}
			}
			if fresh {
				p.waitGuard(g)
				return k, g
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("no keeper/guard pair (other than %v) within %v: %v; log:\n%s", old, timeout, last, p.log())
	return 0, 0
}

// waitGone waits until no keeper process of this test runs.
func (p *pair) waitGone(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ps := p.procs(); len(ps) == 0 && len(p.status) == len(p.known) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("keeper processes still running after %v: %v; log:\n%s", timeout, p.procs(), p.log())
}

// exitStatus is how the reaped process pid ended.
func (p *pair) exitStatus(pid int) string {
	ws, ok := p.status[pid]
	switch {
	case !ok:
		return "not reaped"
	case ws.Signaled():
		return "signal " + ws.Signal().String()
	default:
		return "exit " + strconv.Itoa(ws.ExitStatus())
	}
}

// waitGuard waits until the guard pid watches its keeper.
func (p *pair) waitGuard(pid int) {
	p.t.Helper()
	want := fmt.Sprintf("%d: guard: pid %d watches keeper pid", pid, pid)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.log(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("guard %d never said it watches its keeper; log:\n%s", pid, p.log())
}

func (p *pair) kill(pid int, sig unix.Signal) {
	p.t.Helper()
	if err := unix.Kill(pid, sig); err != nil {
		p.t.Fatalf("kill %d: %v", pid, err)
	}
}

func (p *pair) cleanup() {
	for _, pids := range p.procs() {
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	time.Sleep(100 * time.Millisecond)
	p.procs()
}

// stateOf is the State the keeper pid got, encoded.
func (p *pair) stateOf(pid int) string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "state."+strconv.Itoa(pid)))
	return string(b)
}

func (p *pair) touch(name string) {
	if err := os.WriteFile(filepath.Join(p.dir, name), nil, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// A keeper killed is replaced by its guard with the same State, and a
// guard killed by its keeper; the new keeper records its pid; SIGTERM to
// the keeper ends both.
func TestPairRestartsEachOther(t *testing.T) {
	st := testState()
	want, _ := Encode(st)
	p := startPair(t, st)
	p.waitReady()
	k1, g1 := p.waitPair(10 * time.Second)
	if k1 != p.first {
		t.Fatalf("keeper %d, want the first one %d", k1, p.first)
	}
	if got := p.stateOf(k1); got != string(want) {
		t.Fatalf("first keeper's state %q, want %q", got, want)
	}
	if os.Geteuid() == 0 {
		for _, pid := range []int{k1, g1} {
			assertHardened(t, pid)
		}
	}

	killed := time.Now()
	p.kill(k1, unix.SIGKILL)
	k2, g := p.waitPair(10*time.Second, k1)
	if g != g1 {
		t.Fatalf("guard %d, want %d still", g, g1)
	}
	waitFile(t, filepath.Join(p.dir, "state."+strconv.Itoa(k2)))
	t.Logf("keeper %d killed: keeper %d ready after %v", k1, k2, time.Since(killed).Round(time.Millisecond))
	if got := p.stateOf(k2); got != string(want) {
		t.Errorf("state handed by the guard %q, want %q", got, want)
	}
	pidFile := filepath.Join(p.dir, "keeper.pid")
	waitContent(t, pidFile, strconv.Itoa(k2)+"\n")
	if got := p.exitStatus(k1); got != "signal killed" {
		t.Errorf("first keeper ended with %s", got)
	}

	p.kill(g1, unix.SIGKILL)
	k, g2 := p.waitPair(10*time.Second, g1)
	if k != k2 {
		t.Fatalf("keeper %d, want %d still", k, k2)
	}
	// The new guard got the State from the keeper: kill the keeper, the
	// third one must have it.
	p.kill(k2, unix.SIGKILL)
	k3, g := p.waitPair(10*time.Second, k1, k2)
	if g != g2 {
		t.Fatalf("guard %d, want %d", g, g2)
	}
	waitFile(t, filepath.Join(p.dir, "state."+strconv.Itoa(k3)))
	if got := p.stateOf(k3); got != string(want) {
		t.Errorf("state handed by the restarted guard %q, want %q", got, want)
	}
	waitContent(t, pidFile, strconv.Itoa(k3)+"\n")

	p.kill(k3, unix.SIGTERM)
	p.waitGone(10 * time.Second)
	for _, pid := range []int{k3, g2} {
		if got := p.exitStatus(pid); got != "exit 0" {
			t.Errorf("pid %d after SIGTERM to the keeper: %s, want exit 0", pid, got)
		}
	}
	log := p.log()
	for _, want := range []string{
		fmt.Sprintf("%d: stopped by signal", k3),
		fmt.Sprintf("%d: guard: the keeper stopped (signal); exiting", g2),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "secret") {
		t.Errorf("a secret in the log:\n%s", log)
	}
}

func TestPairSIGTERMToTheGuardStopsBoth(t *testing.T) {
	p := startPair(t, testState())
	p.waitReady()
	k, g := p.waitPair(10 * time.Second)
	p.kill(g, unix.SIGTERM)
	p.waitGone(10 * time.Second)
	for _, pid := range []int{k, g} {
		if got := p.exitStatus(pid); got != "exit 0" {
			t.Errorf("pid %d: %s, want exit 0", pid, got)
		}
	}
	if want := fmt.Sprintf("%d: stopped: the guard stopped (signal to the guard)", k); !strings.Contains(p.log(), want) {
		t.Errorf("log lacks %q:\n%s", want, p.log())
	}
}

// SIGTERM to both at once, as the shutdown role sends it: their stop
// messages cross, and neither may wait out its timer for the other.
func TestPairSIGTERMToBothStopsAtOnce(t *testing.T) {
	for i := 0; i < 3; i++ {
		p := startPair(t, testState())
		p.waitReady()
		k, g := p.waitPair(10 * time.Second)
		p.waitGuard(g)
		sent := time.Now()
		p.kill(k, unix.SIGTERM)
		p.kill(g, unix.SIGTERM)
		p.waitGone(10 * time.Second)
		took := time.Since(sent)
		for _, pid := range []int{k, g} {
			if got := p.exitStatus(pid); got != "exit 0" {
				t.Errorf("pid %d: %s, want exit 0", pid, got)
			}
		}
		if log := p.log(); strings.Contains(log, "still running after") {
			t.Fatalf("one waited out its timer for the other (both gone after %v); log:\n%s", took.Round(time.Millisecond), log)
		}
		t.Logf("both gone %v after the signals", took.Round(time.Millisecond))
	}
}

// When iscsid takes over, the keeper steps aside and the guard with it,
// and a guard whose keeper dies while iscsid runs starts none.
func TestPairStepsAsideTogether(t *testing.T) {
	t.Run("keeper steps aside", func(t *testing.T) {
		p := startPair(t, testState())
		p.waitReady()
		k, g := p.waitPair(10 * time.Second)
		p.touch("iscsid")
		p.waitGone(10 * time.Second)
		for _, pid := range []int{k, g} {
			if got := p.exitStatus(pid); got != "exit 0" {
				t.Errorf("pid %d: %s, want exit 0", pid, got)
			}
		}
		if want := fmt.Sprintf("%d: guard: the keeper stopped (iscsid took over); exiting", g); !strings.Contains(p.log(), want) {
			t.Errorf("log lacks %q:\n%s", want, p.log())
		}
	})
	t.Run("keeper killed while iscsid runs", func(t *testing.T) {
		p := startPair(t, testState())
		p.waitReady()
		k, g := p.waitPair(10 * time.Second)
		// The fake keeper checks every 20 ms: stop it first.
		unix.Kill(k, unix.SIGSTOP)
		p.touch("iscsid")
		p.kill(k, unix.SIGKILL)
		p.waitGone(10 * time.Second)
		if got := p.exitStatus(g); got != "exit 0" {
			t.Errorf("guard: %s, want exit 0", got)
		}
		if !strings.Contains(p.log(), "iscsid is running: it owns session recovery now") {
			t.Errorf("the guard did not say why it left:\n%s", p.log())
		}
	})
}

// A keeper that keeps dying at its start is restarted on a growing,
// capped schedule, and runs again once the cause is gone.
func TestPairCrashLoopBacksOff(t *testing.T) {
	p := startPair(t, testState())
	p.waitReady()
	k, g := p.waitPair(10 * time.Second)
	p.touch("crash")
	p.kill(k, unix.SIGKILL)
	// Initial 200 ms, doubling to 800 ms.
	re := regexp.MustCompile(fmt.Sprintf(`%d: guard: the keeper ended without a word soon after its start \(pid \d+\); starting another in ([0-9.]+)s`, g))
	deadline := time.Now().Add(15 * time.Second)
	var waits []string
	for time.Now().Before(deadline) {
		m := re.FindAllStringSubmatch(p.log(), -1)
		if len(m) >= 4 {
			for _, x := range m {
				waits = append(waits, x[1])
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, want := strings.Join(waits, " "), "0.2 0.4 0.8 0.8"; !strings.HasPrefix(got, want) {
		t.Fatalf("restart waits %q, want them to begin %q; log:\n%s", got, want, p.log())
	}
	os.Remove(filepath.Join(p.dir, "crash"))
	k2, g2 := p.waitPair(10*time.Second, k)
	if g2 != g {
		t.Errorf("guard %d, want %d", g2, g)
	}
	waitFile(t, filepath.Join(p.dir, "state."+strconv.Itoa(k2)))
}

// A first keeper that fails before it is ready ends its guard too: /init
// reports the failure, and no keeper appears behind its back.
func TestPairFirstKeeperFailsBeforeReady(t *testing.T) {
	t.Run("its loop fails", func(t *testing.T) {
		p := startPairWith(t, testState(), func(p *pair) { p.touch("crash-late") })
		b := make([]byte, 16)
		p.ready.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := p.ready.Read(b); err == nil {
			t.Errorf("ready pipe: %q, want EOF", b[:n])
		}
		p.waitGone(10 * time.Second)
		if !strings.Contains(p.log(), "guard: the keeper ended before it was ready") {
			t.Errorf("the guard did not say why it left:\n%s", p.log())
		}
	})
	t.Run("no state (aborted)", func(t *testing.T) {
		p := startPair(t, State{})
		p.waitGone(10 * time.Second)
		if got := p.exitStatus(p.first); got != "exit 1" {
			t.Errorf("keeper: %s, want exit 1", got)
		}
	})
}

// /init aborts the keeper it started (its boot failed) by closing the
// State's pipe empty: the keeper and its guard leave without a word after
// the boot's FATAL line. A keeper that dies before it had the State is
// still reported by its guard.
func TestPairNoState(t *testing.T) {
	t.Run("aborted by /init", func(t *testing.T) {
		p, stateW := launchPair(t, t.TempDir())
		p.waitGuardStarted()
		stateW.Close()
		p.waitGone(10 * time.Second)
		for _, l := range strings.Split(p.log(), "\n") {
			if strings.Contains(l, "state") || strings.Contains(l, "exiting") {
				t.Errorf("a line about the abort: %q\nlog:\n%s", l, p.log())
			}
		}
	})
	t.Run("the keeper dies first", func(t *testing.T) {
		p, stateW := launchPair(t, t.TempDir())
		defer stateW.Close()
		p.waitGuardStarted()
		p.kill(p.first, unix.SIGKILL)
		p.waitGone(10 * time.Second)
		if !strings.Contains(p.log(), "guard: keeper: no state: its pipe closed empty (the keeper ended before handing it over); exiting") {
			t.Errorf("the guard did not report the keeper's end:\n%s", p.log())
		}
	})
}

// waitGuardStarted waits until the first keeper has started its guard.
func (p *pair) waitGuardStarted() {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if len(p.procs()[RoleGuard]) == 1 && strings.Contains(p.log(), "started the guard") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("the keeper started no guard; log:\n%s", p.log())
}

// startPairWith is startPair with prepare run on the pair's directory
// before the keeper starts.
func startPairWith(t *testing.T, st State, prepare func(*pair)) *pair {
	t.Helper()
	dir := t.TempDir()
	prepare(&pair{t: t, dir: dir})
	return startPairIn(t, st, dir)
}

func assertHardened(t *testing.T, pid int) {
	t.Helper()
	d := "/proc/" + strconv.Itoa(pid)
	if b, _ := os.ReadFile(d + "/oom_score_adj"); strings.TrimSpace(string(b)) != "-1000" {
		if hasCap(unix.CAP_SYS_RESOURCE) {
			t.Errorf("pid %d: oom_score_adj %q, want -1000", pid, b)
		} else {
			t.Logf("pid %d: oom_score_adj %q: this test lacks CAP_SYS_RESOURCE to lower it", pid, bytes.TrimSpace(b))
		}
	}
	status, _ := os.ReadFile(d + "/status")
	m := regexp.MustCompile(`VmLck:\s+(\d+) kB`).FindSubmatch(status)
	rss := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil || rss == nil {
		t.Fatalf("pid %d: no VmLck/VmRSS in %s", pid, status)
	}
	lck, _ := strconv.Atoi(string(m[1]))
	r, _ := strconv.Atoi(string(rss[1]))
	t.Logf("pid %d: VmLck %d kB, VmRSS %d kB", pid, lck, r)
	if lck < 1024 {
		t.Errorf("pid %d: VmLck %d kB: not locked", pid, lck)
	}
}

func waitFile(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(name); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", name)
}

func waitContent(t *testing.T, name, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var b []byte
	for time.Now().Before(deadline) {
		b, _ = os.ReadFile(name)
		if string(b) == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s: %q, want %q", name, b, want)
}

// hasCap reports whether this process has capability c in its
// effective set.
func hasCap(c int) bool {
	status, _ := os.ReadFile("/proc/self/status")
	m := regexp.MustCompile(`CapEff:\s+([0-9a-f]+)`).FindSubmatch(status)
	if m == nil {
		return false
	}
	v, _ := strconv.ParseUint(string(m[1]), 16, 64)
	return v&(1<<uint(c)) != 0
}
