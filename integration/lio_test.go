package integration

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

// The boot tests against Linux's kernel target (LIO), which runs in a
// guest of its own on the bridge (rig.StartLIOTarget) at rig.LIOAddr.
// Each captures the iSCSI traffic on the bridge and logs the login
// exchange, the evidence for how LIO negotiates.

// lioCmdline is the scenario's command line with the LIO portal.
var lioCmdline = rig.WithPortal(rig.ScenarioCmdline, rig.LIOAddr)

// lioCHAP is the scenario's LIO target with the tests' CHAP accounts.
func lioCHAP(mutual bool) *rig.LIOConfig {
	c := rig.DefaultLIO()
	c.User, c.Password = chapUser, chapSecret
	if mutual {
		c.OutUser, c.OutPassword = chapInUser, chapInSecret
	}
	return c
}

// captured is a boot with a capture of its iSCSI traffic.
type captured struct {
	*rig.Boot
	cap *rig.Capture
}

// startCaptured boots s with tcpdump on the bridge from before the target
// starts; on failure the target guest's console is logged too.
func startCaptured(t *testing.T, s rig.BootSpec) *captured {
	t.Helper()
	e := env(t)
	c := &captured{}
	pcap := filepath.Join(e.Dir, "pcap", strings.ReplaceAll(t.Name(), "/", "-")+".pcap")
	if err := os.MkdirAll(filepath.Dir(pcap), 0o755); err != nil {
		t.Fatal(err)
	}
	s.NetSetup = func(ctx context.Context, n *rig.Net) (err error) {
		c.cap, err = rig.StartCapture(ctx, n, pcap)
		return err
	}
	c.Boot = start(t, s)
	t.Cleanup(c.cap.Stop)
	if c.LIO != nil {
		t.Logf("LIO guest: control port after %.1fs, portal %s listening after %.1fs (from QEMU's start)",
			c.LIO.Ready.Seconds(), c.LIO.Portal, c.LIO.Listening.Seconds())
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("LIO console (%s):\n%s", c.LIO.VM.LogPath, c.LIO.VM.Log())
			}
		})
	}
	return c
}

// logins stops the capture and returns (and logs) the login PDUs.
func (c *captured) logins(t *testing.T) []rig.LoginPDU {
	t.Helper()
	c.cap.Stop()
	pdus, err := rig.LoginExchanges(c.cap.Path)
	if err != nil {
		t.Fatalf("reading the capture: %v", err)
	}
	t.Logf("login exchange (%s):", c.cap.Path)
	for _, p := range pdus {
		t.Logf("  %s", p)
	}
	return pdus
}

// finalLogin returns the last login response and whether it succeeded
// into full feature phase.
func finalLogin(pdus []rig.LoginPDU) (rig.LoginPDU, bool) {
	for i := len(pdus) - 1; i >= 0; i-- {
		if pdus[i].Response {
			p := pdus[i]
			return p, p.StatusClass == 0 && p.Transit && p.NSG == 3
		}
	}
	return rig.LoginPDU{}, false
}

// hasKey reports whether any PDU in the given direction carries kv
// (a "Key=" prefix matches any value).
func hasKey(pdus []rig.LoginPDU, response bool, kv string) bool {
	for _, p := range pdus {
		if p.Response != response {
			continue
		}
		for _, k := range p.Keys {
			if k == kv || strings.HasSuffix(kv, "=") && strings.HasPrefix(k, kv) {
				return true
			}
		}
	}
	return false
}

// logLIOState logs LIO's view of the portal group (parameters, sessions).
func logLIOState(t *testing.T, b *rig.Boot) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s, err := b.LIO.Inspect(ctx); err == nil {
		t.Logf("LIO state:\n%s", s)
	} else {
		t.Logf("LIO state: %v", err)
	}
}

// TestLIOBootScenario boots issue 2's scenario to the real root against
// LIO.
func TestLIOBootScenario(t *testing.T) {
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline, LIO: rig.DefaultLIO(), Shell: true})
	waitFor(t, b.Boot, `NETROOT-TEST: init=`, 4*time.Minute)
	logLIOState(t, b.Boot)
	log := assertRealRoot(t, b.Boot)
	conn := reported(log, "iscsi-conn")
	if len(conn) != 1 || !strings.Contains(conn[0], "persistent="+rig.LIOAddr+":3260") {
		t.Errorf("iscsi connection in sysfs = %q, want persistent address %s:3260", conn, rig.LIOAddr)
	}
	t.Logf("negotiated: %q %q", reported(log, "iscsi-session-params"), reported(log, "iscsi-conn-params"))
	pdus := b.logins(t)
	if p, ok := finalLogin(pdus); !ok || !strings.HasPrefix(p.From.String(), rig.LIOAddr+":") {
		t.Errorf("no successful login response from LIO in the capture (last: %v)", p)
	}
}

// TestLIOOneWayCHAP: LIO requires CHAP (authentication=1, ACL account).
func TestLIOOneWayCHAP(t *testing.T) {
	args, auth := secretFiles(t, chapSecret, "")
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline + auth, LIO: lioCHAP(false), BuildArgs: args})
	log := assertRealRoot(t, b.Boot)
	assertNoSecrets(t, log)
	assertNoSecrets(t, b.LIO.VM.Log())
	if !regexp.MustCompile(`netroot: login: .* auth CHAP \(`).MatchString(log) {
		t.Errorf("login line does not say (one-way) CHAP")
	}
	pdus := b.logins(t)
	if _, ok := finalLogin(pdus); !ok || !hasKey(pdus, true, "CHAP_A=") || hasKey(pdus, false, "CHAP_I=") {
		t.Errorf("capture: want a CHAP login without the initiator's challenge")
	}
}

// TestLIOMutualCHAP: mutual CHAP against LIO; the session in sysfs shows
// the target and user.
func TestLIOMutualCHAP(t *testing.T) {
	args, auth := secretFiles(t, chapSecret, chapInSecret)
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline + auth, LIO: lioCHAP(true), BuildArgs: args})
	log := assertRealRoot(t, b.Boot)
	assertNoSecrets(t, log)
	assertNoSecrets(t, b.LIO.VM.Log())
	if !regexp.MustCompile(`netroot: login: .* auth mutual CHAP`).MatchString(log) {
		t.Errorf("login line does not say mutual CHAP")
	}
	sess := reported(log, "iscsi-session")
	if len(sess) != 1 || !strings.Contains(sess[0], `target="`+rig.TargetIQN+`"`) || !strings.Contains(sess[0], `user="`+chapUser+`"`) {
		t.Errorf("iscsi session in sysfs = %q, want target %s and user %s", sess, rig.TargetIQN, chapUser)
	}
	pdus := b.logins(t)
	if _, ok := finalLogin(pdus); !ok || !hasKey(pdus, false, "CHAP_I=") || !hasKey(pdus, true, "CHAP_N="+chapInUser) {
		t.Errorf("capture: want the initiator's challenge answered by %s", chapInUser)
	}
}

// TestLIOWrongPassword: a wrong secret ends in one clear FATAL naming the
// authentication failure, and a shell; no secret on either console.
func TestLIOWrongPassword(t *testing.T) {
	args, auth := secretFiles(t, "Wrong-"+chapSecret[:10], "")
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline + auth, LIO: lioCHAP(false), BuildArgs: args, Shell: true})
	msg := waitFatal(t, b.Boot, 3*time.Minute)
	for _, want := range []string{"0x0201", "authentication", "rd.iscsi.username/password", rig.LIOAddr + ":3260", rig.TargetIQN} {
		if !strings.Contains(msg, want) {
			t.Errorf("error line lacks %q", want)
		}
	}
	waitFor(t, b.Boot, `netroot:/# `, time.Minute)
	log := b.VM.Log()
	if strings.Contains(log, "Wrong-"+chapSecret[:10]) || strings.Contains(b.LIO.VM.Log(), "Wrong-"+chapSecret[:10]) {
		t.Errorf("a console shows the (wrong) CHAP secret")
	}
	assertNoSecrets(t, log)
	assertNoSecrets(t, b.LIO.VM.Log())
	if n := strings.Count(log, "netroot: FATAL"); n != 1 {
		t.Errorf("%d FATAL lines, want 1", n)
	}
	if strings.Contains(log, "retrying in") {
		t.Errorf("an authentication failure was retried")
	}
	pdus := b.logins(t)
	if p, _ := finalLogin(pdus); p.StatusClass != 2 || p.StatusDetail != 1 {
		t.Errorf("last login response %v, want status 2/1 (authentication failure)", p)
	}
	t.Logf("LIO's messages: %q", regexp.MustCompile(`(?m)^\[[ 0-9.]+\] .*(CHAP|iSCSI Login|uthenticat).*$`).FindAllString(b.LIO.VM.Log(), -1))
}

// digestParams asks for digests the way open-iscsi's node settings do:
// CRC32C preferred, None accepted.
const digestParams = " rd.iscsi.param=node.conn[0].iscsi.HeaderDigest=CRC32C,None" +
	" rd.iscsi.param=node.conn[0].iscsi.DataDigest=CRC32C,None"

// assertDigests checks the kernel's connection runs both digests. Its
// sysfs shows them as flags (libiscsi prints hdrdgst_en/datadgst_en):
// 1 is CRC32C, 0 none.
func assertDigests(t *testing.T, log string) {
	t.Helper()
	got := reported(log, "iscsi-conn-params")
	if len(got) != 1 || !strings.Contains(got[0], "header_digest=1 ") || !strings.Contains(got[0], "data_digest=1 ") {
		t.Errorf("connection parameters in sysfs = %q, want header_digest=1 data_digest=1 (CRC32C)", got)
	}
}

// TestLIODigests: asked for CRC32C,None, LIO (default CRC32C,None)
// answers CRC32C for both digests and the kernel runs them.
func TestLIODigests(t *testing.T) {
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline + digestParams, LIO: rig.DefaultLIO()})
	log := assertRealRoot(t, b.Boot)
	assertDigests(t, log)
	pdus := b.logins(t)
	if !hasKey(pdus, false, "HeaderDigest=CRC32C,None") || !hasKey(pdus, true, "HeaderDigest=CRC32C") || !hasKey(pdus, true, "DataDigest=CRC32C") {
		t.Errorf("capture: want HeaderDigest=CRC32C,None offered and CRC32C answered for both digests")
	}
}

// lioDigestsRequired is LIO configured to require both digests.
func lioDigestsRequired() *rig.LIOConfig {
	c := rig.DefaultLIO()
	c.Params = map[string]string{"HeaderDigest": "CRC32C", "DataDigest": "CRC32C"}
	return c
}

// TestLIODigestsRequiredAsked: a target that requires digests and an
// initiator that offers them agree on CRC32C.
func TestLIODigestsRequiredAsked(t *testing.T) {
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline + digestParams, LIO: lioDigestsRequired()})
	log := assertRealRoot(t, b.Boot)
	assertDigests(t, log)
	b.logins(t)
}

// TestLIODigestsRequired: LIO requires digests and the command line says
// nothing about them. netroot offers None; LIO fails that login with
// 0x0200 (its log: `Proposer's value list "None" contains no valid values
// from Acceptor's value list "CRC32C"`), and netroot logs in once more
// offering CRC32C,None: the boot works, with digests — not a wrong hint,
// nor a session that dies at its first command. rd.retry=30 bounds any
// wait.
func TestLIODigestsRequired(t *testing.T) {
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline + " rd.retry=30", LIO: lioDigestsRequired(), Shell: true})
	log := assertRealRoot(t, b.Boot)
	assertDigests(t, log)
	if n := strings.Count(log, "as when a target requires digests; logging in again offering HeaderDigest=CRC32C,None DataDigest=CRC32C,None"); n != 1 {
		t.Errorf("%d retries with digests logged, want 1", n)
	}
	if !strings.Contains(log, "auth None, header and data digests CRC32C") {
		t.Errorf("the login line does not name the digests")
	}
	for _, l := range regexp.MustCompile(`(?m)^\[[ 0-9.]+\] .*(iSCSI|CRC|igest|Login|onnection|Proposer).*$`).FindAllString(b.LIO.VM.Log(), -1) {
		t.Logf("LIO kernel: %s", strings.TrimSpace(l))
	}
	pdus := b.logins(t)
	var rsp []rig.LoginPDU
	for _, p := range pdus {
		if p.Response {
			rsp = append(rsp, p)
		}
	}
	if len(rsp) != 2 || rsp[0].StatusClass != 2 || rsp[0].StatusDetail != 0 || !hasKey(pdus, false, "HeaderDigest=None") ||
		!hasKey(pdus, false, "HeaderDigest=CRC32C,None") || !hasKey(pdus, true, "HeaderDigest=CRC32C") {
		t.Errorf("capture: want a login offering None failed 2/0, then one offering CRC32C,None answered CRC32C")
	}
}

// TestLIOSecondLUN boots from LUN 2 of an LIO target with two LUNs; LUN 1
// holds another filesystem.
func TestLIOSecondLUN(t *testing.T) {
	lc := rig.DefaultLIO()
	lc.LUNs = dataThenRoot(t)
	b := startCaptured(t, rig.BootSpec{Cmdline: rig.WithPortal(withLUN("2"), rig.LIOAddr), LIO: lc})
	log := assertRealRoot(t, b.Boot)
	if !strings.Contains(log, "LUN 2 is /dev/sd") {
		t.Errorf("the disk line does not name LUN 2")
	}
}

// lioKeeperCmdline is the keeper tests' command line against LIO.
var lioKeeperCmdline = rig.WithPortal(keeperCmdline, rig.LIOAddr)

// TestLIOKeeperLinkOutage: both client NICs lose LIO for 30 s while the
// real root writes; the keeper reconnects and no record is lost.
func TestLIOKeeperLinkOutage(t *testing.T) {
	var c *rig.Capture
	s := rig.BootSpec{Cmdline: lioKeeperCmdline, LIO: rig.DefaultLIO()}
	s.NetSetup = captureSetup(t, &c)
	b := keeperBootSpec(t, s)
	linkOutage(t, b)
	assertRecovered(t, b)
	logLIOKernel(t, b)
	logCaptured(t, c)
}

// TestLIOKeeperTargetRestart: the LIO target service restarts (the
// configuration is deleted — sessions end, the portal closes — and made
// again 10 s later on the same disk), as `systemctl restart target` does.
func TestLIOKeeperTargetRestart(t *testing.T) {
	var c *rig.Capture
	s := rig.BootSpec{Cmdline: lioKeeperCmdline, LIO: rig.DefaultLIO()}
	s.NetSetup = captureSetup(t, &c)
	b := keeperBootSpec(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.LIO.Restart(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("target restarted")
	assertRecovered(t, b)
	logLIOKernel(t, b)
	logCaptured(t, c)
}

// TestLIOKeeperTPGRestart: the portal group is disabled for 10 s (LIO
// ends the session and refuses logins while its portal listens), then
// enabled; the keeper must get through the refusals.
func TestLIOKeeperTPGRestart(t *testing.T) {
	var c *rig.Capture
	s := rig.BootSpec{Cmdline: lioKeeperCmdline, LIO: rig.DefaultLIO()}
	s.NetSetup = captureSetup(t, &c)
	b := keeperBootSpec(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.LIO.RestartTPG(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("portal group disabled for 10s and enabled again")
	assertRecovered(t, b)
	logLIOKernel(t, b)
	logCaptured(t, c)
}

// captureSetup returns a NetSetup that starts a capture into *c.
func captureSetup(t *testing.T, c **rig.Capture) func(context.Context, *rig.Net) error {
	pcap := filepath.Join(env(t).Dir, "pcap", strings.ReplaceAll(t.Name(), "/", "-")+".pcap")
	os.MkdirAll(filepath.Dir(pcap), 0o755)
	return func(ctx context.Context, n *rig.Net) (err error) {
		*c, err = rig.StartCapture(ctx, n, pcap)
		if err == nil {
			t.Cleanup((*c).Stop)
		}
		return err
	}
}

func logCaptured(t *testing.T, c *rig.Capture) {
	t.Helper()
	(&captured{cap: c}).logins(t)
}

// logLIOKernel logs what LIO's kernel said about logins and connections.
func logLIOKernel(t *testing.T, b *rig.Boot) {
	t.Helper()
	for _, l := range regexp.MustCompile(`(?m)^(\[[ 0-9.]+\] .*(iSCSI|Login|onnection|session|Session|NopIn|TPG|ITT).*|netroot-target: .*)$`).FindAllString(b.LIO.VM.Log(), -1) {
		t.Logf("LIO: %s", strings.TrimSpace(l))
	}
}

// TestTgtLoginCapture records tgt's side of the comparison: mutual CHAP
// and digests offered, the scenario's tgt target requiring nothing.
func TestTgtLoginCapture(t *testing.T) {
	args, auth := secretFiles(t, chapSecret, chapInSecret)
	b := startCaptured(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline + auth + digestParams, Target: chapTarget(true), BuildArgs: args})
	log := assertRealRoot(t, b.Boot)
	t.Logf("negotiated: %q %q", reported(log, "iscsi-session-params"), reported(log, "iscsi-conn-params"))
	if _, ok := finalLogin(b.logins(t)); !ok {
		t.Errorf("no successful login in the capture")
	}
}

// TestLIOLoginCapture is TestTgtLoginCapture's twin against LIO.
func TestLIOLoginCapture(t *testing.T) {
	args, auth := secretFiles(t, chapSecret, chapInSecret)
	b := startCaptured(t, rig.BootSpec{Cmdline: lioCmdline + auth + digestParams, LIO: lioCHAP(true), BuildArgs: args})
	log := assertRealRoot(t, b.Boot)
	t.Logf("negotiated: %q %q", reported(log, "iscsi-session-params"), reported(log, "iscsi-conn-params"))
	if _, ok := finalLogin(b.logins(t)); !ok {
		t.Errorf("no successful login in the capture")
	}
}

// TestLIOTarget exercises the target guest alone: start-up, the control
// channel, a service restart (the portal closes and comes back), a TPG
// restart and a drop with no connection.
func TestLIOTarget(t *testing.T) {
	e := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n, err := rig.NewNet(ctx, rig.HostAddr+"/24", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dir := filepath.Join(e.Dir, "lio-target")
	lun := filepath.Join(t.TempDir(), "lun1.img")
	if err := rig.CopySparse(ctx, e.RootImg, lun); err != nil {
		t.Fatal(err)
	}
	cfg := rig.DefaultLIO()
	cfg.LUNs = []string{lun}
	cfg.Kernel = e.Kernel
	cfg.User, cfg.Password = chapUser, chapSecret
	lt, err := rig.StartLIOTarget(ctx, n, *cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lt.Stop()
	t.Logf("control port after %.1fs, portal listening after %.1fs", lt.Ready.Seconds(), lt.Listening.Seconds())
	defer func() {
		if t.Failed() {
			t.Logf("console:\n%s", lt.VM.Log())
		}
	}()
	probe := func(want bool) {
		t.Helper()
		_, err := n.Run(ctx, "bash", "-c", "exec 3<>/dev/tcp/"+rig.LIOAddr+"/3260")
		if (err == nil) != want {
			t.Errorf("connecting to the portal: %v, want success=%v", err, want)
		}
	}
	probe(true)
	info, err := lt.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("LIO defaults:\n%s", info)
	for _, want := range []string{"HeaderDigest=", "authentication=1", "generate_node_acls=0"} {
		if !strings.Contains(info, want) {
			t.Errorf("inspect lacks %q", want)
		}
	}
	if strings.Contains(lt.VM.Log(), chapSecret) {
		t.Errorf("the target console shows the CHAP secret")
	}
	if err := lt.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	probe(false)
	if err := lt.Create(ctx); err != nil {
		t.Fatal(err)
	}
	probe(true)
	if err := lt.RestartTPG(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if n, err := lt.Drop(ctx); err != nil || n != 0 {
		t.Errorf("drop with no connection: %d, %v", n, err)
	}
	// A connection that has not logged in yet (LIO waits login_timeout
	// for its first PDU) is reset by Drop, and the client sees it die.
	held := n.Command(ctx, "bash", "-c", "exec 3<>/dev/tcp/"+rig.LIOAddr+"/3260; echo connected; read -t 30 -u 3 x; echo read=$?")
	pipe, err := held.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := held.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(pipe)
	if line, err := rd.ReadString('\n'); err != nil || line != "connected\n" {
		t.Fatalf("holding a connection to the portal: %q, %v", line, err)
	}
	if n, err := lt.Drop(ctx); err != nil || n != 1 {
		t.Errorf("drop with one connection: %d, %v; want 1", n, err)
	}
	rest, _ := io.ReadAll(rd)
	held.Wait()
	if !strings.Contains(string(rest), "read=1") {
		t.Errorf("the client's connection after the drop: %q, want a failed read (reset), not a timeout", rest)
	}
	if err := lt.SetParam(ctx, "HeaderDigest", "CRC32C"); err != nil {
		t.Fatal(err)
	}
	if err := lt.Restart(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if info, _ := lt.Inspect(ctx); !strings.Contains(info, "HeaderDigest=CRC32C\n") {
		t.Errorf("after a restart HeaderDigest is not CRC32C:\n%s", info)
	}
}

// TestTgtKeeperTargetRestartCaptured is TestKeeperTargetRestart (tgtd
// stops for 10 s) with the traffic captured, for the comparison of how
// tgt and LIO behave across a restart.
func TestTgtKeeperTargetRestartCaptured(t *testing.T) {
	var c *rig.Capture
	s := rig.BootSpec{Cmdline: keeperCmdline, Target: rig.DefaultTarget()}
	s.NetSetup = captureSetup(t, &c)
	b := keeperBootSpec(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Target.Restart(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("target restarted")
	assertRecovered(t, b)
	logCaptured(t, c)
}
