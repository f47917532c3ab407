package devmapper

import (
	"errors"
	"syscall"
)

// Error is a failed device-mapper operation.
type Error struct {
	// Op is the operation, e.g. "create", "load table", "message".
	Op string
	// Name is the device (empty for Version).
	Name string
	// Err is the cause, usually a syscall.Errno from the ioctl.
	Err error
}

func (e *Error) Error() string {
	s := "devmapper: " + e.Op
	if e.Name != "" {
		s += " " + e.Name
	}
	s += ": " + e.Err.Error()
	if h := e.hint(); h != "" {
		s += " — " + h
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) hint() string {
	var errno syscall.Errno
	if !errors.As(e.Err, &errno) {
		return ""
	}
	if e.Op == "load table" {
		// The kernel logs its reason ("multipath: error attaching
		// hardware handler", "error getting device").
		return "the kernel refused the table: dmesg says why (a target or handler module not loaded, a path device gone, a wrong size)"
	}
	switch errno {
	case syscall.ENXIO:
		return "no such device-mapper device"
	case syscall.EBUSY:
		if e.Op == "create" {
			return "a device of that name or uuid exists"
		}
		return "the device is in use (mounted or open)"
	case syscall.EEXIST:
		return "a device of that name or uuid exists"
	case syscall.EINVAL:
		if e.Op == "message" {
			return "the target refused the message (unknown path?)"
		}
	case syscall.ENOTTY, syscall.ENOENT, syscall.ENODEV:
		if e.Op == "open control" || e.Op == "version" {
			return "is dm_mod loaded?"
		}
	case syscall.EPERM, syscall.EACCES:
		return "needs CAP_SYS_ADMIN"
	}
	return ""
}

func opError(op, name string, err error) error {
	return &Error{Op: op, Name: name, Err: err}
}
