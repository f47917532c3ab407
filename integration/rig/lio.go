package rig

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netroot/netroot/integration/targetinit/ctl"
	"github.com/netroot/netroot/integration/targetinit/lio"
	"github.com/netroot/netroot/pkg/initramfs"
	"github.com/netroot/netroot/pkg/modload"
)

// LIOAddr is the LIO target guest's address on the scenario's bridge.
const LIOAddr = "10.77.0.2"

// lioModules are what the target guest loads: its devices' drivers, the
// target core with both backstores, the iSCSI fabric, crc32c for digests
// (the kernel cannot request it: the guest has no modprobe) and tcp_diag
// for dropping connections. nvmet and nvmet_tcp would join them for an
// NVMe/TCP target.
var lioModules = []string{"virtio_pci", "virtio_net", "virtio_blk", "virtio_console", "crc32c",
	"target_core_iblock", "target_core_file", "iscsi_target_mod", "tcp_diag"}

// LIOConfig describes an iSCSI target served by Linux's kernel target
// (LIO) in a guest of its own on the rig's bridge.
type LIOConfig struct {
	// Addr is the guest's address and portal (LIOAddr when empty); Port
	// is the portal's port (3260 when 0).
	Addr string
	Port int
	// IQN is the target name (TargetIQN when empty); TPGT its portal group
	// tag (1 when 0).
	IQN  string
	TPGT int
	// LUNs are image files, each a virtio disk of the guest served as
	// LUN 1, 2, … (tgt's numbers, so that one cmdline fits both), or as
	// LUNNumbers when set.
	LUNs       []string
	LUNNumbers []int
	// Backstore is lio.IBlock (default) or lio.FileIO.
	Backstore string
	// Initiators get ACLs; none is demo mode (any initiator).
	Initiators []string
	// User and Password, when set, require one-way CHAP; OutUser and
	// OutPassword are the target's answer for mutual CHAP (as in
	// TargetConfig).
	User, Password       string
	OutUser, OutPassword string
	// Params are TPG login keys (e.g. HeaderDigest: CRC32C); Attribs TPG
	// attributes. LIO's defaults apply to the rest.
	Params  map[string]string
	Attribs map[string]string
	// Kernel is the guest's kernel (FetchKernel's when nil; in
	// Env.Start the client's, or NETROOT_LIO_KERNEL's, see LIOKernel).
	Kernel *Kernel
	// MemoryMB is the guest's memory (256 when 0).
	MemoryMB int
	// Cmdline is added to the guest's kernel command line (e.g.
	// "iscsi_target_mod.dyndbg=+p loglevel=8" for LIO's negotiation trace).
	Cmdline string
}

// LIOKernel returns the kernel named by $NETROOT_LIO_KERNEL — the
// directory of an extracted Debian kernel package (boot/vmlinuz-<ver>,
// lib/modules/<ver> or usr/lib/modules/<ver>) — so that the tests can
// meet another LIO version (e.g. Debian 13's) — or nil when unset.
func LIOKernel() (*Kernel, error) {
	dir := os.Getenv("NETROOT_LIO_KERNEL")
	if dir == "" {
		return nil, nil
	}
	images, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return nil, fmt.Errorf("rig: NETROOT_LIO_KERNEL=%s: want one boot/vmlinuz-*, found %d", dir, len(images))
	}
	k := &Kernel{Vmlinuz: images[0], Version: strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")}
	for _, m := range []string{"lib/modules", "usr/lib/modules"} {
		if st, err := os.Stat(filepath.Join(dir, m, k.Version)); err == nil && st.IsDir() {
			k.ModulesDir = filepath.Join(dir, m, k.Version)
			return k, nil
		}
	}
	return nil, fmt.Errorf("rig: NETROOT_LIO_KERNEL=%s has no modules for %s", dir, k.Version)
}

// DefaultLIO is the scenario's target on LIO: the scenario's names, an
// ACL for the scenario's initiator, no authentication, iblock LUNs.
func DefaultLIO() *LIOConfig {
	return &LIOConfig{IQN: TargetIQN, Initiators: []string{InitiatorIQN}}
}

// WithPortal returns cmdline with the server of its netroot=iscsi: set to
// addr (ScenarioCmdline against the LIO guest: WithPortal(…, LIOAddr)).
func WithPortal(cmdline, addr string) string {
	return regexp.MustCompile(`netroot=iscsi:[^:\s]*:`).ReplaceAllString(cmdline, "netroot=iscsi:"+addr+":")
}

// LIOTarget is a running LIO target guest.
type LIOTarget struct {
	// VM is the target guest; its console (VM.LogPath) has the kernel's
	// and LIO's messages and the guest init's "netroot-target:" lines.
	VM *VM
	// Portal is "addr:port".
	Portal string
	// Target is the configuration applied (devices resolved).
	Target lio.Target
	// Ready is the time from QEMU's start to the guest answering on the
	// control port; Listening to the portal listening.
	Ready, Listening time.Duration

	ctl *ctlConn
}

var lioSeq atomic.Int32

// StartLIOTarget boots the target guest on a new tap of n's bridge, its
// LUN images as virtio disks, configures the target through configfs and
// returns once the portal listens. dir receives its console log and
// sockets.
func StartLIOTarget(ctx context.Context, n *Net, cfg LIOConfig, dir string) (_ *LIOTarget, err error) {
	if cfg.Addr == "" {
		cfg.Addr = LIOAddr
	}
	if cfg.Port == 0 {
		cfg.Port = 3260
	}
	if cfg.IQN == "" {
		cfg.IQN = TargetIQN
	}
	if cfg.Backstore == "" {
		cfg.Backstore = lio.IBlock
	}
	if len(cfg.LUNs) == 0 {
		return nil, fmt.Errorf("rig: LIO target without LUNs")
	}
	if cfg.LUNNumbers != nil && len(cfg.LUNNumbers) != len(cfg.LUNs) {
		return nil, fmt.Errorf("rig: %d LUN numbers for %d LUNs", len(cfg.LUNNumbers), len(cfg.LUNs))
	}
	if cfg.Kernel == nil {
		if cfg.Kernel, err = FetchKernel(ctx); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	initrd, err := lioInitramfs(ctx, cfg.Kernel)
	if err != nil {
		return nil, err
	}
	seq := lioSeq.Add(1)
	tap := fmt.Sprintf("lio%d", seq)
	if err := n.AddTap(ctx, tap); err != nil {
		return nil, err
	}
	ctlSock := filepath.Join(dir, "ctl.sock")
	os.Remove(ctlSock)
	extra := []string{
		"-device", "virtio-serial-pci",
		"-chardev", "socket,id=ctl,path=" + ctlSock + ",server=on,wait=off",
		"-device", "virtserialport,chardev=ctl,name=netroot.ctl",
	}
	t := &LIOTarget{Portal: net.JoinHostPort(cfg.Addr, strconv.Itoa(cfg.Port))}
	t.Target = lio.Target{
		IQN: cfg.IQN, TPGT: cfg.TPGT, Portals: []string{t.Portal}, ACLs: cfg.Initiators,
		User: cfg.User, Password: cfg.Password, MutualUser: cfg.OutUser, MutualPassword: cfg.OutPassword,
		Params: cfg.Params, Attribs: cfg.Attribs,
	}
	for i, img := range cfg.LUNs {
		num := i + 1
		if cfg.LUNNumbers != nil {
			num = cfg.LUNNumbers[i]
		}
		serial := fmt.Sprintf("lun%d", num)
		extra = append(extra,
			"-drive", fmt.Sprintf("file=%s,if=none,id=d%d,format=raw", img, i),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=d%d,serial=%s", i, serial))
		t.Target.LUNs = append(t.Target.LUNs, lio.LUN{Number: num, Backstore: cfg.Backstore, Name: serial,
			Serial: fmt.Sprintf("netroot-%s-%d", serial, seq)})
	}
	// Devices are known once the guest runs; the rest is checked now.
	check := t.Target
	check.LUNs = append([]lio.LUN(nil), t.Target.LUNs...)
	for i := range check.LUNs {
		check.LUNs[i].Dev = "/dev/vd?"
	}
	if err := check.Validate(); err != nil {
		return nil, err
	}
	cmdline := strings.TrimSpace(fmt.Sprintf("%s netroot.target.ip=%s/24 netroot.target.modules=%s %s",
		Console, cfg.Addr, strings.Join(lioModules, ","), cfg.Cmdline))
	started := time.Now()
	t.VM, err = StartVM(VMConfig{
		Kernel: cfg.Kernel.Vmlinuz, Initrd: initrd, Cmdline: cmdline, Net: n, Taps: []string{tap},
		MACs: []string{fmt.Sprintf("52:54:00:77:01:%02x", seq%256)}, MemoryMB: cfg.MemoryMB, Dir: dir,
		Extra: extra,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			t.Stop()
		}
	}()
	if t.ctl, err = dialCtl(ctlSock, t.VM); err != nil {
		return nil, err
	}
	if err := t.ctl.waitReady(ctx); err != nil {
		return nil, fmt.Errorf("rig: LIO guest: %w (console %s)", err, t.VM.LogPath)
	}
	t.Ready = time.Since(started)
	var info ctl.InfoReply
	if err := t.ctl.call(ctx, ctl.Info, nil, &info); err != nil {
		return nil, err
	}
	for i := range t.Target.LUNs {
		l := &t.Target.LUNs[i]
		if l.Dev = info.Disks[l.Name]; l.Dev == "" {
			return nil, fmt.Errorf("rig: LIO guest has no disk with serial %s (disks %v)", l.Name, info.Disks)
		}
	}
	ops, err := lio.Setup(t.Target)
	if err != nil {
		return nil, err
	}
	if _, err := t.Batch(ctx, ops); err != nil {
		return nil, fmt.Errorf("rig: configuring LIO: %w (console %s)", err, t.VM.LogPath)
	}
	t.Listening = time.Since(started)
	return t, nil
}

// Batch runs configfs ops in the guest (see package ctl) and returns
// their results.
func (t *LIOTarget) Batch(ctx context.Context, ops []ctl.Op) ([]string, error) {
	var out []string
	err := t.ctl.call(ctx, ctl.Batch, ops, &out)
	return out, err
}

// Restart is a target service restart (`systemctl restart target`:
// targetctl clears the configuration and restores it): the target is
// deleted — its sessions end and the portal stops listening — stays away
// for down, and is made again from the same configuration and devices.
func (t *LIOTarget) Restart(ctx context.Context, down time.Duration) error {
	if err := t.Delete(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(down):
	}
	return t.Create(ctx)
}

// Delete removes the target (sessions end, the portal closes).
func (t *LIOTarget) Delete(ctx context.Context) error {
	ops, err := lio.Teardown(t.Target)
	if err != nil {
		return err
	}
	_, err = t.Batch(ctx, ops)
	return err
}

// Create makes the target again after Delete.
func (t *LIOTarget) Create(ctx context.Context) error {
	ops, err := lio.Setup(t.Target)
	if err != nil {
		return err
	}
	_, err = t.Batch(ctx, ops)
	return err
}

// RestartTPG disables the portal group — LIO ends its sessions; logins
// are refused while the portal keeps listening — for down, then enables
// it again.
func (t *LIOTarget) RestartTPG(ctx context.Context, down time.Duration) error {
	if _, err := t.Batch(ctx, lio.Enable(t.Target, false)); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(down):
	}
	_, err := t.Batch(ctx, lio.Enable(t.Target, true))
	return err
}

// Drop resets the portal's established connections from the target's
// side and returns how many there were.
func (t *LIOTarget) Drop(ctx context.Context) (int, error) {
	_, port, _ := net.SplitHostPort(t.Portal)
	p, _ := strconv.Atoi(port)
	var n int
	err := t.ctl.call(ctx, ctl.Drop, ctl.DropArg{Port: p}, &n)
	return n, err
}

// DropOnLogin arms the guest to reset the portal's connections as soon as
// a session of the first ACL's initiator has logged in — before its
// first commands are answered — and then to run after (e.g.
// lio.Enable(t.Target, false)). It fires once.
func (t *LIOTarget) DropOnLogin(ctx context.Context, after []ctl.Op) error {
	if len(t.Target.ACLs) == 0 {
		return fmt.Errorf("rig: DropOnLogin needs an ACL (its info shows the session)")
	}
	_, port, _ := net.SplitHostPort(t.Portal)
	p, _ := strconv.Atoi(port)
	return t.ctl.call(ctx, ctl.DropOnLogin, ctl.DropOnLoginArg{Port: p, Info: t.Target.TPGPath() + "/acls/" + t.Target.ACLs[0] + "/info", After: after}, nil)
}

// SetParam sets one login key of the portal group (for the next logins)
// and remembers it for Restart.
func (t *LIOTarget) SetParam(ctx context.Context, key, value string) error {
	if _, err := t.Batch(ctx, lio.Param(t.Target, key, value)); err != nil {
		return err
	}
	if t.Target.Params == nil {
		t.Target.Params = map[string]string{}
	}
	t.Target.Params[key] = value
	return nil
}

// Inspect returns the portal group's parameters and attributes and the
// ACLs' session info as LIO shows them in configfs.
func (t *LIOTarget) Inspect(ctx context.Context) (string, error) {
	ops := lio.Inspect(t.Target)
	out, err := t.Batch(ctx, ops)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i, op := range ops {
		fmt.Fprintf(&b, "== %s\n%s\n", op.Path, out[i])
	}
	return b.String(), nil
}

// Stop powers the target guest off at once.
func (t *LIOTarget) Stop() {
	if t.ctl != nil {
		t.ctl.close()
	}
	if t.VM != nil {
		t.VM.Kill()
	}
}

// ctlConn is the host end of the guest's control port.
type ctlConn struct {
	c       net.Conn
	vm      *VM
	mu      sync.Mutex // one request at a time
	id      uint64
	replies chan ctl.Reply
	readErr chan error
}

func dialCtl(sock string, vm *VM) (*ctlConn, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("rig: LIO control socket: %w", err)
	}
	cc := &ctlConn{c: c, vm: vm, replies: make(chan ctl.Reply, 16), readErr: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(c)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if r, err := ctl.ParseReply(sc.Text()); err == nil {
				cc.replies <- r
			}
		}
		cc.readErr <- fmt.Errorf("control port closed: %v", sc.Err())
	}()
	return cc, nil
}

func (cc *ctlConn) close() { cc.c.Close() }

// waitReady pings until the guest answers (its port opens seconds after
// QEMU starts; what is sent before is dropped).
func (cc *ctlConn) waitReady(ctx context.Context) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := cc.call(rctx, ctl.Ping, nil, nil)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no answer on the control port: %w", ctx.Err())
		}
		select {
		case <-cc.vm.done:
			return fmt.Errorf("guest exited: %v: %s", cc.vm.err, lastLines(cc.vm.Log(), 5))
		default:
		}
	}
}

// call sends one request and decodes the reply's result into result
// (unless nil).
func (cc *ctlConn) call(ctx context.Context, verb string, arg, result any) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.id++
	id := cc.id
	line, err := ctl.FormatRequest(id, verb, arg)
	if err != nil {
		return err
	}
	if _, err := cc.c.Write([]byte(line)); err != nil {
		return fmt.Errorf("rig: LIO control: %w", err)
	}
	for {
		select {
		case r := <-cc.replies:
			if r.ID != id {
				continue // a reply to an earlier, abandoned request
			}
			if !r.OK {
				return fmt.Errorf("rig: LIO %s: %s", verb, r.Err)
			}
			if result != nil && r.Result != nil {
				return json.Unmarshal(r.Result, result)
			}
			return nil
		case err := <-cc.readErr:
			cc.readErr <- err
			return fmt.Errorf("rig: LIO %s: %w", verb, err)
		case <-cc.vm.done:
			return fmt.Errorf("rig: LIO %s: guest exited: %s", verb, lastLines(cc.vm.Log(), 5))
		case <-ctx.Done():
			return fmt.Errorf("rig: LIO %s: %w", verb, ctx.Err())
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

var (
	lioInitrdMu sync.Mutex
	lioInitrds  = map[string]string{}
)

// lioInitramfs builds (once per kernel and test process) the target
// guest's initramfs: targetinit as /init and the modules it loads.
func lioInitramfs(ctx context.Context, k *Kernel) (string, error) {
	lioInitrdMu.Lock()
	defer lioInitrdMu.Unlock()
	if p, ok := lioInitrds[k.Version]; ok {
		return p, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "lio", k.Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "targetinit")
	if err := GoBuild(ctx, "./integration/targetinit", bin); err != nil {
		return "", err
	}
	a := initramfs.New()
	if err := a.AddHostFile("init", bin, 0o755); err != nil {
		return "", err
	}
	for _, d := range []string{"dev", "proc", "sys", "tmp"} {
		if err := a.AddDir(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := a.AddCharDev("dev/console", 0o600, 5, 1); err != nil {
		return "", err
	}
	idx, err := modload.ScanTree(k.ModulesDir)
	if err != nil {
		return "", err
	}
	order, err := idx.Resolve(lioModules...)
	if err != nil {
		return "", err
	}
	base := "lib/modules/" + k.Version
	for _, n := range order {
		m, ok := idx.Module(n)
		if !ok {
			continue // built in
		}
		if err := a.AddHostFile(base+"/"+m.Path, filepath.Join(k.ModulesDir, filepath.FromSlash(m.Path)), 0o644); err != nil {
			return "", err
		}
	}
	if err := idx.WriteDepmodFiles(func(name string, data []byte) error {
		return a.AddFile(base+"/"+name, data, 0o644)
	}, order); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "initramfs.img")
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if _, err := a.Write(f, "gzip"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	lioInitrds[k.Version] = out
	return out, nil
}
