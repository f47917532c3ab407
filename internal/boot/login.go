package boot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/prio"
)

// attached is what the logins and the root's search found.
type attached struct {
	// dev is the root device.
	dev *blockdev.Device
	// sessions are the logged-in sessions, in the targets' order, as the
	// keeper needs them.
	sessions []keeper.Session
	// handle is the kernel transport's, for the keeper (0 without login).
	handle uint64
	// tuning is the disks' side work (the I/O scheduler), which
	// switch_root waits for.
	tuning []*task.Task[struct{}]
	// disks are the sessions' disks, one a session (paths.go); allLUNs
	// says which sessions' every LUN was scanned.
	disks   []blockdev.Device
	allLUNs []bool
	// failed are the targets that did not log in while others did
	// (paths.go); maps the multipath maps made (multipath.go).
	failed []error
	maps   []madeMap
	// missed are the paths of multipath LUNs that did not log in
	// (paths.go), for the keeper (joins).
	missed []missedPath
}

// attachRoot logs in to the iSCSI targets and waits for the device root=
// names. The block device events are subscribed to before the logins so
// no disk or partition that appears meanwhile is missed.
func (b *Boot) attachRoot(ctx context.Context, p *config.Plan, net netResult, stack *task.Task[struct{}],
	is ISCSI, disks Disks, links Links, addrs Addrs, dm DeviceMapper, files Files) (attached, error) {
	targets := loginTargets(p, net)
	sel, err := rootSelector(p, net)
	if err != nil {
		return attached{}, err
	}
	w, err := disks.Watch()
	if err != nil {
		return attached{}, fail("root", err, "the kernel needs CONFIG_NET and uevents")
	}
	defer w.Close()

	a, err := b.login(ctx, p, targets, sel, net, stack, is, w, links, addrs, files)
	if err != nil {
		return a, err
	}
	err = b.findRoot(ctx, p, sel, w, &a, dm, stack, files)
	if err == nil {
		b.tuneRootDisk(ctx, is, &a)
	}
	return a, err
}

// scanRest says which sessions' other LUNs remain to be scanned: those
// of the targets whose disk step scanned only the LUN netroot= names.
// open-iscsi's login (iscsistart, iscsiadm; node.session.scan=auto) scans
// the whole target, and the real OS may mount another of its LUNs;
// node.session.scan=manual keeps to the named LUN. The keeper scans them
// once handed the sessions (Session.ScanOtherLUNs), beside switch_root;
// without it /init does (scanOthers).
func scanRest(p *config.Plan, a attached) []bool {
	if p.ISCSI.Session.ScanManual {
		return nil
	}
	rest := make([]bool, len(a.sessions))
	for i := range a.sessions {
		rest[i] = i >= len(a.allLUNs) || !a.allLUNs[i]
	}
	return rest
}

// scanOthers scans the other LUNs of the sessions rest marks, at the
// background's priority, and returns when they are scanned: switch_root
// waits for it, as a thread inside a scan would hold the exec.
func (b *Boot) scanOthers(is ISCSI, sessions []keeper.Session, rest []bool) {
	var wg sync.WaitGroup
	for i, s := range sessions {
		if i >= len(rest) || !rest[i] {
			continue
		}
		wg.Go(func() {
			start := time.Now()
			err := prio.Run(prio.Background, func() error { return is.Scan(s.HostNo, iscsi.AllLUNs) })
			if err != nil {
				b.log.Warnf("disk: scanning the other LUNs of %s (SCSI host %d), as open-iscsi's node.session.scan=auto does: %v", s.TargetName, s.HostNo, err)
			} else {
				b.log.Debugf("disk: the other LUNs of %s (SCSI host %d) scanned in %s", s.TargetName, s.HostNo, time.Since(start).Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
}

// rootSelector is the root= device: the plan's, or for root=dhcp the
// whole LUN of the DHCP root-path's target.
func rootSelector(p *config.Plan, net netResult) (blockdev.Selector, error) {
	var found []config.Target
	if net.rootPath != nil {
		found = append(found, *net.rootPath)
	}
	spec := p.RootSpec(found...)
	if spec == "" {
		return blockdev.Selector{}, fail("root", errors.New("root=dhcp (the LUN of the DHCP root-path), but no DHCP answer carried an iscsi: root-path"),
			`have the DHCP server send option 17, e.g. dnsmasq --dhcp-option=17,"iscsi:<server>::3260:<lun>:<target>"`)
	}
	sel, err := blockdev.ParseSelector(spec)
	if err != nil {
		return blockdev.Selector{}, fail("root", err, "check root=")
	}
	return sel, nil
}

// login logs in to every target concurrently, each through its paths
// (paths.go), hands each session to the kernel, scans just the wanted LUN
// and waits for its disk. The logins themselves are userspace TCP, so
// they run while the iSCSI modules are still loading (stack); the
// kernel's side waits for those modules.
func (b *Boot) login(ctx context.Context, p *config.Plan, targets []config.Target, sel blockdev.Selector, net netResult, stack *task.Task[struct{}],
	is ISCSI, w DiskWatch, nics Links, addrs Addrs, files Files) (attached, error) {
	var a attached
	if len(targets) == 0 {
		return a, nil
	}
	initiator, err := b.initiator(p, net, nics, files)
	if err != nil {
		return a, err
	}
	b.conns = newConnWatch(ctx, b, p.Boot)
	k := &kernelSide{is: is, ready: func(ctx context.Context) error {
		_, err := stack.Wait(ctx)
		return err
	}}
	dp := newDeadPaths(b, p, nics, addrs)
	logins, failed, err := b.loginAll(ctx, p, targets, sel, k, initiator, is, w, files, dp)
	for _, li := range logins {
		if li.missed != nil {
			t := *li.missed
			a.missed = append(a.missed, missedPath{target: t, index: li.index, bond: dp.keeperBond(t.NetDev, []string{t.Portal()})})
			continue
		}
		bond := dp.keeperBond(li.session.Device, li.session.Portals)
		li.session.Bond = bond
		b.conns.update(li.session.SID, func(s *keeper.Session) { s.Bond = bond })
		a.sessions = append(a.sessions, li.session)
		a.tuning = append(a.tuning, li.tuning)
		a.disks = append(a.disks, li.disk)
		a.allLUNs = append(a.allLUNs, li.allLUNs)
	}
	a.failed = failed
	a.handle = k.handle()
	return a, err
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

// loggedIn is one target's session, once its disk is there.
type loggedIn struct {
	session keeper.Session
	tuning  *task.Task[struct{}]
	disk    blockdev.Device
	allLUNs bool
}

// loginTarget is one target's login, hand-off and disk wait.
func (b *Boot) loginTarget(ctx context.Context, p *config.Plan, k *kernelSide, initiator string, index int, t config.Target,
	is ISCSI, w DiskWatch, files Files) (loggedIn, error) {
	st := b.log.Begin("login")
	creds, err := credentials(t.Auth, files.ReadFile)
	if err != nil {
		st.Fail(err)
		return loggedIn{}, fail("login", err, "the CHAP secret file must be in the initramfs (netroot build -add)")
	}
	cfg, kopts, copts := loginSettings(p, initiator, index, t, creds)
	kopts.Logf = b.log.Debugf
	copts.Logf = b.log.Printf
	var (
		sess *iscsi.Session
		conn net.Conn
		ks   iscsi.KernelSession
	)
	for attempt := 1; ; attempt++ {
		prepared := k.prepare(b, ctx, t.Portal(), t.Name, kopts)
		sess, conn, err = is.Connect(ctx, cfg, copts)
		if err != nil {
			k.discard(b, prepared)
			st.Fail(err)
			return loggedIn{}, fail("login", err, "is the target up and reachable from this network (check netroot= and the portal)?")
		}
		ks, err = k.handOff(prepared, conn, sess, kopts)
		conn.Close() // the kernel holds its own reference now (or the login failed)
		if err == nil {
			break
		}
		if attempt >= handOffAttempts || ctx.Err() != nil || !lostInHandOff(err) {
			st.Fail(err)
			return loggedIn{}, err
		}
		b.log.Warnf("%v; logging in again (%d of %d)", err, attempt+1, handOffAttempts) // err names the step
	}
	kept := keptSession(ks, cfg, sess, kopts, t.Portal())
	kept.Resolved = resolvedPortal(t, conn)
	b.conns.add(kept)
	auth := sess.AuthMethod
	if auth == "CHAP" && creds.Mutual() {
		auth = "mutual CHAP"
	}
	if d := iscsi.DigestsOf(sess.Params); d != "" {
		auth += ", " + d
	}
	if t.NetDev != "" {
		auth += ", bound to " + t.NetDev
	}
	st.Done("%s %s: session %d on host%d, auth %s", sess.Portal, t.Name, ks.SID, ks.HostNo, auth)

	st = b.log.Begin("disk")
	// A scan whose commands met the connection failed finds nothing, and
	// nothing scans again once the session is back: the disk step does,
	// after each recovery of the session until its disk is there.
	back := b.conns.nextRecovery(ks.SID)
	all := p.ScansAllLUNs(t)
	scan, which := uint64(t.LUN), fmt.Sprintf("for LUN %d", t.LUN)
	if all {
		scan, which = iscsi.AllLUNs, "every LUN"
	}
	// The scan's commands and the disk's probe wait on the connection.
	_, err = guarded(b.conns, ctx, func(context.Context) (struct{}, error) {
		return struct{}{}, is.Scan(ks.HostNo, scan)
	})
	if err != nil {
		st.Fail(err)
		return loggedIn{}, fail("disk", err, "")
	}
	wctx, cancel := context.WithTimeout(ctx, p.Boot.Retry)
	defer cancel()
	desc := fmt.Sprintf("the disk of %s LUN %d (SCSI host %d)", t.Name, t.LUN, ks.HostNo)
	if all {
		desc = fmt.Sprintf("a disk of %s (any LUN, SCSI host %d)", t.Name, ks.HostNo)
	}
	dev, err := guarded(b.conns, wctx, func(ctx context.Context) (*blockdev.Device, error) {
		for {
			wait, stop := context.WithCancel(ctx)
			go func() {
				select {
				case <-back:
					stop()
				case <-wait.Done():
				}
			}()
			d, err := w.WaitFunc(wait, desc, func(d blockdev.Device) bool {
				h, _, _, lun, ok := d.SCSI()
				return ok && !d.IsPartition() && h == int(ks.HostNo) && (all || lun == t.LUN)
			})
			if amb, ok := errors.AsType[*blockdev.AmbiguousError](err); ok && all {
				// Every LUN was scanned: any disk of the session will do.
				d, err = lowestLUN(amb.Matches), nil
			}
			stop()
			if err == nil || ctx.Err() != nil || !closed(back) {
				return d, err
			}
			back = b.conns.nextRecovery(ks.SID)
			b.log.Printf("disk: session %d is back: scanning %s again", ks.SID, which)
			if err := is.Scan(ks.HostNo, scan); err != nil {
				return nil, err
			}
		}
	})
	if err != nil {
		st.Fail(err)
		hint := fmt.Sprintf("does target %s export LUN %d? (tgt's LUN 0 is its controller)", t.Name, t.LUN)
		if all {
			hint = fmt.Sprintf("does target %s export a disk to this initiator (its ACLs)?", t.Name)
		}
		return loggedIn{}, fail("disk", err, hint)
	}
	tuning := b.tuneDisk(ctx, is, dev.Name)
	if _, _, _, lun, ok := dev.SCSI(); all && ok {
		// dracut's login to the whole target: root= may be on any LUN.
		st.Done("%s LUN %d is %s (%s); every LUN scanned (the <LUN> field is empty)", t.Name, lun, dev.Path, blockdev.HumanSize(dev.Size))
	} else {
		st.Done("%s LUN %d is %s (%s)", t.Name, t.LUN, dev.Path, blockdev.HumanSize(dev.Size))
	}
	return loggedIn{session: kept, tuning: tuning, disk: *dev, allLUNs: all}, nil
}

// tuneDisk sets an iSCSI disk's I/O scheduler to none, beside the boot:
// switching it freezes the disk's queue and waits for an RCU grace
// period, tens of ms the root's search need not wait for.
func (b *Boot) tuneDisk(ctx context.Context, is ISCSI, name string) *task.Task[struct{}] {
	return goTask(b, ctx, "disk", func(context.Context) (struct{}, error) {
		if err := is.SetScheduler(name, "none"); err != nil {
			b.log.Debugf("disk: scheduler of %s: %v", name, err)
		}
		return struct{}{}, nil
	})
}

// tuneRootDisk tunes the root's disk too when the disk step took
// another LUN's (every LUN scanned).
func (b *Boot) tuneRootDisk(ctx context.Context, is ISCSI, a *attached) {
	if a.dev == nil {
		return
	}
	if _, _, _, _, ok := a.dev.SCSI(); !ok {
		return // a multipath map: its paths are the sessions' disks
	}
	disk := a.dev.Name
	if a.dev.IsPartition() {
		disk = a.dev.Parent
	}
	for _, d := range a.disks {
		if d.Name == disk {
			return
		}
	}
	a.tuning = append(a.tuning, b.tuneDisk(ctx, is, disk))
}

// lowestLUN is the disk of the lowest LUN among disks.
func lowestLUN(disks []blockdev.Device) *blockdev.Device {
	best := 0
	for i := range disks {
		_, _, _, lun, _ := disks[i].SCSI()
		_, _, _, low, _ := disks[best].SCSI()
		if lun < low {
			best = i
		}
	}
	return &disks[best]
}

// handOffAttempts bounds the logins of a target whose connection is lost
// while the kernel takes it over: a target that drops every new session
// fails the boot with that error instead of holding it until rd.retry.
const handOffAttempts = 3

// lostInHandOff tells a hand-off that failed after the kernel took the
// socket (the target may have dropped the connection just after the
// login: the kernel then answers the next step with a connection error)
// from one that failed before it, which a new login would repeat.
func lostInHandOff(err error) bool {
	he, ok := errors.AsType[*iscsi.HandOffError](err)
	return ok && he.Bound
}

// kernelSide is the kernel's iSCSI transport, opened once the iSCSI
// modules are loaded and shared by the logins; its mutex serialises its
// use.
type kernelSide struct {
	is    ISCSI
	ready func(context.Context) error
	mu    sync.Mutex
	t     Transport
	err   error
}

// prepare waits for the iSCSI modules, opens the transport the first
// time, and creates the kernel's session and connection for a login to
// come, in the background: that kernel work then overlaps with the login.
func (k *kernelSide) prepare(b *Boot, ctx context.Context, portal, target string, kopts iscsi.KernelOptions) *task.Task[PreparedSession] {
	return goTask(b, ctx, "login", func(ctx context.Context) (PreparedSession, error) {
		if err := k.ready(ctx); err != nil {
			return nil, fail("modules", err, "rebuild the initramfs with this kernel's modules (netroot build -modules DIR)")
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.t == nil && k.err == nil {
			if k.t, k.err = k.is.OpenTransport(); k.err == nil {
				b.conns.open(k.is, k.t.Handle()) // before any connection starts
			}
		}
		if k.err != nil {
			return nil, fail("login", k.err, "the initramfs needs iscsi_tcp and scsi_transport_iscsi")
		}
		ps, err := k.t.Prepare(portal, target, kopts)
		if err != nil {
			return nil, fail("login", err, "the kernel refused the session; dmesg says more")
		}
		return ps, nil
	})
}

// discard destroys the prepared session of a login that failed, once it
// is made: in the background, so that the login's error is not held up
// should the iSCSI modules still be loading.
func (k *kernelSide) discard(b *Boot, prepared *task.Task[PreparedSession]) {
	goTask(b, context.Background(), "login", func(context.Context) (struct{}, error) {
		ps, err := prepared.Wait(context.Background())
		if err != nil {
			return struct{}{}, nil
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if err := ps.Destroy(); err != nil {
			b.log.Debugf("login: removing the kernel session prepared for the failed login: %v", err)
		}
		return struct{}{}, nil
	})
}

// handOff hands the logged-in connection to the prepared kernel session.
func (k *kernelSide) handOff(prepared *task.Task[PreparedSession], conn net.Conn, sess *iscsi.Session, kopts iscsi.KernelOptions) (iscsi.KernelSession, error) {
	ps, err := prepared.Wait(context.Background())
	if err != nil {
		return iscsi.KernelSession{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	ks, err := ps.Start(conn, sess, kopts)
	if err != nil {
		hint := "the kernel refused the session; dmesg says more"
		if he, ok := errors.AsType[*iscsi.HandOffError](err); ok && he.Lost() {
			hint = "the target closed the connection right after the login; its log says why"
		}
		return ks, fail("login", err, hint)
	}
	return ks, nil
}

// handle is the transport's handle, 0 when it was never opened.
func (k *kernelSide) handle() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.t == nil {
		return 0
	}
	return k.t.Handle()
}

// credentials reveals the CHAP secrets (reading 0600 files for @/path).
func credentials(a config.Auth, readFile func(string) ([]byte, error)) (iscsi.Credentials, error) {
	pw, err := revealSecret(a.Password, "CHAP password", readFile)
	if err != nil {
		return iscsi.Credentials{}, err
	}
	inPw, err := revealSecret(a.InPassword, "mutual CHAP password", readFile)
	if err != nil {
		return iscsi.Credentials{}, err
	}
	return iscsi.Credentials{
		Username:   a.Username,
		Password:   strings.TrimRight(pw, "\n"),
		InUsername: a.InUsername,
		InPassword: strings.TrimRight(inPw, "\n"),
	}, nil
}

// revealSecret reveals the secret s (what names it); a secret file that
// holds nothing is an error of its own, found before any login.
func revealSecret(s config.Secret, what string, readFile func(string) ([]byte, error)) (string, error) {
	v, err := s.Reveal(readFile)
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	if s.File != "" && strings.TrimRight(v, "\n") == "" {
		return "", hint.Errorf("write the target's CHAP secret into the file netroot build -add's there", "reading the %s: %s is empty", what, s.File)
	}
	return v, nil
}

// defaultNoopSec is the NOP-Out interval and timeout used while the keeper
// runs and rd.iscsi.param= does not say otherwise: a dead path is noticed
// within about 10 s and the keeper reconnects. Without the keeper netroot
// keeps open-iscsi's advice for a daemon-less root (0: no pings, so a
// short outage never fails the connection with nobody to recover it).
const defaultNoopSec = 5

// keptSession is what the keeper needs about one logged-in session.
func keptSession(ks iscsi.KernelSession, cfg iscsi.LoginConfig, sess *iscsi.Session, ko iscsi.KernelOptions, portal string) keeper.Session {
	s := keeper.Session{
		SID: ks.SID, CID: ks.CID, HostNo: ks.HostNo,
		InitiatorName: cfg.InitiatorName, TargetName: cfg.TargetName,
		ISID: sess.ISID, Credentials: cfg.Credentials, Params: cfg.Params,
		RecoveryTimeoutSec: ko.RecoveryTimeoutSec, RecoveryTimeoutSet: ko.RecoveryTimeoutSet,
		NoopIntervalSec: ko.NoopIntervalSec, NoopTimeoutSec: ko.NoopTimeoutSec,
		DefaultTime2WaitSec: int(sess.Params.DefaultTime2Wait),
		// A bound login's link events are its interface's.
		Device: cfg.Device, Interface: cfg.Device,
	}
	if sess.LoginParams != nil {
		// What the login offered, a retry's digests included.
		s.Params = sess.LoginParams
	}
	if sess.AuthMethod == "CHAP" && sess.CHAPAlgorithm != 0 {
		s.CHAPAlgorithms = []iscsi.CHAPAlgorithm{sess.CHAPAlgorithm}
	}
	// The configured portal first (a redirect may be temporary), then the
	// one the login ended at.
	s.Portals = []string{portal}
	if sess.Portal != portal {
		s.Portals = append(s.Portals, sess.Portal)
	}
	return s
}
