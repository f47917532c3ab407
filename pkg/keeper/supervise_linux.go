package keeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
	"github.com/netroot/netroot/pkg/kmsg"
	"github.com/netroot/netroot/pkg/sysfs"
	"golang.org/x/sys/unix"
)

// The descriptors a keeper process starts with. /init starts the first
// keeper with the State on fdState and a pipe on fdReady on which it
// answers "ready". A process started by its partner gets the State on
// fdState too, the control socket to the partner on fdControl, the
// partner's pidfd on fdPartner and the directories /proc and /sys, which
// after switch_root no path reaches.
const (
	fdState   = 3
	fdReady   = 4
	fdControl = 4
	fdPartner = 5
	fdProc    = 6
	fdSys     = 7
)

// Waits at the end: the guard told to stop gives the keeper time to end
// its recoveries; a process stopping with its partner only waits for it
// to be gone.
const (
	guardStopWait   = 5 * time.Second
	partnerStopWait = time.Second
)

// ProcessOptions configure Process.
type ProcessOptions struct {
	// Logf receives one line per event (never a secret); nil discards.
	Logf func(format string, args ...any)
	// Log, when set, is the kernel log Logf writes to: the process
	// gives it an open file description of its own (kmsg.Writer.Own),
	// so that the kernel's limit on /dev/kmsg writes counts this
	// process's lines alone, not its partner's too.
	Log *kmsg.Writer
	// PIDFile is where a keeper started by its guard records its pid, as
	// /init did for the first one: a path relative to the real root (PID
	// 1's), e.g. "run/netroot/keeper.pid"; its directory must exist.
	// Empty: none.
	PIDFile string
	// PIDFileRoot is the directory PIDFile is relative to, as a path
	// under /proc; empty means "1/root".
	PIDFileRoot string
	// Run is the keeper's loop; nil means Run.
	Run func(ctx context.Context, st State, o Options) error
	// Restart is the schedule of restarts of a partner that dies early;
	// zero means RestartPolicy. StableAfter (0: the package's) is how
	// long a partner must have been ready to be restarted at once.
	Restart     backoff.Policy
	StableAfter time.Duration
	// OtherDaemon is passed to Run, and asked by the guard before it
	// restarts a keeper; nil means IscsidRunning.
	OtherDaemon func() bool
}

// Process is the main of a keeper process, either role: the one /init
// started (the keeper), or one its partner started (RoleEnv says which).
// It returns the exit status.
func Process(o ProcessOptions) int {
	// First: a SIGTERM must end the pair cleanly, not kill one of it.
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
	// On the way out, ignored rather than back to the default: the
	// shutdown role signals every keeper process, and the partner's stop
	// message may have ended this one before its SIGTERM came.
	defer func() {
		signal.Ignore(unix.SIGTERM, unix.SIGINT)
		stop()
	}()
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE)
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	o.Logf = logf
	if o.Run == nil {
		o.Run = Run
	}
	if o.OtherDaemon == nil {
		o.OtherDaemon = IscsidRunning
	}
	if o.Restart == (backoff.Policy{}) {
		o.Restart = RestartPolicy
	}
	if o.StableAfter <= 0 {
		o.StableAfter = StableAfter
	}
	role := Role(os.Getenv(RoleEnv))
	fromInit := role == ""
	if fromInit {
		role = RoleKeeper
	}
	if role != RoleKeeper && role != RoleGuard {
		logf("%s=%q: not a keeper role", RoleEnv, role)
		return 2
	}
	if !fdOpen(fdState) || !fdOpen(fdReady) {
		logf("no state pipe: this process is started by netroot's /init only")
		return 2
	}
	// The working directory may be /proc (see startSelf): back to this
	// process's root, the initramfs, so that the real root is never
	// held busy.
	unix.Chdir("/")
	pf, err := openProcFiles(fromInit)
	if err != nil {
		logf("%v", err)
		return 2
	}
	if o.Log != nil {
		if err := o.Log.Own(pf.proc); err != nil {
			logf("%v; logging through the descriptor it inherited", err)
		}
	}
	harden(pf.proc, logf)
	if role == RoleGuard {
		return runGuard(ctx, o, pf)
	}
	return runKeeper(ctx, o, pf, fromInit)
}

// runKeeper is the keeper's main: it keeps a guard, reads the State and
// runs the loop.
func runKeeper(ctx context.Context, o ProcessOptions, pf *procFiles, fromInit bool) int {
	logf := o.Logf
	var readyF *os.File
	var s *supervisor
	if fromInit {
		unix.CloseOnExec(fdReady)
		readyF = os.NewFile(fdReady, "ready")
		if pf.self < 0 {
			logf("no pidfd (Linux 5.3 or later): running without a guard; nothing restarts this process if it dies")
		} else {
			s = newSupervisor(RoleKeeper, o, pf, nil)
		}
	} else {
		g, err := adoptPartner(RoleGuard, pf, logf)
		if err != nil {
			logf("%v", err)
			return 2
		}
		s = newSupervisor(RoleKeeper, o, pf, g)
		// This keeper replaces one that was ready: the guards it starts
		// must restart it even if it dies before saying so again.
		s.armGuards = true
	}
	if s != nil {
		go s.loop()
	}
	st, err := readState()
	if fromInit && errors.Is(err, errNoState) {
		// /init closes the pipe empty only to abort the start: its boot
		// failed and said so. The guard, told, leaves without a word too.
		if s != nil {
			s.finish(abortedByInit, 0)
		}
		return 1
	}
	if err != nil {
		// No stop message: a guard that handed nothing knows what to do.
		logf("%v", err)
		return 1
	}
	raisePriority(logf)
	if s != nil {
		s.setState(st)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopped <-chan struct{}
	if s != nil {
		stopped = s.done
	}
	go func() {
		select {
		case <-stopped:
			cancel()
		case <-runCtx.Done():
		}
	}()
	var names []string
	for _, ss := range st.Sessions {
		names = append(names, ss.String())
	}
	err = o.Run(runCtx, st, Options{
		Logf:        logf,
		OtherDaemon: o.OtherDaemon,
		Sysfs:       pf.sys,
		Proc:        pf.proc,
		Ready: func() {
			// The guard hears it first: a keeper that dies once /init
			// was told must be restarted.
			if s != nil {
				s.ready()
			}
			if readyF != nil {
				readyF.Write([]byte("ready\n"))
				readyF.Close()
			}
			if fromInit {
				logf("watching %s", strings.Join(names, "; "))
				return
			}
			logf("pid %d started by its guard: watching %s", os.Getpid(), strings.Join(names, "; "))
			if o.PIDFile != "" {
				go func() {
					if err := recordPID(pf.proc, o.PIDFileRoot, o.PIDFile, os.Getpid()); err != nil {
						logf("recording the pid in /%s: %v", o.PIDFile, err)
					}
				}()
			}
		},
	})
	finish := func(reason string) {
		if s != nil {
			s.finish(reason, partnerStopWait)
		}
	}
	switch {
	case errors.Is(err, ErrSteppedAside):
		finish("iscsid took over")
		logf("%v; exiting", err)
	case err != nil:
		// No stop message: the guard starts another keeper.
		logf("%v", err)
		return 1
	case s != nil && s.ended():
		finish("")
		logf("stopped: %s", s.reason())
	case ctx.Err() != nil:
		finish("signal")
		logf("stopped by signal")
	default:
		finish("no session left")
		logf("no session left to keep; exiting")
	}
	return 0
}

// runGuard is the guard's main: it reads the State from the keeper that
// started it and restarts keepers until told to stop.
func runGuard(ctx context.Context, o ProcessOptions, pf *procFiles) int {
	logf := func(format string, args ...any) { o.Logf("guard: "+format, args...) }
	k, err := adoptPartner(RoleKeeper, pf, logf)
	if err != nil {
		logf("%v", err)
		return 2
	}
	st, err := readState()
	if err != nil {
		if why, ok := k.stopReason(partnerStopWait); ok && why == abortedByInit {
			return 1
		}
		logf("%v (the keeper ended before handing it over); exiting", err)
		return 1
	}
	raisePriority(logf)
	s := newSupervisor(RoleGuard, o, pf, k)
	s.r.armed = os.Getenv(armedEnv) == "1"
	s.setState(st)
	s.ready()
	go s.loop()
	logf("pid %d watches keeper pid %d", os.Getpid(), k.pid)
	select {
	case <-ctx.Done():
		s.finish("signal to the guard", guardStopWait)
		logf("stopped by signal")
	case <-s.done:
		s.finish("", partnerStopWait)
		logf("%s; exiting", s.reason())
	}
	return 0
}

// fdOpen reports whether fd is an open descriptor.
func fdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// errNoState is a State pipe closed with nothing written: /init aborting
// the keeper it started, or a keeper that ended before it handed its
// guard the State.
var errNoState = errors.New("keeper: no state: its pipe closed empty")

// abortedByInit is the reason of the stop message a keeper aborted by
// /init sends its guard.
const abortedByInit = "aborted by /init"

// readState reads and decodes the State from fdState until EOF.
func readState() (State, error) {
	unix.CloseOnExec(fdState)
	f := os.NewFile(fdState, "state")
	data, err := io.ReadAll(io.LimitReader(f, MaxStateBytes+1))
	f.Close()
	if err != nil {
		clear(data)
		return State{}, fmt.Errorf("keeper: reading the state: %w", err)
	}
	if len(data) == 0 {
		return State{}, errNoState
	}
	st, err := Decode(data)
	clear(data)
	return st, err
}

// procFiles are what a keeper process needs to start its partner, also
// after switch_root: the directories /proc and /sys, its own pidfd (-1
// without pidfd support) and its argv as the kernel gave it.
type procFiles struct {
	proc, sys *os.File
	self      int
	argv      []string
}

func openProcFiles(fromInit bool) (*procFiles, error) {
	pf := &procFiles{self: -1}
	if fromInit {
		for _, d := range []struct {
			f    **os.File
			path string
		}{{&pf.proc, "/proc"}, {&pf.sys, "/sys"}} {
			f, err := openDir(d.path)
			if err != nil {
				return nil, fmt.Errorf("keeper: %w", err)
			}
			*d.f = f
		}
	} else {
		for _, fd := range []int{fdProc, fdSys} {
			if !fdOpen(fd) {
				return nil, fmt.Errorf("keeper: descriptor %d (/proc, /sys) not open: this process is started by its partner only", fd)
			}
			unix.CloseOnExec(fd)
		}
		pf.proc = os.NewFile(fdProc, "/proc")
		pf.sys = os.NewFile(fdSys, "/sys")
	}
	if fd, err := unix.PidfdOpen(os.Getpid(), 0); err == nil {
		pf.self = fd
	} else if !fromInit {
		return nil, fmt.Errorf("keeper: pidfd_open: %w", err)
	}
	b, err := sysfs.At(pf.proc).Read("self/cmdline")
	if err == nil {
		pf.argv = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	}
	if len(pf.argv) == 0 || !strings.HasPrefix(pf.argv[0], "@") {
		pf.argv = []string{ProcessName}
	}
	return pf, nil
}

// recordPID writes pid to rel (relative to root, e.g. PID 1's root
// "1/root", under proc) by renaming a new file over it, so a reader never
// sees it empty.
func recordPID(proc *os.File, root, rel string, pid int) error {
	if root == "" {
		root = "1/root"
	}
	rfd, err := unix.Openat(int(proc.Fd()), root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rfd)
	dir, name := path.Split(path.Clean(rel))
	if dir == "" {
		dir = "."
	}
	dfd, err := unix.Openat2(rfd, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if errors.Is(err, unix.ENOSYS) { // before Linux 5.6
		dfd, err = unix.Openat(rfd, dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	tmp := "." + name + ".new"
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	_, err = unix.Write(fd, []byte(strconv.Itoa(pid)+"\n"))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
	}
	return err
}

// partner is the other process of the pair, as one process sees it.
type partner struct {
	role  Role
	pid   int
	pidfd int
	ctl   *os.File
	// stateW is the pipe its State goes to (nil once written, or for
	// a partner that started this process).
	stateW *os.File
	// msgs delivers its control messages; closed at EOF (it died).
	msgs chan []byte
	eof  chan struct{}
	// dead is closed once it exited.
	dead chan struct{}

	readyAt time.Time
	stopped bool
	stopWhy string
}

// newPartner starts watching the process pid (pidfd) and reading its
// control messages (ctl).
func newPartner(role Role, pid, pidfd int, ctl *os.File, logf func(string, ...any)) *partner {
	p := &partner{role: role, pid: pid, pidfd: pidfd, ctl: ctl,
		msgs: make(chan []byte, 8), eof: make(chan struct{}), dead: make(chan struct{})}
	go p.read()
	go p.watch(logf)
	return p
}

func (p *partner) read() {
	msgs := p.msgs
	defer close(p.eof)
	defer close(msgs)
	buf := make([]byte, 512)
	for {
		n, err := p.ctl.Read(buf)
		if n > 0 {
			msgs <- append([]byte(nil), buf[:n]...)
		}
		if err != nil {
			return
		}
	}
}

// watch closes p.dead when the process has exited: its pidfd polls
// readable. Without a usable pidfd the end of its control socket says it
// (every descriptor of a process is closed when it exits).
func (p *partner) watch(logf func(string, ...any)) {
	fds := []unix.PollFd{{Fd: int32(p.pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			logf("watching %s pid %d: %v; waiting for its control socket to close instead", p.role, p.pid, err)
			<-p.eof
			break
		}
		if fds[0].Revents != 0 {
			break
		}
	}
	close(p.dead)
}

// stopReason waits up to wait for p's control socket to end (p ended, or
// is ending) and returns the reason of the stop message it sent, if it
// sent one.
func (p *partner) stopReason(wait time.Duration) (string, bool) {
	t := time.NewTimer(wait)
	defer t.Stop()
	why, stopped := "", false
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				return why, stopped
			}
			if kind, arg := parseMessage(m); kind == msgStop {
				why, stopped = arg, true
			}
		case <-t.C:
			return why, stopped
		}
	}
}

// send writes one control message; a dead partner makes it fail, which
// the watch reports.
func (p *partner) send(m []byte) {
	p.ctl.Write(m)
}

// sendState hands st to a partner this process started, once.
func (p *partner) sendState(st State, logf func(string, ...any)) {
	if p.stateW == nil {
		return
	}
	w := p.stateW
	p.stateW = nil
	data, err := Encode(st)
	if err != nil {
		logf("handing the state to the %s: %v", p.role, err)
		w.Close()
		return
	}
	go func() {
		// A partner that dies meanwhile closes the pipe: the write ends.
		w.Write(data)
		clear(data)
		w.Close()
	}()
}

func (p *partner) close() {
	p.ctl.Close()
	if p.stateW != nil {
		p.stateW.Close()
	}
	unix.Close(p.pidfd)
}

// adoptPartner takes over the partner that started this process
// (fdControl, fdPartner).
func adoptPartner(role Role, pf *procFiles, logf func(string, ...any)) (*partner, error) {
	for _, fd := range []int{fdControl, fdPartner} {
		if !fdOpen(fd) {
			return nil, fmt.Errorf("keeper: descriptor %d not open: this process is started by its partner only", fd)
		}
		unix.CloseOnExec(fd)
	}
	if err := unix.SetNonblock(fdControl, true); err != nil {
		return nil, fmt.Errorf("keeper: control socket: %w", err)
	}
	pid := 0
	if b, err := sysfs.At(pf.proc).Read("self/fdinfo/" + strconv.Itoa(fdPartner)); err == nil {
		pid = pidfdPid(b)
	}
	return newPartner(role, pid, fdPartner, os.NewFile(fdControl, "control"), logf), nil
}

// pidfdPid is the "Pid:" line of a pidfd's /proc/self/fdinfo entry.
func pidfdPid(fdinfo []byte) int {
	for _, l := range strings.Split(string(fdinfo), "\n") {
		if v, ok := strings.CutPrefix(l, "Pid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// startSelf starts this binary again (from memory: /proc/self/exe) with
// argv, env and files, in a new session, as a sibling (CLONE_PARENT: a
// child of PID 1 like the first keeper, which reaps it, so neither
// process of the pair is the other's parent). It returns the pid and a
// pidfd. After switch_root no path leads to /proc: the start runs on a
// thread of its own whose working directory is the /proc directory
// opened before, and execs "self/exe" relative to it.
func startSelf(proc *os.File, argv, env []string, files []uintptr) (pid, pidfd int, err error) {
	type started struct {
		pid, pidfd int
		err        error
	}
	c := make(chan started, 1)
	go func() {
		// The thread's file system context (its working directory) is
		// unshared from the other threads and never given back: the
		// thread ends with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			c <- started{err: fmt.Errorf("unshare(CLONE_FS): %w", err)}
			return
		}
		if err := unix.Fchdir(int(proc.Fd())); err != nil {
			c <- started{err: fmt.Errorf("fchdir /proc: %w", err)}
			return
		}
		pidfd := -1
		pid, _, err := syscall.StartProcess("self/exe", argv, &syscall.ProcAttr{Env: env, Files: files,
			Sys: &syscall.SysProcAttr{Setsid: true, Cloneflags: syscall.CLONE_PARENT, PidFD: &pidfd}})
		c <- started{pid, pidfd, err}
	}()
	r := <-c
	if r.err == nil && r.pidfd < 0 {
		r.err = errors.New("no pidfd for the new process")
	}
	return r.pid, r.pidfd, r.err
}

// childEnv is this process's environment with the partner's role.
func childEnv(role Role, armed bool) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, RoleEnv+"=") && !strings.HasPrefix(e, armedEnv+"=") {
			env = append(env, e)
		}
	}
	if armed {
		env = append(env, armedEnv+"=1")
	}
	return append(env, RoleEnv+"="+string(role))
}

// armedEnv, set for a guard, says the keeper that started it is past its
// start (it had been ready, or a guard started it): the guard restarts it
// whenever it dies, even before its ready message arrives.
const armedEnv = "NETROOT_KEEPER_ARMED"

// supervisor keeps a partner alive for one process. Its loop owns the
// partner; the process's main talks to it through the methods.
type supervisor struct {
	role Role
	o    ProcessOptions
	pf   *procFiles
	logf func(string, ...any)
	r    *restarter
	p    *partner

	stateC  chan State
	readyC  chan chan struct{}
	finishC chan finishReq
	// armGuards (a keeper's) says the guards it starts are armed at once
	// (armedEnv): it was started by a guard, or had been ready.
	armGuards bool

	// done is closed when this process must end (the partner stopped,
	// or a guard's keeper ended for good); why says why.
	done     chan struct{}
	doneOnce sync.Once
	mu       sync.Mutex
	why      string
}

type finishReq struct {
	reason string
	wait   time.Duration
	done   chan struct{}
}

func newSupervisor(role Role, o ProcessOptions, pf *procFiles, p *partner) *supervisor {
	logf := o.Logf
	if role == RoleGuard {
		logf = func(format string, args ...any) { o.Logf("guard: "+format, args...) }
	}
	return &supervisor{role: role, o: o, pf: pf, logf: logf, p: p,
		r:      newRestarter(role, o.Restart, o.StableAfter, o.OtherDaemon),
		stateC: make(chan State, 1), readyC: make(chan chan struct{}, 1), finishC: make(chan finishReq),
		done: make(chan struct{})}
}

// setState gives the supervisor the State, for the partners it starts.
func (s *supervisor) setState(st State) { s.stateC <- st }

// ready says this process is ready; the partner is told.
func (s *supervisor) ready() {
	ack := make(chan struct{})
	select {
	case s.readyC <- ack:
	default:
		return // said before
	}
	// Until the partner was told (or briefly, if the loop is busy).
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ack:
	case <-s.done:
	case <-t.C:
	}
}

// finish ends the supervision: the partner is told to stop (unless it
// asked first) and waited for up to wait (0: not waited for).
func (s *supervisor) finish(reason string, wait time.Duration) {
	r := finishReq{reason: reason, wait: wait, done: make(chan struct{})}
	s.finishC <- r
	<-r.done
}

// ended reports whether done is closed; reason says why.
func (s *supervisor) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *supervisor) reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.why
}

func (s *supervisor) end(why string) {
	s.doneOnce.Do(func() {
		s.mu.Lock()
		s.why = why
		s.mu.Unlock()
		close(s.done)
	})
}

// message handles one control message of p.
func (s *supervisor) message(p *partner, m []byte) {
	switch kind, arg := parseMessage(m); kind {
	case msgReady:
		p.readyAt = time.Now()
		if s.role == RoleGuard {
			s.r.armed = true
		}
	case msgStop:
		p.stopped, p.stopWhy = true, arg
		why := "the " + string(p.role) + " stopped"
		if arg != "" {
			why += " (" + arg + ")"
		}
		s.end(why)
	}
}

// loop runs until finish: it starts a partner when there is none, hands
// it the State and this process's readiness, and decides on its end.
func (s *supervisor) loop() {
	var st *State
	ready := false
	var restart <-chan time.Time
	if s.p == nil {
		restart = time.After(0)
	}
	for {
		var msgs <-chan []byte
		var dead <-chan struct{}
		if s.p != nil {
			msgs, dead = s.p.msgs, s.p.dead
		}
		select {
		case x := <-s.stateC:
			st = &x
			if s.p != nil {
				s.p.sendState(*st, s.logf)
			}
		case ack := <-s.readyC:
			ready = true
			if s.p != nil {
				s.p.send([]byte(msgReady))
			}
			close(ack)
		case f := <-s.finishC:
			// A partner that asked to stop is on its way out; one told
			// to stop now is given wait to be gone.
			if p := s.p; p != nil && !p.stopped {
				p.send(stopMessage(f.reason))
				if f.wait > 0 {
					s.awaitEnd(p, f.wait)
				}
			}
			close(f.done)
			return
		case m, ok := <-msgs:
			if !ok {
				s.p.msgs = nil
				continue
			}
			s.message(s.p, m)
		case <-dead:
			p := s.p
			s.p = nil
			s.drain(p)
			e := ending{stop: p.stopWhy, stopped: p.stopped, ready: !p.readyAt.IsZero()}
			if e.ready {
				e.lived = time.Since(p.readyAt)
			}
			p.close()
			if s.ended() {
				continue
			}
			v := s.r.ended(e)
			if v.exit {
				s.end(v.why)
				continue
			}
			if v.wait > 0 {
				s.logf("%s (pid %d); starting another in %.1fs", v.why, p.pid, v.wait.Seconds())
			} else {
				s.logf("%s (pid %d); starting another", v.why, p.pid)
			}
			restart = time.After(v.wait)
		case <-restart:
			restart = nil
			if s.ended() {
				continue
			}
			// What main said meanwhile goes to the new partner (a select
			// may have picked the partner's end over it).
			for more := true; more; {
				select {
				case x := <-s.stateC:
					st = &x
				case ack := <-s.readyC:
					ready = true
					close(ack)
				default:
					more = false
				}
			}
			p, err := s.start(s.role == RoleKeeper && (ready || s.armGuards))
			if err != nil {
				w := s.r.startFailed()
				s.logf("starting the %s: %v; trying again in %.1fs", s.role.partner(), err, w.Seconds())
				restart = time.After(w)
				continue
			}
			s.p = p
			if st != nil {
				p.sendState(*st, s.logf)
			}
			if ready {
				p.send([]byte(msgReady))
			}
			s.logf("started the %s, pid %d", p.role, p.pid)
		}
	}
}

// awaitEnd waits up to wait for p, told to stop, to be gone — or to say
// that it stops too: when both processes are signalled at once (the
// shutdown role stops them together) their stop messages cross, and each
// waiting for the other's exit would hold both until the shorter wait ran
// out.
func (s *supervisor) awaitEnd(p *partner, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-p.dead:
			return
		case m, ok := <-p.msgs:
			if !ok {
				p.msgs = nil
				continue
			}
			s.message(p, m)
			if p.stopped {
				return
			}
		case <-t.C:
			s.logf("the %s (pid %d) is still running after %s", p.role, p.pid, wait)
			return
		}
	}
}

// drain reads the messages a dead partner sent before it died: its
// control socket ends right after them.
func (s *supervisor) drain(p *partner) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for p.msgs != nil {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				p.msgs = nil
				continue
			}
			s.message(p, m)
		case <-t.C:
			return
		}
	}
}

// start starts the partner process: the State follows on its pipe.
func (s *supervisor) start(armed bool) (*partner, error) {
	role := s.role.partner()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	stateR, stateW, err := os.Pipe()
	if err != nil {
		unix.Close(sp[0])
		unix.Close(sp[1])
		return nil, err
	}
	files := []uintptr{0, 1, 2, stateR.Fd(), uintptr(sp[1]), uintptr(s.pf.self), s.pf.proc.Fd(), s.pf.sys.Fd()}
	pid, pidfd, err := startSelf(s.pf.proc, s.pf.argv, childEnv(role, armed), files)
	stateR.Close()
	unix.Close(sp[1])
	if err == nil {
		err = unix.SetNonblock(sp[0], true)
	}
	if err != nil {
		unix.Close(sp[0])
		stateW.Close()
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
		return nil, err
	}
	p := newPartner(role, pid, pidfd, os.NewFile(uintptr(sp[0]), "control"), s.logf)
	p.stateW = stateW
	return p, nil
}
