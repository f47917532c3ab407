// Package ctl is the control protocol between the QEMU rig and the target
// guest's init (integration/targetinit): one request per line from the
// host, one reply per line from the guest, over a virtio-serial port.
//
//	request: <id> <verb> [<json argument>]
//	reply:   <id> ok [<json result>]
//	         <id> err <message>
//
// Ids let the host ignore replies to requests the guest received twice
// (the host repeats "ping" until the guest's port is open) or too late.
//
// The guest is a remote for configfs: the host sends batches of Ops
// (mkdir, write, symlink, …) computed from a target description (package
// lio for the iSCSI target; Linux's NVMe target, nvmet, is configfs too),
// so the guest needs no knowledge of any fabric.
package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Verbs the guest answers.
const (
	// Ping answers ok; the host sends it until the guest is up.
	Ping = "ping"
	// Info answers an Info.
	Info = "info"
	// Batch runs a []Op in order, stopping at the first failure, and
	// answers the []string each op read (Read ops) or "".
	Batch = "batch"
	// Drop aborts the established TCP connections of a local port (a
	// DropArg), as a reset: the peers see their connection die at once.
	// It answers the number of connections dropped.
	Drop = "drop"
	// DropOnLogin arms a one-shot Drop (a DropOnLoginArg): as soon as a
	// session has logged in, its connections are aborted — the moment
	// between an initiator's login and its first commands, which the
	// host could not hit from the console — and the After ops run. It
	// answers at once; the guest logs "drop-on-login: …" when it fires.
	DropOnLogin = "drop-on-login"
)

// InfoReply describes the guest.
type InfoReply struct {
	// Disks maps a virtio disk's serial to its device, e.g. "lun1" →
	// "/dev/vda".
	Disks map[string]string `json:"disks"`
	// Modules lists the modules the guest loaded.
	Modules []string `json:"modules"`
	// Uptime is the guest's uptime in seconds when it answered.
	Uptime float64 `json:"uptime"`
	// Kernel is the guest's kernel release.
	Kernel string `json:"kernel"`
}

// DropArg selects the connections Drop aborts.
type DropArg struct {
	Port int `json:"port"`
}

// DropOnLoginArg arms DropOnLogin.
type DropOnLoginArg struct {
	Port int `json:"port"`
	// Info is the configfs file (an ACL's info) that shows the
	// session logged in ("TARG_SESS_STATE_LOGGED_IN").
	Info string `json:"info"`
	// After runs once the connections are dropped (e.g. disabling the
	// portal group, so that the initiator cannot log in again).
	After []Op `json:"after,omitempty"`
}

// Op kinds. Paths are relative to configfs' mount point.
const (
	Mkdir   = "mkdir"
	Rmdir   = "rmdir"
	Write   = "write"   // write Value to Path
	Read    = "read"    // read Path (its value is the op's result)
	Symlink = "symlink" // Path is the link, Value its target (also configfs-relative)
	Unlink  = "unlink"
	// List reads every regular file of the directory Path into the
	// result, one "name=value" line each (values on one line).
	List = "list"
	// Listen waits until a TCP socket listens on Value ("ip:port");
	// Unlisten waits until none does.
	Listen   = "listen"
	Unlisten = "unlisten"
)

// Op is one step of a Batch.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value string `json:"value,omitempty"`
	// IfExists makes Rmdir/Unlink/Write of a missing path a no-op
	// (teardown of a half-made configuration).
	IfExists bool `json:"if_exists,omitempty"`
	// Secret keeps Value out of error messages.
	Secret bool `json:"secret,omitempty"`
}

// String names the op for error messages, without a secret value.
func (o Op) String() string {
	switch {
	case o.Value == "" || o.Op == Read || o.Op == List:
		return o.Op + " " + o.Path
	case o.Secret:
		return o.Op + " " + o.Path + " <secret>"
	}
	return fmt.Sprintf("%s %s %q", o.Op, o.Path, o.Value)
}

// Request is one parsed request line.
type Request struct {
	ID   uint64
	Verb string
	Arg  json.RawMessage // nil when absent
}

// Reply is one parsed reply line.
type Reply struct {
	ID     uint64
	OK     bool
	Result json.RawMessage // ok: the result, nil when absent
	Err    string          // err: the message
}

// maxLine bounds a line either side reads.
const maxLine = 1 << 20

// FormatRequest renders a request line (with its newline); arg is
// marshalled to JSON unless nil.
func FormatRequest(id uint64, verb string, arg any) (string, error) {
	if !validVerb(verb) {
		return "", fmt.Errorf("ctl: bad verb %q", verb)
	}
	line := strconv.FormatUint(id, 10) + " " + verb
	if arg != nil {
		b, err := json.Marshal(arg)
		if err != nil {
			return "", fmt.Errorf("ctl: %s: %w", verb, err)
		}
		line += " " + string(b)
	}
	return line + "\n", nil
}

// ParseRequest parses a request line (with or without its newline).
func ParseRequest(line string) (Request, error) {
	id, rest, err := splitID(line)
	if err != nil {
		return Request{}, err
	}
	verb, arg, _ := strings.Cut(rest, " ")
	if !validVerb(verb) {
		return Request{}, fmt.Errorf("ctl: bad verb %q", verb)
	}
	r := Request{ID: id, Verb: verb}
	if arg = strings.TrimSpace(arg); arg != "" {
		if !json.Valid([]byte(arg)) {
			return Request{}, fmt.Errorf("ctl: %s: argument is not JSON", verb)
		}
		r.Arg = json.RawMessage(arg)
	}
	return r, nil
}

// FormatOK renders a success reply; result is marshalled unless nil.
func FormatOK(id uint64, result any) string {
	line := strconv.FormatUint(id, 10) + " ok"
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return FormatErr(id, err)
		}
		line += " " + string(b)
	}
	return line + "\n"
}

// FormatErr renders a failure reply; the message is kept on one line.
func FormatErr(id uint64, err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	return strconv.FormatUint(id, 10) + " err " + msg + "\n"
}

// ParseReply parses a reply line.
func ParseReply(line string) (Reply, error) {
	id, rest, err := splitID(line)
	if err != nil {
		return Reply{}, err
	}
	status, arg, _ := strings.Cut(rest, " ")
	r := Reply{ID: id}
	switch status {
	case "ok":
		r.OK = true
		if arg = strings.TrimSpace(arg); arg != "" {
			if !json.Valid([]byte(arg)) {
				return Reply{}, errors.New("ctl: reply result is not JSON")
			}
			r.Result = json.RawMessage(arg)
		}
	case "err":
		r.Err = strings.TrimSpace(arg)
		if r.Err == "" {
			r.Err = "unspecified error"
		}
	default:
		return Reply{}, fmt.Errorf("ctl: reply status %q is neither ok nor err", status)
	}
	return r, nil
}

func splitID(line string) (uint64, string, error) {
	if len(line) > maxLine {
		return 0, "", errors.New("ctl: line too long")
	}
	line = strings.TrimRight(line, "\r\n")
	idStr, rest, ok := strings.Cut(line, " ")
	if !ok {
		return 0, "", fmt.Errorf("ctl: %q is not \"<id> …\"", line)
	}
	id, err := strconv.ParseUint(idStr, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("ctl: id %q is not a number", idStr)
	}
	return id, rest, nil
}

func validVerb(v string) bool {
	if v == "" || len(v) > 32 {
		return false
	}
	for _, c := range v {
		if (c < 'a' || c > 'z') && c != '-' {
			return false
		}
	}
	return true
}

// CleanPath checks an op's path: relative, inside the root, no "..".
func CleanPath(p string) (string, error) {
	if p == "" || strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("ctl: path %q must be relative to configfs", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("ctl: path %q has an empty, . or .. element", p)
		}
	}
	return p, nil
}
