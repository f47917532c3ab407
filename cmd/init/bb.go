package main

import (
	"bytes"
	"path/filepath"
	"strings"

	"github.com/netroot/netroot/pkg/keeper"
)

// This init also runs as one command of a u-root busybox binary (mkuimage,
// `make uroot`): /init -> bbin/init -> bbin/bb. The gobusybox dispatcher
// picks the command by the base name of argv[0]; when argv[0] names none of
// its commands it drops argv[0] and tries argv[1] instead, so os.Args
// inside main may have lost the argv[0] the kernel started the process
// with. The helpers here keep the keeper's '@' argv[0] working there.

// keeperArgs is the keeper's argv: keeper.ProcessName (its leading '@'
// makes systemd spare the process at shutdown), then the name this binary
// was started as (os.Args[0], e.g. /init or, under a busybox, /bbin/init),
// which a busybox dispatcher falls back to. A plain binary ignores it.
func keeperArgs(self string) []string {
	return []string{keeper.ProcessName, filepath.Base(self)}
}

// isKeeper reports whether this process was started as the keeper: its
// argv[0] starts with '@', as Go sees it (a plain binary) or as the kernel
// started it (procCmdline is /proc/self/cmdline's contents, nil when
// unreadable, e.g. before /proc is mounted; a busybox dispatcher drops
// the '@' argv[0] from os.Args).
func isKeeper(args []string, procCmdline []byte) bool {
	if len(args) > 0 && strings.HasPrefix(args[0], "@") {
		return true
	}
	argv0, _, _ := bytes.Cut(procCmdline, []byte{0})
	return bytes.HasPrefix(argv0, []byte("@"))
}
