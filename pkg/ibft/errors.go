package ibft

import (
	"errors"
	"fmt"
)

var (
	// ErrNoTable reports that the system has no iBFT (ReadSysfs).
	ErrNoTable = errors.New("no iBFT")
	// ErrChecksum reports a table whose bytes do not sum to zero: Linux's
	// iscsi_ibft refuses such a table, and so does Parse.
	ErrChecksum = errors.New("bad checksum")
)

// FormatError is a malformed table: Where names the part (e.g. "ACPI
// header", "target slot 1", "target 0 CHAP name", or a sysfs file), Offset
// its byte offset in the raw table (-1 for sysfs), Reason what is wrong.
// Messages carry offsets and lengths, never the content of a string.
type FormatError struct {
	Where  string
	Offset int
	Reason string
	// Err is a sentinel (ErrChecksum) or the cause (a sysfs read).
	Err error
}

func (e *FormatError) Error() string {
	s := "ibft: " + e.Where
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at 0x%04x", e.Offset)
	}
	s += ": " + e.Reason
	if e.Err != nil && e.Err != ErrChecksum {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(where string, off int, format string, a ...any) *FormatError {
	return &FormatError{Where: where, Offset: off, Reason: fmt.Sprintf(format, a...)}
}
