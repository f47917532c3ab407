//go:build linux

package modload

import "golang.org/x/sys/unix"

// KernelSyscalls is the real Syscalls: finit_module(2) and init_module(2).
type KernelSyscalls struct{}

// FinitModule calls finit_module(2).
func (KernelSyscalls) FinitModule(fd int, params string, flags int) error {
	return unix.FinitModule(fd, params, flags)
}

// InitModule calls init_module(2).
func (KernelSyscalls) InitModule(image []byte, params string) error {
	return unix.InitModule(image, params)
}

// signingHint explains the module signing errnos, which only Linux has.
func signingHint(errno unix.Errno) string {
	switch errno {
	case unix.EKEYREJECTED:
		return "signature rejected: the kernel enforces module signing and the module is signed with another key"
	case unix.ENOKEY:
		return "signed with an unknown key, and the kernel enforces module signing"
	}
	return ""
}
