package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/netconf"
	"github.com/u-root/iscsinl"
)

// loginTargets logs in to every iSCSI target concurrently, hands each
// session to the kernel, scans just the wanted LUN and waits for its disk.
// The logins themselves are userspace TCP, so they run while the iSCSI
// modules are still loading; kernelReady waits for those modules, before
// the first hand-off.
func (b *boot) loginTargets(ctx context.Context, kernelReady func(context.Context) error, w *blockdev.Watcher, scanner *blockdev.Scanner) error {
	targets := b.plan.ISCSI.Targets
	if len(targets) == 0 {
		return nil
	}
	initiator, err := b.initiatorName()
	if err != nil {
		return fail("login", err, "set rd.iscsi.initiator=")
	}
	k := &kernelSide{ready: kernelReady}
	var (
		wg   sync.WaitGroup
		errs = make([]error, len(targets))
	)
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer recoverInto(&errs[i])
			err := b.loginTarget(ctx, k, initiator, i, t, w, scanner)
			errs[i] = err
		}()
	}
	wg.Wait()
	if k.nl != nil {
		b.transportHandle = k.nl.TransportHandle
	}
	return errors.Join(distinct(errs)...)
}

// distinct drops nil errors and repeats of the same message (e.g. the
// shared kernel transport failing for every target), keeping the order.
func distinct(errs []error) []error {
	var out []error
	seen := map[string]bool{}
	for _, e := range errs {
		if e != nil && !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}

// kernelSide is the iSCSI netlink transport, opened once the iSCSI
// modules are loaded and shared by the logins; its mutex serialises its
// use.
type kernelSide struct {
	ready func(context.Context) error
	mu    sync.Mutex
	nl    *iscsinl.IscsiIpcConn
	err   error
}

// preparedSession is a kernel session being created while its login runs
// (kernelSide.prepare).
type preparedSession struct {
	done chan struct{}
	p    *iscsi.PreparedSession
	err  error
}

// prepare waits for the iSCSI modules, opens the transport the first time,
// and creates the kernel's session and connection for a login to come, in
// the background: that kernel work then overlaps with the login.
func (k *kernelSide) prepare(ctx context.Context, portal, target string, kopts iscsi.KernelOptions) *preparedSession {
	pr := &preparedSession{done: make(chan struct{})}
	go func() {
		defer close(pr.done)
		defer recoverInto(&pr.err)
		if err := k.ready(ctx); err != nil {
			pr.err = fail("modules", err, "rebuild the initramfs with this kernel's modules (netroot build -modules DIR)")
			return
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.nl == nil && k.err == nil {
			k.nl, k.err = iscsi.OpenKernelTransport()
		}
		if k.err != nil {
			pr.err = fail("login", k.err, "the initramfs needs iscsi_tcp and scsi_transport_iscsi")
			return
		}
		if pr.p, pr.err = iscsi.PrepareSession(k.nl, portal, target, kopts); pr.err != nil {
			pr.err = fail("login", pr.err, "the kernel refused the session; dmesg says more")
		}
	}()
	return pr
}

// discard destroys the prepared session of a login that failed, once it
// is made: in the background, so that the login's error is not held up
// should the iSCSI modules still be loading.
func (k *kernelSide) discard(pr *preparedSession, logf func(string, ...any)) {
	go func() {
		err := recovered(func() error {
			<-pr.done
			if pr.p == nil {
				return nil
			}
			k.mu.Lock()
			defer k.mu.Unlock()
			return pr.p.Destroy()
		})
		if err != nil {
			logf("login: removing the kernel session prepared for the failed login: %v", err)
		}
	}()
}

// handOff hands the logged-in connection to the prepared kernel session.
func (k *kernelSide) handOff(pr *preparedSession, conn net.Conn, sess *iscsi.Session, kopts iscsi.KernelOptions) (iscsi.KernelSession, error) {
	<-pr.done
	if pr.err != nil {
		return iscsi.KernelSession{}, pr.err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	ks, err := pr.p.Start(conn, sess, kopts)
	if err != nil {
		return ks, fail("login", err, "the kernel refused the session; dmesg says more")
	}
	return ks, nil
}

// loginTarget is one target's login, hand-off and disk wait.
func (b *boot) loginTarget(ctx context.Context, k *kernelSide, initiator string,
	index int, t config.Target, w *blockdev.Watcher, scanner *blockdev.Scanner) error {
	st := b.log.Begin("login")
	creds, err := credentials(t.Auth)
	if err != nil {
		st.Fail(err)
		return fail("login", err, "the CHAP secret file must be in the initramfs (netroot build -add)")
	}
	params, kopts, err := splitParams(b.plan.ISCSI.Params)
	if err != nil {
		st.Fail(err)
		return fail("login", err, "check rd.iscsi.param=")
	}
	kopts.Logf = b.log.Debugf
	if b.plan.Boot.Keeper && !noopExplicit(b.plan.ISCSI.Params) {
		kopts.NoopIntervalSec, kopts.NoopTimeoutSec = defaultNoopSec, defaultNoopSec
	}
	cfg := iscsi.LoginConfig{
		InitiatorName: initiator,
		TargetName:    t.Name,
		Portal:        t.Portal(),
		// Stable across boots, and no wait for the kernel's entropy.
		ISID:        iscsi.StableISID(initiator, t.Name, uint16(index)),
		Credentials: creds,
		Params:      params,
	}
	pr := k.prepare(ctx, t.Portal(), t.Name, kopts)
	sess, conn, err := iscsi.Connect(ctx, cfg, iscsi.ConnectOptions{
		Deadline:    b.plan.Boot.Retry,
		MaxAttempts: b.plan.ISCSI.LoginRetryMax,
		Logf:        b.log.Printf,
	})
	if err != nil {
		k.discard(pr, b.log.Debugf)
		st.Fail(err)
		return fail("login", err, "is the target up and reachable from this network (check netroot= and the portal)?")
	}
	ks, err := k.handOff(pr, conn, sess, kopts)
	conn.Close() // the kernel holds its own reference now (or the login failed)
	if err != nil {
		st.Fail(err)
		return err
	}
	b.keptSession(ks, cfg, sess, kopts, t.Portal())
	auth := sess.AuthMethod
	if auth == "CHAP" && creds.Mutual() {
		auth = "mutual CHAP"
	}
	st.Done("%s %s: session %d on host%d, auth %s", t.Portal(), t.Name, ks.SID, ks.HostNo, auth)

	st = b.log.Begin("disk")
	if err := iscsi.Scan("/sys", ks.HostNo, uint64(t.LUN)); err != nil {
		st.Fail(err)
		return fail("disk", err, "")
	}
	wctx, cancel := context.WithTimeout(ctx, b.plan.Boot.Retry)
	defer cancel()
	desc := fmt.Sprintf("the disk of %s LUN %d (SCSI host %d)", t.Name, t.LUN, ks.HostNo)
	dev, err := w.WaitFunc(wctx, desc, func(d blockdev.Device) bool {
		h, _, _, lun, ok := d.SCSI()
		return ok && !d.IsPartition() && h == int(ks.HostNo) && lun == t.LUN
	}, scanner.Scan)
	if err != nil {
		st.Fail(err)
		return fail("disk", err, fmt.Sprintf("does target %s export LUN %d? (tgt's LUN 0 is its controller)", t.Name, t.LUN))
	}
	// Switching the I/O scheduler freezes the disk's queue and waits for
	// an RCU grace period: tens of ms the root's search need not wait for.
	b.tuning.Go(func() {
		if err := recovered(func() error { return iscsi.SetScheduler("/sys", dev.Name, "none") }); err != nil {
			b.log.Debugf("disk: scheduler of %s: %v", dev.Name, err)
		}
	})
	st.Done("%s LUN %d is %s (%s)", t.Name, t.LUN, dev.Path, blockdev.HumanSize(dev.Size))
	return nil
}

// initiatorName is rd.iscsi.initiator, else one derived from the boot
// interface's MAC (or the first NIC's).
func (b *boot) initiatorName() (string, error) {
	if n := b.plan.ISCSI.Initiator; n != "" {
		return n, nil
	}
	mac := b.plan.Net.BootIF
	if len(mac) == 0 {
		for _, nic := range physicalInterfaces(b.plan) {
			if hw, err := netconf.HardwareAddr(nic); err == nil && len(hw) > 0 {
				mac = hw
				break
			}
		}
	}
	n := config.DefaultInitiator(mac)
	if n == "" {
		return "", errors.New("no initiator name: rd.iscsi.initiator= is unset and no MAC to derive one from")
	}
	b.log.Printf("login: rd.iscsi.initiator unset; using %s", n)
	return n, nil
}

// credentials reveals the CHAP secrets (reading 0600 files for @/path).
func credentials(a config.Auth) (iscsi.Credentials, error) {
	pw, err := a.Password.Reveal(os.ReadFile)
	if err != nil {
		return iscsi.Credentials{}, fmt.Errorf("reading the CHAP password: %w", err)
	}
	inPw, err := a.InPassword.Reveal(os.ReadFile)
	if err != nil {
		return iscsi.Credentials{}, fmt.Errorf("reading the mutual CHAP password: %w", err)
	}
	return iscsi.Credentials{
		Username:   a.Username,
		Password:   strings.TrimRight(pw, "\n"),
		InUsername: a.InUsername,
		InPassword: strings.TrimRight(inPw, "\n"),
	}, nil
}

// splitParams sorts rd.iscsi.param= entries, which use open-iscsi's
// names as dracut passes them to iscsistart, into login keys
// (node.session.iscsi.X, node.conn[0].iscsi.X, or a bare RFC 7143 key X)
// and kernel settings (replacement and NOP-Out timeouts).
func splitParams(kvs []config.KV) ([]iscsi.KeyValue, iscsi.KernelOptions, error) {
	var (
		login []iscsi.KeyValue
		k     iscsi.KernelOptions
	)
	seconds := func(kv config.KV) (int, error) {
		var n int
		if _, err := fmt.Sscanf(kv.Value, "%d", &n); err != nil || fmt.Sprint(n) != kv.Value {
			return 0, fmt.Errorf("rd.iscsi.param=%s=%s: want a number of seconds", kv.Key, kv.Value)
		}
		return n, nil
	}
	for _, kv := range kvs {
		var err error
		switch key := kv.Key; {
		case key == "node.session.timeo.replacement_timeout":
			k.RecoveryTimeoutSec, err = seconds(kv)
		case key == "node.conn[0].timeo.noop_out_interval":
			k.NoopIntervalSec, err = seconds(kv)
		case key == "node.conn[0].timeo.noop_out_timeout":
			k.NoopTimeoutSec, err = seconds(kv)
		case strings.HasPrefix(key, "node.session.iscsi."), strings.HasPrefix(key, "node.conn[0].iscsi."):
			login = append(login, iscsi.KeyValue{Key: key[strings.LastIndex(key, ".")+1:], Value: kv.Value})
		case strings.HasPrefix(key, "node."):
			err = fmt.Errorf("rd.iscsi.param=%s is not supported by netroot's initiator (supported: node.session.timeo.replacement_timeout, node.conn[0].timeo.noop_out_interval/timeout, node.session.iscsi.<Key>, node.conn[0].iscsi.<Key>, <Key>)", key)
		default:
			login = append(login, iscsi.KeyValue{Key: key, Value: kv.Value})
		}
		if err != nil {
			return nil, k, err
		}
	}
	return login, k, nil
}
