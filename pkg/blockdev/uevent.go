package blockdev

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Uevent is a kernel object event as broadcast on NETLINK_KOBJECT_UEVENT.
type Uevent struct {
	// Action is "add", "remove", "change", "move", "online", "offline",
	// "bind" or "unbind".
	Action string
	// DevPath is the sysfs path below /sys.
	DevPath string
	// Subsystem is e.g. "block".
	Subsystem string
	// DevName is the node name below /dev ("sda1"), if any.
	DevName string
	// DevType is "disk" or "partition" for block devices.
	DevType string
	// Env holds every KEY=VALUE pair of the message.
	Env map[string]string
}

// ErrNotKernelUevent is wrapped by ParseUevent for messages that come from
// userspace (libudev) rather than the kernel.
var ErrNotKernelUevent = errors.New("not a kernel uevent")

// maxUeventSize bounds what ParseUevent accepts; the kernel limits uevent
// buffers to 2048 bytes of environment plus the header.
const maxUeventSize = 8192

// ParseUevent parses one kernel uevent datagram:
//
//	"add@/devices/…/block/sda\x00ACTION=add\x00DEVPATH=/devices/…\x00SUBSYSTEM=block\x00…"
//
// Messages from libudev (which begin with "libudev\x00") wrap
// ErrNotKernelUevent; other malformed messages give descriptive errors.
func ParseUevent(msg []byte) (*Uevent, error) {
	if len(msg) > maxUeventSize {
		return nil, fmt.Errorf("parse uevent: message too long (%d bytes)", len(msg))
	}
	if bytes.HasPrefix(msg, []byte("libudev\x00")) {
		return nil, fmt.Errorf("parse uevent: %w (libudev message)", ErrNotKernelUevent)
	}
	fields := bytes.Split(bytes.TrimRight(msg, "\x00"), []byte{0})
	if len(fields) < 2 {
		return nil, fmt.Errorf("parse uevent: no environment in %d-byte message", len(msg))
	}
	hAction, hPath, ok := strings.Cut(string(fields[0]), "@")
	if !ok || hAction == "" || !strings.HasPrefix(hPath, "/") {
		return nil, fmt.Errorf("parse uevent: bad header %q (want ACTION@DEVPATH)", truncate(string(fields[0]), 64))
	}
	ev := &Uevent{Env: make(map[string]string, len(fields)-1)}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(string(f), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("parse uevent: bad field %q (want KEY=VALUE)", truncate(string(f), 64))
		}
		ev.Env[k] = v
	}
	ev.Action = ev.Env["ACTION"]
	ev.DevPath = ev.Env["DEVPATH"]
	ev.Subsystem = ev.Env["SUBSYSTEM"]
	ev.DevName = ev.Env["DEVNAME"]
	ev.DevType = ev.Env["DEVTYPE"]
	if ev.Action == "" || ev.DevPath == "" || ev.Subsystem == "" {
		return nil, fmt.Errorf("parse uevent: missing ACTION, DEVPATH or SUBSYSTEM")
	}
	if ev.Action != hAction || ev.DevPath != hPath {
		return nil, fmt.Errorf("parse uevent: header %q disagrees with ACTION=%q DEVPATH=%q",
			truncate(string(fields[0]), 64), truncate(ev.Action, 32), truncate(ev.DevPath, 64))
	}
	return ev, nil
}

// IsBlockArrival reports whether ev may have made a block device appear or
// change its contents (add or change in subsystem block).
func (ev *Uevent) IsBlockArrival() bool {
	return ev.Subsystem == "block" && (ev.Action == "add" || ev.Action == "change")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
