package rig

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// TargetConfig describes one iSCSI target served by tgtd.
type TargetConfig struct {
	// Portal is the address tgtd listens on, e.g. 10.77.0.1:3260.
	Portal string
	// Portals are further addresses tgtd listens on, e.g. [fd77::1]:3260
	// (an IPv6 portal: the address must be on an interface of the
	// namespace, see Net.AddAddr6).
	Portals []string
	// IQN is the target name.
	IQN string
	// LUNs are backing files, served as LUN 1, 2, … (tgt's LUN 0 is its
	// controller).
	LUNs []string
	// User and Password, when set, require one-way CHAP.
	User, Password string
	// OutUser and OutPassword, when set, make the target answer the
	// initiator's challenge (mutual CHAP).
	OutUser, OutPassword string
	// Initiators, when set, are the only initiator names the target
	// accepts (its ACL); otherwise it accepts any.
	Initiators []string
	// Params are the target's login keys (tgtadm --op update --name K
	// --value V), e.g. HeaderDigest: CRC32C to require header digests.
	Params map[string]string
}

// Target is a running tgtd.
type Target struct {
	cfg     TargetConfig
	net     *Net
	control int
	cmd     *exec.Cmd
	logf    *os.File
	done    chan struct{}
}

var controlSeq atomic.Int32

// StartTarget runs tgtd in the foreground inside n with a private control
// port, and configures the target. logPath receives tgtd's output.
func StartTarget(ctx context.Context, n *Net, cfg TargetConfig, logPath string) (*Target, error) {
	t := &Target{
		cfg:     cfg,
		net:     n,
		control: 10000 + (os.Getpid()%1000)*10 + int(controlSeq.Add(1)%10), // tgtd takes < 32768; pkg/iscsi tests use 20000-29999
		done:    make(chan struct{}),
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	t.logf = f
	// Not CommandContext: the target must outlive the setup context.
	t.cmd = exec.Command("ip", "netns", "exec", n.NS, "tgtd", "-f",
		"--iscsi", portalArg(cfg), "-C", strconv.Itoa(t.control))
	t.cmd.Stdout = f
	t.cmd.Stderr = f
	if err := t.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("rig: starting tgtd: %w", err)
	}
	go func() { t.cmd.Wait(); close(t.done) }()

	// Wait until its control socket answers.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := t.adm(ctx, "--mode", "system", "--op", "show"); err == nil {
			break
		}
		select {
		case <-t.done:
			return nil, fmt.Errorf("rig: tgtd exited at start (log %s)", logPath)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Stop()
			return nil, fmt.Errorf("rig: tgtd did not answer on control port %d", t.control)
		}
	}
	if err := t.configure(ctx); err != nil {
		t.Stop()
		return nil, err
	}
	return t, nil
}

// portalArg is tgtd's --iscsi value: tgtd keeps only its last --iscsi
// option, so every portal goes into one, comma-separated.
func portalArg(cfg TargetConfig) string {
	ps := []string{"portal=" + cfg.Portal}
	for _, p := range cfg.Portals {
		ps = append(ps, "portal="+p)
	}
	return strings.Join(ps, ",")
}

func (t *Target) configure(ctx context.Context) error {
	cmds := [][]string{
		{"--lld", "iscsi", "--mode", "target", "--op", "new", "--tid", "1", "--targetname", t.cfg.IQN},
	}
	for i, lun := range t.cfg.LUNs {
		cmds = append(cmds, []string{"--lld", "iscsi", "--mode", "logicalunit", "--op", "new",
			"--tid", "1", "--lun", strconv.Itoa(i + 1), "-b", lun})
	}
	if len(t.cfg.Initiators) == 0 {
		cmds = append(cmds, []string{"--lld", "iscsi", "--mode", "target", "--op", "bind", "--tid", "1", "-I", "ALL"})
	}
	for _, name := range t.cfg.Initiators {
		cmds = append(cmds, []string{"--lld", "iscsi", "--mode", "target", "--op", "bind", "--tid", "1", "--initiator-name", name})
	}
	if t.cfg.User != "" {
		cmds = append(cmds,
			[]string{"--lld", "iscsi", "--mode", "account", "--op", "new", "--user", t.cfg.User, "--password", t.cfg.Password},
			[]string{"--lld", "iscsi", "--mode", "account", "--op", "bind", "--tid", "1", "--user", t.cfg.User})
	}
	if t.cfg.OutUser != "" {
		cmds = append(cmds,
			[]string{"--lld", "iscsi", "--mode", "account", "--op", "new", "--user", t.cfg.OutUser, "--password", t.cfg.OutPassword},
			[]string{"--lld", "iscsi", "--mode", "account", "--op", "bind", "--tid", "1", "--user", t.cfg.OutUser, "--outgoing"})
	}
	for _, k := range slices.Sorted(maps.Keys(t.cfg.Params)) {
		cmds = append(cmds, []string{"--lld", "iscsi", "--mode", "target", "--op", "update", "--tid", "1",
			"--name", k, "--value", t.cfg.Params[k]})
	}
	for _, c := range cmds {
		if _, err := t.adm(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

func (t *Target) adm(ctx context.Context, args ...string) (string, error) {
	return t.net.Run(ctx, "tgtadm", append([]string{"-C", strconv.Itoa(t.control)}, args...)...)
}

// Stop deletes the target and makes tgtd exit (it ignores SIGTERM), killing
// it if it does not.
func (t *Target) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.adm(ctx, "--lld", "iscsi", "--mode", "target", "--op", "delete", "--force", "--tid", "1")
	t.adm(ctx, "--mode", "system", "--op", "delete")
	select {
	case <-t.done:
	case <-time.After(3 * time.Second):
		t.cmd.Process.Kill()
		<-t.done
	}
	t.logf.Close()
}

// Config returns the target's configuration (its LUNs are the backing
// files it serves).
func (t *Target) Config() TargetConfig { return t.cfg }

// Redirect makes tgtd answer every login to the target with a redirect to
// addr:port (status 0x0101 "moved temporarily", or 0x0102 "moved
// permanently"). tgtd redirects every initiator whose own address is not
// addr, whatever portal it came in on, so the portal redirected to must
// be served by another tgtd (StartTarget with the same LUNs).
func (t *Target) Redirect(ctx context.Context, addr string, port int, permanent bool) error {
	reason := "Temporary"
	if permanent {
		reason = "Permanent"
	}
	for _, kv := range [][2]string{{"RedirectAddress", addr}, {"RedirectPort", strconv.Itoa(port)}, {"RedirectReason", reason}} {
		if _, err := t.adm(ctx, "--lld", "iscsi", "--mode", "target", "--op", "update", "--tid", "1",
			"--name", kv[0], "--value", kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// ClearRedirect ends a Redirect: logins are served again.
func (t *Target) ClearRedirect(ctx context.Context) error {
	_, err := t.adm(ctx, "--lld", "iscsi", "--mode", "target", "--op", "update", "--tid", "1",
		"--name", "RedirectAddress", "--value", "")
	return err
}
