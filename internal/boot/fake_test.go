package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/bootlog"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/netconf"
	"github.com/netroot/netroot/pkg/switchroot"
)

// machine is a fake of every Env interface: a machine with NICs eth0 and
// eth1, a target whose LUNs appear as disks once scanned, and a console.
// Its hooks (nil: a default) shape one test; calls are recorded in order.
type machine struct {
	t     *testing.T
	files DirFiles
	cpus  int

	// screen is what the console shows: the Logger's console lines and
	// the kernel's echo of kmsg records below level.
	screen *screen

	// Hooks.
	devices   func(ctx context.Context) ([]string, error)     // LoadForDevices
	niced     func(ctx context.Context, names []string) error // LoadNiced
	waitLinks func(ctx context.Context, names []string) error
	connect   func(cfg iscsi.LoginConfig) error
	start     func(host uint32) error // a prepared session's Start
	shell     func() error
	handOver  func() error // the keeper's HandOver
	reboot    func(config.Emergency) error
	inspect   func(name string) (*bond.Result, error) // InspectBond
	leases    map[string]*dhcp.Lease                  // by interface
	envHook   func(Env) Env                           // swaps in further fakes (NICs, IPv6)

	mu      sync.Mutex
	calls   []string
	disks   []blockdev.Device
	portals map[uint32]string // SCSI host → "portal target" of its session
	// luns are the target's LUNs that are disks, by their labels; nil:
	// every LUN scanned is one, labelled ISCSI_ROOT.
	luns     map[uint64]string
	nextHost uint32
	switched *switchroot.Options
	shellEnv []string // the last shell's environment
	forever  chan struct{}
}

func newMachine(t *testing.T) *machine {
	t.Helper()
	m := &machine{t: t, files: DirFiles{Root: t.TempDir()}, cpus: 2, screen: &screen{level: 7}, nextHost: 2, forever: make(chan struct{})}
	return m
}

func (m *machine) env() Env {
	e := Env{System: m, Files: m.files, Modules: m, Links: m, Addrs: m, ISCSI: m, Disks: m, DM: m, Keeper: m, Switch: m, Console: m}
	if m.envHook != nil {
		e = m.envHook(e)
	}
	return e
}

func (m *machine) record(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf(format, args...))
}

// called returns the calls recorded that start with prefix.
func (m *machine) called(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, c := range m.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// calledAtLeast is called once n calls start with prefix, or after d:
// Run may return before a goroutine it started has made its call (the
// login on a path racing the one that won).
func (m *machine) calledAtLeast(prefix string, n int, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		got := m.called(prefix)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// boot runs a boot of cmdline to its end: Run, then Emergency on failure
// (which ends in Forever, or a reboot). It returns Run's error.
func (m *machine) boot(cmdline string, opts Options) (*Boot, error) {
	m.t.Helper()
	if err := m.files.WriteFile(procCmdline, []byte(cmdline+"\n"), 0o644); err != nil {
		m.t.Fatal(err)
	}
	if opts.Grace == 0 {
		opts.Grace = 2 * time.Second
	}
	b := New(m.env(), m.logger(), opts)
	err := b.Run(context.Background())
	if err == nil {
		return b, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Emergency(err)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		m.t.Fatalf("Emergency did not end (in Forever or a reboot) within 30 s")
	}
	return b, err
}

func (m *machine) logger() *bootlog.Logger {
	return bootlog.New(m.screen.console(), nil, 0, func() float64 { return 1 })
}

// screen is a console: the Logger's own lines and the kernel's echo of
// the kmsg records below the console level.
type screen struct {
	mu    sync.Mutex
	level int
	out   bytes.Buffer
	kmsg  bytes.Buffer
}

func (s *screen) console() io.Writer { return consoleWriter{s} }

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func (s *screen) kernelLog() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kmsg.String()
}

type consoleWriter struct{ s *screen }

func (c consoleWriter) Write(p []byte) (int, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.out.Write(p)
}

type kmsgWriter struct{ s *screen }

func (k kmsgWriter) Write(p []byte) (int, error) {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	k.s.kmsg.Write(p)
	var prio int
	if _, err := fmt.Sscanf(string(p), "<%d>", &prio); err == nil && prio < k.s.level {
		k.s.out.Write(p[bytes.IndexByte(p, '>')+1:])
	}
	return len(p), nil
}

// System.

func (m *machine) MountPseudo() error    { return nil }
func (m *machine) KernelRelease() string { return "6.1.0-test" }
func (m *machine) OpenKmsg() (io.Writer, int, error) {
	return kmsgWriter{m.screen}, m.screen.level, nil
}
func (m *machine) RestoreKmsgLimit()     { m.record("kmsg ratelimit") }
func (m *machine) CPUs() int             { return m.cpus }
func (m *machine) IdleSeconds() float64  { return -1 }
func (m *machine) Usage() bootlog.Usage  { return bootlog.Usage{} }
func (m *machine) Releases() []string    { return []string{"6.1.0-test"} }
func (m *machine) Carries(n string) bool { return n == "ext4" || n == "xfs" }

// Modules.

func (m *machine) Open(release string, o ModuleOptions) (ModuleLoader, error) {
	m.record("modules open %s", release)
	if len(o.NoAutoload) > 0 {
		m.record("modules not for devices %s", strings.Join(o.NoAutoload, " "))
	}
	return loader{m}, nil
}

func (m *machine) WatchDevices() (DeviceEvents, error) { return events{}, nil }

type events struct{}

func (events) Next(ctx context.Context) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}
func (events) Close() error { return nil }

type loader struct{ m *machine }

func (l loader) Load(ctx context.Context, names ...string) error {
	l.m.record("load %s", strings.Join(names, " "))
	return nil
}

func (l loader) LoadNiced(ctx context.Context, nice int, names ...string) error {
	l.m.record("load niced %d %s", nice, strings.Join(names, " "))
	if l.m.niced != nil {
		return l.m.niced(ctx, names)
	}
	return nil
}

func (l loader) LoadForDevices(ctx context.Context) ([]string, error) {
	l.m.record("load devices")
	if l.m.devices != nil {
		return l.m.devices(ctx)
	}
	return []string{"virtio_net", "virtio_pci"}, nil
}

func (l loader) LoadForNewDevices(ctx context.Context, next func(context.Context) (string, error), report func(string, []string, error)) error {
	for {
		if _, err := next(ctx); err != nil {
			return err
		}
	}
}

func (l loader) Carries(name string) bool { return l.m.Carries(name) }

// Links: eth0 and eth1, with the MACs below.

var nicMACs = map[string]string{"eth0": "52:54:00:77:00:10", "eth1": "52:54:00:77:00:11"}

func (m *machine) WaitMAC(ctx context.Context, mac net.HardwareAddr) (string, error) {
	for n, a := range nicMACs {
		if a == mac.String() {
			return n, nil
		}
	}
	return "", &netconf.NoMACError{MAC: mac, Present: "eth0 52:54:00:77:00:10, eth1 52:54:00:77:00:11"}
}

func (m *machine) Rename(mac net.HardwareAddr, name string) error {
	m.record("rename %s %s", mac, name)
	return nil
}

func (m *machine) WaitLinks(ctx context.Context, names []string) error {
	m.record("wait links %s", strings.Join(names, " "))
	if m.waitLinks != nil {
		return m.waitLinks(ctx, names)
	}
	return nil
}

func (m *machine) FreeNICs(ctx context.Context) ([]string, error) {
	return []string{"eth0", "eth1"}, nil
}

func (m *machine) HardwareAddr(name string) (net.HardwareAddr, error) {
	a, ok := nicMACs[name]
	if !ok {
		return nil, fmt.Errorf("no interface %s", name)
	}
	return net.ParseMAC(a)
}

func (m *machine) CreateBond(cfg bond.Config) (Bond, error) {
	m.record("create bond %s", cfg.Name)
	mode := "active-backup"
	for _, o := range cfg.Options {
		if o.Name == "mode" {
			mode = o.Value
		}
	}
	return fakeBond{m: m, name: cfg.Name, mode: mode}, nil
}

type fakeBond struct {
	m          *machine
	name, mode string
}

func (b fakeBond) Enslave(ctx context.Context, slaves []string, primary string) (*bond.Result, error) {
	b.m.record("enslave %s %s primary=%s", b.name, strings.Join(slaves, ","), primary)
	res := &bond.Result{Name: b.name, Mode: b.mode}
	for _, s := range slaves {
		res.Slaves = append(res.Slaves, bond.Slave{Name: s, Up: true, Active: s == primary})
	}
	return res, nil
}

func (m *machine) InspectBond(name string) (*bond.Result, error) {
	if m.inspect != nil {
		return m.inspect(name)
	}
	return &bond.Result{Name: name, Mode: "802.3ad"}, nil
}

// WaitLACP: the switch negotiated LACP on both ports.
func (m *machine) WaitLACP(ctx context.Context, name string) (LACP, error) {
	return LACP{Aggregator: "1", Ports: 2, Partner: "aa:bb:cc:dd:ee:ff"}, nil
}

func (m *machine) AddVLAN(v config.VLAN) error {
	// A parent named as a VLAN (vlan5, eth0.5) must have been created,
	// as the kernel needs the parent link to exist.
	if strings.HasPrefix(v.Parent, "vlan") || strings.Contains(v.Parent, ".") {
		if !slices.Contains(m.called("vlan "), "vlan "+v.Parent) {
			return fmt.Errorf("vlan %s: parent %s: no such device", v.Name, v.Parent)
		}
	}
	m.record("vlan %s", v.Name)
	return nil
}

// Addrs.

func (m *machine) ApplyStatic(s netconf.Static) error {
	m.record("static %s %s", s.Interface, s.Address)
	return nil
}
func (m *machine) WaitCarrier(ctx context.Context, iface string) error { return nil }
func (m *machine) AddRoute(r netconf.Route) error                      { return nil }
func (m *machine) SetHostname(name string) error                       { return nil }

func (m *machine) AcquireDHCP(ctx context.Context, o dhcp.Options) (*dhcp.Lease, error) {
	m.record("dhcp %s", o.Interface)
	l, ok := m.leases[o.Interface]
	if !ok {
		return nil, fmt.Errorf("no DHCP answer on %s", o.Interface)
	}
	c := *l
	c.Interface = o.Interface
	return &c, nil
}

func (m *machine) ApplyLease(l *dhcp.Lease, o dhcp.ApplyOptions) error {
	m.record("apply lease %s", l.Interface)
	return nil
}

func (m *machine) Addresses(iface string) []string { return nil }

// ISCSI: every login succeeds unless connect says otherwise; a scanned
// LUN appears as an ext4 disk labelled ISCSI_ROOT.

func (m *machine) Connect(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) (*iscsi.Session, net.Conn, error) {
	m.record("connect %s %s", cfg.Portal, cfg.TargetName)
	if m.connect != nil {
		if err := m.connect(cfg); err != nil {
			return nil, nil, err
		}
	}
	c, peer := net.Pipe()
	peer.Close()
	return &iscsi.Session{TargetName: cfg.TargetName, Portal: cfg.Portal, ISID: cfg.ISID, AuthMethod: "None"}, c, nil
}

func (m *machine) OpenTransport() (Transport, error) {
	m.record("open transport")
	return m, nil
}

func (m *machine) Prepare(portal, target string, o iscsi.KernelOptions) (PreparedSession, error) {
	m.mu.Lock()
	host := m.nextHost
	m.nextHost++
	if m.portals == nil {
		m.portals = map[uint32]string{}
	}
	m.portals[host] = portal + " " + target
	m.mu.Unlock()
	m.record("prepare %s host%d", target, host)
	return &prepared{m: m, ks: iscsi.KernelSession{SID: host - 1, HostNo: host}}, nil
}

func (m *machine) Handle() uint64 { return 7 }

type prepared struct {
	m  *machine
	ks iscsi.KernelSession
}

func (p *prepared) Start(conn net.Conn, s *iscsi.Session, o iscsi.KernelOptions) (iscsi.KernelSession, error) {
	p.m.record("start host%d", p.ks.HostNo)
	if p.m.start != nil {
		if err := p.m.start(p.ks.HostNo); err != nil {
			return p.ks, err
		}
	}
	return p.ks, nil
}

func (p *prepared) Destroy() error {
	p.m.record("destroy host%d", p.ks.HostNo)
	return nil
}

func (m *machine) Scan(hostNo uint32, lun uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("scsi-scan host%d %s", hostNo, map[bool]string{true: "-", false: strconv.FormatUint(lun, 10)}[lun == iscsi.AllLUNs]))
	if m.luns == nil {
		// The target's one LUN: whichever was asked for, or the first
		// scan of them all.
		if lun != iscsi.AllLUNs || !hasDiskOn(m.disks, hostNo) {
			m.scanLUN(hostNo, lun, "ISCSI_ROOT")
		}
		return nil
	}
	for l, label := range m.luns {
		if lun == iscsi.AllLUNs || lun == l {
			m.scanLUN(hostNo, l, label)
		}
	}
	return nil
}

// hasDiskOn reports whether a disk of SCSI host hostNo is among disks.
func hasDiskOn(disks []blockdev.Device, hostNo uint32) bool {
	return slices.ContainsFunc(disks, func(d blockdev.Device) bool {
		h, _, _, _, ok := d.SCSI()
		return ok && h == int(hostNo)
	})
}

// scanLUN makes the disk of a LUN the target has, once.
func (m *machine) scanLUN(hostNo uint32, lun uint64, label string) {
	addr := fmt.Sprintf("%d:0:0:%d", hostNo, lun)
	for _, d := range m.disks {
		if d.SCSIAddress == addr {
			return // the kernel's scan of a LUN it has
		}
	}
	name := "sd" + string(rune('a'+len(m.disks)))
	d := blockdev.Device{Name: name, Path: "/dev/" + name, Size: 64 << 20,
		FSType: "ext4", Label: label, SCSIAddress: addr}
	// The by-path name the scanner gives a disk of an iSCSI session.
	if portal, target, ok := strings.Cut(m.portals[hostNo], " "); ok {
		host, port, _ := net.SplitHostPort(portal)
		n, _ := strconv.Atoi(port)
		d.ByPath = blockdev.ISCSIPath{Address: host, Port: n, Target: target, LUN: lun}.String()
	}
	m.disks = append(m.disks, d)
}

func (m *machine) SetScheduler(dev, sched string) error {
	m.record("scheduler %s %s", dev, sched)
	return nil
}

// Disks.

func (m *machine) Watch() (DiskWatch, error) { return diskWatcher{m}, nil }

func (m *machine) Mount(source, target, fstype string, flags blockdev.MountFlags, data string) error {
	if other := flags &^ blockdev.MountReadOnly; other != 0 {
		m.record("mount %s %s %s ro=%v flags=%#x %q", source, target, fstype, flags&blockdev.MountReadOnly != 0, uintptr(other), data)
	} else {
		m.record("mount %s %s %s ro=%v %q", source, target, fstype, flags&blockdev.MountReadOnly != 0, data)
	}
	if strings.Contains(data, "no_such_option") {
		return errors.New("invalid argument")
	}
	// The kernel's parse of the data string refuses the words of
	// mount(8) that are mount(2) flags (fs_context.c's
	// forbidden_sb_flag): "Unexpected mount option", EINVAL.
	for _, o := range strings.Split(data, ",") {
		if slices.Contains(forbiddenData, o) {
			return fmt.Errorf("%s: invalid argument", o)
		}
	}
	return nil
}

// forbiddenData are the words the kernel refuses in a mount's data
// string (fs/fs_context.c, forbidden_sb_flag).
var forbiddenData = []string{"bind", "move", "private", "remount", "shared", "slave", "unbindable", "rec",
	"noatime", "relatime", "norelatime", "atime", "diratime", "nodiratime", "strictatime", "nostrictatime",
	"dev", "nodev", "exec", "noexec", "suid", "nosuid", "symfollow", "nosymfollow", "iversion", "noiversion"}

type diskWatcher struct{ m *machine }

func (w diskWatcher) WaitFor(ctx context.Context, sel blockdev.Selector) (*blockdev.Device, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	return blockdev.Match(sel, w.m.disks)
}

func (w diskWatcher) WaitFunc(ctx context.Context, desc string, match func(blockdev.Device) bool) (*blockdev.Device, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	// As blockdev.Watcher: more than one match is an error.
	var found []blockdev.Device
	for _, d := range w.m.disks {
		if match(d) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no disk is %s", desc)
	case 1:
		return &found[0], nil
	}
	return nil, &blockdev.AmbiguousError{Selector: blockdev.Selector{Raw: desc}, Matches: found}
}

func (w diskWatcher) Close() error { return nil }

// Keeper.

func (m *machine) Launch(nice int) (KeeperProcess, error) {
	m.record("keeper launch nice=%d", nice)
	return keeperProc{m}, nil
}

type keeperProc struct{ m *machine }

func (k keeperProc) HandOver(st keeper.State) (int, error) {
	var names []string
	for _, s := range st.Sessions {
		names = append(names, s.TargetName)
	}
	if k.m.handOver != nil {
		if err := k.m.handOver(); err != nil {
			return 0, err
		}
	}
	k.m.record("keeper handover handle=%d %s", st.TransportHandle, strings.Join(names, " "))
	for _, s := range st.Sessions {
		if s.Device != "" {
			k.m.record("keeper binds %s to %s (link events of %s)", s.TargetName, s.Device, s.Interface)
		}
		if s.ScanOtherLUNs {
			k.m.record("keeper to scan host%d -", s.HostNo)
		}
	}
	return 42, nil
}

func (k keeperProc) Abort() { k.m.record("keeper abort") }

// Switcher.

func (m *machine) Prefetch(root, init string) ([]string, error) { return nil, nil }

func (m *machine) SwitchRoot(o switchroot.Options) error {
	m.mu.Lock()
	m.switched = &o
	m.mu.Unlock()
	m.record("switch_root %s %s", o.NewRoot, o.Init)
	return nil
}

// Console.

func (m *machine) Shell(env []string) error {
	m.mu.Lock()
	m.shellEnv = env
	m.mu.Unlock()
	m.record("shell")
	if m.shell != nil {
		return m.shell()
	}
	return errors.New("/bin/sh: no such file or directory")
}

// Reboot is the machine rebooting: the goroutine ends, unless the hook
// says the reboot failed.
func (m *machine) Reboot(action config.Emergency) error {
	m.record("reboot %s", action)
	if m.reboot != nil {
		if err := m.reboot(action); err != nil {
			return err
		}
	}
	runtime.Goexit()
	return nil
}

// Forever is PID 1 waiting for ever: the goroutine ends.
func (m *machine) Forever() {
	m.record("forever")
	close(m.forever)
	runtime.Goexit()
}
