package kmsg

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Own gives the Writer its own open file description of the file it
// writes to, so that the kernel's limit counts this process's records
// alone. It opens the file anew through proc, the directory /proc (a
// process after switch_root reaches /dev by no path), and asks
// proc's sys/kernel/printk_devkmsg whether the kernel limits the writes.
// The Writer's file must be an *os.File; the old one is left open (it
// is the process's stdout, which children inherit).
func (w *Writer) Own(proc *os.File) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, ok := w.out.(*os.File)
	if !ok {
		return fmt.Errorf("kmsg: writing to a %T, not a file", w.out)
	}
	fd, err := unix.Openat(int(proc.Fd()), "self/fd/"+strconv.Itoa(int(f.Fd())), unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("kmsg: opening %s anew: %w", f.Name(), err)
	}
	w.out = os.NewFile(uintptr(fd), f.Name())
	w.Limited = func() bool { return LimitedAt(proc) }
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && (st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 11)) {
		// Not /dev/kmsg (the console, a file): nothing limits it.
		w.Limited = func() bool { return false }
	}
	return nil
}
