package boot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/bootlog"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/modload"
)

const (
	targetIQN = "iqn.2010-01.org.example:root"
	target    = "iscsi:10.77.0.1::3260:1:" + targetIQN
	rootArgs  = "rd.iscsi.initiator=iqn.2010-01.org.example:client root=LABEL=ISCSI_ROOT ro"
	bondAB    = "bond=bond0:eth0,eth1:mode=active-backup,miimon=100"
	// scenario is issue 2's command line, as the QEMU tests boot it.
	scenario = "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " + bondAB + " netroot=" + target + " " + rootArgs
)

// stepLine matches a step's line with its duration.
func stepLine(step string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^netroot: ` + regexp.QuoteMeta(step) + `: .* \([0-9]+\.[0-9]{3}s\)$`)
}

// before reports whether the first call starting with a comes before the
// first starting with b.
func (m *machine) before(a, b string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ia := slices.IndexFunc(m.calls, func(c string) bool { return strings.HasPrefix(c, a) })
	ib := slices.IndexFunc(m.calls, func(c string) bool { return strings.HasPrefix(c, b) })
	return ia >= 0 && ib >= 0 && ia < ib
}

// TestEnvHidesSecrets: the parameters the kernel put into /init's
// environment that can carry a CHAP secret (netroot=, iscsi_password=…)
// reach neither the shell nor the real init; the rest does.
func TestEnvHidesSecrets(t *testing.T) {
	m := newMachine(t)
	m.shell = func() error { return nil }
	environ := []string{"HOME=/", "TERM=vt100", "BOOT_IMAGE=/vmlinuz", "netroot=iscsi:u:hunter2@10.77.0.1::3260:1:" + targetIQN,
		"iscsi_password=hunter2", "iscsi_in_password=hunter3"}
	if _, err := m.boot(scenario+" rd.break=pre-mount", Options{Environ: environ}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	if m.switched == nil || m.shellEnv == nil {
		t.Fatalf("switch_root %+v, shell env %q", m.switched, m.shellEnv)
	}
	for name, env := range map[string][]string{"the shell's": m.shellEnv, "the real init's": m.switched.Env} {
		for _, want := range []string{"HOME=/", "TERM=vt100", "BOOT_IMAGE=/vmlinuz"} {
			if !slices.Contains(env, want) {
				t.Errorf("%s environment lacks %s: %q", name, want, env)
			}
		}
		if s := strings.Join(env, " "); strings.Contains(s, "hunter") || strings.Contains(s, "netroot=") {
			t.Errorf("%s environment holds a secret: %q", name, env)
		}
	}
}

func TestBootReachesSwitchRoot(t *testing.T) {
	m := newMachine(t)
	b, err := m.boot(scenario+" -- single", Options{Args: []string{"single"}, Environ: []string{"HOME=/"}})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	screen := m.screen.String()
	for _, step := range []string{"mount", "config", "modules", "links", "bond", "ip", "login", "disk", "root", "mount-root", "keeper"} {
		if !stepLine(step).MatchString(screen) {
			t.Errorf("no line with a duration for step %q", step)
		}
	}
	if !strings.Contains(screen, "netroot: modules-plan: iscsi_tcp sd_mod crc32c (in the background)") ||
		!strings.Contains(screen, "netroot: modules-fs: ext4 (in the background)") {
		t.Errorf("background batches' lines missing:\n%s", screen)
	}
	if m.switched == nil || m.switched.NewRoot != "/sysroot" || m.switched.Init != "/sbin/init" ||
		!slices.Equal(m.switched.Args, []string{"single"}) || !slices.Contains(m.switched.Env, "HOME=/") {
		t.Errorf("switch_root with %+v", m.switched)
	}
	if got := m.called("mount /dev/sda"); len(got) != 1 || got[0] != `mount /dev/sda /sysroot ext4 ro=true ""` {
		t.Errorf("mounts: %q", got)
	}
	if got := m.called("keeper handover"); len(got) != 1 || got[0] != "keeper handover handle=7 "+targetIQN {
		t.Errorf("keeper hand-over: %q", got)
	}
	// The kernel session is prepared before it is started; switch_root
	// waits for the keeper and the scheduler.
	for _, o := range [][2]string{
		{"prepare " + targetIQN, "start host2"},
		{"keeper handover", "switch_root"},
		{"scheduler sda none", "switch_root"},
		{"kmsg ratelimit", "switch_root"},
	} {
		if !m.before(o[0], o[1]) {
			t.Errorf("%q is not before %q in %q", o[0], o[1], m.called(""))
		}
	}
	if got := m.called("create bond"); len(got) != 1 {
		t.Errorf("bonds created: %q", got)
	}
	if got := m.called("keeper launch"); !slices.Equal(got, []string{"keeper launch nice=19"}) {
		t.Errorf("keeper launches: %q, want one, early and at nice 19", got)
	}
	if len(m.called("destroy")) != 0 {
		t.Errorf("a started session was destroyed: %q", m.called(""))
	}
	if _, err := m.files.ReadFile(timelineFile); err != nil {
		t.Errorf("no timeline: %v", err)
	}
	if b.plan == nil || len(b.plan.ISCSI.Targets) != 1 {
		t.Errorf("plan after the boot: %+v", b.plan)
	}
}

// TestBootIFStaticAddress: a static ip= naming no interface, with
// BOOTIF=, is the PXE NIC's — dracut's ifup applies it to the NIC it runs
// for; refused before as needing an interface. The NIC's absence fails
// the links step (no NIC is named).
func TestBootIFStaticAddress(t *testing.T) {
	const cl = "ip=10.77.0.10::10.77.0.1:255.255.255.0:client::none netroot=" + target + " " + rootArgs
	m := newMachine(t)
	if _, err := m.boot(cl+" BOOTIF=01-52-54-00-77-00-11", Options{}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	if got := m.called("static "); !slices.Equal(got, []string{"static eth1 10.77.0.10/24"}) {
		t.Errorf("static addresses %q", got)
	}
	if !strings.Contains(m.screen.String(), "netroot: ip: eth1 10.77.0.10/24 gw 10.77.0.1 (") {
		t.Errorf("no ip line for eth1:\n%s", m.screen)
	}
	wantFatal(t, newMachine(t), cl+" BOOTIF=01-52-54-00-77-00-99 rd.shell=0",
		"netroot: FATAL links: BOOTIF=52:54:00:77:00:99: no interface has that MAC (present: eth0 52:54:00:77:00:10, eth1 52:54:00:77:00:11) — is the PXE NIC's driver in the initramfs (netroot build -drivers)?")
}

func TestBootIFIsTheBondsPrimary(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline, enslave, links string
	}{
		{"PXE NIC eth1", scenario + " BOOTIF=01-52-54-00-77-00-11", "enslave bond0 eth0,eth1 primary=eth1",
			"links: eth0, eth1 present; PXE interface eth1 (52:54:00:77:00:11)"},
		{"PXE NIC eth0", scenario + " BOOTIF=01-52-54-00-77-00-10", "enslave bond0 eth0,eth1 primary=eth0", "PXE interface eth0"},
		{"no BOOTIF", scenario, "enslave bond0 eth0,eth1 primary=", "links: eth0, eth1 present ("},
		{"PXE NIC not a slave", strings.Replace(scenario, "bond0:eth0,eth1", "bond0:eth0", 1) + " BOOTIF=01-52-54-00-77-00-11",
			"enslave bond0 eth0 primary=", "PXE interface eth1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			if _, err := m.boot(tc.cmdline, Options{}); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := m.called("enslave"); len(got) != 1 || got[0] != tc.enslave {
				t.Errorf("enslaved %q, want %q", got, tc.enslave)
			}
			if !strings.Contains(m.screen.String(), tc.links) {
				t.Errorf("no %q in\n%s", tc.links, m.screen)
			}
		})
	}
}

// TestVLANsParentsFirst: a VLAN on a VLAN is created after its parent,
// whatever the order of vlan= on the command line (the kernel refuses a
// VLAN whose parent does not exist yet).
func TestVLANsParentsFirst(t *testing.T) {
	for _, tc := range []struct {
		name, vlans string
		want        []string
	}{
		{"as written", "vlan=bond0.5:bond0 vlan=bond0.5.6:bond0.5", []string{"vlan bond0.5", "vlan bond0.5.6"}},
		{"child first", "vlan=bond0.5.6:bond0.5 vlan=bond0.5:bond0", []string{"vlan bond0.5", "vlan bond0.5.6"}},
		{"three deep, others keep their order", "vlan=vlan7:bond0.5.6 vlan=eth2.9:eth2 vlan=bond0.5.6:bond0.5 vlan=bond0.5:bond0",
			[]string{"vlan bond0.5", "vlan bond0.5.6", "vlan vlan7", "vlan eth2.9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			cl := strings.Replace(scenario, ":bond0:none", ":bond0.5.6:none", 1) + " " + tc.vlans
			if _, err := m.boot(cl, Options{}); err != nil {
				t.Fatalf("Run: %v\n%s", err, m.screen)
			}
			if got := m.called("vlan "); !slices.Equal(got, tc.want) {
				t.Errorf("VLANs created %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRootflags: rootflags= is read as mount(8) reads -o: its flag words
// become mount(2) flags, the words only userspace reads are dropped, and
// the rest is the filesystem's data; ro/rw stay the command line's.
func TestRootflags(t *testing.T) {
	for _, tc := range []struct {
		name, args, want string
	}{
		{"none", "", `mount /dev/sda /sysroot ext4 ro=true ""`},
		{"data only", "rootflags=data=journal", `mount /dev/sda /sysroot ext4 ro=true "data=journal"`},
		{"flags and data", "rootflags=noatime,nobarrier,_netdev,x-systemd.device-timeout=10", `mount /dev/sda /sysroot ext4 ro=true flags=0x400 "nobarrier"`},
		{"rw", "rootflags=defaults,nodev,nosuid,relatime rw", `mount /dev/sda /sysroot ext4 ro=false flags=0x200006 ""`},
		{"rootflags' rw without ro/rw", "rootflags=rw,lazytime", `mount /dev/sda /sysroot ext4 ro=false flags=0x2000000 ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			cl := strings.TrimSuffix(scenario, " ro") + " " + tc.args
			if _, err := m.boot(cl, Options{}); err != nil {
				t.Fatalf("Run: %v\n%s", err, m.screen)
			}
			if got := m.called("mount /dev/sda"); len(got) != 1 || got[0] != tc.want {
				t.Errorf("mounts: %q, want %q", got, tc.want)
			}
		})
	}
}

// rootPathLease is a DHCP answer with netroot=dhcp's root-path.
func rootPathLease(rootPath string) *dhcp.Lease {
	return &dhcp.Lease{RootPath: rootPath}
}

func TestNetrootDHCPAddsTheLeasesTarget(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline string
		leases        map[string]*dhcp.Lease
		added         bool // the root-path line says the target was added
	}{
		{"one lease", "ip=dhcp netroot=dhcp " + rootArgs,
			map[string]*dhcp.Lease{"eth0": rootPathLease(target)}, true},
		{"two leases, same target", "ip=eth0:dhcp ip=eth1:dhcp netroot=dhcp " + rootArgs,
			map[string]*dhcp.Lease{"eth0": rootPathLease(target), "eth1": rootPathLease(target)}, true},
		{"netroot= names the lease's target", "ip=dhcp netroot=" + target + " netroot=dhcp " + rootArgs,
			map[string]*dhcp.Lease{"eth0": rootPathLease(target)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			m.leases = tc.leases
			b, err := m.boot(tc.cmdline, Options{})
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, m.screen)
			}
			if got := m.called("connect"); len(got) != 1 || got[0] != "connect 10.77.0.1:3260 "+targetIQN {
				t.Errorf("logins: %q, want one to the lease's target", got)
			}
			// The parsed plan is what the command line says, not more.
			want, err := config.Parse(config.Source{Name: procCmdline, Text: tc.cmdline + "\n"})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(b.plan.ISCSI, want.ISCSI) {
				t.Errorf("the boot changed the plan's targets: %+v, want %+v", b.plan.ISCSI.Targets, want.ISCSI.Targets)
			}
			added := strings.Count(m.screen.String(), "dhcp: netroot=dhcp: root-path from")
			if tc.added && added != 1 || !tc.added && added != 0 {
				t.Errorf("%d root-path lines:\n%s", added, m.screen)
			}
			// The lease is left for the real OS, its root-path as given
			// (no credentials in this one).
			j, err1 := m.files.ReadFile("/run/netroot/dhcp-eth0.json")
			env, err2 := m.files.ReadFile("/run/netroot/net.eth0.env")
			if err1 != nil || err2 != nil || !strings.Contains(string(j), `"root_path": "`+target+`"`) || !strings.Contains(string(env), "new_root_path='"+target+"'") {
				t.Errorf("lease files: %v %v\n%s\n%s", err1, err2, j, env)
			}
		})
	}
}

// TestRootDHCP: root=dhcp is the whole LUN of the lease's root-path
// target, found by its by-path name, whether or not netroot= lists the
// target too.
func TestRootDHCP(t *testing.T) {
	for _, cmdline := range []string{
		"ip=dhcp root=dhcp rd.iscsi.initiator=iqn.2010-01.org.example:client",
		"ip=dhcp netroot=" + target + " root=/dev/root netroot=dhcp rd.iscsi.initiator=iqn.2010-01.org.example:client",
	} {
		m := newMachine(t)
		m.leases = map[string]*dhcp.Lease{"eth0": rootPathLease(target)}
		if _, err := m.boot(cmdline, Options{}); err != nil {
			t.Fatalf("%s: Run: %v\n%s", cmdline, err, m.screen)
		}
		want := "root: /dev/disk/by-path/ip-10.77.0.1:3260-iscsi-" + targetIQN + "-lun-1 is /dev/sda"
		if !strings.Contains(m.screen.String(), want) {
			t.Errorf("%s: no %q on the console:\n%s", cmdline, want, m.screen)
		}
	}
	m := newMachine(t)
	m.leases = map[string]*dhcp.Lease{"eth0": {}}
	if _, err := m.boot("ip=dhcp root=dhcp rd.shell=0", Options{}); err == nil {
		t.Errorf("root=dhcp booted without a root-path:\n%s", m.screen)
	}
}

func TestNetrootDHCPWithoutRootPath(t *testing.T) {
	m := newMachine(t)
	m.leases = map[string]*dhcp.Lease{"eth0": {}}
	_, err := m.boot("ip=dhcp netroot=dhcp rd.shell=0 "+rootArgs, Options{})
	if err == nil || !strings.Contains(m.screen.String(), `FATAL dhcp: netroot=dhcp (or root=dhcp), but no DHCP answer carried a root-path (option 17) — have the DHCP server send option 17`) {
		t.Errorf("Run = %v; screen:\n%s", err, m.screen)
	}
}

// A connection the target drops while the kernel takes it over (the
// kernel refuses the next step: ENOTCONN) is logged in again; a hand-off
// that fails before the kernel took the socket, or every time, fails the
// boot, with the hint that fits.
func TestLoginAgainAfterConnLostInHandOff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int  // Starts that fail
		bound    bool // after the kernel took the socket
		connects int
		ok       bool
		hint     string
	}{
		{"lost once", 1, true, 2, true, ""},
		{"lost every time", 9, true, handOffAttempts, false, "the target closed the connection right after the login"},
		{"refused before the bind", 1, false, 1, false, "the kernel refused the session; dmesg says more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			n := 0
			m.start = func(host uint32) error {
				if n++; n > tc.failures {
					return nil
				}
				return &iscsi.HandOffError{Portal: "10.77.0.1:3260", Target: targetIQN, Step: "set parameter DATADGST_EN", Bound: tc.bound,
					Err: &iscsi.KernelError{Command: "set parameter", Errno: syscall.ENOTCONN}}
			}
			_, err := m.boot(scenario, Options{})
			if got := m.called("connect"); len(got) != tc.connects {
				t.Errorf("connects %q, want %d", got, tc.connects)
			}
			if (err == nil) != tc.ok {
				t.Errorf("boot error %v, want ok=%v; screen:\n%s", err, tc.ok, m.screen)
			}
			if tc.ok && !strings.Contains(m.screen.String(), "(the connection was lost as the kernel took it over); logging in again (2 of 3)") {
				t.Errorf("no warning of the second login:\n%s", m.screen)
			}
			if tc.hint != "" && !strings.Contains(m.screen.String(), tc.hint) {
				t.Errorf("FATAL without the hint %q:\n%s", tc.hint, m.screen)
			}
		})
	}
}

func TestFailedLoginDiscardsItsKernelSession(t *testing.T) {
	m := newMachine(t)
	m.connect = func(cfg iscsi.LoginConfig) error {
		// The login fails once the kernel's session is prepared beside it,
		// as a login that is refused or times out does.
		for deadline := time.Now().Add(5 * time.Second); len(m.called("prepare")) == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return &iscsi.LoginError{Portal: cfg.Portal, Target: cfg.TargetName, StatusClass: 2, StatusDetail: 1, Reason: "authentication failure"}
	}
	_, err := m.boot(scenario, Options{})
	if err == nil {
		t.Fatal("the boot succeeded")
	}
	if got := m.called("prepare"); len(got) != 1 {
		t.Fatalf("prepared sessions: %q", got)
	}
	if got := m.called("destroy"); len(got) != 1 || got[0] != "destroy host2" {
		t.Errorf("destroyed %q, want the prepared host2", got)
	}
	if got := m.called("start"); len(got) != 0 {
		t.Errorf("started %q after a failed login", got)
	}
	if !strings.Contains(m.screen.String(), "netroot: FATAL login: iscsi: login to 10.77.0.1:3260 "+targetIQN+": target reports 0x0201 authentication failure — is the target up") {
		t.Errorf("FATAL line:\n%s", m.screen)
	}
	// The keeper started early never got sessions: it is stopped.
	if got := m.called("keeper"); !slices.Equal(got, []string{"keeper launch nice=19", "keeper abort"}) {
		t.Errorf("keeper: %q", got)
	}
}

func TestPreNetBreakSkipsBondPreparation(t *testing.T) {
	for _, tc := range []struct {
		cmdline  string
		prepared bool
	}{
		{scenario, true},
		{scenario + " rd.break=pre-net", false},
	} {
		m := newMachine(t)
		p := parse(t, tc.cmdline)
		b := New(m.env(), m.logger(), Options{})
		mods, err := b.loadModules(context.Background(), p, "6.1.0-test", m, m, 2)
		if err != nil {
			t.Fatal(err)
		}
		mods.stopHotplug()
		if (mods.bonds != nil) != tc.prepared {
			t.Errorf("%s: bonds prepared: %v, want %v", tc.cmdline, mods.bonds != nil, tc.prepared)
		}
		b.settle(5 * time.Second)
		if n := len(m.called("create bond")); n != map[bool]int{true: 1, false: 0}[tc.prepared] {
			t.Errorf("%s: %d bonds created by the modules step", tc.cmdline, n)
		}
	}
}

func parse(t *testing.T, cmdline string) *config.Plan {
	t.Helper()
	p, err := config.Parse(config.Source{Name: procCmdline, Text: cmdline})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBackgroundBatchesAndCPUs(t *testing.T) {
	for _, cpus := range []int{1, 2} {
		m := newMachine(t)
		var (
			mu           sync.Mutex
			devicesDone  bool
			overlapped   bool // a batch started while the NIC drivers loaded
			batchStarted = make(chan struct{}, 4)
		)
		m.devices = func(ctx context.Context) ([]string, error) {
			if cpus > 1 {
				// With two CPUs the iSCSI stack starts beside the NIC
				// drivers: wait for it (bounded).
				select {
				case <-batchStarted:
				case <-time.After(5 * time.Second):
				}
			}
			mu.Lock()
			devicesDone = true
			mu.Unlock()
			return []string{"virtio_net"}, nil
		}
		m.niced = func(ctx context.Context, names []string) error {
			mu.Lock()
			if !devicesDone {
				overlapped = true
			}
			mu.Unlock()
			batchStarted <- struct{}{}
			return nil
		}
		b := New(m.env(), m.logger(), Options{})
		mods, err := b.loadModules(context.Background(), parse(t, scenario), "6.1.0-test", m, m, cpus)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := mods.fs.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if want := cpus > 1; overlapped != want {
			t.Errorf("%d CPU(s): a background batch started while the NIC drivers loaded: %v, want %v", cpus, overlapped, want)
		}
		if got := m.called("load niced"); !slices.Equal(got, []string{"load niced 19 iscsi_tcp sd_mod crc32c", "load niced 19 ext4"}) {
			t.Errorf("%d CPU(s): background batches %q", cpus, got)
		}
		if got := m.called("load bonding"); len(got) != 1 {
			t.Errorf("%d CPU(s): network modules %q", cpus, m.called("load"))
		}
		mods.stopHotplug()
	}
}

// failLinks makes the links step fail: no NIC ever appears.
func failLinks(ctx context.Context, names []string) error {
	return errors.New("no interface eth0")
}

func TestEmergencyActions(t *testing.T) {
	for _, action := range []config.Emergency{config.EmergencyReboot, config.EmergencyPoweroff, config.EmergencyHalt} {
		m := newMachine(t)
		m.waitLinks = failLinks
		m.shell = func() error { t.Errorf("rd.emergency=%s started a shell", action); return errors.New("no") }
		if _, err := m.boot(scenario+" rd.emergency="+string(action), Options{}); err == nil {
			t.Fatal("the boot succeeded")
		}
		if got := m.called("reboot"); !slices.Equal(got, []string{"reboot " + string(action)}) {
			t.Errorf("rd.emergency=%s: %q", action, got)
		}
		if !strings.Contains(m.screen.String(), "netroot: rd.emergency="+string(action)+": doing so now") {
			t.Errorf("rd.emergency=%s: not said:\n%s", action, m.screen)
		}
	}
}

func TestNoShellWaits(t *testing.T) {
	m := newMachine(t)
	m.waitLinks = failLinks
	m.reboot = func(config.Emergency) error { return errors.New("reboot: operation not permitted") }
	if _, err := m.boot(scenario+" rd.shell=0", Options{}); err == nil {
		t.Fatal("the boot succeeded")
	}
	// rd.shell=0 alone powers off, as dracut does; when that fails, the
	// machine waits without a shell.
	if got := m.called("reboot"); !slices.Equal(got, []string{"reboot poweroff"}) {
		t.Errorf("reboots: %q", got)
	}
	if got := m.called("shell"); len(got) != 0 {
		t.Errorf("rd.shell=0 started %d shell(s)", len(got))
	}
	if got := m.called("forever"); len(got) != 1 {
		t.Errorf("the machine did not wait")
	}
	if !strings.Contains(m.screen.String(), "netroot: rd.shell=0: no emergency shell; the machine waits here") {
		t.Errorf("screen:\n%s", m.screen)
	}
}

func TestEmergencyShell(t *testing.T) {
	m := newMachine(t)
	m.waitLinks = failLinks
	shells := 0
	m.shell = func() error {
		if shells++; shells == 2 {
			return errors.New("/dev/console: no such device")
		}
		return nil
	}
	if _, err := m.boot(scenario, Options{}); err == nil {
		t.Fatal("the boot succeeded")
	}
	screen := m.screen.String()
	for _, want := range []string{
		"netroot: FATAL links: no interface eth0\n",
		"netroot: emergency shell exited; starting another (the boot cannot continue)\n",
		"netroot: no emergency shell: /dev/console: no such device — add one with netroot build -add /bin/busybox:/bin/sh\n",
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("no %q in\n%s", want, screen)
		}
	}
	if strings.Count(screen, "FATAL") != 1 || len(m.called("forever")) != 1 {
		t.Errorf("want one FATAL line, then waiting:\n%s", screen)
	}
}

// TestNoLineOverTheShell: a step fails while the filesystem modules still
// load in the background (an insert nothing interrupts); that batch's line
// must not land on the console once the shell runs there, though it stays
// in the kernel log and the timeline.
func TestNoLineOverTheShell(t *testing.T) {
	m := newMachine(t)
	release, loading := make(chan struct{}), make(chan struct{})
	m.niced = func(ctx context.Context, names []string) error {
		if names[0] == "ext4" {
			close(loading)
			<-release // an insert in progress ignores the cancellation
		}
		return nil
	}
	m.waitLinks = func(ctx context.Context, names []string) error {
		select { // fail while the filesystem batch loads
		case <-loading:
		case <-time.After(10 * time.Second):
			t.Errorf("the filesystem batch did not start")
		}
		return failLinks(ctx, names)
	}
	var during string
	m.shell = func() error {
		atStart := m.screen.String()
		close(release)
		// Wait (bounded) until the batch has ended and logged.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if strings.Contains(m.screen.kernelLog(), "modules-fs:") {
				break
			}
		}
		during = strings.TrimPrefix(m.screen.String(), atStart)
		return errors.New("exit")
	}
	b, err := m.boot(scenario, Options{Grace: 50 * time.Millisecond})
	if err == nil {
		t.Fatal("the boot succeeded")
	}
	if during != "" {
		t.Errorf("written on the console while the shell ran: %q", during)
	}
	if !strings.Contains(m.screen.kernelLog(), "netroot: modules-fs: ext4 (in the background)") {
		t.Errorf("the batch's line is not in the kernel log:\n%s", m.screen.kernelLog())
	}
	if !slices.ContainsFunc(b.log.Timeline().Steps, func(e bootlog.Entry) bool { return e.Step == "modules-fs" }) {
		t.Errorf("the batch is not in the timeline")
	}
}

// TestFailureWaitsForBackground: the failure cancels the background work
// and waits for it (within the grace), so its lines come before the FATAL
// line and the shell.
func TestFailureWaitsForBackground(t *testing.T) {
	m := newMachine(t)
	m.waitLinks = failLinks
	m.niced = func(ctx context.Context, names []string) error {
		if names[0] == "iscsi_tcp" {
			// An insert in progress when the boot fails ends a little
			// later.
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	}
	if _, err := m.boot(scenario, Options{Grace: 10 * time.Second}); err == nil {
		t.Fatal("the boot succeeded")
	}
	screen := m.screen.String()
	fatal := strings.Index(screen, "FATAL")
	if i := strings.Index(screen, "modules-plan:"); i < 0 || i > fatal {
		t.Errorf("the batch's line is not before the FATAL line:\n%s", screen)
	}
	// The filesystem batch, still waiting for the first, never starts.
	if got := m.called("load niced 19 ext4"); len(got) != 0 {
		t.Errorf("the filesystem batch started after the failure")
	}
}

// TestPanicNamesStep: a panic in the boot's own goroutine is a FATAL line
// that names the step under way and says it is a bug, then the emergency
// handling, as for any failure.
func TestPanicNamesStep(t *testing.T) {
	m := newMachine(t)
	m.waitLinks = func(context.Context, []string) error { panic("netlink attribute out of range") }
	_, err := m.boot(scenario+" rd.shell=0", Options{})
	if err == nil {
		t.Fatal("the boot succeeded")
	}
	screen := m.screen.String()
	for _, want := range []string{"FATAL links: internal error: netlink attribute out of range — this is a bug in netroot: please report it with the console log (and the stack above)", "goroutine "} {
		if !strings.Contains(screen, want) {
			t.Errorf("no %q on the console:\n%s", want, screen)
		}
	}
}

// TestPanicInLogin: a panic in a login (work run as a task) is reported
// with its stack before the FATAL line, and the login's failure says it
// is a bug — not the login step's advice to check the network.
func TestPanicInLogin(t *testing.T) {
	m := newMachine(t)
	m.connect = func(iscsi.LoginConfig) error { panic("login response out of range") }
	if _, err := m.boot(scenario+" rd.shell=0", Options{}); err == nil {
		t.Fatal("the boot succeeded")
	}
	screen := m.screen.String()
	fatal := strings.Index(screen, "FATAL login: ")
	if fatal < 0 || !strings.Contains(screen[fatal:], "internal error (see the panic reported above) — "+bugHint) {
		t.Errorf("the login's failure is not a bug's:\n%s", screen)
	}
	if i := strings.Index(screen, "login response out of range"); i < 0 || i > fatal {
		t.Errorf("the panic is not reported before the FATAL line:\n%s", screen)
	}
}

// TestBootScansTheRestOfTheTarget: with a LUN named, the disk step scans
// that LUN alone, and once the root is found the target's other LUNs are
// scanned, as open-iscsi's login (node.session.scan=auto) scans the whole
// target: the real OS may mount another of them. The keeper does it once
// handed the session, so that switch_root does not wait for the scan; with
// no keeper (rd.netroot.keeper=0, or its hand-over failed) /init scans
// them before switch_root. node.session.scan=manual keeps to the named
// LUN; an empty LUN field scanned them all already.
func TestBootScansTheRestOfTheTarget(t *testing.T) {
	lun2 := "iscsi:10.77.0.1:::2:" + targetIQN
	for _, tc := range []struct {
		name, netroot, param string
		handOverFails        bool
		scans                []string // /init's, and the keeper's to do
	}{
		{"LUN 2 given", lun2, "", false, []string{"scsi-scan host2 2", "keeper to scan host2 -"}},
		{"no keeper", lun2, " rd.netroot.keeper=0", false, []string{"scsi-scan host2 2", "scsi-scan host2 -"}},
		{"hand-over fails", lun2, "", true, []string{"scsi-scan host2 2", "scsi-scan host2 -"}},
		{"manual", lun2, " rd.iscsi.param=node.session.scan=manual", false, []string{"scsi-scan host2 2"}},
		{"field empty", "iscsi:10.77.0.1::::" + targetIQN, "", false, []string{"scsi-scan host2 -"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			m.luns = map[uint64]string{1: "DATA", 2: "ISCSI_ROOT"}
			if tc.handOverFails {
				m.handOver = func() error { return errors.New("the keeper exited") }
			}
			cl := "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " + bondAB + " netroot=" + tc.netroot + " " + rootArgs + " rd.shell=0" + tc.param
			if _, err := m.boot(cl, Options{}); err != nil {
				t.Fatalf("Run: %v\n%s", err, m.screen)
			}
			var got []string
			for _, c := range m.calls {
				if strings.HasPrefix(c, "scsi-scan ") || strings.HasPrefix(c, "keeper to scan ") {
					got = append(got, c)
				}
			}
			if !slices.Equal(got, tc.scans) {
				t.Errorf("scans %q, want %q", got, tc.scans)
			}
			calls := strings.Join(m.calls, "\n")
			if strings.Contains(calls, "scsi-scan host2 -") && strings.Index(calls, "scsi-scan host2 -") > strings.Index(calls, "switch_root ") {
				t.Errorf("the rest of the target scanned after switch_root:\n%s", calls)
			}
		})
	}
}

// TestBootBindsTheLoginToNetDev: netroot='s <netdev_name> binds the
// target's login (iscsi.LoginConfig.Device, which Connect's dial honours)
// and the keeper's reconnects to that interface; the login line says so.
func TestBootBindsTheLoginToNetDev(t *testing.T) {
	m := newMachine(t)
	var devices []string
	m.connect = func(cfg iscsi.LoginConfig) error {
		devices = append(devices, cfg.Device)
		return nil
	}
	cl := "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " + bondAB + " netroot=iscsi:10.77.0.1::3260::bond0:0:" + targetIQN + " " + rootArgs + " rd.shell=0"
	if _, err := m.boot(cl, Options{}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	if !slices.Equal(devices, []string{"bond0"}) {
		t.Errorf("logins bound to %q, want bond0", devices)
	}
	if got := m.called("keeper binds "); !slices.Equal(got, []string{"keeper binds " + targetIQN + " to bond0 (link events of bond0)"}) {
		t.Errorf("keeper: %q", got)
	}
	if !strings.Contains(m.screen.String(), "auth None, bound to bond0") {
		t.Errorf("the login line does not say it is bound:\n%s", m.screen)
	}
	// The real OS learns it from the hints.
	if h, err := m.files.ReadFile(networkHintFile); err != nil || !strings.Contains(string(h), `"device": "bond0"`) {
		t.Errorf("%s: %v\n%s", networkHintFile, err, h)
	}
}

// TestBootEveryLUNWhenTheFieldIsEmpty: with netroot='s <LUN> field empty
// dracut logs in to the whole target and root= may be on any LUN (its own
// iSCSI test boots root=LABEL= on LUN 1 of a tgt target that way); /init
// scanned LUN 0 only — tgt's controller — and failed after rd.retry. A
// LUN given is still scanned alone. The root's disk gets the scheduler
// even when the disk step took another LUN's.
func TestBootEveryLUNWhenTheFieldIsEmpty(t *testing.T) {
	for _, tc := range []struct {
		name, netroot, scan string
		fails               bool
	}{
		{"field empty", "iscsi:10.77.0.1::::" + targetIQN, "scsi-scan host2 -", false},
		{"LUN 2 given", "iscsi:10.77.0.1:::2:" + targetIQN, "scsi-scan host2 2", false},
		{"LUN 0 given", "iscsi:10.77.0.1:::0:" + targetIQN, "scsi-scan host2 0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			m.luns = map[uint64]string{1: "DATA", 2: "ISCSI_ROOT"}
			cl := "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " + bondAB + " netroot=" + tc.netroot + " " + rootArgs + " rd.retry=1 rd.shell=0"
			_, err := m.boot(cl, Options{})
			if got := m.called("scsi-scan "); len(got) == 0 || got[0] != tc.scan {
				t.Errorf("scans %q, want %q first", got, tc.scan)
			}
			if tc.fails {
				if err == nil || !strings.Contains(m.screen.String(), "FATAL disk: ") {
					t.Errorf("Run = %v with LUN 0 named, which the target does not export; want the disk step's FATAL:\n%s", err, m.screen)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, m.screen)
			}
			screen := m.screen.String()
			if tc.scan == "scsi-scan host2 -" && !strings.Contains(screen, "disk: "+targetIQN+" LUN 1 is /dev/sd") {
				t.Errorf("the disk step did not take the lowest LUN's disk:\n%s", screen)
			}
			root := regexp.MustCompile(`root: LABEL=ISCSI_ROOT is /dev/(sd[a-z]) .*\[scsi 2:0:0:2\]`).FindStringSubmatch(screen)
			if root == nil {
				t.Fatalf("the root is not LUN 2's disk:\n%s", screen)
			}
			if !slices.Contains(m.called("scheduler "), "scheduler "+root[1]+" none") {
				t.Errorf("the root's disk %s kept its scheduler: %q", root[1], m.called("scheduler "))
			}
		})
	}
}

// TestBoot8023adInspectFails: the bond's state read again after LACP
// negotiated may fail (the bond gone from sysfs for a moment): the bond
// line tells the ports as they were enslaved, and the boot goes on.
func TestBoot8023adInspectFails(t *testing.T) {
	m := newMachine(t)
	m.inspect = func(name string) (*bond.Result, error) { return nil, errors.New("no such file or directory") }
	if _, err := m.boot(strings.Replace(scenario, "mode=active-backup", "mode=802.3ad", 1), Options{}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	if !regexp.MustCompile(`(?m)^netroot: bond: bond0 802.3ad .*: eth0 up, eth1 up \([0-9.]+s\)$`).MatchString(m.screen.String()) {
		t.Errorf("no bond line:\n%s", m.screen)
	}
}

// TestBootKeeperPIDNotRecorded: a pid file that cannot be written is
// said (kill $(cat …) would not find the keeper), and the boot goes on.
func TestBootKeeperPIDNotRecorded(t *testing.T) {
	m := newMachine(t)
	if err := os.MkdirAll(filepath.Join(m.files.Root, keeperPIDFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := m.boot(scenario, Options{}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	if !regexp.MustCompile(`(?m)^netroot: keeper: recording pid \d+: .*: is a directory — kill \$\(cat /run/netroot/keeper.pid\) will not find the keeper`).MatchString(m.screen.String()) {
		t.Errorf("no warning:\n%s", m.screen)
	}
}

// TestBootDriverPost: rd.driver.post= modules load in a batch of their
// own after the others, before the root is mounted; one that fails to
// load is a warning and the boot goes on, as dracut's insmodpost (a
// failed modprobe there stops nothing). Loaded with the iSCSI stack, it
// failed the boot at the login, with the login's hint.
func TestBootDriverPost(t *testing.T) {
	m := newMachine(t)
	m.niced = func(_ context.Context, names []string) error {
		if slices.Contains(names, "fbcon") {
			return &modload.LoadError{Module: "fbcon", Err: syscall.ENODEV}
		}
		return nil
	}
	if _, err := m.boot(scenario+" rd.driver.post=fbcon", Options{}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	if got := m.called("load niced"); !slices.Equal(got, []string{"load niced 19 iscsi_tcp sd_mod crc32c", "load niced 19 ext4", "load niced 19 fbcon"}) {
		t.Errorf("batches %q", got)
	}
	// Kept from the device scans, as dracut keeps udev from loading it.
	if got := m.called("modules not for devices"); !slices.Equal(got, []string{"modules not for devices fbcon"}) {
		t.Errorf("modules kept from the device scans: %q", got)
	}
	if !m.before("load niced 19 fbcon", "mount /dev/sda") {
		t.Errorf("the root was mounted before the rd.driver.post= batch")
	}
	if !regexp.MustCompile(`(?m)^netroot: modules-post: .*fbcon.* — rd.driver.post= modules are loaded as dracut loads them: one that fails does not stop the boot$`).MatchString(m.screen.String()) {
		t.Errorf("no warning:\n%s", m.screen)
	}
}

// TestBootIPMAC: ip=…:<macaddr> sets the interface's MAC address before
// its address (or its DHCP), as dracut's ifup does; it was refused.
func TestBootIPMAC(t *testing.T) {
	m := newMachine(t)
	cl := strings.Replace(scenario, "client:bond0:none", "client:bond0:none::02:00:00:77:00:99", 1)
	if _, err := m.boot(cl, Options{}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	if got := m.called("mac "); !slices.Equal(got, []string{"mac bond0 02:00:00:77:00:99"}) {
		t.Errorf("MACs set %q", got)
	}
	if !m.before("mac bond0", "static bond0") {
		t.Errorf("the address came before the MAC address")
	}
	if !stepLine("mac").MatchString(m.screen.String()) {
		t.Errorf("no mac step line:\n%s", m.screen)
	}
}
