package integration

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

// keeperCmdline boots the scenario read-write with the test init's keeper
// mode. NOP-Outs are set explicitly (5 s / 5 s) so that with or without
// the keeper the kernel notices a dead path and reports a connection
// error; the replacement timeout stays at netroot's one day, so I/O waits
// for a recovery instead of failing.
const keeperCmdline = rig.ScenarioCmdline + " rw netroot.test=keeper" +
	" rd.iscsi.param=node.conn[0].timeo.noop_out_interval=5 rd.iscsi.param=node.conn[0].timeo.noop_out_timeout=5"

// outage is how long the network or the target is away.
const outage = 30 * time.Second

// keeperBoot boots cmdline and waits until the root's writer runs.
func keeperBoot(t *testing.T, cmdline string) *rig.Boot {
	return keeperBootSpec(t, rig.BootSpec{Cmdline: cmdline, Target: rig.DefaultTarget()})
}

// keeperBootSpec boots s (e.g. against LIO) and waits until the root's
// writer runs.
func keeperBootSpec(t *testing.T, s rig.BootSpec) *rig.Boot {
	waitsMostly(t)
	b := start(t, s)
	waitFor(t, b, `NETROOT-TEST: keeper-test=writing`, 4*time.Minute)
	time.Sleep(2 * time.Second) // some records before the outage
	return b
}

// linkOutage takes both taps down for outage, then back up: the path is
// gone beyond the guest's NICs, whose carrier stays.
func linkOutage(t *testing.T, b *rig.Boot) {
	outageBy(t, "taps", func(ctx context.Context, up bool) error {
		for _, tap := range []string{"tap0", "tap1"} {
			if err := b.Net.SetLink(ctx, tap, up); err != nil {
				return err
			}
		}
		return nil
	})
}

// carrierOutage takes both of the guest's NICs' carrier away for outage
// (QEMU's set_link), then gives it back: the cables out.
func carrierOutage(t *testing.T, b *rig.Boot) {
	outageBy(t, "the guest's links", func(_ context.Context, up bool) error {
		state := map[bool]string{true: "on", false: "off"}[up]
		for _, nd := range []string{"n0", "n1"} {
			if err := b.VM.Monitor("set_link " + nd + " " + state); err != nil {
				return err
			}
		}
		return nil
	})
}

// outageBy sets what down with set for outage, then up again.
func outageBy(t *testing.T, what string, set func(ctx context.Context, up bool) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), outage+30*time.Second)
	defer cancel()
	if err := set(ctx, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s down for %v", what, outage)
	time.Sleep(outage)
	if err := set(ctx, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s up", what)
}

// assertRecovered checks the root's report after an outage the keeper
// must have recovered.
func assertRecovered(t *testing.T, b *rig.Boot) {
	t.Helper()
	waitFor(t, b, `NETROOT-TEST: done=`, 3*time.Minute)
	log := b.VM.Log()
	for _, k := range []string{"keeper-writer", "keeper-errors", "keeper-maxstall", "keeper-verify", "keeper-pid", "keeper-proc", "keeper-hints",
		"keeper-procs", "keeper-mem", "keeper-sigterm", "keeper-after-sigterm"} {
		t.Logf("%s=%q", k, reported(log, k))
	}
	keeperLines := regexp.MustCompile(`netroot-keeper: [^\r\n]*`).FindAllString(log, -1)
	for _, l := range keeperLines {
		t.Log(l)
	}
	assertWriterSurvived(t, log)
	if n := len(regexp.MustCompile(`netroot-keeper: recovered session`).FindAllString(log, -1)); n != 1 {
		t.Errorf("keeper logged %d recoveries, want 1", n)
	}
	if got := reported(log, "keeper-proc"); len(got) != 1 || !strings.Contains(got[0], `argv="@netroot-keeper`) ||
		!strings.Contains(got[0], "root-on-real-root=false cwd-on-real-root=false") {
		t.Errorf("keeper process %q: want argv[0] @netroot-keeper, root and cwd off the real root", got)
	}
	if got := reported(log, "keeper-hints"); len(got) != 1 || !strings.Contains(got[0], `ifstate="bond0=bond0"`) ||
		!strings.Contains(got[0], `open-iscsi.interface="bond0"`) || !strings.Contains(got[0], "network.json=true") {
		t.Errorf("hints for the real OS: %q", got)
	}
	if got := reported(log, "keeper-sigterm"); len(got) != 1 || got[0] != "exited status=0" || !strings.Contains(log, "netroot-keeper: stopped by signal") {
		t.Errorf("keeper after SIGTERM: %q, want a clean exit", got)
	}
	assertKeeperPair(t, reported(log, "keeper-mem"), reported(log, "keeper-pid"))
	if got := reported(log, "keeper-after-sigterm"); len(got) != 1 || got[0] != "none" {
		t.Errorf("keeper processes after SIGTERM to the keeper: %q, want none (its guard ends with it)", got)
	} else if !strings.Contains(log, "netroot-keeper: guard: the keeper stopped (signal); exiting") {
		t.Errorf("the guard did not say it stopped with the keeper")
	}
	if strings.Contains(log, "Kernel panic") {
		t.Errorf("kernel panic on the console")
	}
}

// keeperMemRe parses testinit's keeperMem.
var keeperMemRe = regexp.MustCompile(`^pid=(\d+) role=(\w+) ppid=(\d+) nice=([-\d,]*) oom_score_adj=(-?\d+) VmLck=(\d+) Locked=(\d+) Pss=(\d+) Rss=(\d+) Swap=(\d+) exe=(.*)$`)

// assertKeeperPair checks the keeper processes the test root saw (mem:
// its keeper-mem reports): a keeper — the pid in keeper.pid (pids) — and
// its guard, both children of PID 1, at nice 0, out of the OOM killer's
// reach, their resident memory locked (mlockall, the binary locked whole)
// and nothing swapped, running from the initramfs binary switch_root
// deleted.
func assertKeeperPair(t *testing.T, mem, pids []string) {
	t.Helper()
	roles := map[string]string{}
	for _, m := range mem {
		f := keeperMemRe.FindStringSubmatch(m)
		if f == nil {
			t.Errorf("keeper process %q: unparsable", m)
			continue
		}
		pid, role, ppid, nice, oom := f[1], f[2], f[3], f[4], f[5]
		vmlck, _ := strconv.Atoi(f[6])
		locked, _ := strconv.Atoi(f[7])
		pss, _ := strconv.Atoi(f[8])
		if nice != "0" {
			t.Errorf("%s pid %s: threads at nice %s, want 0", role, pid, nice)
		}
		roles[role] = pid
		if ppid != "1" {
			t.Errorf("%s pid %s: parent %s, want PID 1", role, pid, ppid)
		}
		if oom != "-1000" {
			t.Errorf("%s pid %s: oom_score_adj %s, want -1000", role, pid, oom)
		}
		// Locked counts resident pages in locked mappings (PSS): all but
		// the vDSO's.
		if vmlck == 0 || locked < pss*9/10 {
			t.Errorf("%s pid %s: VmLck %d kB, Locked %d kB of Pss %d kB: its memory is not locked", role, pid, vmlck, locked, pss)
		}
		if f[10] != "0" {
			t.Errorf("%s pid %s: %s kB swapped out", role, pid, f[10])
		}
		if !strings.HasSuffix(f[11], "(deleted)") {
			t.Errorf("%s pid %s: exe %q, want the initramfs's binary, deleted by switch_root", role, pid, f[11])
		}
	}
	if len(mem) != 2 || roles["keeper"] == "" || roles["guard"] == "" {
		t.Errorf("keeper processes %q: want a keeper and a guard", mem)
	}
	if len(pids) != 1 || pids[0] != roles["keeper"] {
		t.Errorf("keeper.pid %q, want the keeper's pid %s", pids, roles["keeper"])
	}
}

// assertWriterSurvived checks the test root's writer through an outage:
// it finished, with no I/O error and every record intact, and the outage
// stalled a write (else the test proved nothing).
func assertWriterSurvived(t *testing.T, log string) {
	t.Helper()
	if got := reported(log, "keeper-writer"); len(got) != 1 || !strings.HasPrefix(got[0], "finished ") {
		t.Errorf("writer: %q, want finished", got)
	}
	if got := reported(log, "keeper-errors"); len(got) != 1 || got[0] != "0" {
		t.Errorf("I/O errors: %q (%q), want 0", got, reported(log, "keeper-error"))
	}
	if got := reported(log, "keeper-verify"); len(got) != 1 || !strings.HasPrefix(got[0], "ok ") {
		t.Errorf("verify: %q, want ok", got)
	}
	if got := reported(log, "keeper-maxstall"); len(got) != 1 {
		t.Errorf("maxstall: %q", got)
	} else if s, err := strconv.ParseFloat(strings.TrimSuffix(got[0], "s"), 64); err != nil || s < 10 {
		t.Errorf("longest write stall %q: the outage did not stall I/O, so the test proves nothing", got[0])
	}
}

// TestKeeperLinkOutage: both NICs lose the target for 30 s while the real
// root writes; the keeper reconnects the session and no record is lost.
func TestKeeperLinkOutage(t *testing.T) {
	b := keeperBoot(t, keeperCmdline)
	linkOutage(t, b)
	assertRecovered(t, b)
}

// TestKeeperCarrierOutage: both of the guest's NICs lose their carrier for
// 30 s while the real root writes (the cables out, a switch restarting):
// the keeper, watching the links from the emptied initramfs after
// switch_root, reconnects as soon as they come back, and no record is
// lost.
func TestKeeperCarrierOutage(t *testing.T) {
	b := keeperBoot(t, keeperCmdline)
	carrierOutage(t, b)
	assertRecovered(t, b)
	if !regexp.MustCompile(`netroot-keeper: session 1: (eth[01]|bond0) came up; reconnecting now`).MatchString(b.VM.Log()) {
		t.Errorf("the keeper did not act on the links' return (no \"came up; reconnecting now\")")
	}
}

// TestKeeperBoundLinkOutage: a session bound to eth1 (netroot='s
// <netdev_name>) on two subnets, the portal on eth0's (eth1's gateway, the
// rig, owns its address too): both links go away while the real root
// writes and come back; the keeper reconnects through eth1, where the
// routing table would take eth0.
func TestKeeperBoundLinkOutage(t *testing.T) {
	const cmdline = "ip=10.77.0.10:::255.255.255.0::eth0:none ip=10.78.0.10::" + otherSubnet + ":255.255.255.0::eth1:none " +
		"netroot=iscsi:10.77.0.1::3260::eth1:1:" + rig.TargetIQN + " " + rootArgs + " rw netroot.test=keeper" +
		" rd.iscsi.param=node.conn[0].timeo.noop_out_interval=5 rd.iscsi.param=node.conn[0].timeo.noop_out_timeout=5"
	b := keeperBootSpec(t, twoSubnetsSpec("keeper-bound", cmdline))
	linkOutage(t, b)
	waitFor(t, b, `NETROOT-TEST: done=`, 3*time.Minute)
	log := b.VM.Log()
	for _, l := range regexp.MustCompile(`netroot-keeper: [^\r\n]*`).FindAllString(log, -1) {
		t.Log(l)
	}
	assertWriterSurvived(t, log)
	if n := len(regexp.MustCompile(`netroot-keeper: recovered session`).FindAllString(log, -1)); n != 1 {
		t.Errorf("keeper logged %d recoveries, want 1", n)
	}
	wantReport(t, log, "iscsi-tcp", "local=10.78.0.10:", "remote=10.77.0.1:3260")
}

// TestKeeperTargetRestart: tgtd stops (closing the connection), stays away
// for outage and starts again on the same backing file; the writer's
// longest stall stays within outage + 5 s (the keeper retries on a capped,
// jittered schedule, so a step must not land far beyond the target's
// return).
func TestKeeperTargetRestart(t *testing.T) {
	b := keeperBoot(t, keeperCmdline)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+outage)
	defer cancel()
	if err := b.Target.Restart(ctx, outage); err != nil {
		t.Fatal(err)
	}
	t.Logf("target restarted")
	assertRecovered(t, b)
	got := reported(b.VM.Log(), "keeper-maxstall")
	if len(got) == 1 {
		if s, err := strconv.ParseFloat(strings.TrimSuffix(got[0], "s"), 64); err == nil && s > (outage+5*time.Second).Seconds() {
			t.Errorf("longest write stall %s after a %s target restart, want at most %s", got[0], outage, outage+5*time.Second)
		}
	}
}

// TestKeeperDisabledLinkOutage is the control: without the keeper
// (rd.netroot.keeper=0) the same outage leaves the session failed and the
// writer stalled (the kernel queues the I/O for the replacement timeout
// and nobody reconnects).
func TestKeeperDisabledLinkOutage(t *testing.T) {
	b := keeperBoot(t, keeperCmdline+" rd.netroot.keeper=0")
	linkOutage(t, b)
	waitFor(t, b, `NETROOT-TEST: done=`, 3*time.Minute)
	log := b.VM.Log()
	t.Logf("keeper-writer=%q keeper-errors=%q", reported(log, "keeper-writer"), reported(log, "keeper-errors"))
	stalled := false
	if got := reported(log, "keeper-writer"); len(got) == 1 && strings.HasPrefix(got[0], "stalled") {
		stalled = true
	}
	errs := reported(log, "keeper-errors")
	if !stalled && (len(errs) != 1 || errs[0] == "0") {
		t.Errorf("without the keeper the writer finished without errors: the outage was survived anyway, so the keeper tests prove nothing")
	}
	if strings.Contains(log, "netroot-keeper: recovered") {
		t.Errorf("a keeper ran although rd.netroot.keeper=0")
	}
}

// TestKeeperHandOffToIscsid: the real root runs open-iscsi's iscsid, as a
// distribution with an iSCSI root does. The keeper must notice it and exit
// by itself before the outage, iscsid must adopt the session netroot logged
// in (mutual CHAP: it takes the credentials from sysfs, where /init left
// them), and then iscsid, not the keeper, recovers it after both links were
// down for 30 s, with no I/O error and no lost record.
func TestKeeperHandOffToIscsid(t *testing.T) {
	waitsMostly(t)
	e := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	files, err := rig.OpenISCSIFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	files["sbin/init"] = e.TestInit
	texts := map[string]string{"etc/iscsi/initiatorname.iscsi": "InitiatorName=" + rig.InitiatorIQN + "\n"}
	for name, text := range rig.OpenISCSIAccounts {
		texts[name] = text
	}
	img := rig.RootImage{Label: rig.RootLabel, SizeMB: 64, Files: files, Texts: texts,
		Dirs: []string{"etc/iscsi/nodes", "etc/iscsi/send_targets", "var/lib/iscsi"}}
	root := filepath.Join(t.TempDir(), "root-open-iscsi.img")
	if err := img.Build(ctx, root); err != nil {
		t.Fatal(err)
	}
	args, auth := secretFiles(t, chapSecret, chapInSecret)
	tc := chapTarget(true)
	tc.LUNs = []string{root}
	cmdline := strings.Replace(keeperCmdline, "netroot.test=keeper", "netroot.test=iscsid", 1) + auth
	b := start(t, rig.BootSpec{Cmdline: cmdline, Target: tc, BuildArgs: args})
	waitFor(t, b, `NETROOT-TEST: keeper-test=writing`, 4*time.Minute)
	time.Sleep(2 * time.Second)
	linkOutage(t, b)
	waitFor(t, b, `NETROOT-TEST: done=`, 3*time.Minute)

	log := b.VM.Log()
	for _, l := range regexp.MustCompile(`(iscsid|netroot-keeper): [^\r\n]*`).FindAllString(log, -1) {
		t.Log(l)
	}
	for _, k := range []string{"iscsid-start", "iscsid-keeper", "iscsid-keepers-left", "iscsid-session", "keeper-writer", "keeper-errors", "keeper-maxstall", "keeper-verify", "iscsid-state"} {
		t.Logf("%s=%q", k, reported(log, k))
	}
	if got := reported(log, "iscsid-keeper"); len(got) != 1 || !strings.HasPrefix(got[0], "exited status=0 ") {
		t.Errorf("keeper after iscsid started: %q, want it to exit by itself", got)
	}
	if got := reported(log, "iscsid-keepers-left"); len(got) != 1 || got[0] != "none" {
		t.Errorf("keeper processes after the keeper stepped aside: %q, want none (its guard leaves with it)", got)
	}
	if !strings.Contains(log, "netroot-keeper: keeper: iscsid is running; it owns session recovery now; exiting") {
		t.Errorf("the keeper did not say it stepped aside for iscsid")
	}
	if got := reported(log, "iscsid-session"); len(got) != 1 || !strings.Contains(got[0], "tcp: [") ||
		!strings.Contains(got[0], rig.HostAddr+":3260,") || !strings.Contains(got[0], rig.TargetIQN) {
		t.Errorf("iscsiadm -m session = %q, want the root's session adopted by iscsid", got)
	}
	assertWriterSurvived(t, log) // iscsid recovered the session
	if strings.Contains(log, "netroot-keeper: recovered session") {
		t.Errorf("the keeper recovered a session after iscsid had started: both acted")
	}
	if got := reported(log, "iscsid-state"); !strings.Contains(strings.Join(got, " "), "LOGGED_IN") {
		t.Errorf("iscsiadm -m session -P 1 after the outage: %q, want LOGGED_IN", got)
	}
	assertNoSecrets(t, log)
	if strings.Contains(log, "Kernel panic") {
		t.Errorf("kernel panic on the console")
	}
}
