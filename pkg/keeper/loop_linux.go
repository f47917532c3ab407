package keeper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/multipath"
	"golang.org/x/sys/unix"
)

// env is what the keeper's loop needs from the system; tests fake it.
type env struct {
	// t carries the commands to the kernel.
	t iscsi.RebindTransport
	// events delivers the kernel's iSCSI events (and EventOverrun).
	events <-chan Event
	// state reads a session's state from sysfs; an error wrapping
	// fs.ErrNotExist means the session is gone.
	state func(sid, cid uint32) (SessionState, error)
	// links delivers link and address changes.
	links <-chan LinkEvent
	// resolve looks a host name up with the real root's resolver.
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// route returns the index of the interface the route to addr leaves
	// by.
	route func(addr netip.Addr) (int, error)
	// maps is device-mapper, for the sessions that are paths of a
	// multipath map (nil: none); multipathd reports whether multipathd
	// runs (it owns the maps then). paths_linux.go.
	maps       multipath.Control
	multipathd func() bool
	// failover returns the dead-path switch of a bond (nil: none).
	failover func(bond string) *bond.Failover
	// scan scans a LUN of a SCSI host, or every one (iscsi.AllLUNs:
	// Session.ScanOtherLUNs); nil: none.
	scan func(hostNo uint32, lun uint64) error
	// kernel makes the joins' sessions (t never makes one); disk finds
	// a join's disk (readPathDisk), findSession the session a keeper
	// made before a restart (join.go). nil: no joins.
	kernel      iscsi.NetlinkTransport
	disk        func(hostNo uint32, lun uint64) (pathDisk, error)
	findSession func(j Join, taken func(sid uint32) bool) (iscsi.KernelSession, bool)
}

// LinkEvent is a link or address change (rtnetlink).
type LinkEvent struct {
	Index, MasterIndex int
	Name               string
	// Up: the link is up with carrier, or an address was added.
	Up bool
}

// Defaults of the connect schedule while a session is down: a capped,
// jittered schedule, so that the session is back about a second after the
// path or the target, without a fleet retrying in lockstep.
const (
	defaultInitialBackoff = 250 * time.Millisecond
	defaultMaxBackoff     = time.Second
	backoffJitter         = 0.25
	// maxConnectTimeout bounds one connect: a SYN lost while the path was
	// down is not retransmitted for seconds, so a newer connect overtakes
	// it.
	maxConnectTimeout = 3 * time.Second
	// maxConnectsPerAddr bounds the connects in flight to one address.
	maxConnectsPerAddr = 4
	// logoutTimeout bounds the wait for a Logout Response (open-iscsi's
	// default logout_timeout).
	logoutTimeout = 15 * time.Second
	// maxRedirects bounds the redirects followed in one attempt.
	maxRedirects = 4
)

// kept is the loop's record of one session.
type kept struct {
	s Session
	// t2w is waited before the next reopen (DefaultTime2Wait, or what an
	// Asynchronous Message or a Logout Response said); a reopen consumes
	// it and a login sets it again, as in open-iscsi.
	t2w time.Duration
	rec *recovery
	// logoutSent is set while a logout the target asked for is pending.
	logoutSent     bool
	logoutGen      int
	stateErrLogged bool
	mapErrLogged   bool
}

// recovery is one running reconnection of a session.
type recovery struct {
	cancel context.CancelFunc
	// pdus carries the kernel's RECV_PDU events to the login.
	pdus chan []byte
	// errs carries connection errors that arrive meanwhile.
	errs chan struct{}
	// timer is the connect schedule; link events kick it.
	timer *backoff.Timer
}

// noteError passes a connection error to a running recovery; it never
// blocks (errors coalesce).
func (r *recovery) noteError() {
	select {
	case r.errs <- struct{}{}:
	default:
	}
}

type result struct {
	sid      uint32
	portal   string
	portals  []string // the portal list, as permanent redirects left it
	resolved map[string][]string
	attempts int
	took     time.Duration
	t2w      time.Duration    // the DefaultTime2Wait the login negotiated
	params   []iscsi.KeyValue // the login keys, as a retry with digests left them
	last     error            // the last attempt's error
	err      error
}

type logoutExpired struct {
	sid uint32
	gen int
}

// loop is one run of the keeper.
type loop struct {
	ctx     context.Context
	st      State
	o       Options
	e       env
	logf    func(string, ...any)
	other   func() bool
	kept    map[uint32]*kept
	results chan result
	logouts chan logoutExpired
	wg      sync.WaitGroup

	mpathdLogged bool
	// mpathdAsked and mpathdServes are multipathd's last answer
	// (multipathdServes), shared by the sessions of one tick.
	mpathdAsked  time.Time
	mpathdServes bool
	fmu          sync.Mutex
	failovers    map[string]*bondSwitch

	// joins are the paths to log in to (join_linux.go), their results
	// come on joined; maps are their maps by name.
	joins  []*joining
	joined chan joinResult
	maps   map[string]*Map
	// claimed are the sessions kept or adopted (claim).
	jmu     sync.Mutex
	claimed map[uint32]bool
}

// run is Run's loop over e.
func run(ctx context.Context, st State, o Options, e env) error {
	l := &loop{st: st, o: o, e: e, kept: map[uint32]*kept{}, results: make(chan result), logouts: make(chan logoutExpired),
		joined: make(chan joinResult)}
	l.logf = o.Logf
	if l.logf == nil {
		l.logf = func(string, ...any) {}
	}
	l.other = o.OtherDaemon
	if l.other == nil {
		l.other = IscsidRunning
	}
	poll := o.OtherDaemonPoll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	// Cancel every recovery before waiting for them (defers run last
	// first): a recovery ends as soon as its context does.
	defer l.wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.ctx = ctx

	for _, s := range st.Sessions {
		l.kept[s.SID] = &kept{s: s, t2w: time.Duration(s.DefaultTime2WaitSec) * time.Second}
	}
	if o.Ready != nil {
		o.Ready()
	}
	// Sessions that failed before the event socket listened (or while no
	// keeper ran) send no event: sysfs says.
	if err := l.reconcile("at start"); err != nil {
		return err
	}
	l.primeResolved()
	l.scanOtherLUNs()
	l.startJoins()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		if len(l.kept) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if l.other() {
				return l.stepAside()
			}
			// A last guard against a lost event.
			if err := l.reconcile(""); err != nil {
				return err
			}
			l.mpathdAsked = time.Time{}
			l.checkPaths()
		case res := <-l.results:
			if err := l.finished(res); err != nil {
				return err
			}
		case ev := <-l.e.events:
			if err := l.event(ev); err != nil {
				return err
			}
		case le := <-l.e.links:
			l.link(le)
			l.kickJoins(le)
		case jr := <-l.joined:
			l.joinedPath(jr)
		case lt := <-l.logouts:
			if k := l.kept[lt.sid]; k != nil && k.logoutSent && k.logoutGen == lt.gen {
				if err := l.recover(k, "no Logout Response within "+logoutTimeout.String()); err != nil {
					return err
				}
			}
		}
	}
}

// reconcile starts a recovery for every kept session that sysfs shows
// failed or stopped and none is running for, and drops sessions that are
// gone.
func (l *loop) reconcile(why string) error {
	for sid, k := range l.kept {
		if k.rec != nil || k.logoutSent {
			continue
		}
		st, err := l.e.state(sid, k.s.CID)
		if errors.Is(err, fs.ErrNotExist) {
			l.logf("session %d is gone from sysfs; no longer keeping it", sid)
			delete(l.kept, sid)
			continue
		}
		if err != nil {
			if !k.stateErrLogged {
				l.logf("session %d: reading its state: %v", sid, err)
				k.stateErrLogged = true
			}
			continue
		}
		if st.failed() {
			reason := fmt.Sprintf("sysfs shows it %s", st)
			if why != "" {
				reason += " " + why
			}
			if err := l.recover(k, reason); err != nil {
				return err
			}
		}
	}
	return nil
}

// event handles one kernel event.
func (l *loop) event(ev Event) error {
	if ev.Type == EventOverrun {
		return l.reconcile("after events were lost")
	}
	if ev.TransportHandle != l.st.TransportHandle && ev.Type != EventIfError {
		return nil
	}
	k := l.kept[ev.SID]
	if k == nil {
		return nil
	}
	switch ev.Type {
	case EventRecvPDU:
		if k.rec != nil {
			select {
			case k.rec.pdus <- ev.PDU:
			default:
			}
			return nil
		}
		return l.pdu(k, ev.PDU)
	case EventConnError:
		if k.rec != nil {
			k.rec.noteError()
			return nil
		}
		return l.recover(k, fmt.Sprintf("connection %d failed (%s)", ev.CID, ErrorName(ev.Error)))
	case EventDestroySession, EventUnbindSession:
		l.logf("session %d was unbound or destroyed by someone else; no longer keeping it", ev.SID)
		if k.rec != nil {
			k.rec.cancel()
		}
		delete(l.kept, ev.SID)
	}
	return nil
}

// pdu handles a PDU the kernel passed up for a session in full feature
// phase: an Asynchronous Message or the answer to our Logout.
func (l *loop) pdu(k *kept, b []byte) error {
	sid := k.s.SID
	if len(b) < iscsi.BHSLen { // ParseEvent checks; a fake might not
		l.logf("session %d: a %d-byte PDU from the kernel", sid, len(b))
		return nil
	}
	p := &iscsi.PDU{Data: b[iscsi.BHSLen:]}
	copy(p.Header[:], b)
	switch p.Opcode() {
	case iscsi.OpAsyncMessage:
		m, _ := iscsi.ParseAsyncMessage(p)
		switch m.Event {
		case iscsi.AsyncLogoutRequest:
			l.logf("session %d: the target requests a logout within %d s; logging out and in again", sid, m.Parameter3)
			return l.logout(k, m.Parameter3)
		case iscsi.AsyncDropConnection, iscsi.AsyncDropAllConnection:
			k.t2w = time.Duration(m.Parameter2) * time.Second
			l.logf("session %d: the target drops the connection (async event %d); reconnecting after %d s (Time2Wait), within %d s (Time2Retain)",
				sid, m.Event, m.Parameter2, m.Parameter2+m.Parameter3)
		case iscsi.AsyncRenegotiate:
			return l.recover(k, "the target asks to renegotiate the parameters")
		case iscsi.AsyncSCSIEvent:
			l.logf("session %d: SCSI asynchronous event from the target (ignored)", sid)
		default:
			l.logf("session %d: asynchronous event %d (vendor code %d) not supported; ignored", sid, m.Event, m.VendorCode)
		}
	case iscsi.OpLogoutResponse:
		if !k.logoutSent {
			return nil
		}
		r, _ := iscsi.ParseLogoutResponse(p)
		if r.Response == 2 || r.Response == 3 {
			k.t2w = time.Duration(r.Time2Wait) * time.Second
		}
		return l.recover(k, fmt.Sprintf("logged out (response %d)", r.Response))
	}
	return nil
}

// logout sends the Logout the target asked for (AsyncEvent 1) through the
// kernel; its answer, or its absence, starts the re-login.
func (l *loop) logout(k *kept, within uint16) error {
	if l.other() {
		return l.stepAside()
	}
	if err := l.e.t.SendPDU(k.s.SID, k.s.CID, logoutPDU()); err != nil {
		return l.recover(k, fmt.Sprintf("sending the Logout failed (%v)", err))
	}
	k.logoutSent = true
	k.logoutGen++
	wait := logoutTimeout
	if d := time.Duration(within) * time.Second; d > 0 && d < wait {
		wait = d
	}
	lt := logoutExpired{sid: k.s.SID, gen: k.logoutGen}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			select {
			case l.logouts <- lt:
			case <-l.ctx.Done():
			}
		case <-l.ctx.Done():
		}
	}()
	return nil
}

// recover starts a recovery of k unless one runs.
func (l *loop) recover(k *kept, why string) error {
	if k.rec != nil {
		k.rec.noteError()
		return nil
	}
	if l.other() {
		l.logf("session %d: %s, but iscsid is running: leaving it to iscsid", k.s.SID, why)
		return l.stepAside()
	}
	l.logf("session %d: %s: recovering %s", k.s.SID, why, k.s)
	k.logoutSent = false
	rctx, cancel := context.WithCancel(l.ctx)
	r := &recovery{cancel: cancel, pdus: make(chan []byte, 8), errs: make(chan struct{}, 1), timer: backoff.New(l.policy(), nil)}
	k.rec = r
	t2w := k.t2w
	k.t2w = 0
	s := k.s
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		res := (&recoverer{l: l, s: s, r: r}).run(rctx, t2w)
		select {
		case l.results <- res:
		case <-l.ctx.Done():
		}
	}()
	return nil
}

func (l *loop) policy() backoff.Policy {
	p := backoff.Policy{Initial: l.o.InitialBackoff, Max: l.o.MaxBackoff, Jitter: backoffJitter}
	if p.Initial <= 0 {
		p.Initial = defaultInitialBackoff
	}
	if p.Max <= 0 {
		p.Max = defaultMaxBackoff
	}
	p.Max = max(p.Max, p.Initial)
	return p
}

// finished takes a recovery's result.
func (l *loop) finished(res result) error {
	k := l.kept[res.sid]
	if k == nil {
		return nil // dropped meanwhile
	}
	r := k.rec
	k.rec = nil
	if res.err != nil {
		if l.ctx.Err() == nil {
			l.logf("session %d: recovery stopped: %v", res.sid, res.err)
		}
		return nil
	}
	k.s.Portals = res.portals
	k.s.Resolved = res.resolved
	k.s.Params = res.params
	k.t2w = res.t2w
	l.logf("recovered session %d via %s after %.1fs (%d attempt(s))", res.sid, res.portal, res.took.Seconds(), res.attempts)
	l.reinstate(k, "after its recovery")
	l.switchWorked(k.s.Bond)
	// An error that came after the restart, before this bookkeeping, was
	// handed to the finished recovery: ask sysfs whether it still holds.
	pending := false
	select {
	case <-r.errs:
		pending = true
	default:
	}
	if pending {
		if st, err := l.e.state(res.sid, k.s.CID); err != nil || st.failed() {
			return l.recover(k, "the connection failed again right after the recovery")
		}
	}
	return nil
}

// link kicks the recoveries whose route uses the interface that came up.
func (l *loop) link(le LinkEvent) {
	if !le.Up {
		return
	}
	for _, k := range l.kept {
		if k.rec != nil && l.routesVia(k.s, le) {
			name := le.Name
			if name == "" {
				name = fmt.Sprintf("interface %d", le.Index)
			}
			l.logf("session %d: %s came up; reconnecting now", k.s.SID, name)
			k.rec.timer.Kick()
		}
	}
}

// routesVia reports whether s's portals are reached through le's
// interface (or the bond it is a port of). When that cannot be told, any
// interface counts: a needless retry costs one connect.
func (l *loop) routesVia(s Session, le LinkEvent) bool {
	if s.Interface != "" && le.Name == s.Interface {
		return true
	}
	known := false
	for _, p := range s.Portals {
		for _, ap := range literalAddrs(s, p) {
			idx, err := l.e.route(ap.Addr())
			if err != nil {
				continue
			}
			known = true
			if idx == le.Index || (le.MasterIndex != 0 && idx == le.MasterIndex) {
				return true
			}
		}
	}
	return !known
}

// literalAddrs are the addresses of portal known without a lookup: the
// portal itself, or what it resolved to.
func literalAddrs(s Session, portal string) []netip.AddrPort {
	if ap, err := netip.ParseAddrPort(portal); err == nil {
		return []netip.AddrPort{ap}
	}
	var out []netip.AddrPort
	for _, a := range s.Resolved[portal] {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			out = append(out, ap)
		}
	}
	return out
}

// primeResolved resolves host-name portals that have no address yet while
// the resolver this process started with may still work (before
// switch_root).
func (l *loop) primeResolved() {
	for _, k := range l.kept {
		for _, p := range k.s.Portals {
			host, port, err := net.SplitHostPort(p)
			if err != nil || len(k.s.Resolved[p]) > 0 {
				continue
			}
			if _, err := netip.ParseAddr(host); err == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(l.ctx, 2*time.Second)
			addrs, err := l.e.resolve(ctx, host)
			cancel()
			if err != nil || len(addrs) == 0 {
				continue
			}
			if k.s.Resolved == nil {
				k.s.Resolved = map[string][]string{}
			}
			for _, a := range addrs {
				k.s.Resolved[p] = append(k.s.Resolved[p], net.JoinHostPort(a.Unmap().String(), port))
			}
		}
	}
}

// recoverer reconnects one session.
type recoverer struct {
	l *loop
	s Session
	r *recovery
	// portals is the list to dial; a permanent redirect replaces an entry.
	portals  []string
	attempts int
	logged   int
	// last is the last attempt's error.
	last error

	mu sync.Mutex // the connects resolve concurrently
	// resolved is the latest known address list of each host-name portal.
	resolved map[string][]string
	// next counts connects per portal, to rotate over its addresses.
	next map[string]int
	// join is set when rc makes a join's new session instead (its s is
	// the join's Session).
	join *Join
}

// resolvedCopy is rc.resolved, for the result.
func (rc *recoverer) resolvedCopy() map[string][]string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.resolved) == 0 {
		return nil
	}
	out := make(map[string][]string, len(rc.resolved))
	for p, a := range rc.resolved {
		out[p] = append([]string(nil), a...)
	}
	return out
}

// run reconnects r.s until it succeeds or ctx ends, as iscsid does for
// ERL 0: stop the failed connection for recovery (the session and its
// disks stay, I/O waits), wait Time2Wait, connect (overlapping connects on
// a capped, jittered schedule that link events restart), log in through
// the kernel reinstating the session, set the parameters, start it.
func (rc *recoverer) run(ctx context.Context, t2w time.Duration) result {
	l, s := rc.l, rc.s
	start := time.Now()
	rc.begin()
	res := func(err error) result {
		return result{sid: s.SID, err: err, portals: rc.portals, resolved: rc.resolvedCopy(), params: rc.s.Params,
			attempts: rc.attempts, took: time.Since(start), last: rc.last}
	}
	ks := s.KernelSession()
	// Stopping for recovery releases the old socket and hands the
	// commands in flight back to the SCSI layer for a retry; the session
	// stays, blocked.
	if err := l.e.t.StopConnection(ks.SID, ks.CID); err != nil {
		l.logf("session %d: stopping the failed connection: %v", ks.SID, err)
	}
	if t2w > 0 {
		l.logf("session %d: waiting %s (Time2Wait) before reconnecting", s.SID, t2w)
		t := time.NewTimer(t2w)
		select {
		case <-ctx.Done():
			t.Stop()
			return res(ctx.Err())
		case <-t.C:
		}
	}
	sess, portal, err := rc.loginLoop(ctx, rc.login)
	if err != nil {
		return res(err)
	}
	r := res(nil)
	r.portal = portal
	r.t2w = time.Duration(sess.Params.DefaultTime2Wait) * time.Second
	return r
}

// begin sets up the recoverer's portals and addresses from rc.s.
func (rc *recoverer) begin() {
	rc.portals = append([]string(nil), rc.s.Portals...)
	rc.resolved = map[string][]string{}
	for p, a := range rc.s.Resolved {
		rc.resolved[p] = append([]string(nil), a...)
	}
	rc.next = map[string]int{}
}

// loginFunc logs in over conn to portal: a recovery's through the
// kernel (recoverer.login), a join's in userspace before the kernel
// takes the connection (joiner.login). errAfter says the connection
// failed right after it started.
type loginFunc func(ctx context.Context, conn net.Conn, portal string) (sess *iscsi.Session, errAfter bool, err error)

// loginLoop connects and logs in with login until a login succeeds or
// ctx ends: redirects are followed, a target that now requires digests
// gets them offered, and every other failure waits for the schedule.
func (rc *recoverer) loginLoop(ctx context.Context, login loginFunc) (*iscsi.Session, string, error) {
	l, s := rc.l, rc.s
	ks := s.KernelSession()
	now := true // the first connect goes at once
	// A redirect is followed at once; chainFrom is the portal of the list
	// the chain started at (a permanent redirect replaces it).
	var redirect, chainFrom string
	hops := 0
	for {
		targets := rc.portals
		if redirect != "" {
			targets = []string{redirect}
		}
		conn, portal, err := rc.connect(ctx, targets, now, redirect != "")
		if errors.Is(err, errNoAnswer) {
			// The portal a target redirected to does not answer: back to
			// the list.
			redirect, chainFrom, hops, now = "", "", 0, false
			continue
		}
		if err != nil {
			return nil, "", err
		}
		now = false
		rc.attempts++
		sess, errAfter, err := login(ctx, conn, portal)
		conn.Close() // the kernel holds its own reference once bound
		if err == nil {
			if errAfter {
				l.logf("session %d: the connection via %s failed right after it started; reconnecting", s.SID, portal)
				if serr := l.e.t.StopConnection(ks.SID, ks.CID); serr != nil {
					l.logf("session %d: stopping the connection: %v", ks.SID, serr)
				}
				now, redirect, chainFrom, hops = true, "", "", 0
				continue
			}
			return sess, portal, nil
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		var le *iscsi.LoginError
		if errors.As(err, &le) && le.IsRedirect() && hops < maxRedirects {
			hops++
			if chainFrom == "" {
				chainFrom = portal
			}
			if le.StatusDetail == 0x02 {
				// Moved permanently: the new portal replaces the old one
				// for this and later recoveries.
				l.logf("%s: %s moved permanently to %s", rc.who(), portal, le.Redirect)
				for i, p := range rc.portals {
					if p == chainFrom {
						rc.portals[i] = le.Redirect
					}
				}
				chainFrom = le.Redirect
			} else {
				l.logf("%s: %s redirects to %s for now", rc.who(), portal, le.Redirect)
			}
			redirect, now = le.Redirect, true
			continue
		}
		// A temporary redirect holds for one attempt: the next one starts
		// at the original portals again (as open-iscsi's failback).
		redirect, chainFrom, hops = "", "", 0
		if c, ok := iscsi.RetryWithDigests(rc.s.LoginConfig(portal), err); ok {
			// The target requires digests now (its configuration
			// changed since the boot's login).
			l.logf("%s: attempt %d via %s: %v; offering digests (CRC32C,None) from now on", rc.who(), rc.attempts, portal, err)
			rc.s.Params, now = c.Params, true
			continue
		}
		rc.last = err
		rc.logf("%s: attempt %d via %s: %v", rc.who(), rc.attempts, portal, err)
	}
}

// who names what rc logs in for: a session, or a join's path.
func (rc *recoverer) who() string {
	if rc.join != nil {
		return rc.join.String()
	}
	return fmt.Sprintf("session %d", rc.s.SID)
}

// attemptTimeout bounds one login (Options.AttemptTimeout).
func (l *loop) attemptTimeout() time.Duration {
	if l.o.AttemptTimeout > 0 {
		return l.o.AttemptTimeout
	}
	return 10 * time.Second
}

// logf logs the first failures and then every tenth.
func (rc *recoverer) logf(format string, args ...any) {
	rc.logged++
	if rc.logged <= 3 || rc.logged%10 == 0 {
		rc.l.logf(format, args...)
	}
}

type dialed struct {
	conn   net.Conn
	portal string
	err    error
	// gen is the bond's failover generation when the connect began;
	// silent says it got no answer at all (paths_linux.go).
	gen    dialGen
	silent bool
}

// errNoAnswer ends a connect that was to be tried once.
var errNoAnswer = errors.New("no answer")

// connect dials the targets on the schedule until one answers: every step
// starts a connect to each portal (a connect that hangs, its SYNs lost on
// a dead path, does not hold back the next one), and a kick starts one at
// once. The other connects are abandoned. With once, a first round that
// fails returns errNoAnswer.
func (rc *recoverer) connect(ctx context.Context, targets []string, now, once bool) (net.Conn, string, error) {
	l := rc.l
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan dialed)
	inflight := map[string]int{}
	pending := 0
	defer func() {
		// Close what still connects after the winner.
		if pending > 0 {
			go func(n int) {
				for range n {
					if d := <-results; d.conn != nil {
						d.conn.Close()
					}
				}
			}(pending)
		}
	}()
	dial := l.o.Dial
	if dial == nil {
		dial = iscsi.DialContext
	}
	timeout := min(l.attemptTimeout(), maxConnectTimeout)
	launch := func() {
		for _, p := range targets {
			if inflight[p] >= maxConnectsPerAddr {
				continue
			}
			inflight[p]++
			pending++
			gen := rc.generation()
			go func(portal string) {
				cctx, ccancel := context.WithTimeout(iscsi.WithDevice(dctx, rc.s.Device), timeout)
				defer ccancel()
				addr := rc.address(cctx, portal)
				c, err := dial(cctx, "tcp", addr)
				silent := err != nil && dctx.Err() == nil && unansweredDial(err, cctx.Err() != nil)
				if err != nil && addr != portal {
					err = fmt.Errorf("%s (%s): %w", portal, addr, err)
				}
				results <- dialed{conn: c, portal: portal, err: err, gen: gen, silent: silent}
			}(p)
		}
	}
	var wait time.Duration
	if !now {
		wait = rc.r.timer.Next()
	}
	step := time.NewTimer(wait)
	defer step.Stop()
	launched := false
	for {
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-rc.r.timer.Kicked():
			launch()
			if !step.Stop() {
				select {
				case <-step.C:
				default:
				}
			}
			step.Reset(rc.r.timer.Next())
		case <-step.C:
			if once && launched {
				continue
			}
			launch()
			launched = true
			step.Reset(rc.r.timer.Next())
		case <-rc.r.errs:
			// The stopped connection's late error: nothing to do.
		case d := <-results:
			pending--
			inflight[d.portal]--
			if d.err == nil {
				return d.conn, d.portal, nil
			}
			if ctx.Err() == nil {
				rc.attempts++
				rc.last = fmt.Errorf("connect: %w", d.err)
				rc.logf("%s: attempt %d: connect: %v", rc.who(), rc.attempts, d.err)
				if d.silent && d.gen.ok {
					rc.switchSlave(d.gen.gen, d.portal, d.err)
				}
			}
			if once && pending == 0 {
				return nil, "", errNoAnswer
			}
		}
	}
}

// address is what to dial for portal: the portal when it is an address;
// else the name resolved now (with the real root's resolver), or failing
// that the address it had before.
func (rc *recoverer) address(ctx context.Context, portal string) string {
	host, port, err := net.SplitHostPort(portal)
	if err != nil {
		return portal
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return portal
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	addrs, err := rc.l.e.resolve(rctx, host)
	cancel()
	var cands []string
	if err == nil {
		for _, a := range addrs {
			cands = append(cands, net.JoinHostPort(a.Unmap().String(), port))
		}
	}
	rc.mu.Lock()
	if len(cands) > 0 {
		rc.resolved[portal] = cands
	} else {
		cands = rc.resolved[portal]
	}
	n := rc.next[portal]
	rc.next[portal]++
	rc.mu.Unlock()
	if len(cands) == 0 {
		return portal // the dialer's own resolver, last
	}
	return cands[n%len(cands)]
}

// login binds conn to the session's kernel connection and logs in
// through the kernel. A connection error meanwhile ends the attempt at
// once; one after the start (errAfter) is checked against sysfs.
func (rc *recoverer) login(ctx context.Context, conn net.Conn, portal string) (sess *iscsi.Session, errAfter bool, err error) {
	l, s := rc.l, rc.s
	actx, cancel := context.WithTimeout(ctx, l.attemptTimeout())
	defer cancel()
	for len(rc.r.pdus) > 0 { // left from an earlier attempt
		<-rc.r.pdus
	}
	select { // an error of the connection stopped before
	case <-rc.r.errs:
	default:
	}
	var errSeen, hungUp atomic.Bool
	done := make(chan struct{})
	var watchers sync.WaitGroup
	watchers.Add(2)
	go func() {
		defer watchers.Done()
		select {
		case <-rc.r.errs:
			errSeen.Store(true)
			cancel()
		case <-done:
		}
	}()
	// The kernel reports no error for a connection that is not started
	// yet: a target that resets it during the login is seen on the socket.
	go func() {
		defer watchers.Done()
		if watchHangup(conn, done) {
			hungUp.Store(true)
			// A target that refuses or redirects closes after its
			// answer: give that answer, on its way through the kernel,
			// time to arrive.
			t := time.AfterFunc(hangupGrace, cancel)
			<-done
			t.Stop()
		}
	}()
	sess, err = iscsi.Rebind(actx, l.e.t, conn, s.KernelSession(), s.LoginConfig(portal), s.KernelOptions(), rc.r.pdus)
	close(done)
	watchers.Wait()
	if err != nil {
		switch {
		case ctx.Err() != nil:
		case hungUp.Load():
			err = fmt.Errorf("the target closed the connection during the login: %w", err)
		case errSeen.Load():
			err = fmt.Errorf("the connection failed during the login: %w", err)
		}
		return nil, false, err
	}
	pending := false
	select {
	case <-rc.r.errs:
		pending = true
	default:
	}
	if errSeen.Load() || pending {
		st, serr := l.e.state(s.SID, s.CID)
		if serr != nil || st.failed() {
			return sess, true, nil
		}
	}
	return sess, false, nil
}

// hangupGrace is how long a login may go on after the target closed the
// connection.
const hangupGrace = time.Second

// watchHangup reports whether the peer closed or reset conn before done
// is closed. It only polls the socket (the kernel reads it), beside a
// pipe that done's closing writes to, so it sleeps until one of them
// says something.
func watchHangup(conn net.Conn, done <-chan struct{}) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return false
	}
	stop := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-done:
			unix.Write(p[1], []byte{0})
		case <-stop:
		}
	}()
	defer func() {
		close(stop)
		<-ended
		unix.Close(p[0])
		unix.Close(p[1])
	}()
	hung := false
	raw.Control(func(fd uintptr) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}, {Fd: int32(p[0]), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(pfd, -1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || pfd[1].Revents != 0 {
				return
			}
			if n > 0 && pfd[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0 {
				hung = true
				return
			}
		}
	})
	return hung
}

// rawPDU is a PDU for SEND_PDU (iscsinl.PduLike).
type rawPDU struct{ hdr, data []byte }

func (p rawPDU) HeaderLen() uint32 { return uint32(len(p.hdr)) }
func (p rawPDU) DataLen() uint32   { return uint32(len(p.data)) }
func (p rawPDU) Serialize() []byte { return append(append([]byte(nil), p.hdr...), p.data...) }

// scanOtherLUNs scans the other LUNs of the sessions /init asked it to
// (Session.ScanOtherLUNs), each on its own. The loop does not wait for
// them: a scan of a session that is down waits for its recovery, which
// the loop does.
func (l *loop) scanOtherLUNs() {
	if l.e.scan == nil {
		return
	}
	for _, s := range l.st.Sessions {
		if !s.ScanOtherLUNs {
			continue
		}
		go func() {
			start := time.Now()
			if err := l.e.scan(s.HostNo, iscsi.AllLUNs); err != nil {
				l.logf("session %d: scanning the other LUNs of %s, as open-iscsi's node.session.scan=auto does: %v", s.SID, s.TargetName, err)
				return
			}
			l.logf("session %d: the other LUNs of %s scanned (SCSI host %d) in %s", s.SID, s.TargetName, s.HostNo, time.Since(start).Round(time.Millisecond))
		}()
	}
}
