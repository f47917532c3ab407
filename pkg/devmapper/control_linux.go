package devmapper

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/netroot/netroot/pkg/sysfs"
	"golang.org/x/sys/unix"
)

// ControlPath is where devtmpfs puts the device-mapper control node once
// dm_mod is loaded.
const ControlPath = "/dev/mapper/control"

// maxAnswer bounds the buffer grown for status answers.
const maxAnswer = 1 << 20

// Control is an open device-mapper control node. Its methods may be called
// from several goroutines.
type Control struct {
	f *os.File
}

// Info describes a device-mapper device (DM_DEV_STATUS).
type Info struct {
	Name, UUID string
	// Major and Minor are the block device numbers (/dev/dm-<Minor> on
	// devtmpfs).
	Major, Minor uint32
	OpenCount    int32
	// EventNr counts the device's events (a path failed, a table
	// changed); Wait blocks until it moves on.
	EventNr     uint32
	TargetCount uint32
	Flags       uint32
}

// Suspended reports whether I/O to the device is held.
func (i Info) Suspended() bool { return i.Flags&FlagSuspend != 0 }

// Active reports whether the device has a live table.
func (i Info) Active() bool { return i.Flags&FlagActivePresent != 0 }

// DevNode returns the devtmpfs node of the device, "/dev/dm-<minor>".
func (i Info) DevNode() string { return "/dev/dm-" + strconv.FormatUint(uint64(i.Minor), 10) }

func infoOf(h header) Info {
	return Info{Name: h.Name, UUID: h.UUID, Major: unix.Major(h.Dev), Minor: unix.Minor(h.Dev),
		OpenCount: h.OpenCount, EventNr: h.EventNr, TargetCount: h.TargetCount, Flags: h.Flags}
}

// Open opens the control node at ControlPath, creating it from
// /sys/class/misc/device-mapper/dev when devtmpfs did not.
func Open() (*Control, error) { return OpenWith(sysfs.Sys) }

// OpenWith is Open reading the device number through sys: for a process
// whose root has neither /dev nor /sys (a keeper restarted after
// switch_root reaches sysfs by a descriptor only).
func OpenWith(sys sysfs.FS) (*Control, error) {
	f, err := os.OpenFile(ControlPath, os.O_RDWR|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if merr := mknodControl(sys); merr != nil {
			return nil, opError("open control", "", fmt.Errorf("%w (and creating it: %v)", err, merr))
		}
		f, err = os.OpenFile(ControlPath, os.O_RDWR|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, opError("open control", "", err)
	}
	return &Control{f: f}, nil
}

func mknodControl(sys sysfs.FS) error {
	b, err := sys.ReadTrim("class/misc/device-mapper/dev")
	if err != nil {
		return fmt.Errorf("%w: is dm_mod loaded?", err)
	}
	maj, min, ok := strings.Cut(b, ":")
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("bad device number %q", b)
	}
	if err := os.MkdirAll(filepath.Dir(ControlPath), 0o755); err != nil {
		return err
	}
	err = unix.Mknod(ControlPath, unix.S_IFCHR|0o600, int(unix.Mkdev(uint32(ma), uint32(mi))))
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// Close closes the control node.
func (c *Control) Close() error { return c.f.Close() }

// ioctl runs cmd on the buffer b (header first) and returns the header the
// kernel wrote back.
func (c *Control) ioctl(cmd uintptr, b []byte) (header, error) {
	conn, err := c.f.SyscallConn()
	if err != nil {
		return header{}, err
	}
	var errno unix.Errno
	if cerr := conn.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, cmd, uintptr(unsafe.Pointer(&b[0])))
	}); cerr != nil {
		return header{}, cerr
	}
	if errno != 0 {
		return header{}, errno
	}
	return parseHeader(b)
}

// Version returns the kernel's device-mapper ioctl interface version.
func (c *Control) Version() ([3]uint32, error) {
	h, err := c.ioctl(unix.DM_VERSION, request(header{}, nil, 0))
	if err != nil {
		return [3]uint32{}, opError("version", "", err)
	}
	return h.Version, nil
}

// Create makes a device with no table (suspended, every I/O fails until a
// table is loaded and the device resumed).
func (c *Control) Create(name, uuid string) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, opError("create", name, err)
	}
	if err := checkUUID(uuid); err != nil {
		return Info{}, opError("create", name, err)
	}
	h, err := c.ioctl(unix.DM_DEV_CREATE, request(header{Name: name, UUID: uuid}, nil, 0))
	if err != nil {
		return Info{}, opError("create", name, err)
	}
	return infoOf(h), nil
}

// Load loads targets as the device's inactive table; Resume makes it live.
func (c *Control) Load(name string, targets []Target, readOnly bool) error {
	if err := checkName(name); err != nil {
		return opError("load table", name, err)
	}
	payload, err := encodeTargets(targets)
	if err != nil {
		return opError("load table", name, err)
	}
	var flags uint32
	if readOnly {
		flags |= FlagReadOnly
	}
	b := request(header{Name: name, Flags: flags, TargetCount: uint32(len(targets))}, payload, 0)
	if _, err := c.ioctl(unix.DM_TABLE_LOAD, b); err != nil {
		return opError("load table", name, err)
	}
	return nil
}

// Resume makes a loaded table live and lets I/O through. With noFlush, I/O
// the old table queued (a multipath map without paths) moves to the new
// table instead of failing.
func (c *Control) Resume(name string, noFlush bool) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, opError("resume", name, err)
	}
	var flags uint32
	if noFlush {
		flags |= FlagNoFlush
	}
	h, err := c.ioctl(unix.DM_DEV_SUSPEND, request(header{Name: name, Flags: flags}, nil, 0))
	if err != nil {
		return Info{}, opError("resume", name, err)
	}
	return infoOf(h), nil
}

// Suspend holds I/O to the device (after flushing it, unless noFlush).
func (c *Control) Suspend(name string, noFlush bool) error {
	if err := checkName(name); err != nil {
		return opError("suspend", name, err)
	}
	flags := uint32(FlagSuspend)
	if noFlush {
		flags |= FlagNoFlush
	}
	if _, err := c.ioctl(unix.DM_DEV_SUSPEND, request(header{Name: name, Flags: flags}, nil, 0)); err != nil {
		return opError("suspend", name, err)
	}
	return nil
}

// Remove deletes the device; it fails with EBUSY while the device is open.
func (c *Control) Remove(name string) error {
	if err := checkName(name); err != nil {
		return opError("remove", name, err)
	}
	if _, err := c.ioctl(unix.DM_DEV_REMOVE, request(header{Name: name}, nil, 0)); err != nil {
		return opError("remove", name, err)
	}
	return nil
}

// Info returns the device's state (DM_DEV_STATUS).
func (c *Control) Info(name string) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, opError("info", name, err)
	}
	h, err := c.ioctl(unix.DM_DEV_STATUS, request(header{Name: name}, nil, 0))
	if err != nil {
		return Info{}, opError("info", name, err)
	}
	return infoOf(h), nil
}

// Status returns the device's state and each target's status line
// (DM_TABLE_STATUS, as dmsetup status prints it).
func (c *Control) Status(name string) (Info, []Target, error) {
	return c.targets(unix.DM_TABLE_STATUS, "status", name, 0, 0)
}

// Table returns the device's live table (dmsetup table).
func (c *Control) Table(name string) (Info, []Target, error) {
	return c.targets(unix.DM_TABLE_STATUS, "table", name, FlagStatusTable, 0)
}

// Wait blocks until the device's event counter differs from eventNr (a
// path failed or came back, the table changed) and returns the status
// then. It cannot be interrupted: run it on a goroutine of its own.
func (c *Control) Wait(name string, eventNr uint32) (Info, []Target, error) {
	return c.targets(unix.DM_DEV_WAIT, "wait", name, 0, eventNr)
}

func (c *Control) targets(cmd uintptr, op, name string, flags, eventNr uint32) (Info, []Target, error) {
	if err := checkName(name); err != nil {
		return Info{}, nil, opError(op, name, err)
	}
	for size := 16 << 10; ; size *= 4 {
		b := request(header{Name: name, Flags: flags, EventNr: eventNr}, nil, size)
		h, err := c.ioctl(cmd, b)
		if err != nil {
			return Info{}, nil, opError(op, name, err)
		}
		if h.Flags&FlagBufferFull != 0 && size < maxAnswer {
			continue
		}
		ts, err := decodeTargets(b, h)
		if err != nil {
			return Info{}, nil, opError(op, name, err)
		}
		return infoOf(h), ts, nil
	}
}

// Message sends a message to the target at sector (multipath:
// "fail_path 8:16", "reinstate_path 8:16", "switch_group 1",
// "queue_if_no_path", "fail_if_no_path") and returns what it answered,
// usually nothing.
func (c *Control) Message(name string, sector uint64, msg string) (string, error) {
	if err := checkName(name); err != nil {
		return "", opError("message", name, err)
	}
	payload, err := encodeMessage(sector, msg)
	if err != nil {
		return "", opError("message", name, err)
	}
	b := request(header{Name: name}, payload, headerSize+len(payload)+4096)
	h, err := c.ioctl(unix.DM_TARGET_MSG, b)
	if err != nil {
		return "", opError("message", name, fmt.Errorf("%q: %w", msg, err))
	}
	return messageAnswer(b, h), nil
}
