package boot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
)

// Paths. A LUN may be reached through several portals of its target —
// two subnets behind two switches, two controllers —: netroot= given
// once per portal (dracut's way), a SendTargets answer listing several,
// a firmware table (config.GroupTargets gathers any list of targets into
// config.TargetPaths). /init logs in on every path of a LUN at once:
//
//   - by default the first path whose login completes is kept; the
//     others are cancelled (a login that completes anyway is closed), so
//     a dead path — refused, or a black hole that never answers — costs
//     nothing while another answers. The keeper may recover the session
//     through any of the paths;
//   - with rd.netroot.multipath=1 every path is kept, each a session of
//     its own, and the root is mounted on a device-mapper multipath map
//     over their disks (multipath.go); a path that is not up pathGrace
//     after the first one is left out.
//
// The paths of a SendTargets answer are bounded twice: ParseSendTargets
// refuses an answer over its caps (iscsi.MaxDiscoveredTargets and the
// others), and their login attempts take turns, maxDiscoveredLogins at
// a time (loginTurns).
//
// The LUNs (targets) log in independently: once the root is among the
// disks, the others still logging in get otherTargetsGrace, and a LUN
// that failed is left out with a warning when the root is found without
// it, instead of failing the boot (dracut#1798).

// otherTargetsGrace bounds the wait for the other targets' logins once
// the root is there; pathGrace the wait for the other paths of a
// multipath LUN once one is up (paths on working networks log in
// together). Variables for the tests.
var (
	otherTargetsGrace = 5 * time.Second
	pathGrace         = 5 * time.Second
)

// pathLogin is one session of a LUN, once its disk is there.
type pathLogin struct {
	loggedIn
	// lun names the LUN, for messages.
	lun string
	// missed, when set, is a path of a multipath LUN whose login failed
	// while another path's succeeded: it has no session, and index is
	// its login index. The keeper logs in to it after the boot
	// (keeper.Join).
	missed *config.Target
	index  int
}

// setResult is what one LUN's logins gave.
type setResult struct {
	index  int
	logins []pathLogin
	err    error
}

// loginAll logs in to every LUN of targets through its paths, all at
// once, and returns the sessions in the targets' order. A LUN that failed
// is in failed when another succeeded (the root step decides whether the
// boot can do without it); when every one failed, err joins their errors.
func (b *Boot) loginAll(ctx context.Context, p *config.Plan, targets []config.Target, sel blockdev.Selector,
	k *kernelSide, initiator string, is ISCSI, w DiskWatch, files Files, dp *deadPaths) (logins []pathLogin, failed []error, err error) {
	sets := config.GroupTargets(targets)
	results := make(chan setResult, len(sets))
	cancels := make([]context.CancelFunc, len(sets))
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for i, set := range sets {
		sctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		goTask(b, sctx, "login", func(ctx context.Context) (struct{}, error) {
			r := setResult{index: i, err: errInternal}
			defer func() { results <- r }() // also when it panics
			r.logins, r.err = b.loginSet(ctx, p, k, initiator, i, set, is, w, files, dp)
			return struct{}{}, nil
		})
	}
	per := make([][]pathLogin, len(sets))
	errs := make([]error, len(sets))
	done := make([]bool, len(sets))
	gaveUp := make([]bool, len(sets))
	pending := len(sets)
	var grace <-chan time.Time
	visible := make(chan bool, 1)
	probing, rootSeen := false, false
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			done[r.index] = true
			per[r.index], errs[r.index] = r.logins, r.err
			if r.err == nil && !rootSeen && !probing && pending > 0 {
				// Is the root there already? A scan, off this loop: the
				// disk watch may be busy with another LUN's disk.
				probing = true
				goTask(b, ctx, "login", func(context.Context) (struct{}, error) {
					seen := false
					defer func() { visible <- seen }() // also when it panics
					seen = rootVisible(w, sel)
					return struct{}{}, nil
				})
			}
		case v := <-visible:
			probing = false
			if v && !rootSeen && pending > 0 {
				rootSeen = true
				timer := time.NewTimer(otherTargetsGrace)
				defer timer.Stop()
				grace = timer.C
				b.log.Printf("login: the root is there; the other targets get %s to log in", otherTargetsGrace)
			}
		case <-grace:
			grace = nil
			for i := range sets {
				if !done[i] {
					gaveUp[i] = true
					cancels[i]()
				}
			}
		}
	}
	for i := range sets {
		switch {
		case errs[i] == nil:
			logins = append(logins, per[i]...)
		case gaveUp[i]:
			failed = append(failed, fmt.Errorf("%s: given up %s after the root was found: %w", sets[i], otherTargetsGrace, errs[i]))
		default:
			failed = append(failed, errs[i])
		}
	}
	if len(logins) == 0 {
		return nil, nil, errors.Join(distinct(errs)...)
	}
	return logins, failed, nil
}

// rootVisible reports whether sel names a device (or several) now.
func rootVisible(w DiskWatch, sel blockdev.Selector) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one scan, no wait
	d, err := w.WaitFor(ctx, sel)
	var amb *blockdev.AmbiguousError
	return d != nil || errors.As(err, &amb)
}

// loginSet logs in to one LUN through its paths (asking the portal first
// for a discovery entry).
func (b *Boot) loginSet(ctx context.Context, p *config.Plan, k *kernelSide, initiator string, index int, set config.TargetPaths,
	is ISCSI, w DiskWatch, files Files, dp *deadPaths) ([]pathLogin, error) {
	if set.Name == "" {
		return b.loginDiscovered(ctx, p, k, initiator, index, set.Paths[0], is, w, files, dp)
	}
	if p.ISCSI.Multipath {
		return b.loginEveryPath(ctx, p, k, initiator, index, set, is, w, files, dp)
	}
	r := &racer{ISCSI: is, b: b, paths: set.Paths, files: files, dp: dp}
	li, err := b.loginTarget(ctx, p, k, initiator, index, set.Paths[0], r, w, files)
	if err != nil {
		return nil, err
	}
	if len(set.Paths) > 1 {
		r.keep(&li.session)
		portals, resolved := li.session.Portals, li.session.Resolved
		b.conns.update(li.session.SID, func(s *keeper.Session) { s.Portals, s.Resolved = portals, resolved })
	}
	return []pathLogin{{loggedIn: li, lun: set.String()}}, nil
}

// pathIndex is the login index (the ISID qualifier) of path i of the LUN
// at index: path 0 keeps the LUN's, so one path logs in as before, and
// two sessions of one LUN never share an ISID (a target would take the
// second login for a reinstatement of the first and drop it).
func pathIndex(index, i int) int { return index&0xff | i<<8 }

// loginEveryPath logs in on every path of set, each a session of its
// own, for a multipath map: once one is up, the others get pathGrace.
func (b *Boot) loginEveryPath(ctx context.Context, p *config.Plan, k *kernelSide, initiator string, index int, set config.TargetPaths,
	is ISCSI, w DiskWatch, files Files, dp *deadPaths) ([]pathLogin, error) {
	paths := task.NewGraced[loggedIn]()
	for i, t := range set.Paths {
		pis := &pathISCSI{ISCSI: is, dp: dp}
		paths.Go(ctx, t.Portal(), pathGrace, func(ctx context.Context) (loggedIn, error) {
			return b.loginTarget(ctx, p, k, initiator, pathIndex(index, i), t, pis, w, files)
		})
	}
	var out []pathLogin
	errs := make([]error, len(set.Paths))
	for i, t := range set.Paths {
		li, err := paths.Wait(ctx, t.Portal())
		if err == nil {
			out = append(out, pathLogin{loggedIn: li, lun: set.String()})
			continue
		}
		if errors.Is(err, task.ErrLeft) {
			err = fmt.Errorf("no session %s after another path's", pathGrace)
		}
		errs[i] = b.bug(err)
	}
	up := len(out)
	if up == 0 {
		return nil, errors.Join(distinct(errs)...)
	}
	later := "netroot logs in to no path after the boot (rd.netroot.keeper=0): until the real OS logs in to it"
	if p.Boot.Keeper {
		later = "the keeper logs in to it once it answers and adds it to the map"
	}
	for i, err := range errs {
		if err != nil {
			b.log.Warnf("login: path %s of %s is not up (%v); the multipath map runs without it: %s", set.Paths[i].Portal(), set, err, later)
			out = append(out, pathLogin{lun: set.String(), missed: &set.Paths[i], index: pathIndex(index, i)})
		}
	}
	return out, nil
}

// loginDiscovered asks t's portal which targets it has (SendTargets) and
// logs in to each, through every portal the answer lists for it (the
// portal asked first), at t's LUN; the login attempts take turns
// (loginTurns), maxDiscoveredLogins at a time.
func (b *Boot) loginDiscovered(ctx context.Context, p *config.Plan, k *kernelSide, initiator string, index int, t config.Target,
	is ISCSI, w DiskWatch, files Files, dp *deadPaths) ([]pathLogin, error) {
	sets, err := b.discover(ctx, p, initiator, t, is, files, dp)
	if err != nil {
		return nil, err
	}
	is = newLoginTurns(is, maxDiscoveredLogins)
	results := make(chan setResult, len(sets))
	for i, set := range sets {
		goTask(b, ctx, "login", func(ctx context.Context) (struct{}, error) {
			r := setResult{index: i, err: errInternal}
			defer func() { results <- r }()
			r.logins, r.err = b.loginSet(ctx, p, k, initiator, index+i*16, set, is, w, files, dp)
			return struct{}{}, nil
		})
	}
	per := make([][]pathLogin, len(sets))
	errs := make([]error, len(sets))
	for range sets {
		r := <-results
		per[r.index], errs[r.index] = r.logins, r.err
	}
	var out []pathLogin
	for i := range sets {
		if errs[i] != nil {
			if len(sets) > 1 {
				b.log.Warnf("login: %s (found at %s): %v", sets[i], t.Portal(), errs[i])
			}
			continue
		}
		out = append(out, per[i]...)
	}
	if len(out) == 0 {
		return nil, errors.Join(distinct(errs)...)
	}
	return out, nil
}

// discover asks t's portal for its targets, without credentials first,
// as open-iscsi's discovery does by default, then with t's when the
// portal wants them.
func (b *Boot) discover(ctx context.Context, p *config.Plan, initiator string, t config.Target, is ISCSI, files Files, dp *deadPaths) ([]config.TargetPaths, error) {
	st := b.log.Begin("discovery")
	cfg := iscsi.DiscoveryConfig{InitiatorName: initiator, Portal: t.Portal(), Device: t.NetDev,
		ISID: iscsi.StableISID(initiator, "SendTargets "+t.Portal(), 0)}
	o := iscsi.ConnectOptions{Deadline: p.Boot.Retry, MaxAttempts: p.ISCSI.LoginRetryMax, Logf: b.log.Printf, Dial: dp.dial(nil),
		DeadlineLimit: p.Boot.RetryLimit(), MaxAttemptsLimit: p.ISCSI.LoginRetryLimit()}
	found, err := is.Discover(ctx, cfg, o)
	var le *iscsi.LoginError
	if err != nil && errors.As(err, &le) && le.StatusClass == 0x02 && t.Auth.Username != "" {
		creds, cerr := credentials(t.Auth, files.ReadFile)
		if cerr != nil {
			st.Fail(cerr)
			return nil, fail("discovery", cerr, "the CHAP secret file must be in the initramfs (netroot build -add)")
		}
		cfg.Credentials = creds
		found, err = is.Discover(ctx, cfg, o)
	}
	if err == nil && len(found) == 0 {
		err = fmt.Errorf("iscsi: SendTargets discovery at %s: the portal offers no target to %s", t.Portal(), initiator)
	}
	if err != nil {
		st.Fail(err)
		if _, ok := errors.AsType[*iscsi.SendTargetsLimitError](err); ok {
			return nil, fail("discovery", err, "name the root's target (netroot=iscsi:<server>::<port>:<lun>:<target>, or in the DHCP root-path): without one, /init logs in to every target the portal offers")
		}
		return nil, fail("discovery", err, "is the target up, and does it offer a target to this initiator (its ACL)?")
	}
	sets := discoveredPaths(t, found)
	var desc []string
	for _, d := range found {
		var ps []string
		for _, pt := range d.Portals {
			ps = append(ps, pt.String())
		}
		desc = append(desc, d.Name+" ("+strings.Join(ps, " ")+")")
	}
	st.Done("%s offers %s", t.Portal(), strings.Join(desc, ", "))
	return sets, nil
}

// discoveredPaths turns a SendTargets answer at t's portal into the LUNs
// to log in to: each target at t's LUN with t's credentials, through
// every portal it lists, the one asked first.
func discoveredPaths(t config.Target, found []iscsi.DiscoveredTarget) []config.TargetPaths {
	var out []config.TargetPaths
	for _, d := range found {
		set := config.TargetPaths{Name: d.Name, LUN: t.LUN}
		listed := map[string]bool{}
		for _, pt := range d.Portals {
			host, port, err := net.SplitHostPort(pt.Addr)
			if err != nil {
				continue
			}
			var n int
			if _, err := fmt.Sscan(port, &n); err != nil || n < 1 || n > 65535 {
				continue
			}
			path := t
			path.Name, path.Server, path.Port = d.Name, host, n
			if pt.HasTPGT {
				path.Group = int(pt.TPGT)
			}
			portal := path.Portal()
			if listed[portal] {
				continue // listed again (in another portal group): once is enough
			}
			listed[portal] = true
			if portal == t.Portal() {
				set.Paths = append([]config.Target{path}, set.Paths...)
			} else {
				set.Paths = append(set.Paths, path)
			}
		}
		if len(set.Paths) > 0 {
			out = append(out, set)
		}
	}
	return out
}

// maxDiscoveredLogins bounds the login attempts to the targets of one
// SendTargets answer that run at once: every path of every target would
// otherwise dial and log in together, up to iscsi.MaxDiscoveredPortals.
// An ordinary answer (a few targets on a few portals) stays under it, so
// its logins still all start at once.
const maxDiscoveredLogins = 16

// loginTurns is an initiator whose login attempts take turns: an
// attempt waits for one of n turns and gives it back when it ends, and
// while Connect waits to retry, so that a portal that never answers
// holds a turn one attempt at a time, not until rd.retry, and the
// others' logins go on meanwhile.
type loginTurns struct {
	ISCSI
	turns chan struct{}
}

func newLoginTurns(is ISCSI, n int) *loginTurns {
	return &loginTurns{ISCSI: is, turns: make(chan struct{}, n)}
}

func (l *loginTurns) take(ctx context.Context) error {
	select {
	case l.turns <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *loginTurns) Connect(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) (*iscsi.Session, net.Conn, error) {
	if err := l.take(ctx); err != nil {
		return nil, nil, fmt.Errorf("iscsi: login to %s %s: waiting for one of %d logins to end: %w", cfg.Portal, cfg.TargetName, cap(l.turns), err)
	}
	held := true
	defer func() {
		if held {
			<-l.turns
		}
	}()
	wait := o.Wait
	if wait == nil {
		wait = iscsi.WaitTimer
	}
	o.Wait = func(ctx context.Context, d time.Duration) error {
		<-l.turns // the wait before a retry is another login's turn
		held = false
		if err := wait(ctx, d); err != nil {
			return err
		}
		if err := l.take(ctx); err != nil {
			return err
		}
		held = true
		return nil
	}
	return l.ISCSI.Connect(ctx, cfg, o)
}

// pathISCSI is the initiator of one path: its connects go through the
// dead-path check of the bond they leave by.
type pathISCSI struct {
	ISCSI
	dp *deadPaths
}

func (pi *pathISCSI) Connect(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) (*iscsi.Session, net.Conn, error) {
	o.Dial = pi.dp.dial(o.Dial)
	return pi.ISCSI.Connect(ctx, cfg, o)
}

// racer is the initiator of one LUN with several paths: its Connect logs
// in on every path at once, each with its own ISID and credentials, and
// returns the first session; the other logins are cancelled, and one
// that completes anyway is closed.
type racer struct {
	ISCSI
	b     *Boot
	paths []config.Target
	files Files
	dp    *deadPaths

	// won is the path whose login was kept, sess its session, remote
	// the address its connection reached.
	won    int
	sess   *iscsi.Session
	remote string
}

// errInternal stands for the result of work that panicked (the panic is
// reported with the boot's background work).
var errInternal = hint.Wrap(errors.New("internal error (see the panic reported above)"), bugHint)

func (r *racer) Connect(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) (*iscsi.Session, net.Conn, error) {
	type res struct {
		i    int
		sess *iscsi.Session
		conn net.Conn
		err  error
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan res, len(r.paths))
	for i, t := range r.paths {
		c := cfg
		c.Portal, c.Device = t.Portal(), t.NetDev
		c.ISID = cfg.ISID
		c.ISID[4] = byte(i) // pathIndex's qualifier
		if i > 0 {          // path 0's are loginTarget's
			creds, err := credentials(t.Auth, r.files.ReadFile)
			if err != nil {
				results <- res{i: i, err: fmt.Errorf("login to %s: reading the CHAP secret: %w", t.Portal(), err)}
				continue
			}
			c.Credentials = creds
		}
		po := o
		po.Dial = r.dp.dial(o.Dial)
		goTask(r.b, rctx, "login", func(ctx context.Context) (struct{}, error) {
			x := res{i: i, err: errInternal}
			defer func() { results <- x }()
			x.sess, x.conn, x.err = r.ISCSI.Connect(ctx, c, po)
			return struct{}{}, nil
		})
	}
	// Failures are told in the order of the paths, not of their ends, so
	// that a boot's lines read the same each time.
	errs := make([]error, len(r.paths))
	for n := 0; n < len(r.paths); n++ {
		x := <-results
		if x.err != nil {
			errs[x.i] = x.err
			if len(r.paths) > 1 {
				r.b.log.Debugf("login: path %s: %v", r.paths[x.i].Portal(), x.err)
			}
			continue
		}
		r.won, r.sess = x.i, x.sess
		if ra := x.conn.RemoteAddr(); ra != nil {
			r.remote = ra.String()
		}
		if left := len(r.paths) - n - 1; left > 0 {
			cancel()
			goTask(r.b, context.Background(), "login", func(context.Context) (struct{}, error) {
				for range left {
					if y := <-results; y.err == nil {
						y.conn.Close() // a login that completed after the race was won
					}
				}
				return struct{}{}, nil
			})
			r.b.log.Printf("login: %s: path %s answered first of %d; the others are given up", cfg.TargetName, r.paths[x.i].Portal(), len(r.paths))
		} else if f := distinct(errs); len(f) > 0 {
			r.b.log.Printf("login: %s: path %s answered; %d other path(s) failed: %v", cfg.TargetName, r.paths[x.i].Portal(), len(f), errors.Join(f...))
		}
		return x.sess, x.conn, nil
	}
	return nil, nil, errors.Join(distinct(errs)...)
}

// keep gives the keeper every path of the LUN: the one kept first (and
// the portal a redirect sent it to), then those of its portal group, then
// the others; a host name resolved at login keeps its address only for
// the path that used it.
func (r *racer) keep(s *keeper.Session) {
	if r.sess == nil {
		return
	}
	won := r.paths[r.won]
	portals := []string{won.Portal()}
	if r.sess.Portal != "" && r.sess.Portal != won.Portal() {
		portals = append(portals, r.sess.Portal)
	}
	var same, other []string
	for i, t := range r.paths {
		switch {
		case i == r.won || slices.Contains(portals, t.Portal()):
		case t.Group == won.Group || r.sess.TPGT != 0 && t.Group == int(r.sess.TPGT):
			same = append(same, t.Portal())
		default:
			other = append(other, t.Portal())
		}
	}
	s.Portals = slices.Concat(portals, same, other)
	// loginTarget took the address of the winner for path 0's name.
	s.Resolved = nil
	if _, err := netip.ParseAddr(won.Server); err != nil && r.remote != "" {
		s.Resolved = map[string][]string{won.Portal(): {r.remote}}
	}
}
