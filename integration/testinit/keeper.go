package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The keeper test mode (kernel command line word netroot.test=keeper):
// write and fsync one fixed-size record every 100 ms to a file on the
// (read-write) root for writeFor, while the test takes the network or the
// target away; then read every record back. If the writer does not finish
// within stallAfter (no one recovered the iSCSI connection), report the
// stall and power off without syncing.
const (
	recordSize = 64
	writeFor   = 55 * time.Second
	stallAfter = writeFor + 45*time.Second
	testFile   = "/keeper-test.dat"
)

// testMode reports whether the kernel command line selects mode.
func testMode(mode string) bool {
	for _, w := range strings.Fields(read("/proc/cmdline")) {
		if w == "netroot.test="+mode {
			return true
		}
	}
	return false
}

func record(i int) []byte {
	r := fmt.Sprintf("record %08d", i)
	return []byte(r + strings.Repeat(".", recordSize-len(r)-1) + "\n")
}

type writerResult struct {
	records  int
	errs     []string
	maxStall time.Duration
	// stalls are the gaps of a second or more between completed writes,
	// by when they began (from the writer's start).
	stalls []string
}

// writerOpts shape the writer: how long it writes, how long it may stall
// before the guest gives up, and a hook told of every completed write
// (its time and the gap since the previous one).
type writerOpts struct {
	writeFor, stallAfter time.Duration
	onWrite              func(done time.Time, gap time.Duration)
	// onStall runs before a stalled writer powers the guest off.
	onStall func()
}

func writer(f *os.File, done *atomic.Int64, o writerOpts) writerResult {
	var res writerResult
	start := time.Now()
	last := start
	for i := 0; time.Since(start) < o.writeFor; i++ {
		if _, err := f.WriteAt(record(i), int64(i)*recordSize); err != nil {
			res.errs = append(res.errs, fmt.Sprintf("write %d: %v", i, err))
		} else if err := f.Sync(); err != nil {
			res.errs = append(res.errs, fmt.Sprintf("fsync %d: %v", i, err))
		}
		now := time.Now()
		d := now.Sub(last)
		if d > res.maxStall {
			res.maxStall = d
		}
		if d >= time.Second {
			res.stalls = append(res.stalls, fmt.Sprintf("%.1fs@%.1f", d.Seconds(), last.Sub(start).Seconds()))
		}
		if o.onWrite != nil {
			o.onWrite(now, d)
		}
		last = now
		res.records = i + 1
		done.Store(int64(i + 1))
		time.Sleep(100 * time.Millisecond)
	}
	return res
}

func runKeeperTest() {
	report("init", fmt.Sprintf("pid=%d args=%q", os.Getpid(), os.Args))
	reportMultipath()
	writeAndVerify()
	reportConnParams()
	reportMultipath()
	// The connections as the outage left them (main.go).
	for _, c := range iscsiTCP() {
		report("iscsi-tcp", c)
	}
	keepers, _ := os.ReadFile("/run/netroot/keeper.pid")
	pid := strings.TrimSpace(string(keepers))
	report("keeper-pid", pid)
	if pid != "" {
		// The keeper must not pin the real root: its root and working
		// directory stay on the initramfs.
		var real, root, cwd unix.Stat_t
		unix.Stat("/", &real)
		e1 := unix.Stat("/proc/"+pid+"/root/", &root)
		e2 := unix.Stat("/proc/"+pid+"/cwd/", &cwd)
		argv := strings.ReplaceAll(read("/proc/"+pid+"/cmdline"), "\x00", " ")
		report("keeper-proc", fmt.Sprintf("argv=%q root-on-real-root=%v cwd-on-real-root=%v (%v %v)",
			strings.TrimSpace(argv), root.Dev == real.Dev, cwd.Dev == real.Dev, e1, e2))
	}
	report("keeper-hints", fmt.Sprintf("ifstate=%q open-iscsi.interface=%q network.json=%v",
		read("/run/network/ifstate"), read("/run/initramfs/open-iscsi.interface"), len(read("/run/netroot/network.json")) > 2))
	// Both keeper processes: OOM score, locked memory, binary. A listing
	// of /proc taken while other processes exit may miss one (the guard
	// was left out once in a loaded CI run, though it logged its own exit
	// at the SIGTERM below): look again, briefly, before reporting fewer.
	report("keeper-procs", keepersSummaryOf(2, time.Second))
	reportKeeperMem("keeper-mem")
	if n, err := strconv.Atoi(pid); err == nil {
		report("keeper-sigterm", stopKeeper(n))
		// SIGTERM to the keeper ends its guard too.
		report("keeper-after-sigterm", waitKeepersGone(5*time.Second))
	}
	report("done", "powering off")
	shutdownThroughInitramfs()
}

// writeAndVerify opens testFile, reports "keeper-test=writing" (the
// test's cue for the outage), runs the writer, and reports its result and
// the check of every record. A writer that stalls past stallAfter powers
// the guest off.
func writeAndVerify() {
	writeAndVerifyWith(writerOpts{writeFor: writeFor, stallAfter: stallAfter})
}

// writeAndVerifyWith is writeAndVerify shaped by o.
func writeAndVerifyWith(o writerOpts) {
	f, err := os.OpenFile(testFile, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		report("keeper-test", "<"+err.Error()+">")
		powerOff(true)
	}
	var progress atomic.Int64
	out := make(chan writerResult, 1)
	go func() { out <- writer(f, &progress, o) }()
	report("keeper-test", "writing")
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	deadline := time.After(o.stallAfter)
	var res writerResult
wait:
	for {
		select {
		case res = <-out:
			break wait
		case <-tick.C:
			report("keeper-progress", fmt.Sprint(progress.Load()))
		case <-deadline:
			report("keeper-writer", fmt.Sprintf("stalled records=%d", progress.Load()))
			if o.onStall != nil {
				o.onStall()
			}
			report("done", "powering off")
			powerOff(false)
		}
	}
	report("keeper-writer", fmt.Sprintf("finished records=%d", res.records))
	report("keeper-errors", fmt.Sprint(len(res.errs)))
	for i, e := range res.errs {
		if i < 5 {
			report("keeper-error", e)
		}
	}
	report("keeper-maxstall", fmt.Sprintf("%.1fs", res.maxStall.Seconds()))
	if len(res.stalls) > 0 {
		report("keeper-stalls", strings.Join(res.stalls, " "))
	}
	f.Close()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o644)
	data, err := os.ReadFile(testFile)
	bad := 0
	if err != nil {
		report("keeper-verify", "<"+err.Error()+">")
		return
	}
	for i := 0; i < res.records; i++ {
		if end := (i + 1) * recordSize; end > len(data) || !bytes.Equal(data[i*recordSize:end], record(i)) {
			bad++
		}
	}
	if bad == 0 && len(data) == res.records*recordSize {
		report("keeper-verify", fmt.Sprintf("ok records=%d", res.records))
	} else {
		report("keeper-verify", fmt.Sprintf("bad=%d of %d, file %d bytes", bad, res.records, len(data)))
	}
}

// stopKeeper sends SIGTERM to the keeper (this init's child: it was
// started by /init, which this process replaced) and waits for its exit.
func stopKeeper(pid int) string {
	// The pair logs its exit to the kernel log, i.e. the console: the
	// reports before must be out first (a keeper-mem line was cut once).
	drainConsole()
	if err := unix.Kill(pid, unix.SIGTERM); err != nil {
		return "<" + err.Error() + ">"
	}
	status, err := waitChild(pid, 5*time.Second)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("exited status=%d", status)
}

// waitChild waits up to timeout for the child pid to exit and returns its
// exit status.
func waitChild(pid int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil {
			return 0, fmt.Errorf("<%v>", err)
		} else if got == pid {
			return ws.ExitStatus(), nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("still running after %v", timeout)
}

// reportConnParams reports the digests each iSCSI connection runs after
// the outage: the kernel clears them when the connection is stopped for
// recovery, so the keeper must have set them again.
func reportConnParams() {
	conns, _ := filepath.Glob("/sys/class/iscsi_connection/connection*")
	for _, c := range conns {
		report("keeper-conn-params", fmt.Sprintf("%s header_digest=%s data_digest=%s", filepath.Base(c),
			read(c+"/header_digest"), read(c+"/data_digest")))
	}
}
