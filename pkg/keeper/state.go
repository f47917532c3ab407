// Package keeper keeps the iSCSI sessions of a network root alive after
// switch_root: it listens for the kernel's connection-error events on the
// iSCSI netlink socket and recovers a failed connection as iscsid does
// (stop it for recovery, wait Time2Wait, connect again on a capped,
// jittered schedule that a link coming back restarts, log in through the
// kernel reinstating the same session — following the target's redirects
// —, set the parameters, start it). It also acts on the target's
// asynchronous messages (logout requests, dropped connections,
// renegotiation), and checks the sessions in sysfs when it starts and
// whenever events may have been lost, so that no failure goes unseen.
// Once it has the sessions it scans the other LUNs of those /init asks
// it to (Session.ScanOtherLUNs), so that switch_root need not wait.
// It logs in to the paths of a multipath root whose login failed at boot
// once they answer, and adds their disks to the map (State.Joins,
// join_linux.go).
//
// /init starts it just before switch_root by re-executing its own binary
// with argv[0] "@netroot-keeper" (systemd's root storage daemon
// convention, so systemd spares it at switch_root and shutdown), handing
// it the State over a pipe. The keeper needs no file afterwards: it keeps
// everything in memory and its root and working directory stay on the
// initramfs, so it never keeps the real root busy. It runs as two
// processes, the keeper and its guard, that restart each other
// (Process, supervise.go), out of the OOM killer's reach and locked in
// memory (harden_linux.go).
//
// The pure parts (State encoding, event parsing, sysfs and resolver
// files) run anywhere; the netlink loop is Linux-only.
package keeper

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/multipath"
)

// ProcessName is the keeper's argv[0]. The leading '@' marks it as a root
// storage daemon for systemd (https://systemd.io/ROOT_STORAGE_DAEMONS/).
const ProcessName = "@netroot-keeper"

// MaxStateBytes bounds the encoded State read from the pipe.
const MaxStateBytes = 1 << 20

// State is everything the keeper needs, handed over by /init.
type State struct {
	// TransportHandle is iscsi_tcp's handle
	// (/sys/class/iscsi_transport/tcp/handle), read before switch_root.
	TransportHandle uint64
	Sessions        []Session
	// Joins are the paths of a multipath map whose login failed at boot:
	// the keeper logs in to each once it answers and adds its disk to the
	// map (join_linux.go).
	Joins []Join `json:",omitempty"`
	// Maps are the multipath maps the Joins join, as /init made them.
	Maps []Map `json:",omitempty"`
}

// Join is a path of a multipath map to log in to after the boot. Its
// Session holds the login (names, portals, ISID, credentials, parameters,
// kernel options, interfaces) and Map the map it joins; its SID, CID,
// HostNo and PathDev are 0 and empty: the session is yet to be made.
type Join struct {
	Session
	// LUN is the map's LUN on this path.
	LUN uint64
	// CmdsMax and QueueDepth size the kernel's session
	// (node.session.cmds_max, node.session.queue_depth; 0: the kernel
	// transport's defaults), as /init sized the others.
	CmdsMax, QueueDepth uint16 `json:",omitempty"`
}

// String describes the path without secrets.
func (j Join) String() string {
	return fmt.Sprintf("path %s of map %s (%s LUN %d)", strings.Join(j.Portals, ","), j.Map, j.TargetName, j.LUN)
}

// Map is a multipath map as /init made it: enough to load its table
// again with one more path (multipath.Reload).
type Map struct {
	Name, WWID string
	Sectors    uint64
	Config     multipath.Config
	Paths      []multipath.Path
}

// Session is one kernel session to keep alive.
type Session struct {
	SID, CID, HostNo uint32
	InitiatorName    string
	TargetName       string
	// Portals are tried in order on every recovery attempt ("host:port").
	Portals     []string
	ISID        iscsi.ISID
	Credentials iscsi.Credentials
	// CHAPAlgorithms is the algorithm the first login settled on.
	CHAPAlgorithms []iscsi.CHAPAlgorithm `json:",omitempty"`
	// Params are the rd.iscsi.param= login keys.
	Params []iscsi.KeyValue `json:",omitempty"`
	// Kernel settings re-applied after each recovery.
	RecoveryTimeoutSec int
	NoopIntervalSec    int
	NoopTimeoutSec     int
	// RecoveryTimeoutSet says RecoveryTimeoutSec was configured
	// (node.session.timeo.replacement_timeout): 0 then fails I/O at once,
	// as in open-iscsi, instead of meaning netroot's one day.
	RecoveryTimeoutSet bool `json:",omitempty"`
	// DefaultTime2WaitSec is the negotiated DefaultTime2Wait: how long to
	// wait after the connection is lost before reconnecting (RFC 7143
	// §13.15). Asynchronous messages and Logout Responses replace it.
	DefaultTime2WaitSec int `json:",omitempty"`
	// Resolved holds, for each portal given as a host name, the
	// addresses ("ip:port") it resolved to at boot: dialled when the name
	// cannot be resolved after switch_root (the initramfs's resolver
	// files are gone; the real root's are asked first).
	Resolved map[string][]string `json:",omitempty"`
	// Device is the interface the session's connections are bound to
	// (netroot='s <netdev_name>, open-iscsi's iface.net_ifacename); empty:
	// the routing table decides.
	Device string `json:",omitempty"`
	// Interface is the interface the session's route used at boot (the
	// bond, say): a link or address coming up on it or one of its ports
	// makes a recovery retry at once. Empty: the routing table decides.
	Interface string `json:",omitempty"`
	// Bond is the active-backup bond the session's path leaves by: when a
	// recovery's connects get no answer while another of its slaves has
	// carrier, the keeper makes that one active (bond.Failover), as /init
	// does. Empty: none.
	Bond string `json:",omitempty"`
	// Map is the device-mapper multipath map the session's disk is a
	// path of, PathDev that disk ("major:minor"): once the session is
	// recovered, the keeper reinstates the path in the map (the kernel
	// failed it while the session was down). Empty: no map.
	Map     string `json:",omitempty"`
	PathDev string `json:",omitempty"`
	// ScanOtherLUNs asks the keeper to scan the target's every LUN once
	// it has the session (open-iscsi's node.session.scan=auto: the real
	// OS may mount another LUN of the root's target), when /init scanned
	// only the root's: beside switch_root, which a scan in /init would
	// hold.
	ScanOtherLUNs bool `json:",omitempty"`
}

// String describes the session without secrets.
func (s Session) String() string {
	return fmt.Sprintf("session %d (%s on %s)", s.SID, s.TargetName, strings.Join(s.Portals, ","))
}

// LoginConfig is the login that reinstates the session at portal.
func (s Session) LoginConfig(portal string) iscsi.LoginConfig {
	return iscsi.LoginConfig{
		InitiatorName:  s.InitiatorName,
		TargetName:     s.TargetName,
		Portal:         portal,
		Device:         s.Device,
		ISID:           s.ISID,
		Credentials:    s.Credentials,
		CHAPAlgorithms: s.CHAPAlgorithms,
		Params:         s.Params,
	}
}

// KernelOptions are the kernel settings of the session.
func (s Session) KernelOptions() iscsi.KernelOptions {
	return iscsi.KernelOptions{RecoveryTimeoutSec: s.RecoveryTimeoutSec, RecoveryTimeoutSet: s.RecoveryTimeoutSet,
		NoopIntervalSec: s.NoopIntervalSec, NoopTimeoutSec: s.NoopTimeoutSec}
}

// KernelSession names the kernel objects of the session.
func (s Session) KernelSession() iscsi.KernelSession {
	return iscsi.KernelSession{SID: s.SID, CID: s.CID, HostNo: s.HostNo}
}

// credJSON carries credentials through the pipe (Credentials itself has
// no exported JSON form on purpose; the pipe never touches a file).
type credJSON struct {
	Username, Password, InUsername, InPassword string `json:",omitempty"`
}

type sessionJSON struct {
	Session
	ISID        string
	Credentials credJSON
}

type joinJSON struct {
	sessionJSON
	LUN                 uint64
	CmdsMax, QueueDepth uint16 `json:",omitempty"`
}

type stateJSON struct {
	TransportHandle uint64
	Sessions        []sessionJSON
	Joins           []joinJSON `json:",omitempty"`
	Maps            []Map      `json:",omitempty"`
}

func encodeSession(s Session) sessionJSON {
	c := s.Credentials
	return sessionJSON{Session: s, ISID: s.ISID.String(), Credentials: credJSON{c.Username, c.Password, c.InUsername, c.InPassword}}
}

// Encode serialises st for the pipe to the keeper. The result holds the
// CHAP secrets: never write it to a file or a log.
func Encode(st State) ([]byte, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	out := stateJSON{TransportHandle: st.TransportHandle, Maps: st.Maps}
	for _, s := range st.Sessions {
		out.Sessions = append(out.Sessions, encodeSession(s))
	}
	for _, j := range st.Joins {
		out.Joins = append(out.Joins, joinJSON{sessionJSON: encodeSession(j.Session), LUN: j.LUN, CmdsMax: j.CmdsMax, QueueDepth: j.QueueDepth})
	}
	return json.Marshal(out)
}

// decodeSession is the Session sj carries.
func decodeSession(sj sessionJSON) (Session, error) {
	s := sj.Session
	if len(sj.ISID) != 12 {
		return Session{}, fmt.Errorf("keeper: session %d: ISID %q is not 6 hex bytes", s.SID, sj.ISID)
	}
	for i := range s.ISID {
		var v byte
		if _, err := fmt.Sscanf(sj.ISID[2*i:2*i+2], "%02x", &v); err != nil {
			return Session{}, fmt.Errorf("keeper: session %d: ISID %q: %w", s.SID, sj.ISID, err)
		}
		s.ISID[i] = v
	}
	c := sj.Credentials
	s.Credentials = iscsi.Credentials{Username: c.Username, Password: c.Password, InUsername: c.InUsername, InPassword: c.InPassword}
	return s, nil
}

// Decode parses and validates what Encode wrote.
func Decode(b []byte) (State, error) {
	if len(b) > MaxStateBytes {
		return State{}, fmt.Errorf("keeper: state of %d bytes exceeds %d", len(b), MaxStateBytes)
	}
	var in stateJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return State{}, fmt.Errorf("keeper: decoding the state: %w", err)
	}
	st := State{TransportHandle: in.TransportHandle, Maps: in.Maps}
	for _, sj := range in.Sessions {
		s, err := decodeSession(sj)
		if err != nil {
			return State{}, err
		}
		st.Sessions = append(st.Sessions, s)
	}
	for _, jj := range in.Joins {
		s, err := decodeSession(jj.sessionJSON)
		if err != nil {
			return State{}, err
		}
		st.Joins = append(st.Joins, Join{Session: s, LUN: jj.LUN, CmdsMax: jj.CmdsMax, QueueDepth: jj.QueueDepth})
	}
	return st, st.Validate()
}

// Validate checks that every session can be recovered and every join
// logged in to.
func (st State) Validate() error {
	if len(st.Sessions) == 0 {
		return errors.New("keeper: no sessions to keep")
	}
	seen := map[uint32]bool{}
	isids := map[string]bool{}
	for _, s := range st.Sessions {
		who := fmt.Sprintf("session %d", s.SID)
		if seen[s.SID] {
			return fmt.Errorf("keeper: %s listed twice", who)
		}
		seen[s.SID] = true
		if err := s.check(who); err != nil {
			return err
		}
		if (s.Map == "") != (s.PathDev == "") || s.PathDev != "" && !validDev(s.PathDev) {
			return fmt.Errorf("keeper: %s: multipath map %q with path %q (want both, the path as major:minor)", who, s.Map, s.PathDev)
		}
		isids[s.TargetName+"\x00"+s.ISID.String()] = true
	}
	maps := map[string]bool{}
	for _, m := range st.Maps {
		if err := m.check(); err != nil {
			return err
		}
		if maps[m.Name] {
			return fmt.Errorf("keeper: multipath map %s listed twice", m.Name)
		}
		maps[m.Name] = true
	}
	for i, j := range st.Joins {
		who := fmt.Sprintf("join %d", i)
		if err := j.check(who); err != nil {
			return err
		}
		switch k := j.TargetName + "\x00" + j.ISID.String(); {
		case j.SID != 0 || j.CID != 0 || j.HostNo != 0 || j.PathDev != "":
			return fmt.Errorf("keeper: %s: has a session already (%d)", who, j.SID)
		case !maps[j.Map]:
			return fmt.Errorf("keeper: %s: map %q is not among the maps", who, j.Map)
		case isids[k]:
			// A second login with a session's ISID would reinstate, and so
			// end, that session (RFC 7143 §6.3.5).
			return fmt.Errorf("keeper: %s: ISID %s of %s is another session's", who, j.ISID, j.TargetName)
		case j.LUN > 1<<48:
			return fmt.Errorf("keeper: %s: LUN %d out of range", who, j.LUN)
		}
		isids[j.TargetName+"\x00"+j.ISID.String()] = true
	}
	return nil
}

// check checks the login fields of s (a session or a join), named who.
func (s Session) check(who string) error {
	switch {
	case s.InitiatorName == "" || s.TargetName == "":
		return fmt.Errorf("keeper: %s lacks the initiator or target name", who)
	case len(s.Portals) == 0:
		return fmt.Errorf("keeper: %s has no portal", who)
	case s.ISID == (iscsi.ISID{}):
		return fmt.Errorf("keeper: %s has no ISID (reinstatement needs the original one)", who)
	}
	for _, p := range s.Portals {
		if _, _, err := net.SplitHostPort(p); err != nil {
			return fmt.Errorf("keeper: %s: portal %q: %w", who, p, err)
		}
	}
	if strings.ContainsAny(s.Bond, "/ \t\n") || len(s.Bond) > 15 {
		return fmt.Errorf("keeper: %s: bond %q is not an interface name", who, s.Bond)
	}
	if s.DefaultTime2WaitSec < 0 || s.DefaultTime2WaitSec > 3600 {
		return fmt.Errorf("keeper: %s: DefaultTime2Wait %d not in 0..3600", who, s.DefaultTime2WaitSec)
	}
	for p, addrs := range s.Resolved {
		if !slices.Contains(s.Portals, p) {
			return fmt.Errorf("keeper: %s: resolved address for %q, which is not a portal", who, p)
		}
		for _, a := range addrs {
			if _, err := netip.ParseAddrPort(a); err != nil {
				return fmt.Errorf("keeper: %s: resolved address %q of %s: %w", who, a, p, err)
			}
		}
	}
	return nil
}

// check checks that the map's table can be made again.
func (m Map) check() error {
	if m.Name == "" || m.WWID == "" || m.Sectors == 0 || len(m.Paths) == 0 {
		return fmt.Errorf("keeper: multipath map %q: wants a name, a WWID, a size and a path", m.Name)
	}
	if _, err := m.Config.Params(m.Paths); err != nil {
		return fmt.Errorf("keeper: multipath map %s: %w", m.Name, err)
	}
	return nil
}

// validDev checks a block device number "major:minor".
func validDev(s string) bool {
	ma, mi, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(ma, 10, 32)
	_, err2 := strconv.ParseUint(mi, 10, 32)
	return err1 == nil && err2 == nil
}
