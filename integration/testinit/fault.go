package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The fault test mode (netroot.test=fault), for integration/fault_test.go:
// the keeper mode's writer and record check, writing for
// netroot.fault.write= seconds (default 55) and giving up after
// netroot.fault.stall= seconds without completing (default 45 more), while
// the test types commands on the console:
//
//	nrt-mark NAME [MINGAP]  note the time (the end of a fault); report
//	                        "fault-recovery=NAME <seconds>" when the first
//	                        write completes after it whose gap since the
//	                        write before is at least MINGAP seconds (0: the
//	                        first write at all)
//	nrt-kill-keeper         SIGKILL the keeper, reap it, report how it ended
//	                        and when its guard's new keeper was ready (it
//	                        rewrites /run/netroot/keeper.pid)
//	nrt-state               report the bond and the iSCSI connections now
//
// With netroot.fault.swap=MB it first puts swap on the root and the
// guest under memory pressure (swap.go).
//
// Before and after the writer it reports the bond ("fault-bond"), and at
// the end (also after a stall) the bond, the iSCSI connections and the
// keeper's processes.
func runFaultTest() {
	report("init", fmt.Sprintf("pid=%d args=%q", os.Getpid(), os.Args))
	pid, _ := strconv.Atoi(strings.TrimSpace(read("/run/netroot/keeper.pid")))
	report("keeper-pid", strconv.Itoa(pid))
	report("fault-bond", bondState())
	report("fault-conn", iscsiConns())
	writeFor := cmdlineSeconds("netroot.fault.write", 55*time.Second)
	stallAfter := cmdlineSeconds("netroot.fault.stall", writeFor+45*time.Second)
	m := &marks{}
	go faultCommands(m, pid)
	if mb := cmdlineInt("netroot.fault.swap"); mb > 0 {
		swapUnderPressure(mb) // swap.go
	}
	reportKeeperMem("fault-keeper-mem")
	final := func() {
		m.unmet()
		if cmdlineInt("netroot.fault.swap") > 0 {
			meminfo := read("/proc/meminfo")
			report("fault-swap-end", fmt.Sprintf("swap used %d kB; init VmSwap %s kB; keepers %s",
				kBInt(meminfo, "SwapTotal")-kBInt(meminfo, "SwapFree"), kB(read("/proc/self/status"), "VmSwap"), keepersSwap()))
		}
		report("fault-bond-end", bondState())
		report("fault-conn-end", iscsiConns())
		report("fault-keeper-end", keeperState(pid))
		reportKeeperMem("fault-keeper-mem-end")
	}
	writeAndVerifyWith(writerOpts{writeFor: writeFor, stallAfter: stallAfter, onWrite: m.written, onStall: final})
	final()
	report("done", "powering off")
	powerOff(true)
}

// cmdlineSeconds reads a "key=seconds" word of the kernel command line.
func cmdlineSeconds(key string, def time.Duration) time.Duration {
	for _, w := range strings.Fields(read("/proc/cmdline")) {
		if v, ok := strings.CutPrefix(w, key+"="); ok {
			if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
				return time.Duration(n * float64(time.Second))
			}
		}
	}
	return def
}

// mark is one nrt-mark waiting for its write.
type mark struct {
	name   string
	at     time.Time
	minGap time.Duration
}

type marks struct {
	mu      sync.Mutex
	pending []mark
}

func (m *marks) add(name string, minGap time.Duration) {
	m.mu.Lock()
	m.pending = append(m.pending, mark{name: name, at: time.Now(), minGap: minGap})
	m.mu.Unlock()
	report("fault-mark", name)
}

// written is the writer's hook: a write completed at done, gap after the
// one before.
func (m *marks) written(done time.Time, gap time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keep := m.pending[:0]
	for _, k := range m.pending {
		if done.After(k.at) && gap >= k.minGap {
			report("fault-recovery", fmt.Sprintf("%s %.2fs", k.name, done.Sub(k.at).Seconds()))
			continue
		}
		keep = append(keep, k)
	}
	m.pending = keep
}

// unmet reports the marks no write answered.
func (m *marks) unmet() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.pending {
		report("fault-recovery", fmt.Sprintf("%s none (no write completed in the %.1fs since)", k.name, time.Since(k.at).Seconds()))
	}
	m.pending = nil
}

// faultCommands reads the test's commands from the console.
func faultCommands(m *marks, keeperPid int) {
	var in io.Reader = os.Stdin
	if _, err := os.Stdin.Stat(); err != nil {
		f, err := os.Open("/dev/console")
		if err != nil {
			report("fault-console", "<"+err.Error()+">")
			return
		}
		in = f
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(strings.TrimSpace(sc.Text()))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nrt-mark":
			if len(f) < 2 {
				continue
			}
			gap := 0.0
			if len(f) > 2 {
				gap, _ = strconv.ParseFloat(f[2], 64)
			}
			m.add(f[1], time.Duration(gap*float64(time.Second)))
		case "nrt-kill-keeper":
			// The keeper running now: a restarted one, after a kill.
			pid := keeperPid
			if n, err := strconv.Atoi(read("/run/netroot/keeper.pid")); err == nil && n > 0 {
				pid = n
			}
			// An argument (a kill's number) leads the report.
			report("fault-keeper-killed", strings.Join(append(f[1:], killKeeper(pid)), " "))
		case "nrt-state":
			report("fault-bond-now", bondState())
			report("fault-conn-now", iscsiConns())
		case "nrt-mpath":
			reportMultipath()
			report("fault-mpath-done", strings.Join(f[1:], " "))
		case "nrt-stacks":
			for _, k := range liveKeepers() {
				report("fault-stacks", keeperStacks(k.pid, k.role))
			}
			// The kernel prints its blocked (D state) tasks.
			os.WriteFile("/proc/sysrq-trigger", []byte("w"), 0)
			report("fault-stacks-done", strings.Join(f[1:], " "))
		}
	}
	report("fault-console", fmt.Sprintf("<input ended: %v>", sc.Err()))
}

// killKeeper sends SIGKILL to the keeper (this init's child), reaps it,
// and waits for the keeper its guard starts: ready once it rewrote
// /run/netroot/keeper.pid, e.g. "pid=90 signal=killed respawned=134
// after=0.41s".
func killKeeper(pid int) string {
	if pid <= 0 {
		return "<no keeper pid>"
	}
	killed := time.Now()
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		return fmt.Sprintf("pid=%d <%v>", pid, err)
	}
	out := fmt.Sprintf("pid=%d still running after SIGKILL", pid)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil {
			return fmt.Sprintf("pid=%d <wait: %v>", pid, err)
		}
		if got == pid {
			out = fmt.Sprintf("pid=%d signal=%v", pid, ws.Signal())
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	deadline = killed.Add(20 * time.Second)
	for time.Now().Before(deadline) {
		n, err := strconv.Atoi(read("/run/netroot/keeper.pid"))
		if err == nil && n != pid {
			return fmt.Sprintf("%s respawned=%d after=%.2fs", out, n, time.Since(killed).Seconds())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return out + " respawned=none (keeper.pid unchanged after 20s)"
}

// keeperStacks describes where each thread of a keeper process waits: its
// state, wchan and kernel stack, e.g. "pid=134 keeper task=134 S
// wchan=do_epoll_wait stack=[ep_poll do_epoll_wait ...]". A test asks
// for it when a keeper did not log what it should have.
func keeperStacks(pid int, role string) string {
	var out []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, t := range tasks {
		state := "?"
		if st := statFields(t + "/stat"); len(st) > 0 {
			state = st[0]
		}
		var frames []string
		for _, l := range strings.Split(read(t+"/stack"), "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				frames = append(frames, strings.SplitN(f[1], "+", 2)[0])
			}
		}
		out = append(out, fmt.Sprintf("task=%s %s wchan=%s stack=[%s]", filepath.Base(t), state, read(t+"/wchan"), strings.Join(frames, " ")))
	}
	return fmt.Sprintf("pid=%d %s %s", pid, role, strings.Join(out, "; "))
}

// bondState describes bond0: its active slave, and each slave's permanent
// MAC and MII status, e.g.
// "active=eth0 eth0=52:54:00:77:00:10/up eth1=52:54:00:77:00:11/up".
func bondState() string {
	b := "/sys/class/net/bond0/bonding/"
	if _, err := os.Stat(b); err != nil {
		return "no bond0"
	}
	out := []string{"active=" + read(b+"active_slave")}
	for _, s := range strings.Fields(read(b + "slaves")) {
		sl := "/sys/class/net/" + s + "/bonding_slave/"
		out = append(out, fmt.Sprintf("%s=%s/%s", s, read(sl+"perm_hwaddr"), read(sl+"mii_status")))
	}
	return strings.Join(out, " ")
}

// iscsiConns describes every iSCSI session's state and connection, e.g.
// "session1=LOGGED_IN conn=10.77.0.1:3260".
func iscsiConns() string {
	var out []string
	sessions, _ := filepath.Glob("/sys/class/iscsi_session/session*")
	for _, s := range sessions {
		out = append(out, filepath.Base(s)+"="+read(s+"/state"))
		conns, _ := filepath.Glob(s + "/device/connection*/iscsi_connection/connection*")
		for _, c := range conns {
			out = append(out, fmt.Sprintf("conn=%s:%s", read(c+"/address"), read(c+"/port")))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

// keeperState says whether the keeper /init started still runs, what
// keeper.pid names now, and which keeper processes run (a restarted one
// would be new), e.g. "pid 90 gone; keeper.pid=134; netroot-keeper
// processes: [93 guard ppid=1, 134 keeper ppid=1]".
func keeperState(pid int) string {
	state := fmt.Sprintf("pid %d gone", pid)
	if pid > 0 {
		if st := statFields(fmt.Sprintf("/proc/%d/stat", pid)); len(st) > 0 && st[0] != "Z" {
			state = fmt.Sprintf("pid %d running (state %s)", pid, st[0])
		}
	}
	return fmt.Sprintf("%s; keeper.pid=%s; netroot-keeper processes: %s", state, read("/run/netroot/keeper.pid"), keepersSummary())
}
