//go:build linux

package modload

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

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

// mapFile maps f's contents read-only; unmap releases them.
func mapFile(f *os.File) (data []byte, unmap func(), err error) {
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() <= 0 || st.Size() > maxModuleSize {
		return nil, nil, fmt.Errorf("%s: %d bytes is not a module's size", f.Name(), st.Size())
	}
	data, err = unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	return data, func() { unix.Munmap(data) }, nil
}

// mapAnon maps n bytes of zeroed memory outside Go's heap; unmap returns
// them to the kernel at once.
func mapAnon(n int) (data []byte, unmap func(), err error) {
	data, err = unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, err
	}
	return data, func() { unix.Munmap(data) }, nil
}
