package main

import (
	"io"
	"log"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"github.com/netroot/netroot/internal/boot"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// keeperMain is a keeper process (argv[0] "@netroot-keeper"): the keeper
// /init started, or either process of the pair the keeper and its guard
// keep alive for each other (see keeper.Process).
func keeperMain() {
	name := []byte("netroot-keeper\x00")
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0) // on the first thread (main's init)
	runtime.UnlockOSThread()
	// One /dev/kmsg record per line, level notice so it reaches the
	// console and the journal.
	out := kmsg.New(os.Stdout, "netroot-keeper: ")
	log.SetOutput(io.Discard) // no library's chatter on the console
	code := keeper.Process(keeper.ProcessOptions{
		Logf:    out.Printf,
		Log:     out,
		PIDFile: strings.TrimPrefix(boot.KeeperPIDFile, "/"),
	})
	out.Close()
	os.Exit(code)
}
