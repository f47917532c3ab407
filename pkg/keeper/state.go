// Package keeper keeps the iSCSI sessions of a network root alive after
// switch_root: it listens for the kernel's connection-error events on the
// iSCSI netlink socket and recovers a failed connection as iscsid does
// (stop it for recovery, dial again with backoff and jitter, log in through
// the kernel reinstating the same session, set the parameters, start it).
//
// /init starts it just before switch_root by re-executing its own binary
// with argv[0] "@netroot-keeper" (systemd's root storage daemon
// convention, so systemd spares it at switch_root and shutdown), handing
// it the State over a pipe. The keeper needs no file afterwards: it keeps
// everything in memory and its root and working directory stay on the
// initramfs, so it never keeps the real root busy.
//
// The pure parts (State encoding, event parsing, backoff) run anywhere;
// the netlink loop is Linux-only.
package keeper

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
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
		ISID:           s.ISID,
		Credentials:    s.Credentials,
		CHAPAlgorithms: s.CHAPAlgorithms,
		Params:         s.Params,
	}
}

// KernelOptions are the kernel settings of the session.
func (s Session) KernelOptions() iscsi.KernelOptions {
	return iscsi.KernelOptions{RecoveryTimeoutSec: s.RecoveryTimeoutSec,
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
	}
	return nil
}
