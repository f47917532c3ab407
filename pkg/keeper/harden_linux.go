package keeper

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/netroot/netroot/pkg/prio"
	"github.com/netroot/netroot/pkg/sysfs"
	"golang.org/x/sys/unix"
)

// The keeper must outlive what it recovers from. harden makes each of its
// processes:
//   - never the OOM killer's choice (oom_score_adj -1000);
//   - never paged out: a root with swap on the iSCSI disk would otherwise
//     need that disk to page the keeper back in before it can reconnect
//     the disk. mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT) locks every
//     page once it is touched — not at once, as plain MCL_CURRENT would:
//     the Go runtime reserves large sparse tables (the heap arena index
//     alone is 32 MiB of virtual memory) that must stay unfaulted. The
//     binary's own pages are locked whole, so that code first needed
//     during a recovery is in memory too (it is mapped from the initramfs,
//     deleted by switch_root: the mapping keeps the pages);
//   - small: the heap is kept tight, since locked memory is never given
//     back to the system;
//   - without core dumps: its memory holds CHAP secrets, and a dump would
//     be written to the disk it recovers.
//
// Failures are logged: the keeper runs anyway.

// Go heap settings, unless GOGC or GOMEMLIMIT say otherwise.
const (
	gcPercent   = 50
	memoryLimit = 32 << 20
)

func harden(proc *os.File, logf func(string, ...any)) {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		logf("disabling core dumps: %v", err)
	}
	if err := sysfs.At(proc).Write("self/oom_score_adj", "-1000\n"); err != nil {
		logf("oom_score_adj: %v; the OOM killer may choose the keeper", err)
	}
	// CAP_IPC_LOCK makes the limit moot; raising it covers a keeper
	// without that capability.
	unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
	if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT); err != nil {
		logf("mlockall: %v; the keeper's memory may be paged out", err)
	}
	if err := lockExecutable(proc); err != nil {
		logf("locking the binary in memory: %v", err)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// raisePriority sets every thread of this process to nice 0: /init may
// have started it at nice 19, and a process started from such a thread
// inherits it. Each keeper process leads its own process group (setsid),
// so the group is this process.
func raisePriority(logf func(string, ...any)) {
	if err := prio.SetGroup(0, 0); err != nil {
		logf("raising the priority to nice 0: %v", err)
	}
}

// lockExecutable locks (and faults in) the mappings of this process's
// executable.
func lockExecutable(proc *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstatat(int(proc.Fd()), "self/exe", &st, 0); err != nil {
		return fmt.Errorf("stat /proc/self/exe: %w", err)
	}
	maps, err := sysfs.At(proc).Read("self/maps")
	if err != nil {
		return err
	}
	ranges := fileMappings(maps, unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	if len(ranges) == 0 {
		return fmt.Errorf("no mapping of the executable (inode %d) in /proc/self/maps", st.Ino)
	}
	for _, r := range ranges {
		if _, _, e := unix.Syscall(unix.SYS_MLOCK, uintptr(r.start), uintptr(r.end-r.start), 0); e != 0 {
			return fmt.Errorf("mlock %#x-%#x: %w", r.start, r.end, e)
		}
	}
	return nil
}

// addrRange is a mapping's address range.
type addrRange struct{ start, end uint64 }

// fileMappings returns the ranges of /proc/self/maps that map the file
// (device major:minor, inode ino).
func fileMappings(maps []byte, major, minor uint32, ino uint64) []addrRange {
	var out []addrRange
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset major:minor inode [path]
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		if n, err := strconv.ParseUint(f[4], 10, 64); err != nil || n != ino {
			continue
		}
		maj, min, ok := strings.Cut(f[3], ":")
		if !ok {
			continue
		}
		ma, err1 := strconv.ParseUint(maj, 16, 32)
		mi, err2 := strconv.ParseUint(min, 16, 32)
		if err1 != nil || err2 != nil || uint32(ma) != major || uint32(mi) != minor {
			continue
		}
		s, e, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(s, 16, 64)
		end, err2 := strconv.ParseUint(e, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, addrRange{start, end})
	}
	return out
}
