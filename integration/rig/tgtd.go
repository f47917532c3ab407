package rig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// TargetConfig describes one iSCSI target served by tgtd.
type TargetConfig struct {
	// Portal is the address tgtd listens on, e.g. 10.77.0.1:3260.
	Portal string
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
		"--iscsi", "portal="+cfg.Portal, "-C", strconv.Itoa(t.control))
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

func (t *Target) configure(ctx context.Context) error {
	cmds := [][]string{
		{"--lld", "iscsi", "--mode", "target", "--op", "new", "--tid", "1", "--targetname", t.cfg.IQN},
	}
	for i, lun := range t.cfg.LUNs {
		cmds = append(cmds, []string{"--lld", "iscsi", "--mode", "logicalunit", "--op", "new",
			"--tid", "1", "--lun", strconv.Itoa(i + 1), "-b", lun})
	}
	cmds = append(cmds, []string{"--lld", "iscsi", "--mode", "target", "--op", "bind", "--tid", "1", "-I", "ALL"})
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
