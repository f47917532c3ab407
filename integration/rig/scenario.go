package rig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/netroot/netroot/integration/rig/scripttarget"
)

// The standard scenario: a bonded pair, a static address, one target.
const (
	// HostAddr is the target side (the bridge) of the test network.
	HostAddr = "10.77.0.1"
	// TargetIQN and InitiatorIQN are the scenario's names.
	TargetIQN    = "iqn.2010-01.org.example:root"
	InitiatorIQN = "iqn.2010-01.org.example:client"
	// RootLabel is the root filesystem's label.
	RootLabel = "ISCSI_ROOT"
	// ScenarioCmdline is issue 2's command line, in dracut's syntax.
	ScenarioCmdline = "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " +
		"bond=bond0:eth0,eth1:mode=active-backup,miimon=100 " +
		"netroot=iscsi:10.77.0.1::3260:1:iqn.2010-01.org.example:root " +
		"rd.iscsi.initiator=iqn.2010-01.org.example:client root=LABEL=ISCSI_ROOT ro"
	// Console is appended to every guest's command line.
	Console = "console=ttyS0"
)

// Env holds what every boot of a test run shares: the kernel, the built
// binaries and a pristine root image.
type Env struct {
	Dir      string
	Kernel   *Kernel
	Netroot  string // host tool
	Init     string // netroot's /init
	TestInit string // the root image's /sbin/init
	Busybox  string // static busybox for the emergency shell, "" if absent
	RootImg  string // pristine ext4 root image labelled RootLabel
	// LUNDir is where each boot's fresh copy of its root image is made
	// (default: the boot's directory), removed when the boot is closed.
	// On a tmpfs the host's disk stays out of the boots: its writeback,
	// and the guest's cache flushes, which the target turns into fsyncs
	// of the copy (seconds, now and then, on a busy host disk).
	LUNDir string

	mu  sync.Mutex
	seq int
}

// Prepare fetches the kernel, builds the binaries and the root image into
// dir.
func Prepare(ctx context.Context, dir string) (*Env, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e := &Env{
		Dir:      dir,
		Netroot:  filepath.Join(dir, "bin", "netroot"),
		Init:     filepath.Join(dir, "bin", "netroot-init"),
		TestInit: filepath.Join(dir, "bin", "testinit"),
		RootImg:  filepath.Join(dir, "root.img"),
	}
	k, err := FetchKernel(ctx)
	if err != nil {
		return nil, err
	}
	e.Kernel = k
	for pkg, out := range map[string]string{
		"./cmd/netroot":          e.Netroot,
		"./cmd/init":             e.Init,
		"./integration/testinit": e.TestInit,
	} {
		if err := GoBuild(ctx, pkg, out); err != nil {
			return nil, err
		}
	}
	if p, err := exec.LookPath("busybox"); err == nil {
		e.Busybox = p
	}
	img := RootImage{Label: RootLabel, SizeMB: 64, Files: map[string]string{"sbin/init": e.TestInit}}
	if err := img.Build(ctx, e.RootImg); err != nil {
		return nil, err
	}
	return e, nil
}

// BootSpec describes one boot of the rig.
type BootSpec struct {
	// Name names the boot's directory.
	Name string
	// Cmdline is the kernel command line (Console is appended).
	Cmdline string
	// Baked is the cmdline baked into the initramfs (netroot build -cmdline).
	Baked string
	// Shell adds busybox as /bin/sh for the emergency shell.
	Shell bool
	// BuildArgs are extra netroot build flags.
	BuildArgs []string
	// Target configures tgtd; nil runs no target. Its LUNs default to a
	// fresh copy of the root image.
	Target *TargetConfig
	// LIO, when set, runs Linux's kernel target in a guest of its own
	// (StartLIOTarget, at LIOAddr) — instead of tgtd or beside it. Its
	// LUNs default to a fresh copy of the root image; its kernel is the
	// client's.
	LIO *LIOConfig
	// MemoryMB is the guest's memory (256 when 0).
	MemoryMB int
	// CPUs is the guest's virtual CPUs (1 when 0).
	CPUs int
	// NetSetup, when set, runs once the namespace exists, before the
	// target and the DHCP server start (e.g. to add a VLAN on the bridge).
	NetSetup func(ctx context.Context, n *Net) error
	// DHCP, when set, runs a DHCP-only dnsmasq on the bridge.
	DHCP *DHCPConfig
	// NICOptions are appended to every virtio NIC's -device (see VMConfig).
	NICOptions string
	// USBNICs lists the NICs attached as USB NICs (see VMConfig).
	USBNICs []int
	// PXE, when set, network-boots the guest (DHCP + TFTP from dnsmasq)
	// instead of handing QEMU the kernel.
	PXE *PXESpec
	// Initramfs, when set, boots this prebuilt initramfs (e.g. a u-root
	// image from BuildURoot) instead of building one with netroot build;
	// Baked, Shell and BuildArgs are then ignored.
	Initramfs string
	// ACPITables are raw ACPI tables (e.g. an iBFT from ibft.Marshal)
	// added to the guest's (see VMConfig.ACPITables).
	ACPITables [][]byte
	// Relay, when set, puts NICs behind impairment relays (Boot.Relays),
	// so the test can drop, delay and black-hole their frames while the
	// guest keeps its carrier.
	Relay *RelaySpec
	// ScriptTarget, when set, serves the root from a scripted target
	// (package scripttarget) on HostAddr:3260 instead of tgtd (leave
	// Target nil). Its Disk defaults to a fresh copy of the root image.
	ScriptTarget *scripttarget.Config
	// Kernel, when set, boots this kernel (its modules go into the
	// initramfs) instead of the Env's.
	Kernel *Kernel
	// RootImage, when set, is copied fresh as the target's LUN instead of
	// the Env's root image.
	RootImage string
	// QEMUArgs are extra QEMU arguments (VMConfig.Extra), e.g. -icount
	// for timings counted in guest instructions.
	QEMUArgs []string
	// Layout, when set, arranges the guest's NICs as one of NICLayouts
	// (see VMConfig.Layout).
	Layout *NICLayout
	// VCPUNice and OnLine are VMConfig's.
	VCPUNice int
	OnLine   func(v *VM, line string)
}

// RelaySpec chooses the NICs a boot puts behind relays.
type RelaySpec struct {
	// NICs are the NIC indexes; nil means every NIC.
	NICs []int
	// Seed drives the relays' random losses (NIC i's relay uses Seed and
	// i), so a lossy run can be repeated.
	Seed uint64
}

// Boot is a running boot: the guest, its network and its target.
type Boot struct {
	Dir       string
	Initramfs string
	Net       *Net
	Target    *Target
	// LIO is BootSpec.LIO's target guest, else nil.
	LIO *LIOTarget
	VM  *VM
	// DHCP is BootSpec.DHCP's server, else nil.
	DHCP *DHCPServer
	// PXE is the DHCP + TFTP server of a PXE boot, else nil.
	PXE *PXEServer
	// Relays holds NIC i's relay at index i (nil for a NIC on its tap)
	// when BootSpec.Relay was set.
	Relays []*Relay
	// ScriptTarget is BootSpec.ScriptTarget's target, else nil.
	ScriptTarget *scripttarget.Target
	// BuildOutput is what netroot build printed.
	BuildOutput string
	// scratch are the files Close removes (the LUN copies in Env.LUNDir).
	scratch []string
}

// Start builds the boot's initramfs, makes its network and target, and
// starts the guest. Close releases everything.
func (e *Env) Start(ctx context.Context, s BootSpec) (_ *Boot, err error) {
	e.mu.Lock()
	e.seq++
	dir := filepath.Join(e.Dir, fmt.Sprintf("%02d-%s", e.seq, s.Name))
	e.mu.Unlock()
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &Boot{Dir: dir, Initramfs: filepath.Join(dir, "initramfs.img")}
	kernel := e.Kernel
	if s.Kernel != nil {
		kernel = s.Kernel
	}
	rootImg := e.RootImg
	if s.RootImage != "" {
		rootImg = s.RootImage
	}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if s.Initramfs != "" {
		b.Initramfs = s.Initramfs
	} else {
		// The built-in zstd encoder: the zstd program's level 19 takes
		// seconds of the host's CPU per image, beside other tests' guests.
		// TestBootScenario boots the program's image (BuildArgs win).
		args := []string{"build", "-o", b.Initramfs, "-modules", kernel.ModulesDir, "-init", e.Init, "-zstd-tool", "builtin"}
		if s.Baked != "" {
			args = append(args, "-cmdline", s.Baked)
		}
		if s.Shell && e.Busybox != "" {
			args = append(args, "-add", e.Busybox+":/bin/sh")
		}
		args = append(args, s.BuildArgs...)
		out, err := exec.CommandContext(ctx, e.Netroot, args...).CombinedOutput()
		b.BuildOutput = string(out)
		if err != nil {
			return nil, fmt.Errorf("netroot %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}

	if b.Net, err = NewNet(ctx, HostAddr+"/24", 2); err != nil {
		return nil, err
	}
	if s.NetSetup != nil {
		if err := s.NetSetup(ctx, b.Net); err != nil {
			return nil, fmt.Errorf("rig: network setup: %w", err)
		}
	}
	if s.Target != nil {
		tc := *s.Target
		if len(tc.LUNs) == 0 {
			lun, err := e.freshLUN(ctx, b, rootImg, "lun1.img")
			if err != nil {
				return nil, err
			}
			tc.LUNs = []string{lun}
		}
		if b.Target, err = StartTarget(ctx, b.Net, tc, filepath.Join(dir, "tgtd.log")); err != nil {
			return nil, err
		}
	}
	if s.LIO != nil {
		lc := *s.LIO
		if lc.Kernel == nil {
			if lc.Kernel, err = LIOKernel(); err != nil {
				return nil, err
			}
		}
		if lc.Kernel == nil {
			lc.Kernel = e.Kernel
		}
		if len(lc.LUNs) == 0 {
			lun, err := e.freshLUN(ctx, b, e.RootImg, "lio-lun1.img")
			if err != nil {
				return nil, err
			}
			lc.LUNs = []string{lun}
		}
		if b.LIO, err = StartLIOTarget(ctx, b.Net, lc, filepath.Join(dir, "lio")); err != nil {
			return nil, err
		}
	}
	if s.ScriptTarget != nil {
		if b.ScriptTarget, err = e.startScriptTarget(ctx, b, *s.ScriptTarget); err != nil {
			return nil, err
		}
	}
	if s.DHCP != nil {
		if b.DHCP, err = StartDHCPServer(ctx, b.Net, *s.DHCP, dir); err != nil {
			return nil, err
		}
	}
	if s.Relay != nil {
		b.Relays = make([]*Relay, len(b.Net.Taps))
		for i, tap := range b.Net.Taps {
			if s.Relay.NICs != nil && !slices.Contains(s.Relay.NICs, i) {
				continue
			}
			if b.Relays[i], err = StartRelay(b.Net, i, tap, s.Relay.Seed); err != nil {
				return nil, err
			}
		}
	}
	cmdline := strings.TrimSpace(s.Cmdline + " " + Console)
	vc := VMConfig{
		Kernel: kernel.Vmlinuz, Initrd: b.Initramfs, Cmdline: cmdline,
		Net: b.Net, Dir: dir, MemoryMB: s.MemoryMB, CPUs: s.CPUs, NICOptions: s.NICOptions, USBNICs: s.USBNICs,
		Relays: b.Relays, Layout: s.Layout,
		Extra: s.QEMUArgs, VCPUNice: s.VCPUNice, OnLine: s.OnLine,
	}
	if len(s.ACPITables) > 0 {
		if vc.ACPITables, err = WriteACPITables(dir, s.ACPITables); err != nil {
			return nil, err
		}
	}
	if s.PXE != nil {
		if err := b.startPXE(ctx, kernel.Vmlinuz, *s.PXE, cmdline, &vc); err != nil {
			return nil, err
		}
	}
	b.VM, err = StartVM(vc)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// freshLUN copies src for b's target as name: in b's directory, or in
// e.LUNDir (then removed when b is closed).
func (e *Env) freshLUN(ctx context.Context, b *Boot, src, name string) (string, error) {
	path := filepath.Join(b.Dir, name)
	if e.LUNDir != "" {
		path = filepath.Join(e.LUNDir, filepath.Base(b.Dir)+"-"+name)
		b.scratch = append(b.scratch, path)
	}
	return path, CopySparse(ctx, src, path)
}

// startScriptTarget serves cfg on HostAddr:3260 in b's network, its disk
// a fresh copy of the root image unless cfg names one.
func (e *Env) startScriptTarget(ctx context.Context, b *Boot, cfg scripttarget.Config) (*scripttarget.Target, error) {
	if cfg.IQN == "" {
		cfg.IQN = TargetIQN
	}
	if cfg.Disk == "" {
		disk, err := e.freshLUN(ctx, b, e.RootImg, "lun1.img")
		if err != nil {
			return nil, err
		}
		cfg.Disk = disk
	}
	t, err := scripttarget.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := b.Net.Listen("tcp", HostAddr+":3260")
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("rig: scripted target: %w", err)
	}
	t.Serve(ln)
	return t, nil
}

// DefaultTarget is the scenario's target without authentication.
func DefaultTarget() *TargetConfig {
	return &TargetConfig{Portal: HostAddr + ":3260", IQN: TargetIQN}
}

// Close stops the guest and the target and deletes the namespace.
func (b *Boot) Close() {
	if b.VM != nil {
		b.VM.Kill()
	}
	if b.Target != nil {
		b.Target.Stop()
	}
	if b.LIO != nil {
		b.LIO.Stop()
	}
	if b.ScriptTarget != nil {
		b.ScriptTarget.Close()
	}
	for _, r := range b.Relays {
		if r != nil {
			r.Close()
		}
	}
	if b.PXE != nil {
		b.PXE.Stop()
	}
	if b.DHCP != nil {
		b.DHCP.Stop()
	}
	if b.Net != nil {
		b.Net.Close()
	}
	for _, f := range b.scratch {
		os.Remove(f)
	}
}
