//go:build !linux

package kmsg

import (
	"errors"
	"os"
)

// Own needs Linux's /proc.
func (w *Writer) Own(proc *os.File) error {
	return errors.New("kmsg: not on Linux")
}

// LimitedAt is always true off Linux.
func LimitedAt(proc *os.File) bool { return true }

// Limited is always true off Linux.
func Limited() bool { return true }
