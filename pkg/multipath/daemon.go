package multipath

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// multipathd's control socket and its protocol (libmpathcmd, 0.9.4): a
// request is the command's length including a NUL as a native size_t,
// then the command and the NUL; the reply is framed the same way.
//
// Under systemd the socket is multipathd.socket's, listening before
// multipathd runs (and when multipathd.service never starts): a connect
// proves nothing; an answer to "show daemon" does.

// DaemonSocket is multipathd's abstract unix socket (Go's "@" prefix).
const DaemonSocket = "@/org/kernel/linux/storage/multipathd"

// sizeT is the width of the C size_t that frames the messages.
const sizeT = strconv.IntSize / 8

// maxDaemonReply bounds a reply read from the socket; "show daemon"
// answers in a few bytes.
const maxDaemonReply = 64 << 10

// EncodeRequest frames cmd for multipathd's socket.
func EncodeRequest(cmd string) ([]byte, error) {
	if cmd == "" || strings.IndexByte(cmd, 0) >= 0 {
		return nil, fmt.Errorf("multipath: daemon command %q: empty or with a NUL", cmd)
	}
	b := make([]byte, sizeT, sizeT+len(cmd)+1)
	putSize(b, uint64(len(cmd)+1))
	b = append(b, cmd...)
	return append(b, 0), nil
}

// ReadReply reads one framed reply from r and returns its text without
// the NUL.
func ReadReply(r io.Reader) (string, error) {
	var hdr [sizeT]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", fmt.Errorf("multipath: daemon reply length: %w", err)
	}
	n := getSize(hdr[:])
	if n == 0 || n > maxDaemonReply {
		return "", fmt.Errorf("multipath: daemon reply of %d bytes (at most %d)", n, maxDaemonReply)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", fmt.Errorf("multipath: daemon reply: %w", err)
	}
	return strings.TrimRight(string(buf), "\x00"), nil
}

// DaemonState is multipathd's answer to "show daemon".
type DaemonState struct {
	PID int
	// State is multipathd's running state: init, startup, configure,
	// idle, running or shutdown.
	State string
}

// Serving reports whether multipathd has taken over its maps: it
// configured them (or does so now) and is not shutting down.
func (s DaemonState) Serving() bool {
	switch s.State {
	case "configure", "idle", "running":
		return true
	}
	return false
}

// ParseDaemonState reads the reply to "show daemon" ("pid 172 idle\n").
func ParseDaemonState(reply string) (DaemonState, error) {
	f := strings.Fields(reply)
	if len(f) != 3 || f[0] != "pid" {
		return DaemonState{}, fmt.Errorf("multipath: %q is not multipathd's state", reply)
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 {
		return DaemonState{}, fmt.Errorf("multipath: %q: bad pid", reply)
	}
	return DaemonState{PID: pid, State: f[2]}, nil
}

func putSize(b []byte, n uint64) {
	if sizeT == 8 {
		binary.NativeEndian.PutUint64(b, n)
	} else {
		binary.NativeEndian.PutUint32(b, uint32(n))
	}
}

func getSize(b []byte) uint64 {
	if sizeT == 8 {
		return binary.NativeEndian.Uint64(b)
	}
	return uint64(binary.NativeEndian.Uint32(b))
}
