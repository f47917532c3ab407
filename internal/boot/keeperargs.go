package boot

import (
	"bytes"
	"path/filepath"
	"strings"

	"github.com/netroot/netroot/pkg/keeper"
)

// The keeper is this binary again, told apart by its argv[0]. This init
// also runs as one command of a u-root busybox binary (mkuimage, `make
// uroot`): /init -> bbin/init -> bbin/bb. The gobusybox dispatcher picks
// the command by the base name of argv[0]; when argv[0] names none of its
// commands it drops argv[0] and tries argv[1] instead, so os.Args inside
// main may have lost the argv[0] the kernel started the process with.
// KeeperArgs and IsKeeper keep the keeper's '@' argv[0] working there.

// KeeperArgs is the keeper's argv: keeper.ProcessName (its leading '@'
// makes systemd spare the process at shutdown), then the name this binary
// was started as (os.Args[0], e.g. /init or, under a busybox, /bbin/init),
// which a busybox dispatcher falls back to. A plain binary ignores it.
func KeeperArgs(self string) []string {
	return []string{keeper.ProcessName, filepath.Base(self)}
}

// KeeperPIDFile holds the pid of the keeper process that recovers the
// sessions: /init writes it, and a keeper its guard starts after a crash
// replaces it (the guard's pid is not in it; see docs/real-os.md).
const KeeperPIDFile = keeperPIDFile

// IsPartnerKeeper reports whether this process is a keeper process
// started by its partner rather than by /init: role is the value of
// keeper.RoleEnv. After switch_root a busybox dispatcher's os.Args have
// lost the '@' argv[0] and /proc/self/cmdline is out of reach, so the
// environment tells. PID 1 never is one (the kernel passes unknown
// command line words to init as environment).
func IsPartnerKeeper(pid int, role string) bool {
	return pid != 1 && role != ""
}

// IsKeeper reports whether this process was started as the keeper: its
// argv[0] starts with '@', as Go sees it (a plain binary) or as the kernel
// started it (procCmdline is /proc/self/cmdline's contents, nil when
// unreadable, e.g. before /proc is mounted; a busybox dispatcher drops
// the '@' argv[0] from os.Args).
func IsKeeper(args []string, procCmdline []byte) bool {
	if len(args) > 0 && strings.HasPrefix(args[0], "@") {
		return true
	}
	argv0, _, _ := bytes.Cut(procCmdline, []byte{0})
	return bytes.HasPrefix(argv0, []byte("@"))
}
