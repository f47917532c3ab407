package integration

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

// CHAP credentials of the tests. The secrets are long and odd so that a
// search of the console log for them cannot match anything else.
const (
	chapUser     = "client-user"
	chapSecret   = "Zq8-initiator-secret-4711x"
	chapInUser   = "target-user"
	chapInSecret = "Kp3-target-secret-0815y"
)

// secretFiles writes the CHAP secrets into 0600 files to bake into the
// initramfs, and returns the build flags and the cmdline referring to them.
// Secrets on the kernel command line would be echoed by the kernel itself
// ("Kernel command line: …"), which is why netroot reads them from files.
func secretFiles(t *testing.T, secret, inSecret string) (buildArgs []string, cmdline string) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "chap")
	if err := os.WriteFile(out, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	buildArgs = []string{"-add", out + ":/etc/netroot/chap"}
	cmdline = " rd.iscsi.username=" + chapUser + " rd.iscsi.password=@/etc/netroot/chap"
	if inSecret != "" {
		in := filepath.Join(dir, "chap-in")
		if err := os.WriteFile(in, []byte(inSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		buildArgs = append(buildArgs, "-add", in+":/etc/netroot/chap-in")
		cmdline += " rd.iscsi.in.username=" + chapInUser + " rd.iscsi.in.password=@/etc/netroot/chap-in"
	}
	return buildArgs, cmdline
}

func chapTarget(mutual bool) *rig.TargetConfig {
	tc := rig.DefaultTarget()
	tc.User, tc.Password = chapUser, chapSecret
	if mutual {
		tc.OutUser, tc.OutPassword = chapInUser, chapInSecret
	}
	return tc
}

// assertNoSecrets fails if a CHAP secret appears anywhere in the console.
func assertNoSecrets(t *testing.T, log string) {
	t.Helper()
	for _, s := range []string{chapSecret, chapInSecret} {
		if strings.Contains(log, s) {
			t.Errorf("the console log contains a CHAP secret")
		}
	}
}

// TestBootMutualCHAP boots with mutual CHAP and checks that the kernel's
// session shows what open-iscsi would have left there.
func TestBootMutualCHAP(t *testing.T) {
	args, auth := secretFiles(t, chapSecret, chapInSecret)
	b := start(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline + auth, Target: chapTarget(true), BuildArgs: args})
	log := assertRealRoot(t, b)
	assertNoSecrets(t, log)
	if !regexp.MustCompile(`netroot: login: .* auth mutual CHAP`).MatchString(log) {
		t.Errorf("login line does not say mutual CHAP")
	}
	sess := reported(log, "iscsi-session")
	if len(sess) != 1 || !strings.Contains(sess[0], `target="`+rig.TargetIQN+`"`) || !strings.Contains(sess[0], `user="`+chapUser+`"`) {
		t.Errorf("iscsi session in sysfs = %q, want target %s and user %s", sess, rig.TargetIQN, chapUser)
	}
	conn := reported(log, "iscsi-conn")
	if len(conn) != 1 || !strings.Contains(conn[0], "persistent="+rig.HostAddr+":3260") {
		t.Errorf("iscsi connection in sysfs = %q, want persistent address %s:3260", conn, rig.HostAddr)
	}
}

// TestBootWrongPassword ends in one clear line naming the authentication
// failure and a shell, and the secret appears nowhere on the console.
func TestBootWrongPassword(t *testing.T) {
	args, auth := secretFiles(t, "Wrong-"+chapSecret[:10], "")
	tc := chapTarget(false)
	b := start(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline + auth, Target: tc, BuildArgs: args, Shell: true})
	msg := waitFatal(t, b, 3*time.Minute)
	for _, want := range []string{"0x0201", "authentication", "rd.iscsi.username/password", rig.HostAddr + ":3260", rig.TargetIQN} {
		if !strings.Contains(msg, want) {
			t.Errorf("error line lacks %q", want)
		}
	}
	waitFor(t, b, `netroot:/# `, time.Minute)
	log := b.VM.Log()
	if strings.Contains(log, "Wrong-"+chapSecret[:10]) {
		t.Errorf("the console log contains the (wrong) CHAP secret")
	}
	assertNoSecrets(t, log)
	if n := strings.Count(log, "netroot: FATAL"); n != 1 {
		t.Errorf("%d FATAL lines, want 1", n)
	}
	// Authentication failures are not retried.
	if strings.Contains(log, "retrying in") {
		t.Errorf("an authentication failure was retried")
	}
}

// TestBootLateTarget starts tgtd 10 s after the guest reaches the login
// step: the boot must succeed through retries.
func TestBootLateTarget(t *testing.T) {
	waitsMostly(t) // the target comes late
	b := start(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline})
	waitFor(t, b, `netroot: ip: `, 3*time.Minute)
	reached := time.Now()
	lun := filepath.Join(b.Dir, "lun1.img")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rig.CopySparse(ctx, env(t).RootImg, lun); err != nil {
		t.Fatal(err)
	}
	// Wait until the guest has failed at least once, then 10 s in all.
	waitFor(t, b, `retrying in`, time.Minute)
	select {
	case <-time.After(time.Until(reached.Add(10 * time.Second))):
	case <-ctx.Done():
	}
	tc := rig.DefaultTarget()
	tc.LUNs = []string{lun}
	tgt, err := rig.StartTarget(ctx, b.Net, *tc, filepath.Join(b.Dir, "tgtd.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tgt.Stop)
	t.Logf("target started %.1fs after the login step began", time.Since(reached).Seconds())
	log := assertRealRoot(t, b)
	if !strings.Contains(log, "retrying in") {
		t.Errorf("no retry logged")
	}
}
