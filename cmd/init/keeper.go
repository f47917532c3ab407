package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/prio"
	"golang.org/x/sys/unix"
)

// keeperPIDFile lets the real OS find the keeper (e.g. to stop it before
// starting iscsid); /run moves into the real root with switch_root.
const keeperPIDFile = "/run/netroot/keeper.pid"

// defaultNoopSec is the NOP-Out interval and timeout used while the keeper
// runs and rd.iscsi.param= does not say otherwise: a dead path is noticed
// within about 10 s and the keeper reconnects. Without the keeper netroot
// keeps open-iscsi's advice for a daemon-less root (0: no pings, so a
// short outage never fails the connection with nobody to recover it).
const defaultNoopSec = 5

// noopExplicit reports whether rd.iscsi.param= sets the NOP-Out timeouts.
func noopExplicit(kvs []config.KV) bool {
	for _, kv := range kvs {
		if strings.HasPrefix(kv.Key, "node.conn[0].timeo.noop_out_") {
			return true
		}
	}
	return false
}

// keptSession records what the keeper needs about one logged-in session.
func (b *boot) keptSession(ks iscsi.KernelSession, cfg iscsi.LoginConfig, sess *iscsi.Session, ko iscsi.KernelOptions, portal string) {
	s := keeper.Session{
		SID: ks.SID, CID: ks.CID, HostNo: ks.HostNo,
		InitiatorName: cfg.InitiatorName, TargetName: cfg.TargetName,
		ISID: sess.ISID, Credentials: cfg.Credentials, Params: cfg.Params,
		RecoveryTimeoutSec: ko.RecoveryTimeoutSec, NoopIntervalSec: ko.NoopIntervalSec, NoopTimeoutSec: ko.NoopTimeoutSec,
	}
	if sess.AuthMethod == "CHAP" && sess.CHAPAlgorithm != 0 {
		s.CHAPAlgorithms = []iscsi.CHAPAlgorithm{sess.CHAPAlgorithm}
	}
	// The configured portal first (a redirect may be temporary), then the
	// one the login ended at.
	s.Portals = []string{portal}
	if sess.Portal != portal {
		s.Portals = append(s.Portals, sess.Portal)
	}
	b.keeperMu.Lock()
	b.kept = append(b.kept, s)
	b.keeperMu.Unlock()
}

// prelaunchKeeper starts the keeper process before the network comes up,
// at nice 19, so that its start (the Go runtime of this binary, again)
// fills the CPU time left idle by the waits for links, the target and the
// disk instead of delaying the boot. It then blocks reading its state
// until startKeeper hands it over, and raises itself to nice 0 (keeperMain).
// Without iSCSI targets or with rd.netroot.keeper=0 it does nothing; if it
// fails, startKeeper tries once more.
func (b *boot) prelaunchKeeper() {
	if len(b.plan.ISCSI.Targets) == 0 || !b.plan.Boot.Keeper {
		return
	}
	// The fork and exec run on their own goroutine: the thread that forks
	// waits until the (low-priority) child has exec'd.
	launched := make(chan *keeperProcess, 1)
	b.keeperLaunch = launched
	go func() {
		var k *keeperProcess
		err := prio.Run(19, func() (err error) {
			k, err = launchKeeper()
			return err
		})
		if err != nil {
			b.log.Debugf("keeper: early start: %v", err)
		}
		launched <- k
	}()
}

// earlyKeeper returns the keeper prelaunchKeeper started (nil if none or
// it failed), once and only once.
func (b *boot) earlyKeeper() *keeperProcess {
	if b.keeperLaunch == nil {
		return nil
	}
	k := <-b.keeperLaunch
	b.keeperLaunch = nil
	return k
}

// startKeeper writes the hints for the real OS and hands the sessions to
// the keeper (started by prelaunchKeeper, else now) once the root device
// is found (startKeeperAsync): this binary again, from memory
// (/proc/self/exe), as "@netroot-keeper", with the state on a pipe. It
// waits until the keeper listens for events.
func (b *boot) startKeeper() {
	b.writeHints()
	k := b.earlyKeeper()
	if len(b.kept) == 0 {
		k.abort()
		return
	}
	st := b.log.Begin("keeper")
	if !b.plan.Boot.Keeper {
		st.Done("rd.netroot.keeper=0: no keeper; a failed iSCSI connection stays down until iscsid takes over")
		return
	}
	var err error
	if k == nil {
		k, err = launchKeeper()
	}
	pid := 0
	if err == nil {
		pid, err = k.handOver(keeper.State{TransportHandle: b.transportHandle, Sessions: b.kept})
	}
	if err != nil {
		st.Fail(err)
		b.log.Warnf("keeper: %v — the root works, but a network or target outage will not be recovered until iscsid runs", err)
		return
	}
	os.WriteFile(keeperPIDFile, []byte(strconv.Itoa(pid)+"\n"), 0o644)
	st.Done("%s pid %d keeps %d session(s)", keeper.ProcessName, pid, len(b.kept))
}

// startKeeperAsync runs startKeeper on its own goroutine as soon as the
// root device is found: the keeper then watches the sessions while the
// root is mounted (a connection lost meanwhile is recovered, not left
// failed), and its becoming ready overlaps the mount instead of delaying
// switch_root. waitKeeper waits for it.
func (b *boot) startKeeperAsync() {
	done := make(chan struct{})
	b.keeperDone = done
	go func() {
		defer close(done)
		if err := recovered(func() error { b.startKeeper(); return nil }); err != nil {
			b.log.Warnf("keeper: %v — the root works, but a network or target outage will not be recovered until iscsid runs", err)
		}
	}()
}

// waitKeeper waits for the hand-over startKeeperAsync started, or hands
// over now if it did not start.
func (b *boot) waitKeeper() {
	if b.keeperDone == nil {
		b.startKeeper()
		return
	}
	<-b.keeperDone
}

// keeperProcess is a started keeper waiting for its state.
type keeperProcess struct {
	cmd    *exec.Cmd
	stateW *os.File // its state pipe; it reads until EOF
	readyR *os.File // it writes "ready" here once it listens
}

// launchKeeper starts the keeper process; it waits for its state.
func launchKeeper() (*keeperProcess, error) {
	stateR, stateW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		stateR.Close()
		stateW.Close()
		return nil, err
	}
	out, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		out, err = os.OpenFile("/dev/console", os.O_WRONLY, 0)
	}
	if err != nil {
		for _, f := range []*os.File{stateR, stateW, readyR, readyW} {
			f.Close()
		}
		return nil, fmt.Errorf("no /dev/kmsg or /dev/console for its log: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        keeperArgs(os.Args[0]), // busybox-safe: see bb.go
		Dir:         "/",
		Env:         []string{},
		Stdout:      out,
		Stderr:      out,
		ExtraFiles:  []*os.File{stateR, readyW}, // fd 3, fd 4
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	stateR.Close()
	readyW.Close()
	out.Close()
	if err != nil {
		stateW.Close()
		readyR.Close()
		return nil, fmt.Errorf("starting %s: %w", keeper.ProcessName, err)
	}
	return &keeperProcess{cmd: cmd, stateW: stateW, readyR: readyR}, nil
}

// handOver writes the state and waits until the keeper is ready; it
// returns the keeper's pid. On failure the keeper is stopped.
func (k *keeperProcess) handOver(state keeper.State) (int, error) {
	defer k.readyR.Close()
	data, err := keeper.Encode(state)
	if err == nil {
		_, err = k.stateW.Write(data)
		if err != nil {
			err = fmt.Errorf("handing over the state: %w", err)
		}
	}
	k.stateW.Close()
	if err != nil {
		k.kill()
		return 0, err
	}
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 16)
		n, err := k.readyR.Read(b)
		if err == nil && !strings.HasPrefix(string(b[:n]), "ready") {
			err = fmt.Errorf("keeper said %q", b[:n])
		}
		if err == io.EOF {
			err = errors.New("keeper exited before it was ready (its log is in dmesg)")
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			k.kill()
			return 0, err
		}
	case <-time.After(5 * time.Second):
		k.kill()
		return 0, errors.New("keeper not ready within 5 s")
	}
	pid := k.cmd.Process.Pid
	k.cmd.Process.Release() // the real init reaps it
	return pid, nil
}

// abort stops a keeper that was never handed its state (the boot failed,
// or no session needs it). A nil k is fine.
func (k *keeperProcess) abort() {
	if k == nil {
		return
	}
	k.stateW.Close()
	k.readyR.Close()
	k.kill()
}

func (k *keeperProcess) kill() {
	k.cmd.Process.Kill()
	k.cmd.Wait()
}

// keeperMain is the keeper process (argv[0] "@netroot-keeper").
func keeperMain() {
	name := []byte("netroot-keeper\x00")
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0)
	logf := func(format string, args ...any) {
		// One /dev/kmsg record per line, level notice so it reaches the
		// console and the journal.
		fmt.Fprintf(os.Stdout, "<5>netroot-keeper: "+format+"\n", args...)
	}
	log.SetOutput(io.Discard) // iscsinl's chatter
	os.Chdir("/")
	stateF := os.NewFile(3, "state")
	readyF := os.NewFile(4, "ready")
	if stateF == nil || readyF == nil {
		logf("no state pipe: this process is started by netroot's /init only")
		os.Exit(2)
	}
	data, err := io.ReadAll(io.LimitReader(stateF, keeper.MaxStateBytes+1))
	stateF.Close()
	if err != nil {
		logf("reading the state: %v", err)
		os.Exit(1)
	}
	// /init may have started this process early at nice 19 (see
	// prelaunchKeeper); from here on it must not wait for the CPU.
	if err := prio.SetProcess(0); err != nil {
		logf("%v", err)
	}
	st, err := keeper.Decode(data)
	clear(data)
	if err != nil {
		logf("%v", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
	defer stop()
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE)
	var names []string
	for _, s := range st.Sessions {
		names = append(names, s.String())
	}
	err = keeper.Run(ctx, st, keeper.Options{
		Logf: logf,
		Ready: func() {
			readyF.Write([]byte("ready\n"))
			readyF.Close()
			logf("watching %s", strings.Join(names, "; "))
		},
	})
	switch {
	case errors.Is(err, keeper.ErrSteppedAside):
		logf("%v; exiting", err)
	case err != nil:
		logf("%v", err)
		os.Exit(1)
	case ctx.Err() != nil:
		logf("stopped by signal")
	default:
		logf("no session left to keep; exiting")
	}
}

// Hints for the real OS, so its network tools leave the root's path alone
// and its iSCSI tools know the sessions (see README, "After switch_root").
const (
	networkHintFile = "/run/netroot/network.json"
	openISCSIIface  = "/run/initramfs/open-iscsi.interface"
	ifupdownState   = "/run/network/ifstate"
)

// hintInterface is one configured interface in network.json.
type hintInterface struct {
	Name      string   `json:"name"`
	Method    string   `json:"method"`
	Addresses []string `json:"addresses,omitempty"`
	Gateway   string   `json:"gateway,omitempty"`
}

// hintTarget is one iSCSI session in network.json (no secrets).
type hintTarget struct {
	SID     uint32   `json:"sid"`
	Host    uint32   `json:"scsi_host"`
	Target  string   `json:"target"`
	Portals []string `json:"portals"`
	ISID    string   `json:"isid"`
}

// hints is /run/netroot/network.json.
type hints struct {
	Interfaces []hintInterface `json:"interfaces"`
	Bonds      []config.Bond   `json:"bonds,omitempty"`
	VLANs      []config.VLAN   `json:"vlans,omitempty"`
	Targets    []hintTarget    `json:"targets,omitempty"`
	Keeper     bool            `json:"keeper"`
}

// rootInterfaces are the interfaces ip= configured, in order.
func rootInterfaces(p *config.Plan) []string {
	var out []string
	for _, ip := range p.Net.IP {
		if ip.Interface != "" && !slices.Contains(out, ip.Interface) {
			out = append(out, ip.Interface)
		}
	}
	return out
}

// writeHints writes the hint files; failures only warn.
func (b *boot) writeHints() {
	h := hints{Bonds: b.plan.Net.Bonds, VLANs: b.plan.Net.VLANs, Keeper: b.plan.Boot.Keeper && len(b.kept) > 0}
	for _, ip := range b.plan.Net.IP {
		hi := hintInterface{Name: ip.Interface, Method: string(ip.Method)}
		if ip.Gateway.IsValid() {
			hi.Gateway = ip.Gateway.String()
		}
		if ifc, err := net.InterfaceByName(ip.Interface); err == nil {
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				hi.Addresses = append(hi.Addresses, a.String())
			}
		}
		h.Interfaces = append(h.Interfaces, hi)
	}
	for _, s := range b.kept {
		h.Targets = append(h.Targets, hintTarget{SID: s.SID, Host: s.HostNo, Target: s.TargetName, Portals: s.Portals, ISID: s.ISID.String()})
	}
	data, err := json.MarshalIndent(h, "", "  ")
	if err == nil {
		err = os.WriteFile(networkHintFile, append(data, '\n'), 0o644)
	}
	if err != nil {
		b.log.Warnf("hints: %s: %v", networkHintFile, err)
	}
	ifaces := rootInterfaces(b.plan)
	if len(ifaces) == 0 {
		return
	}
	// Debian's open-iscsi and initramfs-tools scripts read the iSCSI
	// interface from here and leave it configured.
	os.MkdirAll(filepath.Dir(openISCSIIface), 0o755)
	if err := os.WriteFile(openISCSIIface, []byte(ifaces[0]+"\n"), 0o644); err != nil {
		b.log.Warnf("hints: %s: %v", openISCSIIface, err)
	}
	// ifupdown: "iface=iface" marks each as already up, so ifup -a skips
	// it instead of reconfiguring the root's path.
	var st strings.Builder
	for _, i := range ifaces {
		fmt.Fprintf(&st, "%s=%s\n", i, i)
	}
	os.MkdirAll(filepath.Dir(ifupdownState), 0o755)
	if err := os.WriteFile(ifupdownState, []byte(st.String()), 0o644); err != nil {
		b.log.Warnf("hints: %s: %v", ifupdownState, err)
	}
}
