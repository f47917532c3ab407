package modload

import "github.com/netroot/netroot/pkg/prio"

// Niced makes Sys's calls from an OS thread running at the scheduling
// priority Nice (prio.Run), then restores the thread's priority. Loading a
// module is CPU work in the kernel, done by the calling thread: loading in
// the background at nice 19 lets that work fill the CPU time the
// foreground leaves idle (waiting for a link, a login answer, a disk)
// instead of competing with it, which matters most on a single CPU.
type Niced struct {
	Sys  Syscalls
	Nice int
}

// FinitModule calls Sys.FinitModule at priority n.Nice.
func (n Niced) FinitModule(fd int, params string, flags int) error {
	return prio.Run(n.Nice, func() error { return n.Sys.FinitModule(fd, params, flags) })
}

// InitModule calls Sys.InitModule at priority n.Nice.
func (n Niced) InitModule(image []byte, params string) error {
	return prio.Run(n.Nice, func() error { return n.Sys.InitModule(image, params) })
}
