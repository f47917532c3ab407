package kmsg

import (
	"os"

	"github.com/netroot/netroot/pkg/sysfs"
)

// limitFile, under /proc, says whether the kernel limits userspace writes
// to /dev/kmsg.
const limitFile = "sys/kernel/printk_devkmsg"

var proc = sysfs.FS{Root: "/proc"}

// Limited reports whether the kernel limits userspace writes to
// /dev/kmsg; true when it cannot tell.
func Limited() bool { return limitedIn(proc) }

// LimitedAt is Limited through dir, /proc opened before (a process after
// switch_root reaches it by no path).
func LimitedAt(dir *os.File) bool { return limitedIn(sysfs.At(dir)) }

func limitedIn(proc sysfs.FS) bool {
	b, err := proc.Read(limitFile)
	return err != nil || limited(string(b))
}

// Lift has the kernel take every line written to /dev/kmsg
// (printk_devkmsg=on): /init's while it boots, the shutdown role's last
// ones. Restore puts the kernel's default limit back.
func Lift() error    { return proc.Write(limitFile, "on\n") }
func Restore() error { return proc.Write(limitFile, "ratelimit\n") }
