package shutdown

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/devmapper"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/kmsg"
	"github.com/netroot/netroot/pkg/multipath"
	"github.com/netroot/netroot/pkg/sysfs"
	"golang.org/x/sys/unix"
)

// Options tune Run; the zero value is the real thing.
type Options struct {
	// Log receives one line per step (default: /dev/kmsg, else stdout).
	Log io.Writer
	// UnmountTimeout bounds the unmounting of the old root and the sync
	// (each); 0 means 30 s. Past it the sessions are ended anyway, which
	// fails the I/O still waiting for a target that is gone.
	UnmountTimeout time.Duration
	// EndTimeout bounds ending the sessions; 0 means 40 s.
	EndTimeout time.Duration
}

// Run is the shutdown role's main: PID 1 after systemd-shutdown. It never
// returns.
func Run(args []string, o Options) {
	if o.Log == nil {
		if k, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
			w := kmsg.New(k, "")
			w.Limited = kmsg.Limited // lifted once /proc is there (mountAPI)
			o.Log = w
		} else {
			o.Log = os.Stdout
		}
	}
	run(args, o, linuxMachine{})
	for {
		unix.Pause()
	}
}

// machine is what the way down does to the system; its steps are
// bounded by run, which tests drive with a fake.
type machine interface {
	mountAPI() string
	stopKeepers(wait time.Duration) string
	unmountAll(root string) string
	sync()
	failQueueing() string
	endSessions(timeout time.Duration) string
	// finish reboots, powers off, halts or kexecs; it returns only if
	// that failed and the reboot instead failed too.
	finish(a Action, logf func(string, ...any))
}

// run is Run's sequence. Every step that can wait for a target is
// bounded: past its bound the next step goes on, and finish is always
// reached.
func run(args []string, o Options, m machine) {
	if o.UnmountTimeout == 0 {
		o.UnmountTimeout = 30 * time.Second
	}
	if o.EndTimeout == 0 {
		o.EndTimeout = 40 * time.Second
	}
	start := time.Now()
	logf := func(format string, a ...any) { fmt.Fprintf(o.Log, "netroot-shutdown: "+format+"\n", a...) }
	step := func(name string, t0 time.Time, format string, a ...any) {
		logf("%s: %s (%.2fs)", name, fmt.Sprintf(format, a...), time.Since(t0).Seconds())
	}
	sync := func(name string) {
		t := time.Now()
		if _, done := bounded(o.UnmountTimeout, func() string { m.sync(); return "" }); done {
			step(name, t, "done")
		} else {
			step(name, t, "still syncing after %s; going on", o.UnmountTimeout)
		}
	}
	action, err := ParseAction(args)
	if err != nil {
		logf("%v", err)
	}
	logf("%s: unmounting the old root, then logging out of the iSCSI sessions", action)
	// PID 1 must not die: whatever goes wrong, the machine still goes down.
	defer func() {
		if r := recover(); r != nil {
			logf("internal error: %v; %s anyway", r, action)
			sync("sync")
			m.finish(action, logf)
		}
	}()

	t := time.Now()
	step("mount", t, "%s", m.mountAPI())

	t = time.Now()
	step("keeper", t, "%s", m.stopKeepers(3*time.Second))

	t = time.Now()
	res, done := bounded(o.UnmountTimeout, func() string { return m.unmountAll(OldRoot) })
	if !done {
		res = fmt.Sprintf("still unmounting after %s (the target does not answer?); ending the sessions fails what waits", o.UnmountTimeout)
	}
	step("unmount", t, "%s", res)

	sync("sync")

	// A multipath map queues I/O while it has no path (the root's map
	// does, queue_if_no_path): once the sessions end, what still waits
	// must fail instead, or the last sync waits for ever.
	t = time.Now()
	res, done = bounded(o.UnmountTimeout, m.failQueueing)
	if !done {
		res = fmt.Sprintf("no answer after %s; going on", o.UnmountTimeout)
	}
	step("multipath", t, "%s", res)

	t = time.Now()
	// endSessions bounds its own stages; this bounds a kernel command
	// that does not return.
	endBound := o.EndTimeout + o.EndTimeout/4
	res, done = bounded(endBound, func() string { return m.endSessions(o.EndTimeout) })
	if !done {
		res = fmt.Sprintf("still ending the sessions after %s; going on", endBound)
	}
	step("logout", t, "%s", res)

	sync("last sync")
	logf("%s after %.2fs", action, time.Since(start).Seconds())
	m.finish(action, logf)
}

// linuxMachine is the real system.
type linuxMachine struct{}

func (linuxMachine) mountAPI() string                      { return mountAPI() }
func (linuxMachine) stopKeepers(wait time.Duration) string { return stopKeepers(wait) }
func (linuxMachine) unmountAll(root string) string         { return unmountAll(root) }
func (linuxMachine) sync()                                 { unix.Sync() }
func (linuxMachine) failQueueing() string                  { return failQueueing(sysfs.Sys, openDM) }
func (linuxMachine) endSessions(timeout time.Duration) string {
	return endSessions(sysfs.Sys, timeout)
}
func (linuxMachine) finish(a Action, logf func(string, ...any)) { finish(a, logf) }

// Sync flushes every filesystem's data, waiting at most d (a write to a
// target that is gone may never end); it reports whether it finished.
func Sync(d time.Duration) bool {
	_, done := bounded(d, func() string { unix.Sync(); return "" })
	return done
}

// bounded runs fn, waiting at most d; done is false when fn still runs
// (it is left running: a syscall stuck on a dead target).
func bounded(d time.Duration, fn func() string) (string, bool) {
	c := make(chan string, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				c <- fmt.Sprintf("internal error: %v", r)
			}
		}()
		c <- fn()
	}()
	select {
	case r := <-c:
		return r, true
	case <-time.After(d):
		return "", false
	}
}

// mountAPI mounts /proc, /sys and /dev where systemd's return did not bind
// them.
func mountAPI() string {
	var did []string
	for _, m := range []struct{ fstype, target, check string }{
		{"proc", "/proc", "/proc/self"},
		{"sysfs", "/sys", "/sys/class"},
		{"devtmpfs", "/dev", "/dev/null"},
	} {
		if _, err := os.Stat(m.check); err == nil {
			continue
		}
		os.MkdirAll(m.target, 0o755)
		if err := unix.Mount(m.fstype, m.target, m.fstype, 0, ""); err != nil {
			did = append(did, fmt.Sprintf("%s: %v", m.target, err))
			continue
		}
		did = append(did, m.target)
	}
	// These are the system's last lines, written in a burst: the kernel
	// takes them all, as /init has it do during the boot.
	kmsg.Lift()
	if len(did) == 0 {
		return "/proc, /sys, /dev present"
	}
	return "mounted " + strings.Join(did, ", ")
}

// stopKeepers ends the session keeper and its guard (SIGTERM, which ends
// both; SIGKILL after wait), so that none of them takes the logout for a
// failure to recover.
func stopKeepers(wait time.Duration) string {
	pids := keeperPIDs()
	if len(pids) == 0 {
		return "none running"
	}
	// Each pidfd is opened before the signal: a pid reused after the
	// exit cannot be mistaken for the keeper.
	var fds []unix.PollFd
	for _, p := range pids {
		if fd, err := unix.PidfdOpen(p, 0); err == nil {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
	}
	for _, p := range pids {
		unix.Kill(p, unix.SIGTERM)
	}
	waitExits(fds, time.Now().Add(wait))
	// PID 1 reaps its children: the keepers are.
	reap()
	left := keeperPIDs()
	if len(left) == 0 {
		return fmt.Sprintf("stopped %d process(es)", len(pids))
	}
	for _, p := range left {
		unix.Kill(p, unix.SIGKILL)
	}
	reap()
	return fmt.Sprintf("stopped %d process(es), %d killed after %s", len(pids), len(left), wait)
}

// waitExits waits until every pidfd in fds reports its process's exit,
// or until deadline; it closes the pidfds.
func waitExits(fds []unix.PollFd, deadline time.Time) {
	defer func() {
		for _, f := range fds {
			unix.Close(int(f.Fd))
		}
	}()
	open := fds
	for len(open) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		n, err := unix.Poll(open, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		var still []unix.PollFd
		for _, f := range open {
			if f.Revents == 0 {
				still = append(still, f)
			}
		}
		open = still
	}
}

// keeperPIDs lists the keeper processes still running.
func keeperPIDs() []int { return keepersIn("/proc") }

// keepersIn finds the keepers (their comm, not zombies) under the proc
// directory proc. It walks PID 1's descendants: /init started the first
// keeper and each keeper process starts its partner, orphans are PID 1's,
// and after systemd-shutdown's kill nothing else but kernel threads is
// left — which a scan of all of /proc would read one by one. Without the
// children lists (a kernel without CONFIG_PROC_CHILDREN) it scans /proc.
func keepersIn(proc string) []int {
	pids, ok := descendants(proc, 1)
	if !ok {
		ents, _ := os.ReadDir(proc)
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	var out []int
	for _, pid := range pids {
		if isKeeper(proc, pid) {
			out = append(out, pid)
		}
	}
	return out
}

// descendants lists pid's descendants from the children lists of each
// process's threads (a child is listed under the thread that forked it);
// ok is false when pid's lists cannot be read.
func descendants(proc string, pid int) (out []int, ok bool) {
	seen := map[int]bool{pid: true}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		lists, _ := filepath.Glob(filepath.Join(proc, strconv.Itoa(p), "task", "*", "children"))
		if p == pid && len(lists) == 0 {
			return nil, false
		}
		for _, l := range lists {
			data, err := os.ReadFile(l)
			if err != nil {
				continue // the thread or process ended
			}
			for _, f := range strings.Fields(string(data)) {
				c, err := strconv.Atoi(f)
				if err != nil || seen[c] {
					continue
				}
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out, true
}

// isKeeper reports whether pid is a keeper process that has not exited.
func isKeeper(proc string, pid int) bool {
	stat, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// pid (comm) state …
	s := string(stat)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open || close+2 >= len(s) {
		return false
	}
	return s[open+1:close] == keeper.ProcessName[1:] && s[close+2] != 'Z'
}

func reap() {
	for {
		pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// unmountAll unmounts root and every mount below it, deepest first; a
// mount still busy is remounted read-only (its data synced and the
// filesystem marked clean) and then detached.
func unmountAll(root string) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "reading the mounts: " + err.Error()
	}
	mounts := Below(ParseMountinfo(string(data)), root)
	if len(mounts) == 0 {
		return root + " is not mounted"
	}
	var rootDesc string
	for _, m := range mounts {
		if m.Point == root {
			rootDesc = fmt.Sprintf(" (%s %s)", m.Source, m.FSType)
		}
	}
	var unmounted, detached int
	var notes []string
	for _, m := range mounts {
		if err := unix.Unmount(m.Point, 0); err == nil {
			unmounted++
			continue
		} else if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			continue // gone with its parent
		}
		ro := ""
		if strings.HasPrefix(m.Source, "/dev/") {
			if err := unix.Mount("", m.Point, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				ro = ", remount read-only: " + err.Error()
			} else {
				ro = ", remounted read-only"
			}
		}
		if err := unix.Unmount(m.Point, unix.MNT_DETACH); err != nil {
			notes = append(notes, fmt.Sprintf("%s (%s): %v%s", m.Point, m.Source, err, ro))
			continue
		}
		detached++
		if ro != "" {
			notes = append(notes, fmt.Sprintf("%s (%s) busy%s, detached", m.Point, m.Source, ro))
		}
	}
	out := fmt.Sprintf("%s%s and %d mount(s) below: %d unmounted, %d detached", root, rootDesc, len(mounts)-1, unmounted, detached)
	if len(notes) > 0 {
		out += "; " + strings.Join(notes, "; ")
	}
	return out
}

// endSessions logs out of every iSCSI session of the tcp transport.
func endSessions(sys sysfs.FS, timeout time.Duration) string {
	// Without sysfs (its mount failed above) no session can be listed:
	// that is not the same as none there.
	if !sys.Exists("class") {
		return "cannot list the iSCSI sessions: " + sys.Path("") + " is not mounted (none logged out)"
	}
	handle, err := iscsi.TCPTransportHandle(sys)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "no iSCSI session"
		}
		return err.Error()
	}
	sessions := sysfsSessions(sys)
	if len(sessions) == 0 {
		return "no iSCSI session"
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Stages are bounded within the whole.
	results, err := keeper.EndSessions(ctx, handle, sessions, keeper.EndOptions{
		UnbindTimeout: timeout / 2, LogoutTimeout: timeout / 4,
	})
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, r := range results {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, "; ")
}

// messenger sends a device-mapper target message (devmapper.Control).
type messenger = multipath.Messenger

func openDM() (messenger, error) { return devmapper.Open() }

// failQueueing tells every multipath map to fail the I/O it would queue
// with no path left (multipath.FailIfNoPath).
func failQueueing(sys sysfs.FS, open func() (messenger, error)) string {
	maps := multipathMaps(sys)
	if len(maps) == 0 {
		return "no multipath map"
	}
	dm, err := open()
	if err != nil {
		return err.Error()
	}
	if c, ok := dm.(io.Closer); ok {
		defer c.Close()
	}
	var done, notes []string
	for _, name := range maps {
		if err := multipath.FailIfNoPath(dm, name); err != nil {
			notes = append(notes, err.Error())
			continue
		}
		done = append(done, name)
	}
	out := fmt.Sprintf("%d of %d map(s) fail I/O once no path is left", len(done), len(maps))
	if len(done) > 0 {
		out += ": " + strings.Join(done, ", ")
	}
	if len(notes) > 0 {
		out += "; " + strings.Join(notes, "; ")
	}
	return out
}

// multipathMaps lists by name the device-mapper maps multipathd counts as
// its own (multipath.IsMapUUID).
func multipathMaps(sys sysfs.FS) []string {
	dirs, _ := filepath.Glob(sys.Path("block/dm-*/dm"))
	var out []string
	for _, d := range dirs {
		rel := filepath.Join("block", filepath.Base(filepath.Dir(d)), "dm")
		if !multipath.IsMapUUID(sys.Value(rel + "/uuid")) {
			continue
		}
		if name := sys.Value(rel + "/name"); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// sysfsSessions lists the kernel's iSCSI sessions and their connections.
func sysfsSessions(sys sysfs.FS) []keeper.SessionRef {
	conns, _ := filepath.Glob(sys.Path("class/iscsi_connection/connection*:*"))
	var out []keeper.SessionRef
	for _, c := range conns {
		sidCID := strings.TrimPrefix(filepath.Base(c), "connection")
		s, cs, ok := strings.Cut(sidCID, ":")
		sid, err1 := strconv.ParseUint(s, 10, 32)
		cid, err2 := strconv.ParseUint(cs, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		target := sys.Value("class/iscsi_session/session" + s + "/targetname")
		out = append(out, keeper.SessionRef{SID: uint32(sid), CID: uint32(cid), Target: target})
	}
	return out
}

// finish does action; a failed call falls back to reboot.
func finish(a Action, logf func(string, ...any)) {
	cmd := map[Action]int{
		Reboot: unix.LINUX_REBOOT_CMD_RESTART, Poweroff: unix.LINUX_REBOOT_CMD_POWER_OFF,
		Halt: unix.LINUX_REBOOT_CMD_HALT, Kexec: unix.LINUX_REBOOT_CMD_KEXEC,
	}[a]
	err := unix.Reboot(cmd)
	logf("%s: %v; rebooting instead", a, err)
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
		logf("reboot: %v", err)
	}
}
