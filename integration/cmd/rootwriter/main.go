// Command rootwriter is test instrumentation installed into the real-root
// images as /usr/local/sbin/netroot-rootwriter (see rig.Distro).
//
//	netroot-rootwriter write FILE    append and fsync one record every 100 ms until SIGTERM
//	netroot-rootwriter verify FILE   check every record, print the report as JSON
//
// write truncates FILE first, stamps each record with the wall clock (see
// package writelog), and reports each failed write or fsync on stderr and
// in the kernel log (so the console shows it even when the root is gone).
// On SIGTERM or SIGINT it finishes the record in hand, prints a summary
// line on stderr and exits 0 (1 if any write failed).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/netroot/netroot/integration/writelog"
)

const interval = 100 * time.Millisecond

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: netroot-rootwriter write|verify FILE")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "write":
		os.Exit(write(os.Args[2]))
	case "verify":
		os.Exit(verify(os.Args[2]))
	default:
		fmt.Fprintf(os.Stderr, "netroot-rootwriter: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

// kmsg logs a line in the kernel log at error level; best effort.
func kmsg(format string, args ...any) {
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		fmt.Fprintf(f, "<3>netroot-rootwriter: "+format+"\n", args...)
		f.Close()
	}
}

func write(path string) int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netroot-rootwriter: %v\n", err)
		kmsg("%v", err)
		return 1
	}
	defer f.Close()
	var errs, records int
	var slowest time.Duration
	for seq := 0; ; {
		start := time.Now()
		_, err := f.Write(writelog.Record(seq, start))
		if err == nil {
			// The record is in the file: the next one follows it even if
			// this fsync fails.
			seq++
			err = f.Sync()
		}
		slowest = max(slowest, time.Since(start))
		if err != nil {
			errs++
			fmt.Fprintf(os.Stderr, "netroot-rootwriter: record %d: %v\n", seq, err)
			kmsg("record %d: %v", seq, err)
		} else {
			records++
		}
		select {
		case <-stop:
			fmt.Fprintf(os.Stderr, "netroot-rootwriter: stopped records=%d errors=%d slowest=%.3fs\n", records, errs, slowest.Seconds())
			if errs > 0 {
				return 1
			}
			return 0
		case <-time.After(interval):
		}
	}
}

func verify(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netroot-rootwriter: %v\n", err)
		return 1
	}
	r := writelog.Verify(data)
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	if !r.OK() {
		return 1
	}
	return 0
}
