package keeper

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/multipath"
	"github.com/netroot/netroot/pkg/sysfs"
)

// Paths. A session whose disk is a path of a multipath map (Session.Map)
// is put back into the map once the keeper recovered it: the kernel
// failed the path when its I/O failed during the outage, and dm-multipath
// never reinstates a path by itself (multipathd's path checker does, once
// it runs; the keeper leaves the map to it then). The keeper also checks
// the maps on its tick, for a path failed while its session stayed up.
//
// A session whose path leaves by an active-backup bond (Session.Bond)
// gets the bond's dead-path switch: a connect of a recovery that gets no
// answer while the active slave has carrier makes the next slave with
// carrier active (bond.Failover), as /init does at boot.

// multipathdTimeout bounds the keeper's question to multipathd.
const multipathdTimeout = 500 * time.Millisecond

// MultipathdRunning reports whether multipath-tools' multipathd serves
// its maps: it answers "show daemon" on its socket
// (multipath.DaemonSocket) with a state past its start-up. A connect
// alone is not enough: systemd's multipathd.socket listens from early
// boot, before multipathd.service runs and also when it never does.
func MultipathdRunning() bool {
	st, err := askMultipathd(multipath.DaemonSocket, multipathdTimeout)
	return err == nil && st.Serving()
}

// askMultipathd asks the multipathd on socket for its state.
func askMultipathd(socket string, timeout time.Duration) (multipath.DaemonState, error) {
	c, err := net.DialTimeout("unix", socket, timeout)
	if err != nil {
		return multipath.DaemonState{}, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return multipath.DaemonState{}, err
	}
	req, err := multipath.EncodeRequest("show daemon")
	if err != nil {
		return multipath.DaemonState{}, err
	}
	if _, err := c.Write(req); err != nil {
		return multipath.DaemonState{}, err
	}
	reply, err := multipath.ReadReply(c)
	if err != nil {
		return multipath.DaemonState{}, err
	}
	return multipath.ParseDaemonState(reply)
}

// reinstate puts k's path back into its map if the map has it failed.
// why is logged.
func (l *loop) reinstate(k *kept, why string) {
	s := k.s
	if s.Map == "" || l.e.maps == nil {
		return
	}
	if l.multipathdServes() {
		if !l.mpathdLogged {
			l.logf("multipathd runs: it checks and reinstates the paths of %s now", s.Map)
			l.mpathdLogged = true
		}
		return
	}
	if l.mpathdLogged {
		l.logf("multipathd no longer answers: the keeper reinstates the paths of %s again", s.Map)
		l.mpathdLogged = false
	}
	st, err := multipath.GetStatus(l.e.maps, s.Map)
	if err != nil {
		if !k.mapErrLogged {
			l.logf("session %d: %v", s.SID, err)
			k.mapErrLogged = true
		}
		return
	}
	k.mapErrLogged = false
	p, ok := st.Path(s.PathDev)
	if !ok {
		if !k.mapErrLogged {
			l.logf("session %d: path %s is no longer in map %s (%s)", s.SID, s.PathDev, s.Map, st)
			k.mapErrLogged = true
		}
		return
	}
	if p.Active {
		return
	}
	if err := multipath.ReinstatePath(l.e.maps, s.Map, s.PathDev); err != nil {
		l.logf("session %d: %v", s.SID, err)
		return
	}
	after := ""
	if st2, err := multipath.GetStatus(l.e.maps, s.Map); err == nil {
		after = " (" + st2.String() + ")"
	}
	l.logf("session %d: path %s back in multipath map %s %s%s", s.SID, s.PathDev, s.Map, why, after)
}

// multipathdAnswerTTL is how long multipathd's answer stands: one
// question serves the sessions of a tick (each tick asks anew).
const multipathdAnswerTTL = time.Second

// multipathdServes reports whether multipathd serves the maps now.
func (l *loop) multipathdServes() bool {
	if l.e.multipathd == nil {
		return false
	}
	if l.mpathdAsked.IsZero() || time.Since(l.mpathdAsked) >= multipathdAnswerTTL {
		l.mpathdServes, l.mpathdAsked = l.e.multipathd(), time.Now()
	}
	return l.mpathdServes
}

// checkPaths reinstates the failed paths whose sessions are up.
func (l *loop) checkPaths() {
	if l.e.maps == nil {
		return
	}
	for sid, k := range l.kept {
		if k.s.Map == "" || k.rec != nil || k.logoutSent {
			continue
		}
		st, err := l.e.state(sid, k.s.CID)
		if err != nil || st.failed() {
			continue
		}
		l.reinstate(k, "as its session is up")
	}
}

// unansweredDial reports whether a connect's error means that nothing came
// back over the path: its own deadline passed (no SYN-ACK) or no
// neighbour answered ARP. A refusal is an answer; a connect abandoned
// because another one won is not a failure.
func unansweredDial(err error, connectExpired bool) bool {
	if connectExpired {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EHOSTUNREACH)
}

// Switching slaves while the target itself is away (or every path is)
// helps nothing: after each switch that brought no session back, the next
// waits twice as long, from two connects' timeout up to a minute.
// Variables for the tests.
var (
	minSwitchGap = 2 * maxConnectTimeout
	maxSwitchGap = time.Minute
)

// bondSwitch is a bond's Failover and the pace of its switches.
type bondSwitch struct {
	f    *bond.Failover
	last time.Time
	gap  time.Duration
}

// switchSlave makes another slave of the session's bond active after a
// connect begun at generation gen got no answer, unless the last switch
// is too recent; it kicks the recovery's schedule so the next connect
// goes over the new slave at once.
func (rc *recoverer) switchSlave(gen uint64, portal string, cause error) {
	l := rc.l
	bs := l.bondSwitch(rc.s.Bond)
	if bs == nil {
		return
	}
	l.fmu.Lock()
	early := !bs.last.IsZero() && time.Since(bs.last) < bs.gap
	l.fmu.Unlock()
	if early {
		return
	}
	sw, err := bs.f.Switch(gen)
	var ns *bond.NoStandbyError
	switch {
	case err == nil:
		l.fmu.Lock()
		bs.last, bs.gap = time.Now(), min(max(2*bs.gap, minSwitchGap), maxSwitchGap)
		l.fmu.Unlock()
		l.logf("%s: no answer from %s over %s's active slave %s although it has carrier (%v): made %s the active slave",
			rc.who(), portal, rc.s.Bond, sw.From, cause, sw.To)
		rc.r.timer.Kick()
	case errors.Is(err, bond.ErrSwitchedMeanwhile):
	case errors.As(err, &ns):
		rc.logf("%s: no answer from %s over %s, and no slave to switch to: %v", rc.who(), portal, rc.s.Bond, err)
	default:
		rc.logf("%s: %v", rc.who(), err)
	}
}

// switchWorked resets the pace of name's switches: a session came back.
func (l *loop) switchWorked(name string) {
	if bs := l.bondSwitch(name); bs != nil {
		l.fmu.Lock()
		bs.last, bs.gap = time.Time{}, 0
		l.fmu.Unlock()
	}
}

// bondSwitch is bond name's switch, made once ("" or none known: nil).
func (l *loop) bondSwitch(name string) *bondSwitch {
	if name == "" || l.e.failover == nil {
		return nil
	}
	l.fmu.Lock()
	defer l.fmu.Unlock()
	if l.failovers == nil {
		l.failovers = map[string]*bondSwitch{}
	}
	bs, ok := l.failovers[name]
	if !ok {
		bs = &bondSwitch{f: l.e.failover(name)}
		l.failovers[name] = bs
	}
	return bs
}

// sysfsFailover is bond name's Failover over the sysfs the keeper opened
// before switch_root.
func sysfsFailover(sys sysfs.FS, name string) *bond.Failover {
	return &bond.Failover{
		Bond:  name,
		Ports: func() (string, []bond.Port, error) { return bond.ReadPorts(sys.ReadTrim, name) },
		SetActive: func(slave string) error {
			return sys.Write("class/net/"+name+"/bonding/active_slave", slave)
		},
	}
}

// openMaps opens device-mapper's control when a session is a path of a
// map; nil (and a log line) when it cannot.
func openMaps(st State, open func() (multipath.Control, error), logf func(string, ...any)) multipath.Control {
	for _, s := range st.Sessions {
		if s.Map == "" {
			continue
		}
		c, err := open()
		if err != nil {
			logf("multipath: %v: failed paths will not be reinstated until multipathd runs", err)
			return nil
		}
		return c
	}
	return nil
}

// dialGen is a connect's failover generation, taken before it starts.
type dialGen struct {
	gen uint64
	ok  bool
}

func (rc *recoverer) generation() dialGen {
	if bs := rc.l.bondSwitch(rc.s.Bond); bs != nil {
		return dialGen{gen: bs.f.Generation(), ok: true}
	}
	return dialGen{}
}
