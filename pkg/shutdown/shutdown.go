// Package shutdown is netroot's shutdown role: systemd's initrd interface
// for the way down (https://systemd.io/INITRD_INTERFACE/). /init leaves
// its own binary as /run/initramfs/shutdown; at the end of a shutdown,
// after the last process is killed, systemd-shutdown pivots into
// /run/initramfs (the real root moved to /oldroot) and executes it as
// /shutdown with the verb (reboot, poweroff, halt, kexec) as argv[1]. It
// then runs as PID 1: it stops the session keeper, unmounts (or remounts
// read-only) the old root and everything below it, syncs, logs out of the
// iSCSI sessions once the last write is on the target, and reboots,
// powers off, halts or kexecs — every step bounded in time, one line per
// step with its duration, so a target that is gone cannot hang the
// machine.
package shutdown

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Path is where /init leaves the shutdown role; Dirs are the directories
// below it systemd's return binds /proc, /sys, /dev and /run to, and
// where the old root goes.
const Path = "/run/initramfs/shutdown"

// Dirs are created in Path's directory.
var Dirs = []string{"proc", "sys", "dev", "run", "oldroot"}

// InitramfsDir is the initramfs's directory /init binds onto Path's
// directory: a hard link to its own binary, named as Path, and Dirs. The
// mount moves into the real root with /run and switch_root leaves the
// directory in place, so the role costs no copy of the binary. systemd
// leaves mounts below /run/initramfs alone until it returns into it.
const InitramfsDir = "/.netroot-shutdown"

// OldRoot is where systemd-shutdown leaves the real root.
const OldRoot = "/oldroot"

// IsRole reports whether argv[0] starts the shutdown role: systemd runs
// it as /shutdown (dracut's name).
func IsRole(argv0 string) bool {
	return argv0 == "/shutdown" || strings.HasSuffix(argv0, "/initramfs/shutdown")
}

// Started reports whether this process is the shutdown role: PID 1 with
// the role's argv[0], as Go sees it or as the kernel started it
// (procCmdline is /proc/self/cmdline's contents, nil when unreadable: a
// multi-call dispatcher rewrites os.Args[0] to the command it resolved,
// see Layout). systemd binds /proc into the directory before it returns
// there.
func Started(pid int, args []string, procCmdline []byte) bool {
	if pid != 1 {
		return false
	}
	if len(args) > 0 && IsRole(args[0]) {
		return true
	}
	argv0, _, _ := strings.Cut(string(procCmdline), "\x00")
	return IsRole(argv0)
}

// Link is a symbolic link of the role's directory: Name points to Target.
type Link struct{ Name, Target string }

// Layout names the files of the role's directory for a binary whose file
// is named exe, running as the command cmd (the base names of
// /proc/self/exe and of argv[0]). A plain binary is the role itself:
// binary is "shutdown" and there is no link. A multi-call binary (u-root's
// gobusybox: /init -> bbin/init -> bbin/bb) picks its command by argv[0]
// resolved up to its last symlink and, when "shutdown" names none, by
// argv[1] — the verb: u-root's own poweroff, or no command at all. So
// there the binary keeps its name, a symlink named cmd points at it, and
// the role is a symlink to that one: the dispatcher runs cmd, and the
// kernel's argv[0] is still "/shutdown" (Started).
func Layout(exe, cmd string) (binary string, links []Link) {
	role := filepath.Base(Path)
	plain := exe == cmd || exe == role || cmd == role || !fileName(exe) || !fileName(cmd) ||
		slices.Contains(Dirs, exe) || slices.Contains(Dirs, cmd)
	if plain {
		return role, nil
	}
	return exe, []Link{{Name: cmd, Target: exe}, {Name: role, Target: cmd}}
}

// fileName reports whether s names a file of a directory by itself.
func fileName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsRune(s, '/')
}

// Action is what to do at the end.
type Action string

// The actions of systemd-shutdown's verbs.
const (
	Reboot   Action = "reboot"
	Poweroff Action = "poweroff"
	Halt     Action = "halt"
	Kexec    Action = "kexec"
)

// ParseAction reads the verb (argv[1]); systemd-shutdown's options after
// it (--log-level …) are ignored. An unknown or missing verb reboots, as
// dracut's shutdown does: a machine that comes back is better than one
// that hangs.
func ParseAction(args []string) (Action, error) {
	if len(args) == 0 {
		return Reboot, errors.New("no verb given: rebooting")
	}
	switch a := Action(args[0]); a {
	case Reboot, Poweroff, Halt, Kexec:
		return a, nil
	}
	return Reboot, fmt.Errorf("unknown verb %q: rebooting", args[0])
}

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	ID, Parent int
	Point      string
	FSType     string
	Source     string
	Options    string
}

// ParseMountinfo parses /proc/self/mountinfo (proc(5)); malformed lines are
// skipped.
func ParseMountinfo(data string) []Mount {
	var out []Mount
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 6 || sep < 6 || len(f) < sep+3 {
			continue
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, Mount{ID: id, Parent: parent, Point: unescape(f[4]), Options: f[5],
			FSType: f[sep+1], Source: unescape(f[sep+2])})
	}
	return out
}

// unescape undoes mountinfo's octal escapes (\040 for a blank).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			n, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '7' {
			return false
		}
	}
	return s[0] <= '3'
}

// Below returns the mounts at root and below it, deepest first (a mount
// over another at the same point before it): the order to unmount them.
func Below(mounts []Mount, root string) []Mount {
	root = strings.TrimSuffix(root, "/")
	type at struct {
		m Mount
		i int // the order mounted, for mounts over each other
	}
	var sel []at
	for i, m := range mounts {
		if m.Point == root || strings.HasPrefix(m.Point, root+"/") {
			sel = append(sel, at{m, i})
		}
	}
	slices.SortStableFunc(sel, func(a, b at) int {
		if d := cmp.Compare(strings.Count(b.m.Point, "/"), strings.Count(a.m.Point, "/")); d != 0 {
			return d
		}
		if a.m.Point == b.m.Point {
			return cmp.Compare(b.i, a.i)
		}
		return cmp.Compare(a.m.Point, b.m.Point)
	})
	out := make([]Mount, len(sel))
	for i, s := range sel {
		out[i] = s.m
	}
	return out
}
