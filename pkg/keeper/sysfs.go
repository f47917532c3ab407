package keeper

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netroot/netroot/pkg/sysfs"
)

// SessionState is a kernel session's state as sysfs shows it.
type SessionState struct {
	// Session is /sys/class/iscsi_session/session<SID>/state: LOGGED_IN,
	// FAILED or FREE.
	Session string
	// Conn is /sys/class/iscsi_connection/connection<SID>:<CID>/state:
	// up, down, failed or bound; empty on kernels without it (before
	// 5.18).
	Conn string
}

// ReadSessionState reads the state of session sid and its connection cid
// under root, where sysfs is mounted. A session that does not exist gives
// an error wrapping fs.ErrNotExist.
func ReadSessionState(root string, sid, cid uint32) (SessionState, error) {
	return readSessionState(sysfs.FS{Root: root}.Read, sid, cid)
}

// errNoSysfs says that sysfs cannot be read at all, which says nothing
// about the session.
var errNoSysfs = errors.New("keeper: no iSCSI sessions in sysfs (is it mounted?)")

// readSessionState reads the state files through read (paths relative to
// the sysfs root).
func readSessionState(read func(rel string) ([]byte, error), sid, cid uint32) (SessionState, error) {
	var st SessionState
	id := strconv.FormatUint(uint64(sid), 10)
	b, err := read(filepath.Join("class", "iscsi_session", "session"+id, "state"))
	if errors.Is(err, fs.ErrNotExist) {
		// Gone, if sysfs itself is there: the class directory lists
		// every session, and holds at least this one while it lives.
		if _, cerr := read(filepath.Join("class", "iscsi_transport", "tcp", "handle")); cerr != nil {
			return st, fmt.Errorf("%w: %v", errNoSysfs, cerr)
		}
	}
	if err != nil {
		return st, fmt.Errorf("keeper: state of session %d: %w", sid, err)
	}
	st.Session = strings.TrimSpace(string(b))
	b, err = read(filepath.Join("class", "iscsi_connection", "connection"+id+":"+strconv.FormatUint(uint64(cid), 10), "state"))
	switch {
	case err == nil:
		st.Conn = strings.TrimSpace(string(b))
	case !errors.Is(err, fs.ErrNotExist):
		return st, fmt.Errorf("keeper: state of connection %d:%d: %w", sid, cid, err)
	}
	return st, nil
}

// failed reports whether the kernel's session needs a reconnect: its
// connection failed, or is stopped or bound without a keeper's login
// finishing (a keeper that died mid-recovery left it so).
func (st SessionState) failed() bool {
	switch st.Conn {
	case "failed", "down", "bound":
		return true
	case "":
		return st.Session == "FAILED"
	}
	return false
}

// Failed reports whether the session needs a reconnect (see failed).
func (st SessionState) Failed() bool { return st.failed() }

// String describes the state for logs.
func (st SessionState) String() string {
	if st.Conn == "" {
		return "session " + st.Session
	}
	return "session " + st.Session + ", connection " + st.Conn
}
