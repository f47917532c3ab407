package integration

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/netroot/netroot/integration/targetinit/lio"
)

// The interoperability tests of issue 23 (docs/interop.md): digests that
// a target requires, asked for or not, on LIO and tgt, kept by the
// keeper's re-login; a connection that dies between the login and the
// keeper.

// pinnedNone is a command line that pins both digests to None.
const pinnedNone = " rd.iscsi.param=node.conn[0].iscsi.HeaderDigest=None rd.iscsi.param=node.conn[0].iscsi.DataDigest=None"

// TestLIODigestsRequiredPinned: the operator pinned the digests to None
// and LIO requires them: no retry against the operator's choice, one clear
// FATAL naming the digests and the setting.
func TestLIODigestsRequiredPinned(t *testing.T) {
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline + pinnedNone, LIO: lioDigestsRequired(), Shell: true})
	msg := waitFatal(t, b.Boot, 3*time.Minute)
	for _, want := range []string{"0x0200", "digests", "rd.iscsi.param=node.conn[0].iscsi.HeaderDigest=CRC32C,None",
		"rd.iscsi.param=node.conn[0].iscsi.DataDigest=CRC32C,None", rig.LIOAddr + ":3260"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error line lacks %q", want)
		}
	}
	waitFor(t, b.Boot, `netroot:/# `, time.Minute)
	log := b.VM.Log()
	if strings.Contains(log, "logging in again offering") || strings.Contains(log, "is the target up") {
		t.Errorf("a retry against the pinned digests, or the wrong hint")
	}
	if n := strings.Count(log, "netroot: FATAL"); n != 1 {
		t.Errorf("%d FATAL lines, want 1", n)
	}
	if p, _ := finalLogin(b.logins(t)); p.StatusClass != 2 || p.StatusDetail != 0 {
		t.Errorf("last login response %v, want 2/0", p)
	}
}

// tgtDigestsCRC32C is the scenario's tgt target with both digests set
// to CRC32C (tgtadm --op update --name HeaderDigest --value CRC32C).
func tgtDigestsCRC32C() *rig.TargetConfig {
	c := rig.DefaultTarget()
	c.Params = map[string]string{"HeaderDigest": "CRC32C", "DataDigest": "CRC32C"}
	return c
}

// TestTgtDigests: tgt, digests asked for (CRC32C,None). By default tgt
// answers None; with its digests set to CRC32C it answers CRC32C, and the
// kernel runs them.
func TestTgtDigests(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target *rig.TargetConfig
		want   string // the kernel's header_digest/data_digest
	}{{"default", rig.DefaultTarget(), "0"}, {"CRC32C", tgtDigestsCRC32C(), "1"}} {
		t.Run(tc.name, func(t *testing.T) {
			b := startCaptured(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline + digestParams, Target: tc.target})
			log := assertRealRoot(t, b.Boot)
			got := reported(log, "iscsi-conn-params")
			if len(got) != 1 || !strings.Contains(got[0], "header_digest="+tc.want+" ") || !strings.Contains(got[0], "data_digest="+tc.want+" ") {
				t.Errorf("connection parameters %q, want digests %s", got, tc.want)
			}
			b.logins(t)
		})
	}
}

// TestTgtDigestsNotOffered: tgt cannot be made to require digests: set to
// CRC32C, it still answers None to an offer of None (and runs the
// session without them, consistently: the boot works), so netroot's
// default needs no retry there.
func TestTgtDigestsNotOffered(t *testing.T) {
	b := startCaptured(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline, Target: tgtDigestsCRC32C()})
	log := assertRealRoot(t, b.Boot)
	got := reported(log, "iscsi-conn-params")
	if len(got) != 1 || !strings.Contains(got[0], "header_digest=0 data_digest=0 ") {
		t.Errorf("connection parameters %q, want no digests", got)
	}
	if strings.Contains(log, "logging in again offering") {
		t.Errorf("a retry against tgt")
	}
	pdus := b.logins(t)
	if p, ok := finalLogin(pdus); !ok || !hasKey(pdus, true, "HeaderDigest=None") || len(pdus) != 2 {
		t.Errorf("capture: want one login, None answered None (last %v)", p)
	}
}

// TestLIOKeeperDigests is TestLIOKeeperTargetRestart against a target
// that requires digests, with nothing on the command line about them: the
// boot's login retries with CRC32C,None; the keeper's re-login after the
// restart offers them at once, and sets them again on the kernel's
// connection (which a stop for recovery clears) — else LIO, which checks
// them, would fail the connection at its first command and the writer
// would stall.
func TestLIOKeeperDigests(t *testing.T) {
	var c *rig.Capture
	s := rig.BootSpec{Cmdline: lioKeeperCmdline, LIO: lioDigestsRequired()}
	s.NetSetup = captureSetup(t, &c)
	b := keeperBootSpec(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.LIO.Restart(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("target restarted")
	assertRecovered(t, b)
	log := b.VM.Log()
	got := reported(log, "keeper-conn-params")
	if len(got) != 1 || !strings.Contains(got[0], "header_digest=1 data_digest=1") {
		t.Errorf("the kernel's connection after the recovery: %q, want both digests on", got)
	}
	logLIOKernel(t, b)
	c.Stop()
	pdus, err := rig.LoginExchanges(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	var offers []string
	for _, p := range pdus {
		if p.Response {
			continue
		}
		for _, k := range p.Keys {
			if v, ok := strings.CutPrefix(k, "HeaderDigest="); ok {
				offers = append(offers, v)
			}
		}
	}
	t.Logf("HeaderDigest offers, in order: %q", offers)
	if len(offers) < 3 || offers[0] != "None" || slices.ContainsFunc(offers[1:], func(o string) bool { return o != "CRC32C,None" }) {
		t.Errorf("offers %q: want None once (the boot's first login), then CRC32C,None only (its retry and the keeper's re-logins)", offers)
	}
}

// consoleTime is the kernel timestamp of the first console line matching
// re (the netroot lines /init echoes to the kernel log carry one).
func consoleTime(t *testing.T, log, re string) float64 {
	t.Helper()
	r := regexp.MustCompile(re)
	v, ok := firstConsoleLine(log, r.MatchString)
	if !ok {
		t.Fatalf("no console line with a timestamp matches %q", re)
	}
	return v
}

// timestamped is the kernel's timestamp and the rest of its line.
var timestamped = regexp.MustCompile(`\[ *([0-9]+\.[0-9]+)\] ([^\n]*)`)

// firstConsoleLine is the timestamp of the first timestamped console line
// whose text (after the timestamp) ok accepts.
func firstConsoleLine(log string, ok func(text string) bool) (float64, bool) {
	for _, m := range timestamped.FindAllStringSubmatch(log, -1) {
		if ok(m[2]) {
			v, err := strconv.ParseFloat(m[1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// handOffLoss is the warning of a connection lost while the kernel took
// it over (LIO's reset landing between the bind and the connection's
// start: the kernel refuses the next step): /init makes the login again.
var handOffLoss = regexp.MustCompile(`netroot: login: iscsi: kernel hand-off of ` + rig.LIOAddr + `:3260 ` + regexp.QuoteMeta(rig.TargetIQN) + `: [^\n]*; logging in again \(2 of 3\)`)

// lostInHandOff reports whether log shows the loss during the hand-off.
func lostInHandOff(log string) bool { return handOffLoss.MatchString(log) }

// TestLIOConnLostBeforeKeeper: LIO resets the connection right after the
// login, before the scan's first command is answered. /init notices the
// kernel's connection error and logs the session in again (the keeper's
// recovery, from /init; or, when the reset lands while the kernel takes
// the connection over, the login is made again): the disk appears and the
// boot reaches the real root, the keeper recovering nothing.
func TestLIOConnLostBeforeKeeper(t *testing.T) {
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline + " rd.retry=60", LIO: rig.DefaultLIO()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.LIO.DropOnLogin(ctx, nil); err != nil {
		t.Fatal(err)
	}
	log := assertRealRoot(t, b.Boot)
	lioLog := b.LIO.VM.Log()
	for _, l := range regexp.MustCompile(`(?m)^.*(netroot-target: drop|iSCSI|onnection).*$`).FindAllString(lioLog, -1) {
		t.Logf("LIO: %s", strings.TrimSpace(l))
	}
	if !strings.Contains(lioLog, "drop-on-login: session logged in; 1 connection(s)") {
		t.Fatalf("LIO did not drop the connection after the login")
	}
	// The reset lands after the kernel took the connection over (/init's
	// watch logs the session in again) or while it did (the kernel refuses
	// the hand-off's next step: the login is made again).
	inHandOff := lostInHandOff(log)
	want := []string{`netroot: disk: ` + regexp.QuoteMeta(rig.TargetIQN) + ` LUN 1 is /dev/sd`}
	if !inHandOff {
		want = append(want,
			`netroot: login: session 1 \(`+regexp.QuoteMeta(rig.TargetIQN)+` at `+rig.LIOAddr+`:3260\): connection 0 failed \([A-Z_]+\) before the keeper took it over; logging in again`,
			`netroot: login: session 1 is back via `+rig.LIOAddr+`:3260 after`)
	}
	for _, re := range want {
		if !regexp.MustCompile(re).MatchString(log) {
			t.Errorf("console lacks %q", re)
		}
	}
	if inHandOff {
		t.Logf("the connection was lost during the kernel hand-off; the login was made again")
	} else {
		lost, back := consoleTime(t, log, `before the keeper took it over`), consoleTime(t, log, `is back via`)
		t.Logf("connection lost at %.2fs, session back at %.2fs (%.1fs)", lost, back, back-lost)
		if strings.Contains(log, "scanning for LUN 1 again") {
			t.Logf("the disk's first scan met the failed connection; it was scanned again once the session was back")
		}
	}
	if strings.Contains(log, "netroot-keeper: recovered session") || strings.Contains(log, "FATAL") {
		t.Errorf("the keeper recovered the session, or the boot failed")
	}
	for _, l := range regexp.MustCompile(`(?m)^.*(connection1:0|conn error|session recovery).*$`).FindAllString(log, -1) {
		t.Logf("client kernel: %s", strings.TrimSpace(l))
	}
	b.logins(t)
}

// TestLIOConnLostBeforeKeeperForGood: LIO resets the connection right
// after the login and disables its portal group (logins are refused from
// then on): the boot fails within rd.retry of the loss with one FATAL
// naming the session and the connection's error — not a silent wait for a
// disk that cannot appear.
func TestLIOConnLostBeforeKeeperForGood(t *testing.T) {
	const retry = 20
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline + " rd.retry=" + strconv.Itoa(retry), LIO: rig.DefaultLIO(), Shell: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.LIO.DropOnLogin(ctx, lio.Enable(b.LIO.Target, false)); err != nil {
		t.Fatal(err)
	}
	msg := waitFatal(t, b.Boot, 4*time.Minute)
	log := b.VM.Log()
	for _, l := range netrootLines(log) {
		t.Log(l)
	}
	// As in TestLIOConnLostBeforeKeeper, the reset lands after the kernel
	// took the connection over (/init's watch fails the boot when the
	// session cannot come back) or while it did (the login is made again,
	// and refused).
	want, lostAt := []string{"session 1 (" + rig.TargetIQN + " at " + rig.LIOAddr + ":3260)", "failed (", "after the login",
		"within rd.retry=" + strconv.Itoa(retry) + ":", "its log says why"}, `before the keeper took it over`
	if lostInHandOff(log) {
		t.Logf("the connection was lost during the kernel hand-off; the login made again was refused")
		want, lostAt = []string{"login", rig.LIOAddr + ":3260", rig.TargetIQN}, `logging in again \(2 of 3\)`
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error line lacks %q", w)
		}
	}
	lost, fatal := consoleTime(t, log, lostAt), consoleTime(t, log, `netroot: FATAL`)
	t.Logf("connection lost at %.2fs, FATAL at %.2fs (%.1fs)", lost, fatal, fatal-lost)
	if fatal-lost > retry+5 {
		t.Errorf("FATAL %.1fs after the loss, want within rd.retry=%ds", fatal-lost, retry)
	}
	if n := strings.Count(log, "netroot: FATAL"); n != 1 {
		t.Errorf("%d FATAL lines, want 1", n)
	}
	waitFor(t, b.Boot, `netroot:/# `, time.Minute)
}
