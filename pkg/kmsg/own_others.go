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
