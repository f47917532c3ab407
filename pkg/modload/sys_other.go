//go:build !linux

package modload

import (
	"io"
	"os"
	"syscall"
)

// KernelSyscalls is the real Syscalls on Linux; elsewhere it fails with
// ENOSYS.
type KernelSyscalls struct{}

// FinitModule fails with ENOSYS off Linux.
func (KernelSyscalls) FinitModule(fd int, params string, flags int) error {
	return syscall.ENOSYS
}

// InitModule fails with ENOSYS off Linux.
func (KernelSyscalls) InitModule(image []byte, params string) error {
	return syscall.ENOSYS
}

// signingHint explains the module signing errnos, which only Linux has.
func signingHint(syscall.Errno) string { return "" }

// mapFile reads f into memory off Linux.
func mapFile(f *os.File) (data []byte, unmap func(), err error) {
	data, err = io.ReadAll(io.LimitReader(f, maxModuleSize))
	return data, func() {}, err
}

// mapAnon allocates n bytes off Linux.
func mapAnon(n int) (data []byte, unmap func(), err error) {
	return make([]byte, n), func() {}, nil
}
