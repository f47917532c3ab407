//go:build !linux

package modload

import "syscall"

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
