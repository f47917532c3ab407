package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/netconf"
)

// loginTargets logs in to every iSCSI target concurrently, hands each
// session to the kernel, scans just the wanted LUN and waits for its disk.
func (b *boot) loginTargets(ctx context.Context, w *blockdev.Watcher, scanner *blockdev.Scanner) error {
	targets := b.plan.ISCSI.Targets
	if len(targets) == 0 {
		return nil
	}
	initiator, err := b.initiatorName()
	if err != nil {
		return fail("login", err, "set rd.iscsi.initiator=")
	}
	nl, err := iscsi.OpenKernelTransport()
	if err != nil {
		return fail("login", err, "the initramfs needs iscsi_tcp and scsi_transport_iscsi")
	}
	b.transportHandle = nl.TransportHandle
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs = make([]error, len(targets))
	)
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer recoverInto(&errs[i])
			err := b.loginTarget(ctx, nl, &mu, initiator, i, t, w, scanner)
			errs[i] = err
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loginTarget is one target's login, hand-off and disk wait. mu
// serialises the use of the shared netlink transport.
func (b *boot) loginTarget(ctx context.Context, nl iscsi.NetlinkTransport, mu *sync.Mutex, initiator string,
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
	sess, conn, err := iscsi.Connect(ctx, cfg, iscsi.ConnectOptions{
		Deadline:    b.plan.Boot.Retry,
		MaxAttempts: b.plan.ISCSI.LoginRetryMax,
		Logf:        b.log.Printf,
	})
	if err != nil {
		st.Fail(err)
		return fail("login", err, "is the target up and reachable from this network (check netroot= and the portal)?")
	}
	mu.Lock()
	ks, err := iscsi.HandOff(nl, conn, sess, kopts)
	mu.Unlock()
	conn.Close() // the kernel holds its own reference now
	if err != nil {
		st.Fail(err)
		return fail("login", err, "the kernel refused the session; dmesg says more")
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
	if err := iscsi.SetScheduler("/sys", dev.Name, "none"); err != nil {
		b.log.Debugf("disk: scheduler of %s: %v", dev.Name, err)
	}
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
