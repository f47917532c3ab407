package keeper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/multipath"
)

// Joins. With rd.netroot.multipath=1 a path whose login failed during the
// boot (its link down, its portal silent) is left out of the root's map,
// and /init hands it to the keeper (State.Joins) with the map as it made
// it (State.Maps). The keeper logs in to each on its own schedule — link
// events restart it — as /init does: a login in userspace, then the
// kernel takes the connection (iscsi.PrepareSession, Start). It then
// scans the map's LUN on the new session, waits for the disk, and adds
// it to the map by loading the map's table again with it
// (multipath.Reload, queued I/O kept) — unless multipathd serves the map:
// it adds the disk itself, from the disk's uevent. The new session is
// kept like the others from then on.
//
// The guard is not told: a keeper started again finds in sysfs the
// session of the join's target and ISID and adopts it (findSession),
// instead of logging in again with that ISID, which would reinstate, and
// so end, the session made before.

// Variables for the tests: the schedule of a join's connects (a path may
// stay down for long: slower than a recovery's), and the bound of the
// wait for its disk after the scan and the pace of the looks.
var (
	joinPolicy   = backoff.Policy{Initial: time.Second, Max: 10 * time.Second, Jitter: backoffJitter}
	joinDiskWait = 30 * time.Second
	joinDiskPoll = backoff.Policy{Initial: 20 * time.Millisecond, Max: time.Second, Jitter: backoffJitter}
)

// joining is one join in progress.
type joining struct {
	j Join
	// r carries the schedule that link events kick.
	r    *recovery
	done bool
}

// joinResult is what a join's run gave.
type joinResult struct {
	i int
	// s is the session made or adopted, ready to keep.
	s        Session
	portal   string
	adopted  bool
	disk     pathDisk
	diskErr  error
	attempts int
	took     time.Duration
	err      error
}

// startJoins starts a run for every join.
func (l *loop) startJoins() {
	if len(l.st.Joins) == 0 {
		return
	}
	if l.e.kernel == nil || l.e.scan == nil || l.e.disk == nil || l.e.findSession == nil {
		l.logf("%d path(s) of a multipath map to log in to, but this keeper cannot make sessions: the maps stay without them", len(l.st.Joins))
		return
	}
	l.claimed = map[uint32]bool{}
	for _, s := range l.st.Sessions {
		l.claimed[s.SID] = true
	}
	l.maps = map[string]*Map{}
	for _, m := range l.st.Maps {
		l.maps[m.Name] = &m
	}
	policy := joinPolicy
	if l.o.InitialBackoff > 0 { // the tests' pace
		policy = l.policy()
	}
	for i, j := range l.st.Joins {
		ctx, cancel := context.WithCancel(l.ctx)
		jn := &joining{j: j, r: &recovery{cancel: cancel, errs: make(chan struct{}, 1), timer: backoff.New(policy, nil)}}
		l.joins = append(l.joins, jn)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer cancel() // the join's session, if any, is kept with its own recovery from now on
			res := l.runJoin(ctx, i, jn)
			select {
			case l.joined <- res:
			case <-l.ctx.Done():
			}
		}()
	}
}

// runJoin logs in to a join's path (or adopts the session a keeper made
// before) and finds its disk.
func (l *loop) runJoin(ctx context.Context, i int, jn *joining) joinResult {
	start := time.Now()
	res := joinResult{i: i, s: jn.j.Session}
	if ks, ok := l.e.findSession(jn.j, l.claim); ok {
		res.s.SID, res.s.CID, res.s.HostNo, res.adopted = ks.SID, ks.CID, ks.HostNo, true
	} else {
		l.logf("%s: not logged in at boot; logging in once it answers", jn.j)
		jr := &joiner{recoverer: recoverer{l: l, s: jn.j.Session, r: jn.r, join: &jn.j}}
		jr.begin()
		sess, portal, err := jr.loginLoop(ctx, jr.login)
		res.attempts = jr.attempts
		if err != nil {
			res.err = err
			return res
		}
		res.s, res.portal = joinedSession(jn.j.Session, jr.made, sess, jr.portals), portal
	}
	res.disk, res.diskErr = l.joinDisk(ctx, res.s, jn.j.LUN)
	res.took = time.Since(start)
	return res
}

// claim reports whether session sid is taken already, and takes it if
// not: the State's sessions are taken, and each session adopted by a
// join (findSession) is claimed by that join only.
func (l *loop) claim(sid uint32) bool {
	l.jmu.Lock()
	defer l.jmu.Unlock()
	if l.claimed[sid] {
		return true
	}
	l.claimed[sid] = true
	return false
}

// joiner makes a join's session: the recoverer's connects, redirects and
// retries, with a login that makes a new kernel session.
type joiner struct {
	recoverer
	made iscsi.KernelSession
}

// login logs in over conn as /init does: the kernel's session is
// prepared beside the login, and takes the connection once logged in.
func (jr *joiner) login(ctx context.Context, conn net.Conn, portal string) (*iscsi.Session, bool, error) {
	l := jr.l
	actx, cancel := context.WithTimeout(ctx, l.attemptTimeout())
	defer cancel()
	ko := jr.s.KernelOptions()
	ko.CmdsMax, ko.QueueDepth = jr.join.CmdsMax, jr.join.QueueDepth
	p, err := iscsi.PrepareSession(l.e.kernel, portal, jr.s.TargetName, ko)
	if err != nil {
		return nil, false, err
	}
	sess, err := iscsi.Login(actx, conn, jr.s.LoginConfig(portal))
	if err != nil {
		if derr := p.Destroy(); derr != nil {
			l.logf("%s: tearing down the kernel's session after the failed login: %v", jr.who(), derr)
		}
		return nil, false, err
	}
	ks, err := p.Start(conn, sess, ko) // tears the session down on failure
	if err != nil {
		return nil, false, err
	}
	jr.made = ks
	return sess, false, nil
}

// joinedSession is the session to keep once a join's login made ks, as
// /init keeps its own (the portals as redirects left them, then the one
// the login ended at; the login's keys and CHAP algorithm).
func joinedSession(s Session, ks iscsi.KernelSession, sess *iscsi.Session, portals []string) Session {
	s.SID, s.CID, s.HostNo = ks.SID, ks.CID, ks.HostNo
	s.Map, s.PathDev = "", "" // set once its disk is in the map
	s.Portals = slices.Clone(portals)
	if sess.Portal != "" && !slices.Contains(s.Portals, sess.Portal) {
		s.Portals = append(s.Portals, sess.Portal)
	}
	if sess.LoginParams != nil {
		s.Params = sess.LoginParams
	}
	if sess.AuthMethod == "CHAP" && sess.CHAPAlgorithm != 0 {
		s.CHAPAlgorithms = []iscsi.CHAPAlgorithm{sess.CHAPAlgorithm}
	}
	s.DefaultTime2WaitSec = int(sess.Params.DefaultTime2Wait)
	return s
}

// joinDisk scans lun on s and waits for its disk.
func (l *loop) joinDisk(ctx context.Context, s Session, lun uint64) (pathDisk, error) {
	if err := l.e.scan(s.HostNo, lun); err != nil {
		return pathDisk{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, joinDiskWait)
	defer cancel()
	t := backoff.New(joinDiskPoll, nil)
	for {
		d, err := l.e.disk(s.HostNo, lun)
		if err == nil || !errors.Is(err, iscsi.ErrNoBlockDevice) {
			return d, err
		}
		if _, werr := t.Wait(wctx); werr != nil {
			return pathDisk{}, fmt.Errorf("%w, %s after the scan", err, joinDiskWait)
		}
	}
}

// joinedPath takes a join's result: the session is kept from now on,
// and its disk added to the map.
func (l *loop) joinedPath(res joinResult) {
	jn := l.joins[res.i]
	jn.done = true
	if res.err != nil {
		if l.ctx.Err() == nil {
			l.logf("%s: logging in stopped: %v", jn.j, res.err)
		}
		return
	}
	s := res.s
	how := fmt.Sprintf("logged in via %s after %.1fs (%d attempt(s))", res.portal, res.took.Seconds(), res.attempts)
	if res.adopted {
		how = "found in sysfs, made by the keeper before this one"
	}
	if _, ok := l.kept[s.SID]; ok {
		l.logf("%s: session %d %s is kept already", jn.j, s.SID, how)
		return
	}
	k := &kept{s: s, t2w: time.Duration(s.DefaultTime2WaitSec) * time.Second}
	l.kept[s.SID] = k
	if res.diskErr != nil {
		l.logf("%s: session %d %s, but its disk: %v; the session is kept, the map stays without it", jn.j, s.SID, how, res.diskErr)
		return
	}
	l.addPath(k, jn.j, res.disk, how)
}

// addPath adds d, the disk of k's session, to j's map.
func (l *loop) addPath(k *kept, j Join, d pathDisk, how string) {
	m := l.maps[j.Map]
	what := fmt.Sprintf("%s: session %d %s", j, k.s.SID, how)
	switch {
	case m == nil:
		l.logf("%s; its map is not known: the map stays without it", what)
		return
	case d.WWID != m.WWID:
		l.logf("%s, but its disk %s has WWID %s, not the map's %s: not one LUN; the session is kept, the map stays without it", what, d, d.WWID, m.WWID)
		return
	case d.Sectors != m.Sectors:
		l.logf("%s, but its disk %s has %d sectors, the map %d: the session is kept, the map stays without it", what, d, d.Sectors, m.Sectors)
		return
	}
	if l.multipathdServes() {
		k.s.Map, k.s.PathDev = m.Name, d.Dev
		l.logf("%s; multipathd runs: it adds its disk %s to map %s", what, d, m.Name)
		return
	}
	if l.e.maps == nil {
		l.logf("%s, but device-mapper is not open: its disk %s is not added to map %s", what, d, m.Name)
		return
	}
	if st, err := multipath.GetStatus(l.e.maps, m.Name); err == nil {
		if _, ok := st.Path(d.Dev); ok {
			if !slices.ContainsFunc(m.Paths, func(p multipath.Path) bool { return p.Dev == d.Dev }) {
				m.Paths = append(m.Paths, multipath.Path{Dev: d.Dev})
			}
			k.s.Map, k.s.PathDev = m.Name, d.Dev
			l.logf("%s; its disk %s is in map %s already (%s)", what, d, m.Name, st)
			return
		}
	}
	paths := append(slices.Clone(m.Paths), multipath.Path{Dev: d.Dev})
	if err := multipath.Reload(l.e.maps, &multipath.Map{Name: m.Name, WWID: m.WWID, Sectors: m.Sectors}, paths, m.Config); err != nil {
		l.logf("%s, but: %v; the session is kept, the map stays without it", what, err)
		return
	}
	m.Paths = paths
	k.s.Map, k.s.PathDev = m.Name, d.Dev
	after := ""
	if st, err := multipath.GetStatus(l.e.maps, m.Name); err == nil {
		after = " (" + st.String() + ")"
	}
	l.logf("%s; its disk %s joined multipath map %s%s", what, d, m.Name, after)
}

// kickJoins restarts the schedule of the joins whose path uses the
// interface that came up.
func (l *loop) kickJoins(le LinkEvent) {
	for _, jn := range l.joins {
		if !jn.done && l.routesVia(jn.j.Session, le) {
			jn.r.timer.Kick()
		}
	}
}

// stepAside ends the loop for iscsid (ErrSteppedAside), saying which
// joins are left: iscsid has no record of them.
func (l *loop) stepAside() error {
	for _, jn := range l.joins {
		if !jn.done {
			l.logf("%s: not logged in yet, and iscsid has no record of it: log in to it with iscsiadm (multipathd then adds its disk)", jn.j)
		}
	}
	return ErrSteppedAside
}
