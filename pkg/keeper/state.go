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

// Encode serialises st for the pipe to the keeper. The result holds the
// CHAP secrets: never write it to a file or a log.
func Encode(st State) ([]byte, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	out := struct {
		TransportHandle uint64
		Sessions        []sessionJSON
	}{TransportHandle: st.TransportHandle}
	for _, s := range st.Sessions {
		c := s.Credentials
		out.Sessions = append(out.Sessions, sessionJSON{Session: s, ISID: s.ISID.String(),
			Credentials: credJSON{c.Username, c.Password, c.InUsername, c.InPassword}})
	}
	return json.Marshal(out)
}

// Decode parses and validates what Encode wrote.
func Decode(b []byte) (State, error) {
	if len(b) > MaxStateBytes {
		return State{}, fmt.Errorf("keeper: state of %d bytes exceeds %d", len(b), MaxStateBytes)
	}
	var in struct {
		TransportHandle uint64
		Sessions        []sessionJSON
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return State{}, fmt.Errorf("keeper: decoding the state: %w", err)
	}
	st := State{TransportHandle: in.TransportHandle}
	for _, sj := range in.Sessions {
		s := sj.Session
		if len(sj.ISID) != 12 {
			return State{}, fmt.Errorf("keeper: session %d: ISID %q is not 6 hex bytes", s.SID, sj.ISID)
		}
		for i := range s.ISID {
			var v byte
			if _, err := fmt.Sscanf(sj.ISID[2*i:2*i+2], "%02x", &v); err != nil {
				return State{}, fmt.Errorf("keeper: session %d: ISID %q: %w", s.SID, sj.ISID, err)
			}
			s.ISID[i] = v
		}
		c := sj.Credentials
		s.Credentials = iscsi.Credentials{Username: c.Username, Password: c.Password, InUsername: c.InUsername, InPassword: c.InPassword}
		st.Sessions = append(st.Sessions, s)
	}
	return st, st.Validate()
}

// Validate checks that every session can be recovered.
func (st State) Validate() error {
	if len(st.Sessions) == 0 {
		return errors.New("keeper: no sessions to keep")
	}
	seen := map[uint32]bool{}
	for _, s := range st.Sessions {
		switch {
		case seen[s.SID]:
			return fmt.Errorf("keeper: session %d listed twice", s.SID)
		case s.InitiatorName == "" || s.TargetName == "":
			return fmt.Errorf("keeper: session %d lacks the initiator or target name", s.SID)
		case len(s.Portals) == 0:
			return fmt.Errorf("keeper: session %d has no portal", s.SID)
		case s.ISID == (iscsi.ISID{}):
			return fmt.Errorf("keeper: session %d has no ISID (reinstatement needs the original one)", s.SID)
		}
		seen[s.SID] = true
		for _, p := range s.Portals {
			if _, _, err := net.SplitHostPort(p); err != nil {
				return fmt.Errorf("keeper: session %d: portal %q: %w", s.SID, p, err)
			}
		}
		if (s.Map == "") != (s.PathDev == "") || s.PathDev != "" && !validDev(s.PathDev) {
			return fmt.Errorf("keeper: session %d: multipath map %q with path %q (want both, the path as major:minor)", s.SID, s.Map, s.PathDev)
		}
		if strings.ContainsAny(s.Bond, "/ \t\n") || len(s.Bond) > 15 {
			return fmt.Errorf("keeper: session %d: bond %q is not an interface name", s.SID, s.Bond)
		}
		if s.DefaultTime2WaitSec < 0 || s.DefaultTime2WaitSec > 3600 {
			return fmt.Errorf("keeper: session %d: DefaultTime2Wait %d not in 0..3600", s.SID, s.DefaultTime2WaitSec)
		}
		for p, addrs := range s.Resolved {
			if !slices.Contains(s.Portals, p) {
				return fmt.Errorf("keeper: session %d: resolved address for %q, which is not a portal", s.SID, p)
			}
			for _, a := range addrs {
				if _, err := netip.ParseAddrPort(a); err != nil {
					return fmt.Errorf("keeper: session %d: resolved address %q of %s: %w", s.SID, a, p, err)
				}
			}
		}
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
