package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/netroot/netroot/integration/rig/scripttarget"
)

// The fault suite (issue #22): every case boots the scenario read-write,
// the test root (testinit's fault mode) writes and fsyncs a 64-byte record
// every 100 ms while the test injects a fault, then reads every record
// back. "Recovered" means the writer finished with no I/O error and no
// record lost. Each case logs the writer's longest stall and the recovery
// time — from the end of the fault (a mark typed on the console) to the
// first write completing after it — in a "RESULT" line.

// faultCmdline is keeperCmdline (NOP-Out 5 s / 5 s, the keeper on) in the
// fault mode, writing for write and giving up after stall without a
// completed write.
func faultCmdline(write, stall time.Duration) string {
	return strings.Replace(keeperCmdline, "netroot.test=keeper", "netroot.test=fault", 1) +
		fmt.Sprintf(" netroot.fault.write=%d netroot.fault.stall=%d", int(write.Seconds()), int(stall.Seconds()))
}

// fault is one case in progress.
type fault struct {
	t       *testing.T
	b       *rig.Boot
	stall   time.Duration
	writing time.Time // when the writer started (host clock)
	// recovery, when set, is the recovery time measured by the test
	// rather than from a mark (the scripted target's events).
	recovery string
}

// bootFault boots spec in the fault mode; the writer runs for write.
func bootFault(t *testing.T, spec rig.BootSpec, write time.Duration) *fault {
	t.Helper()
	return bootFaultWith(t, spec, write, nil)
}

// bootFaultWith is bootFault with the command line passed through edit.
func bootFaultWith(t *testing.T, spec rig.BootSpec, write time.Duration, edit func(string) string) *fault {
	t.Helper()
	waitsMostly(t)
	stall := write + 45*time.Second
	spec.Cmdline = faultCmdline(write, stall)
	if edit != nil {
		spec.Cmdline = edit(spec.Cmdline)
	}
	return &fault{t: t, b: start(t, spec), stall: stall}
}

// waitWriting waits for the writer and lets it write a few records.
func (f *fault) waitWriting() {
	f.t.Helper()
	waitFor(f.t, f.b, `NETROOT-TEST: keeper-test=writing`, 5*time.Minute)
	f.writing = time.Now()
	time.Sleep(2 * time.Second)
}

// command types cmd on the console and waits for the line acknowledging
// it (a regexp).
func (f *fault) command(cmd, ack string) []string {
	f.t.Helper()
	if err := f.b.VM.Send(cmd + "\n"); err != nil {
		f.t.Fatal(err)
	}
	return waitFor(f.t, f.b, ack, 30*time.Second)
}

// stacks logs where each keeper process waits (its threads' kernel
// stacks) and has the kernel print its blocked tasks: for a keeper that
// did not log what it should have.
func (f *fault) stacks() {
	f.t.Helper()
	before := len(reported(f.b.VM.Log(), "fault-stacks"))
	f.command("nrt-stacks", `NETROOT-TEST: fault-stacks-done=`)
	for _, s := range reported(f.b.VM.Log(), "fault-stacks")[before:] {
		f.t.Logf("stacks: %s", s)
	}
}

// mark notes the end of a fault in the guest: the recovery time is
// measured from here to the first write completing after a gap of at
// least minGap.
func (f *fault) mark(name string, minGap time.Duration) {
	f.t.Helper()
	// The kernel's console lines may land in the middle of the test
	// root's: the name ends at anything but a name character.
	f.command(fmt.Sprintf("nrt-mark %s %.1f", name, minGap.Seconds()), `NETROOT-TEST: fault-mark=`+regexp.QuoteMeta(name)+`([^\w-]|$)`)
	f.t.Logf("%s: mark %s", time.Now().Format("15:04:05.0"), name)
}

// waitRecovery waits up to timeout for mark name's recovery and returns
// it, or "" when no write completed.
func (f *fault) waitRecovery(name string, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := f.b.VM.WaitFor(ctx, regexp.MustCompile(`NETROOT-TEST: fault-recovery=`+regexp.QuoteMeta(name)+` ([0-9.]+)s`))
	if err != nil {
		return ""
	}
	return m[1] + "s"
}

// waitConsole waits for re on the console, returning false on timeout.
func (f *fault) waitConsole(re string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := f.b.VM.WaitFor(ctx, regexp.MustCompile(re))
	return err == nil
}

// relays returns the boot's relays.
func (f *fault) relays() []*rig.Relay {
	var out []*rig.Relay
	for _, r := range f.b.Relays {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// impair sets every relay.
func (f *fault) impair(im rig.Impair) {
	for _, r := range f.relays() {
		r.Set(im)
	}
	f.t.Logf("%s: relays: %v", time.Now().Format("15:04:05.0"), im)
}

// trap arms every relay's trap and returns a channel closed when one
// fires.
func (f *fault) trap(m rig.Match) <-chan struct{} {
	fired := make(chan struct{})
	var chans []<-chan struct{}
	for _, r := range f.relays() {
		chans = append(chans, r.Trap(m))
	}
	done := make(chan struct{})
	f.t.Cleanup(func() { close(done) })
	one := make(chan struct{}, len(chans))
	for _, c := range chans {
		go func() {
			select {
			case <-c:
				one <- struct{}{}
			case <-done:
			}
		}()
	}
	go func() {
		select {
		case <-one:
			close(fired)
		case <-done:
		}
	}()
	return fired
}

// keeperRecovering waits for the keeper to start recovering a failed
// connection (the NOP-Out timeout noticed the outage).
func (f *fault) keeperRecovering(timeout time.Duration) {
	f.t.Helper()
	if !f.waitConsole(`netroot-keeper: session \d+:? connection \d+ failed`, timeout) {
		f.t.Errorf("the keeper never logged a failed connection within %v", timeout)
		return
	}
	f.t.Logf("%s: keeper recovering", time.Now().Format("15:04:05.0"))
}

// faultResult is what the test root reported.
type faultResult struct {
	log        string
	records    int
	lost       int // -1: unknown (the writer stalled)
	errors     string
	maxStall   string
	recoveries []string
}

// finish waits for the test root's report, logs the evidence and a
// RESULT line, and asserts the root survived: the writer finished, no I/O
// error, every record intact.
func (f *fault) finish(name string) faultResult {
	t := f.t
	t.Helper()
	waitFor(t, f.b, `NETROOT-TEST: done=`, time.Until(f.writing)+f.stall+2*time.Minute)
	log := f.b.VM.Log()
	for _, l := range regexp.MustCompile(`(netroot-keeper: |connection\d+:\d+: |bond0: |NETROOT-TEST: (fault|keeper-(writer|errors|error|maxstall|stalls|verify))).*`).FindAllString(log, -1) {
		t.Log(strings.TrimRight(l, "\r"))
	}
	res := faultResult{log: log, lost: -1, recoveries: reported(log, "fault-recovery")}
	writer := reported(log, "keeper-writer")
	if len(writer) == 1 {
		if m := regexp.MustCompile(`records=(\d+)`).FindStringSubmatch(writer[0]); m != nil {
			res.records, _ = strconv.Atoi(m[1])
		}
	}
	if v := reported(log, "keeper-verify"); len(v) == 1 {
		if strings.HasPrefix(v[0], "ok ") {
			res.lost = 0
		} else if m := regexp.MustCompile(`bad=(\d+)`).FindStringSubmatch(v[0]); m != nil {
			res.lost, _ = strconv.Atoi(m[1])
		}
	}
	res.errors = strings.Join(reported(log, "keeper-errors"), ",")
	res.maxStall = strings.Join(reported(log, "keeper-maxstall"), ",")
	lost := strconv.Itoa(res.lost)
	if len(writer) == 1 && strings.HasPrefix(writer[0], "stalled") {
		res.maxStall = fmt.Sprintf("stalled (> %v)", f.stall)
		lost = "unknown (writer stalled)"
	}
	recovery := strings.Join(res.recoveries, "; ")
	if f.recovery != "" {
		recovery = f.recovery
	}
	t.Logf("RESULT %s: records %d, lost %s, I/O errors %s, longest stall %s, recovery %s",
		name, res.records, lost, res.errors, res.maxStall, recovery)

	if len(writer) != 1 || !strings.HasPrefix(writer[0], "finished ") {
		t.Errorf("writer: %q, want finished: the root was lost (no write completed for %v)", writer, f.stall)
		return res
	}
	if res.errors != "0" {
		t.Errorf("I/O errors: %q (%q), want 0", res.errors, reported(log, "keeper-error"))
	}
	if res.lost != 0 {
		t.Errorf("records lost: %s (verify %q)", lost, reported(log, "keeper-verify"))
	}
	if strings.Contains(log, "Kernel panic") {
		t.Errorf("kernel panic on the console")
	}
	return res
}

// stallAtLeast checks that the fault stalled the writer (else the case
// proved nothing).
func (r faultResult) stallAtLeast(t *testing.T, d time.Duration) {
	t.Helper()
	s, err := strconv.ParseFloat(strings.TrimSuffix(r.maxStall, "s"), 64)
	if err == nil && s < d.Seconds() {
		t.Errorf("longest write stall %s: the fault did not stall I/O for %v, so the case proves nothing", r.maxStall, d)
	}
}

// faultSeed is NETROOT_FAULT_SEED, else a fresh seed; it is logged so a
// run can be repeated.
func faultSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("NETROOT_FAULT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("NETROOT_FAULT_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (NETROOT_FAULT_SEED=%d repeats this run)", seed, seed)
	return seed
}

// TestFaultLinkFlap: both links go down and up 10 times within 30 s at
// random intervals (QEMU's set_link: the guest sees the carrier go).
func TestFaultLinkFlap(t *testing.T) {
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 22))
	// 10 downs and 10 ups, each 0.3–1.3 parts of 30 s.
	parts := make([]float64, 20)
	sum := 0.0
	for i := range parts {
		parts[i] = 0.3 + rng.Float64()
		sum += parts[i]
	}
	var plan []string
	spans := make([]time.Duration, 20)
	for i := range parts {
		spans[i] = time.Duration(parts[i] / sum * float64(30*time.Second)).Round(10 * time.Millisecond)
		plan = append(plan, fmt.Sprintf("%s %.2fs", map[bool]string{true: "down", false: "up"}[i%2 == 0], spans[i].Seconds()))
	}
	t.Logf("flap plan: %s", strings.Join(plan, ", "))
	f := bootFault(t, rig.BootSpec{Target: rig.DefaultTarget()}, 75*time.Second)
	f.waitWriting()
	link := func(on bool) {
		state := map[bool]string{true: "on", false: "off"}[on]
		for _, nd := range []string{"n0", "n1"} {
			if err := f.b.VM.Monitor("set_link " + nd + " " + state); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 10; i++ {
		link(false)
		time.Sleep(spans[2*i])
		link(true)
		if i < 9 {
			time.Sleep(spans[2*i+1])
		}
	}
	f.mark("flap-end", 0)
	f.finish("link flapping").stallAtLeast(t, time.Second)
}

// TestFaultLossySlowPath: 10 % of the frames lost and 100 ms added, each
// way, on both NICs for 60 s (the impairment relay; the host kernel has no
// sch_netem).
func TestFaultLossySlowPath(t *testing.T) {
	seed := faultSeed(t)
	f := bootFault(t, rig.BootSpec{Target: rig.DefaultTarget(), Relay: &rig.RelaySpec{Seed: seed}}, 95*time.Second)
	f.waitWriting()
	var before [2][2]rig.RelayStats
	for i, r := range f.relays() {
		before[i] = [2]rig.RelayStats{r.Stats(rig.FromGuest), r.Stats(rig.ToGuest)}
	}
	f.impair(rig.Impair{Loss: 0.10, Delay: 100 * time.Millisecond})
	time.Sleep(60 * time.Second)
	f.impair(rig.Impair{})
	f.mark("lossy-end", 0)
	for i, r := range f.relays() {
		for d, dir := range []rig.Direction{rig.FromGuest, rig.ToGuest} {
			s := r.Stats(dir)
			t.Logf("relay NIC %d %v during the impairment: %d frames passed, %d lost", r.NIC, dir,
				s.Passed-before[i][d].Passed, s.Lost-before[i][d].Lost)
		}
	}
	f.finish("10% loss, 100 ms delay, 60 s")
}

// TestFaultTargetRestartDuringLogin: tgtd restarts while /init logs in.
// The relays freeze the path at /init's first Login Request (the trap),
// tgtd is stopped, the path reopened (the retransmitted request meets a
// closed socket) and tgtd started again 5 s later; /init must retry.
func TestFaultTargetRestartDuringLogin(t *testing.T) {
	f := bootFault(t, rig.BootSpec{Target: rig.DefaultTarget(), Relay: &rig.RelaySpec{}}, 20*time.Second)
	fired := f.trap(rig.MatchISCSILogin(3260))
	select {
	case <-fired:
	case <-time.After(4 * time.Minute):
		t.Fatal("no Login Request from /init within 4 minutes")
	}
	t.Logf("%s: /init's Login Request caught; restarting tgtd", time.Now().Format("15:04:05.0"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.b.Target.RestartWhileDown(ctx, 5*time.Second, func() { f.impair(rig.Impair{}) }); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	m := waitFor(t, f.b, `netroot: login: [^\r\n]*\((\d+\.\d+)s\)`, 3*time.Minute)
	t.Logf("%s", m[0])
	f.recovery = fmt.Sprintf("%.1fs from tgtd's return to /init's login (console)", time.Since(back).Seconds())
	t.Logf("/init logged in %s", f.recovery)
	if s, _ := strconv.ParseFloat(m[1], 64); s < 5 {
		t.Errorf("/init's login step took %ss, less than tgtd was down: the restart missed the login", m[1])
	}
	f.waitWriting()
	res := f.finish("tgtd restarted during /init's login")
	for _, l := range netrootLines(res.log) {
		if strings.Contains(l, "login") || strings.Contains(l, "iscsi") {
			t.Log(l)
		}
	}
}

// TestFaultTargetRestartDuringRecovery: the path goes dark until the
// keeper recovers; when it reopens, the keeper's next Login Request is
// caught (the trap) and tgtd restarted under it, down for 10 s.
func TestFaultTargetRestartDuringRecovery(t *testing.T) {
	f := bootFault(t, rig.BootSpec{Target: rig.DefaultTarget(), Relay: &rig.RelaySpec{}}, 75*time.Second)
	f.waitWriting()
	f.impair(rig.Impair{Blackhole: true})
	f.keeperRecovering(time.Minute)
	fired := f.trap(rig.MatchISCSILogin(3260))
	f.impair(rig.Impair{})
	select {
	case <-fired:
		t.Logf("%s: the keeper's Login Request caught; restarting tgtd", time.Now().Format("15:04:05.0"))
	case <-time.After(time.Minute):
		t.Errorf("no Login Request from the keeper within a minute of the path reopening")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.b.Target.RestartWhileDown(ctx, 10*time.Second, func() { f.impair(rig.Impair{}) }); err != nil {
		t.Fatal(err)
	}
	f.mark("tgtd-back", 0)
	f.finish("tgtd restarted during the keeper's recovery").stallAtLeast(t, 10*time.Second)
}

// redirectAway is the second portal's address.
const redirectAway = "10.77.0.2"

// testRedirect: during an outage tgtd is told to redirect the target to a
// second portal (a second tgtd on the same LUN: tgtd redirects on every
// portal of its own). The keeper's re-login must follow it. Then, for a
// temporary redirect, the redirect ends and the second tgtd goes away: the
// keeper must come home; for a permanent one, the first tgtd goes away and
// the second restarts: the keeper must stay with the new portal.
func testRedirect(t *testing.T, permanent bool) {
	kind := map[bool]string{false: "temporary", true: "permanent"}[permanent]
	addAway := func(ctx context.Context, n *rig.Net) error {
		_, err := n.Run(ctx, "ip", "addr", "add", redirectAway+"/24", "dev", n.Bridge)
		return err
	}
	f := bootFault(t, rig.BootSpec{Target: rig.DefaultTarget(), Relay: &rig.RelaySpec{}, NetSetup: addAway}, 80*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	away, err := rig.StartTarget(ctx, f.b.Net, rig.TargetConfig{Portal: redirectAway + ":3260", IQN: rig.TargetIQN,
		LUNs: f.b.Target.Config().LUNs}, filepath.Join(f.b.Dir, "tgtd-away.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(away.Stop)
	f.waitWriting()

	f.impair(rig.Impair{Blackhole: true})
	outage := time.Now()
	f.keeperRecovering(time.Minute)
	if err := f.b.Target.Redirect(ctx, redirectAway, 3260, permanent); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: tgtd redirects %s to %s:3260", time.Now().Format("15:04:05.0"), kind, redirectAway)
	time.Sleep(time.Until(outage.Add(20 * time.Second)))
	f.impair(rig.Impair{})
	f.mark("redirected", 0)
	if f.waitRecovery("redirected", 60*time.Second) == "" {
		t.Errorf("no recovery within 60 s of the outage's end with the target redirected (%s)", kind)
		f.finish("target redirected (" + kind + ") during an outage")
		return
	}
	now := f.command("nrt-state", `NETROOT-TEST: fault-conn-now=([^\r\n]*)\r?\n`)
	if !strings.Contains(now[1], "conn="+redirectAway+":3260") {
		t.Errorf("after the redirect the connection is %q, want it to %s:3260", now[1], redirectAway)
	}
	home := rig.HostAddr + ":3260"
	if permanent {
		// The old portal is gone for good; the new one restarts.
		f.b.Target.Stop()
		if err := away.Restart(ctx, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		home = redirectAway + ":3260"
	} else {
		if err := f.b.Target.ClearRedirect(ctx); err != nil {
			t.Fatal(err)
		}
		away.Stop()
	}
	f.mark("second", 0)
	res := f.finish("target redirected (" + kind + ") during an outage")
	if got := reported(res.log, "fault-conn-end"); len(got) != 1 || !strings.Contains(got[0], "conn="+home) {
		t.Errorf("after the second fault the connection is %q, want it to %s", got, home)
	}
}

func TestFaultRedirectTemporary(t *testing.T) { testRedirect(t, false) }

func TestFaultRedirectPermanent(t *testing.T) { testRedirect(t, true) }

// TestFaultAsyncLogoutRequest: the (scripted) target asks for a logout
// within 10 s (Async Message, AsyncEvent 1). The initiator must log out in
// time and log in again; the target drops the connection if it does not.
func TestFaultAsyncLogoutRequest(t *testing.T) {
	f := bootFault(t, rig.BootSpec{ScriptTarget: &scripttarget.Config{}}, 45*time.Second)
	f.waitWriting()
	const within = 10 * time.Second
	sent, err := f.b.ScriptTarget.RequestLogout(within)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), within+5*time.Second)
	defer cancel()
	ended := scripttargetEnd(ctx, f.b.ScriptTarget, sent.Time)
	switch {
	case ended.Kind == scripttarget.EventLogout:
		t.Logf("the initiator logged out %.1fs after the request", ended.Time.Sub(sent.Time).Seconds())
	case ended.Kind == scripttarget.EventDrop:
		t.Errorf("no Logout Request within %v of AsyncEvent 1; the target dropped the connection (%s)", within, ended.Detail)
	default:
		t.Errorf("the connection did not end within %v of the logout request", within+5*time.Second)
	}
	if !ended.Time.IsZero() {
		f.recovery = relogin(t, f.b.ScriptTarget, ended.Time, "the connection's end")
	}
	f.finish("target requests a logout (AsyncEvent 1)")
	logTargetEvents(t, f.b.ScriptTarget)
}

// TestFaultAsyncDropTime2Wait: the (scripted) target announces it drops
// the connection (AsyncEvent 2) with Time2Wait 10 s and drops it. The
// initiator must not reconnect before 10 s, and then must.
func TestFaultAsyncDropTime2Wait(t *testing.T) {
	f := bootFault(t, rig.BootSpec{ScriptTarget: &scripttarget.Config{}}, 45*time.Second)
	f.waitWriting()
	const t2w = 10 * time.Second
	drop, err := f.b.ScriptTarget.DropConnection(t2w, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c, err := f.b.ScriptTarget.WaitEvent(ctx, scripttarget.EventConnect, drop.Time); err != nil {
		t.Errorf("no reconnection within a minute of the drop")
	} else if d := c.Time.Sub(drop.Time); d < t2w-100*time.Millisecond {
		t.Errorf("the initiator reconnected %.1fs after the drop, before the Time2Wait of %v", d.Seconds(), t2w)
	} else {
		t.Logf("reconnected %.1fs after the drop (Time2Wait %v)", d.Seconds(), t2w)
	}
	f.recovery = relogin(t, f.b.ScriptTarget, drop.Time, "the drop")
	f.finish("target drops the connection (AsyncEvent 2, Time2Wait 10 s)")
	logTargetEvents(t, f.b.ScriptTarget)
}

// scripttargetEnd waits for the live connection to end after since: a
// logout, or a drop.
func scripttargetEnd(ctx context.Context, st *scripttarget.Target, since time.Time) scripttarget.Event {
	for ctx.Err() == nil {
		for _, e := range st.Events() {
			if !e.Time.Before(since) && (e.Kind == scripttarget.EventLogout || e.Kind == scripttarget.EventDrop) {
				return e
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return scripttarget.Event{}
}

// relogin checks that the session was logged in again after since (what)
// and returns the time it took, as the target saw it.
func relogin(t *testing.T, st *scripttarget.Target, since time.Time, what string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := st.WaitEvent(ctx, scripttarget.EventLogin, since)
	if err != nil {
		t.Errorf("no new login within a minute of %s", what)
		return "none"
	}
	t.Logf("logged in again %.2fs after %s: %s", e.Time.Sub(since).Seconds(), what, e.Detail)
	return fmt.Sprintf("%.2fs from %s to the new login (target's clock)", e.Time.Sub(since).Seconds(), what)
}

func logTargetEvents(t *testing.T, st *scripttarget.Target) {
	for _, e := range st.Events() {
		t.Logf("target %s: %v", e.Time.Format("15:04:05.000"), e)
	}
}

// TestFaultKeeperKilled: the keeper is killed with SIGKILL in the middle
// of a 30 s outage (both paths black-holed); the root must still recover.
func TestFaultKeeperKilled(t *testing.T) {
	f := bootFault(t, rig.BootSpec{Target: rig.DefaultTarget(), Relay: &rig.RelaySpec{}}, 75*time.Second)
	f.waitWriting()
	f.impair(rig.Impair{Blackhole: true})
	outage := time.Now()
	f.keeperRecovering(time.Minute)
	m := f.command("nrt-kill-keeper", `NETROOT-TEST: fault-keeper-killed=([^\r\n]*)\r?\n`)
	t.Logf("%s: keeper killed: %s", time.Now().Format("15:04:05.0"), m[1])
	time.Sleep(time.Until(outage.Add(30 * time.Second)))
	f.impair(rig.Impair{})
	f.mark("outage-end", 0)
	res := f.finish("keeper killed (SIGKILL) mid-outage")
	end := reported(res.log, "fault-keeper-end")
	t.Logf("keeper processes at the end: %q", end)
	for _, k := range []string{"fault-keeper-mem", "fault-keeper-mem-end"} {
		t.Logf("%s=%q", k, reported(res.log, k))
	}
	// The guard started a new keeper, which recorded its pid, adopted
	// the session that failed while none ran, and recovered it.
	killed := regexp.MustCompile(`^pid=(\d+) signal=killed respawned=(\d+) after=([0-9.]+)s$`).FindStringSubmatch(m[1])
	if killed == nil {
		t.Fatalf("after SIGKILL: %q, want the keeper killed and a new one ready", m[1])
	}
	if len(end) != 1 || !strings.Contains(end[0], "keeper.pid="+killed[2]+";") || !strings.Contains(end[0], killed[2]+" keeper ppid=1") ||
		!regexp.MustCompile(`\d+ guard ppid=1`).MatchString(end[0]) {
		t.Errorf("at the end: %q, want keeper %s (in keeper.pid) and a guard, children of PID 1", end, killed[2])
	}
	if !regexp.MustCompile(`netroot-keeper: pid `+killed[2]+` started by its guard`).MatchString(res.log) ||
		!regexp.MustCompile(`netroot-keeper: session \d+: sysfs shows it [^\r\n]* at start: recovering`).MatchString(res.log) {
		t.Errorf("the new keeper did not say it started and adopted the failed session")
	}
	assertKeeperPair(t, reported(res.log, "fault-keeper-mem-end"), []string{killed[2]})
}

// TestFaultKeeperSwapOnRoot: the root has a swap file, and a memory hog
// pushed pages of the guest out to it (on the iSCSI disk) before a 30 s
// outage. A keeper paged out would need that disk to run again: both
// keeper processes must have nothing in swap, and the root must recover.
func TestFaultKeeperSwapOnRoot(t *testing.T) {
	f := bootFaultWith(t, rig.BootSpec{Target: rig.DefaultTarget(), Relay: &rig.RelaySpec{}}, 75*time.Second,
		func(cmdline string) string { return cmdline + " netroot.fault.swap=32" })
	f.waitWriting()
	log := f.b.VM.Log()
	t.Logf("fault-swap=%q fault-pressure=%q", reported(log, "fault-swap"), reported(log, "fault-pressure"))
	f.impair(rig.Impair{Blackhole: true})
	time.Sleep(30 * time.Second)
	f.impair(rig.Impair{})
	f.mark("outage-end", 0)
	res := f.finish("swap on the iSCSI root, memory pressure, 30 s outage")
	t.Logf("fault-swap-end=%q", reported(res.log, "fault-swap-end"))
	p := reported(res.log, "fault-pressure")
	m := regexp.MustCompile(`^hog: holding (\d+) MiB; swap used (\d+) kB; init VmSwap (\d+) kB; keepers \[(.*)\]$`).FindStringSubmatch(strings.Join(p, ""))
	if len(p) != 1 || m == nil {
		t.Fatalf("memory pressure: %q (swap %q)", p, reported(res.log, "fault-swap"))
	}
	if used, _ := strconv.Atoi(m[2]); used < 8<<10 {
		t.Errorf("only %s kB swapped out: no real pressure, so the case proves nothing", m[2])
	}
	keepers := strings.Split(m[4], ", ")
	if len(keepers) != 2 {
		t.Errorf("keepers under pressure: %q, want the keeper and its guard", m[4])
	}
	for _, k := range keepers {
		if !strings.HasSuffix(k, " 0 kB") {
			t.Errorf("a keeper process has pages in swap: %s", k)
		}
	}
	assertKeeperPair(t, reported(res.log, "fault-keeper-mem-end"), reported(res.log, "keeper-pid"))
	if !strings.Contains(res.log, "netroot-keeper: recovered session") {
		t.Errorf("the keeper did not recover the session")
	}
}

// TestFaultActiveSlaveBlackhole: the active slave's upstream dies while
// the root writes: its relay black-holes every frame, the guest's NIC
// keeps its carrier (miimon sees nothing). The root must recover through
// the other slave — only a failed NOP-Out tells, and then the keeper.
func TestFaultActiveSlaveBlackhole(t *testing.T) {
	testActiveSlaveBlackhole(t, "", 2*time.Second, "active slave's upstream black-holed")
}

// TestFaultActiveSlaveBlackholeARPControl is the control of
// TestFaultActiveSlaveBlackhole: the same fault with the bond's ARP
// monitor on instead of miimon, which notices it by itself. It shows the
// relay black-holes one NIC only and the other path works.
func TestFaultActiveSlaveBlackholeARPControl(t *testing.T) {
	testActiveSlaveBlackhole(t, "mode=active-backup,arp_interval=200,arp_ip_target="+rig.HostAddr, 300*time.Millisecond,
		"active slave's upstream black-holed, ARP monitor (control)")
}

// testActiveSlaveBlackhole black-holes the active slave's relay for good
// (bondOpts, when set, replace the scenario's bond options). The recovery
// is the first write after a gap of at least gap; the proof that the fault
// hit is the bond's new active slave at the end (and, for gaps of a
// second or more, the stall).
func testActiveSlaveBlackhole(t *testing.T, bondOpts string, gap time.Duration, name string) {
	spec := rig.BootSpec{Target: rig.DefaultTarget(), Relay: &rig.RelaySpec{}}
	f := bootFaultWith(t, spec, 75*time.Second, func(cmdline string) string {
		if bondOpts == "" {
			return cmdline
		}
		return strings.Replace(cmdline, "mode=active-backup,miimon=100", bondOpts, 1)
	})
	f.waitWriting()
	log := f.b.VM.Log()
	bond := reported(log, "fault-bond")
	m := regexp.MustCompile(`active=(\S+)`).FindStringSubmatch(strings.Join(bond, " "))
	if m == nil {
		t.Fatalf("no active slave in %q", bond)
	}
	mac := regexp.MustCompile(m[1] + `=52:54:00:77:00:1(\d)`).FindStringSubmatch(bond[0])
	if mac == nil {
		t.Fatalf("no MAC for %s in %q", m[1], bond)
	}
	nic, _ := strconv.Atoi(mac[1])
	t.Logf("%s: black-holing NIC %d (%s, the active slave)", time.Now().Format("15:04:05.0"), nic, m[1])
	f.b.Relays[nic].Set(rig.Impair{Blackhole: true})
	f.mark("blackhole", gap)
	res := f.finish(name)
	if gap >= time.Second {
		res.stallAtLeast(t, gap)
	}
	if end := reported(res.log, "fault-bond-end"); len(end) != 1 || strings.Contains(end[0], "active="+m[1]+" ") {
		t.Errorf("bond at the end: %q, want another active slave than %s", end, m[1])
	}
}
