package boot

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/switchroot"
	"github.com/netroot/netroot/pkg/sysfs"
)

func TestDHCPTargets(t *testing.T) {
	bond := config.Bond{Name: "bond0", Slaves: []string{"eth0", "eth1"}}
	nics := []string{"eth0", "eth1", "eth2"}
	for _, tt := range []struct {
		name   string
		net    config.Net
		ip     config.IPConfig
		bootif string
		want   []string
	}{
		{"named interface", config.Net{Bonds: []config.Bond{bond}, BootDev: "eth2"}, config.IPConfig{Interface: "bond0"}, "eth1", []string{"bond0"}},
		{"bootdev", config.Net{BootDev: "eth2"}, config.IPConfig{}, "eth1", []string{"eth2"}},
		{"PXE NIC is a bond slave", config.Net{Bonds: []config.Bond{bond}}, config.IPConfig{Implicit: true}, "eth1", []string{"bond0"}},
		{"PXE NIC alone", config.Net{Bonds: []config.Bond{bond}}, config.IPConfig{}, "eth2", []string{"eth2"}},
		{"created interfaces", config.Net{Bonds: []config.Bond{bond, {Name: "bond1", Slaves: []string{"eth2"}}},
			VLANs: []config.VLAN{{Name: "bond0.100", Parent: "bond0", ID: 100}}}, config.IPConfig{}, "", []string{"bond0.100", "bond1"}},
		{"every free NIC", config.Net{}, config.IPConfig{}, "", nics},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &config.Plan{Net: tt.net}
			if got := dhcpTargets(p, tt.ip, tt.bootif, nics); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			// The NICs present are listed exactly when they are the answer.
			if needs := needsFreeNICs(p, tt.ip, tt.bootif); needs != (tt.name == "every free NIC") {
				t.Errorf("needsFreeNICs = %v", needs)
			}
		})
	}
}

// TestDHCPTargetsBootDevNamedByNoIP: bootdev= that no ip= names gets
// DHCP of its own (the plan's implied entry), as in dracut, besides the
// ip= that names another interface.
func TestDHCPTargetsBootDevNamedByNoIP(t *testing.T) {
	p, err := config.Parse(config.Source{Name: "/proc/cmdline", Text: "root=LABEL=r ip=eth0:dhcp bootdev=eth1 netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t"})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, ip := range p.Net.IP {
		got = append(got, dhcpTargets(p, ip, "", nil))
	}
	if want := [][]string{{"eth0"}, {"eth1"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("DHCP runs on %q, want %q", got, want)
	}
}

func TestIPMethods(t *testing.T) {
	d4, d6, a6, e6, l6 := config.IPDHCP, config.IPDHCP6, config.IPAuto6, config.IPEither6, config.IPLink6
	for _, tt := range []struct {
		ip          config.IPConfig
		v4          bool
		unsupported []config.IPMethod
		v6          []config.IPMethod
	}{
		{config.IPConfig{Method: d4}, true, nil, nil},
		{config.IPConfig{Method: config.IPSingleDHCP}, true, nil, nil},
		{config.IPConfig{Method: d4, MoreMethods: []config.IPMethod{d6}}, true, nil, []config.IPMethod{d6}},
		{config.IPConfig{Method: a6}, false, nil, []config.IPMethod{a6}},
		{config.IPConfig{Method: d6, MoreMethods: []config.IPMethod{d4, e6, l6}}, true, nil, []config.IPMethod{d6, e6, l6}},
		{config.IPConfig{Method: config.IPIBFT}, false, []config.IPMethod{config.IPIBFT}, nil},
	} {
		v4, un := ipMethods(tt.ip)
		if v4 != tt.v4 || !reflect.DeepEqual(un, tt.unsupported) {
			t.Errorf("ipMethods(%v %v) = %v %v, want %v %v", tt.ip.Method, tt.ip.MoreMethods, v4, un, tt.v4, tt.unsupported)
		}
		if got := ipv6Methods(tt.ip); !reflect.DeepEqual(got, tt.v6) {
			t.Errorf("ipv6Methods(%v %v) = %v, want %v", tt.ip.Method, tt.ip.MoreMethods, got, tt.v6)
		}
		if hasIPv4Method(tt.ip) != tt.v4 {
			t.Errorf("hasIPv4Method(%v %v) = %v", tt.ip.Method, tt.ip.MoreMethods, !tt.v4)
		}
	}
	if !hasIPv4Method(config.IPConfig{Method: config.IPStatic}) {
		t.Error("a static address is IPv4's path")
	}
}

func TestRootPathTarget(t *testing.T) {
	for _, tc := range []struct {
		name, rootPath string
		ok             bool
		err            string   // in the error; "" for none
		hidden         []string // never in the error
	}{
		{"none", "", false, "", nil},
		{"iSCSI", target, true, "", nil},
		{"NFS", "nfs:10.0.0.1:/srv/root", false, `is "nfs:10.0.0.1:/srv/root"`, nil},
		{"not iSCSI, with credentials", "http://user:s3cret@10.0.0.1/", false, `is "***@10.0.0.1/"`, []string{"s3cret", "user"}},
		{"malformed iSCSI", "iscsi:user:s3cret@10.77.0.1::x:1:iqn.x", false, "the root-path from 10.77.0.1 on eth0", []string{"s3cret"}},
		// dracut's syntax ends the credentials at the first '@': the rest
		// of a secret holding one would be taken for the server.
		{"a secret holding '@'", "iscsi:user:Qz7@Mk4@10.77.0.1::3260:1:" + targetIQN, false, "cannot contain '@'", []string{"Qz7", "Mk4"}},
		{"a leading '@'", "iscsi:user:@@s3cret@10.77.0.1::3260:1:" + targetIQN, false, "cannot contain '@'", []string{"s3cret"}},
		{"mutual, '@' in the target's", "iscsi:user:s3cret:tuser:Tp5@Wn8@10.77.0.1::3260:1:" + targetIQN, false, "cannot contain '@'", []string{"s3cret", "Tp5", "Wn8"}},
		{"'@' and too few fields", "iscsi:user:Qz7@Mk4@10.77.0.1:x:" + targetIQN, false, "the root-path from 10.77.0.1 on eth0", []string{"Qz7", "Mk4"}},
		// Which file of the initramfs is a secret is the command line's
		// choice, not a DHCP server's.
		{"a secret file", "iscsi:user:@/etc/netroot/chap@10.77.0.1::3260:1:" + targetIQN, false, "cannot name a CHAP secret file", nil},
		{"a secret file for the target", "iscsi:user:s3cret:tuser:@/etc/netroot/chap@10.77.0.1::3260:1:" + targetIQN, false, "cannot name a CHAP secret file", []string{"s3cret"}},
		{"'@' and a bad port", "iscsi:user:Qz7:tuser:Tp5@Wn8@10.77.0.1:6:x::" + targetIQN, false, "the root-path from 10.77.0.1 on eth0", []string{"Qz7", "Tp5", "Wn8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &dhcp.Lease{Interface: "eth0", RootPath: tc.rootPath}
			l.Server = netip.MustParseAddr("10.77.0.1")
			got, ok, err := rootPathTarget(l, config.Auth{})
			if ok != tc.ok || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("rootPathTarget = %+v, %v, %v", got, ok, err)
			}
			for _, h := range tc.hidden {
				if err != nil && strings.Contains(hint.Format(err), h) {
					t.Errorf("the error shows a secret (%s): %v", h, hint.Format(err))
				}
			}
			if ok && (got.Portal() != "10.77.0.1:3260" || got.Name != targetIQN || got.LUN != 1) {
				t.Errorf("target %+v", got)
			}
		})
	}
}

func TestSameLUNAndLoginTargets(t *testing.T) {
	a := config.Target{Server: "10.0.0.1", Port: 3260, Name: "iqn.x:a", LUN: 1}
	for _, tc := range []struct {
		b    config.Target
		same bool
	}{
		{a, true},
		{config.Target{Server: "10.0.0.1", Port: 3260, Name: "iqn.x:a", LUN: 1, Auth: config.Auth{Username: "u"}}, true},
		{config.Target{Server: "10.0.0.1", Port: 3260, Name: "iqn.x:a", LUN: 2}, false},
		{config.Target{Server: "10.0.0.1", Port: 3261, Name: "iqn.x:a", LUN: 1}, false},
		{config.Target{Server: "10.0.0.1", Port: 3260, Name: "iqn.x:b", LUN: 1}, false},
	} {
		if got := sameLUN(a, tc.b); got != tc.same {
			t.Errorf("sameLUN(%+v) = %v", tc.b, got)
		}
	}
	p := &config.Plan{ISCSI: config.ISCSI{Targets: []config.Target{a}}}
	b := config.Target{Server: "10.0.0.2", Port: 3260, Name: "iqn.x:b"}
	got := loginTargets(p, netResult{targets: []config.Target{b}})
	if !reflect.DeepEqual(got, []config.Target{a, b}) || len(p.ISCSI.Targets) != 1 {
		t.Errorf("loginTargets = %+v; plan %+v", got, p.ISCSI.Targets)
	}
	got[0].Name = "changed"
	if p.ISCSI.Targets[0].Name != "iqn.x:a" {
		t.Errorf("loginTargets shares the plan's array")
	}
}

func TestLACP(t *testing.T) {
	for _, tt := range []struct {
		l                  LACP
		usable, negotiated bool
		verdict            string // "info", "warning" or "error"
	}{
		{LACP{}, false, false, "error"},
		{LACP{Aggregator: "1", Ports: 0, Partner: "00:00:00:00:00:00"}, false, false, "error"},
		{LACP{Aggregator: "1", Ports: 1, Partner: "00:00:00:00:00:00"}, true, false, "warning"},
		{LACP{Aggregator: "1", Ports: 1}, true, false, "warning"},
		{LACP{Aggregator: "1", Ports: 2, Partner: "aa:bb:cc:dd:ee:ff"}, true, true, "info"},
		{LACP{Aggregator: "1", Partner: "00:00:00:00:00:00", NoSpeed: []string{"eth0", "eth1"}}, false, false, "error"},
	} {
		if tt.l.Usable() != tt.usable || tt.l.Negotiated() != tt.negotiated {
			t.Errorf("%+v: usable %v negotiated %v, want %v %v", tt.l, tt.l.Usable(), tt.l.Negotiated(), tt.usable, tt.negotiated)
		}
		info, warning, err := lacpVerdict("bond0", tt.l, 5*time.Second)
		got := map[bool]string{true: "info"}[info != ""] + map[bool]string{true: "warning"}[warning != ""] + map[bool]string{true: "error"}[err != nil]
		if got != tt.verdict {
			t.Errorf("%+v: verdict %q (%q %q %v), want %q", tt.l, got, info, warning, err, tt.verdict)
		}
		if err != nil {
			msg := "FATAL " + render(fail("bond", err, ""))
			wants := []string{"FATAL bond: bond0 802.3ad: no port in an active aggregator after 5s", "LACP did not negotiate", "LACP fallback"}
			if len(tt.l.NoSpeed) > 0 {
				wants = append(wants, "eth0, eth1 report no speed or duplex")
			} else if strings.Contains(msg, "no speed") {
				t.Errorf("%q names ports without a speed, but there are none", msg)
			}
			for _, want := range wants {
				if !strings.Contains(msg, want) {
					t.Errorf("%q lacks %q", msg, want)
				}
			}
		}
	}
}

func TestReadLACP(t *testing.T) {
	sys := sysfs.FS{Root: t.TempDir()}
	write := func(rel, v string) {
		p := sys.Path(rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("class/net/bond0/bonding/ad_aggregator", "2")
	write("class/net/bond0/bonding/ad_partner_mac", "aa:bb:cc:dd:ee:ff")
	write("class/net/bond0/bonding/slaves", "eth0 eth1 eth2 eth3 eth4")
	for s, v := range map[string][5]string{
		"eth0": {"2", "active", "up", "10000", "full"},
		"eth1": {"2", "backup", "up", "10000", "full"}, // not transmitting
		"eth2": {"1", "active", "up", "10000", "full"}, // another aggregator
		// Activated by the kernel for now, but dropped at the bond's
		// next link check: 802.3ad needs a speed and a duplex.
		"eth3": {"2", "active", "up", "-1", "unknown"},
		"eth4": {"2", "active", "up", "1000", "unknown"},
	} {
		write("class/net/"+s+"/bonding_slave/ad_aggregator_id", v[0])
		write("class/net/"+s+"/bonding_slave/state", v[1])
		write("class/net/"+s+"/bonding_slave/mii_status", v[2])
		write("class/net/"+s+"/speed", v[3])
		write("class/net/"+s+"/duplex", v[4])
	}
	want := LACP{Aggregator: "2", Ports: 1, Partner: "aa:bb:cc:dd:ee:ff", NoSpeed: []string{"eth3", "eth4"}}
	if got := readLACP(sys, "bond0"); !reflect.DeepEqual(got, want) {
		t.Errorf("readLACP = %+v, want %+v", got, want)
	}
	if got := readLACP(sys, "bond9"); !reflect.DeepEqual(got, LACP{}) {
		t.Errorf("readLACP of a missing bond = %+v", got)
	}
}

func TestPhysicalInterfaces(t *testing.T) {
	p := &config.Plan{Net: config.Net{
		Bonds: []config.Bond{{Name: "bond0", Slaves: []string{"eth0", "eth1"}}, {Name: "bond1", Slaves: []string{"eth1", "eth2"}}},
		VLANs: []config.VLAN{{Name: "bond0.100", Parent: "bond0"}, {Name: "eth3.5", Parent: "eth3"}},
		IP:    []config.IPConfig{{Interface: "bond0.100"}, {Interface: "eth4"}, {}, {Interface: "eth0"}},
	}}
	if got, want := physicalInterfaces(p), []string{"eth0", "eth1", "eth2", "eth3", "eth4"}; !slices.Equal(got, want) {
		t.Errorf("physicalInterfaces = %q, want %q", got, want)
	}
}

// macs are NICs by name.
type macs map[string]string

func (m macs) HardwareAddr(name string) (net.HardwareAddr, error) {
	if a, ok := m[name]; ok {
		return net.ParseMAC(a)
	}
	return nil, fmt.Errorf("no %s", name)
}

func TestModuleBatches(t *testing.T) {
	for _, tc := range []struct {
		cmdline      string
		network, bg  []string
		fs           []string
		bondingParam []string
	}{
		{scenario, []string{"bonding"}, []string{"iscsi_tcp", "sd_mod", "crc32c"}, []string{"ext4"}, []string{"max_bonds=0"}},
		{"vlan=bond0.5:bond0 " + scenario + " rootfstype=xfs bonding.max_bonds=2 rd.driver.pre=virtio_blk",
			[]string{"bonding", "8021q"}, []string{"virtio_blk", "iscsi_tcp", "sd_mod", "crc32c", "xfs"}, []string{"xfs"}, []string{"max_bonds=2"}},
		{"ip=dhcp netroot=dhcp rootfstype=ext3 " + rootArgs, nil, []string{"iscsi_tcp", "sd_mod", "crc32c", "ext4"}, []string{"ext4"}, []string{"max_bonds=0"}},
	} {
		p := parse(t, tc.cmdline)
		network, bg := moduleBatches(p.NeededModules())
		if !slices.Equal(network, tc.network) || !slices.Equal(bg, tc.bg) {
			t.Errorf("%s:\nbatches %q %q, want %q %q", tc.cmdline, network, bg, tc.network, tc.bg)
		}
		if got := fsCandidates(p, func(m string) bool { return m == "ext4" || m == "xfs" }); !slices.Equal(got, tc.fs) {
			t.Errorf("%s: fsCandidates = %q, want %q", tc.cmdline, got, tc.fs)
		}
		// Without ext4, every filesystem carried.
		if got := fsCandidates(p, func(m string) bool { return m == "xfs" || m == "btrfs" }); p.Root.FSType == "" && !slices.Equal(got, []string{"xfs", "btrfs"}) {
			t.Errorf("%s: fsCandidates without ext4 = %q", tc.cmdline, got)
		}
		before := fmt.Sprint(p.Modules.Params)
		if got := moduleParams(p.Modules.Params)["bonding"]; !slices.Equal(got, tc.bondingParam) {
			t.Errorf("%s: bonding's parameters %q, want %q", tc.cmdline, got, tc.bondingParam)
		}
		if fmt.Sprint(p.Modules.Params) != before {
			t.Errorf("moduleParams changed the plan's parameters")
		}
	}
}

// TestLoginSettings pins what one login is given from rd.iscsi.param=
// (config's typed Session): login keys, CHAP algorithms, kernel options,
// the login timeout, and the keeper's NOP-Out default unless the
// command line sets NOP-Outs itself.
func TestLoginSettings(t *testing.T) {
	const base = "root=LABEL=r netroot=iscsi:10.0.0.1::3260:1:iqn.2010-01.org.example:root rd.iscsi.initiator=iqn.2010-01.org.example:client "
	creds := iscsi.Credentials{Username: "u", Password: "p"}
	for _, tc := range []struct {
		name, cmdline string
		check         func(t *testing.T, cfg iscsi.LoginConfig, k iscsi.KernelOptions, c iscsi.ConnectOptions)
	}{
		{"defaults with the keeper", "", func(t *testing.T, cfg iscsi.LoginConfig, k iscsi.KernelOptions, c iscsi.ConnectOptions) {
			if k.NoopIntervalSec != defaultNoopSec || k.NoopTimeoutSec != defaultNoopSec || k.RecoveryTimeoutSet || len(cfg.Params) != 0 || c.AttemptTimeout != 0 {
				t.Errorf("cfg %+v k %+v c %+v", cfg, k, c)
			}
		}},
		{"no keeper: no NOP-Outs", "rd.netroot.keeper=0", func(t *testing.T, cfg iscsi.LoginConfig, k iscsi.KernelOptions, c iscsi.ConnectOptions) {
			if k.NoopIntervalSec != 0 || k.NoopTimeoutSec != 0 {
				t.Errorf("k %+v", k)
			}
		}},
		{"NOP-Outs given win", "rd.iscsi.param=node.conn[0].timeo.noop_out_interval=7", func(t *testing.T, cfg iscsi.LoginConfig, k iscsi.KernelOptions, c iscsi.ConnectOptions) {
			if k.NoopIntervalSec != 7 || k.NoopTimeoutSec != 0 {
				t.Errorf("k %+v", k)
			}
		}},
		{"everything", "rd.iscsi.param=node.session.timeo.replacement_timeout=0 rd.iscsi.param=node.session.iscsi.FirstBurstLength=0x10000 " +
			"rd.iscsi.param=MaxBurstLength=262144 rd.iscsi.param=node.session.auth.chap_algs=SHA256,MD5 rd.iscsi.param=node.conn[0].timeo.login_timeout=5 " +
			"rd.iscsi.param=node.session.cmds_max=64 rd.iscsi.login_retry_max=3 rd.retry=60",
			func(t *testing.T, cfg iscsi.LoginConfig, k iscsi.KernelOptions, c iscsi.ConnectOptions) {
				if !k.RecoveryTimeoutSet || k.RecoveryTimeoutSec != 0 || k.CmdsMax != 64 {
					t.Errorf("kernel options %+v", k)
				}
				if !reflect.DeepEqual(cfg.Params, []iscsi.KeyValue{{Key: "FirstBurstLength", Value: "65536"}, {Key: "MaxBurstLength", Value: "262144"}}) {
					t.Errorf("login keys %+v", cfg.Params)
				}
				if !reflect.DeepEqual(cfg.CHAPAlgorithms, []iscsi.CHAPAlgorithm{iscsi.CHAPSHA256, iscsi.CHAPMD5}) {
					t.Errorf("CHAP algorithms %v", cfg.CHAPAlgorithms)
				}
				if c.AttemptTimeout != 5*time.Second || c.MaxAttempts != 3 || c.Deadline != 60*time.Second {
					t.Errorf("connect options %+v", c)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := parse(t, base+tc.cmdline)
			cfg, k, c := loginSettings(p, p.ISCSI.Initiator, 0, p.ISCSI.Targets[0], creds)
			if cfg.TargetName != "iqn.2010-01.org.example:root" || cfg.Portal != "10.0.0.1:3260" || cfg.Credentials != creds {
				t.Errorf("login config %+v", cfg)
			}
			tc.check(t, cfg, k, c)
		})
	}
}

func TestRootInterfaces(t *testing.T) {
	p := &config.Plan{Net: config.Net{IP: []config.IPConfig{
		{Interface: "bond0", Method: config.IPStatic}, {Interface: "bond0.5", Method: config.IPDHCP},
		{Interface: "bond0", Method: config.IPDHCP6}, {Method: config.IPDHCP}, // every interface: no name
	}}}
	if got, want := rootInterfaces(p), []string{"bond0", "bond0.5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rootInterfaces = %q, want %q", got, want)
	}
}

func TestShellEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		path    string
	}{
		{"kernel gave no PATH", []string{"HOME=/", "TERM=linux"}, switchroot.DefaultPath + ":/bbin"},
		{"PATH given", []string{"PATH=/bin"}, "/bin:/bbin"},
		{"bbin already there", []string{"PATH=/bbin:/bin"}, "/bbin:/bin"},
		{"bbin only as a prefix of another dir", []string{"PATH=/bbin2"}, "/bbin2:/bbin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.environ)
			env := shellEnv(in)
			if !slices.Equal(in, tc.environ) {
				t.Errorf("shellEnv modified its input: %q", in)
			}
			var paths []string
			for _, kv := range env {
				if p, ok := strings.CutPrefix(kv, "PATH="); ok {
					paths = append(paths, p)
				}
			}
			if len(paths) != 1 || paths[0] != tc.path {
				t.Errorf("PATH = %q, want [%q]", paths, tc.path)
			}
			if !slices.Contains(env, `PS1=netroot:\w# `) {
				t.Errorf("no netroot prompt in %q", env)
			}
		})
	}
}

func TestIsKeeper(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		cmdline string
		want    bool
	}{
		{"PID 1, /proc not mounted", []string{"/init"}, "", false},
		{"PID 1, /proc mounted", []string{"/init"}, "/init\x00", false},
		{"busybox init", []string{"/bbin/init"}, "/init\x00", false},
		{"plain keeper", []string{"@netroot-keeper", "init"}, "@netroot-keeper\x00init\x00", true},
		{"plain keeper, no /proc", []string{"@netroot-keeper"}, "", true},
		{"busybox keeper: dispatcher dropped argv[0]", []string{"init"}, "@netroot-keeper\x00init\x00", true},
		{"'@' only in a later argument", []string{"/init"}, "/init\x00@x\x00", false},
		{"empty args", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cmdline []byte
			if tc.cmdline != "" {
				cmdline = []byte(tc.cmdline)
			}
			if got := IsKeeper(tc.args, cmdline); got != tc.want {
				t.Errorf("IsKeeper(%q, %q) = %v, want %v", tc.args, tc.cmdline, got, tc.want)
			}
		})
	}
	for self, want := range map[string][]string{
		"/init":      {"@netroot-keeper", "init"},
		"/bbin/init": {"@netroot-keeper", "init"},
		"netroot":    {"@netroot-keeper", "netroot"},
	} {
		if got := KeeperArgs(self); !slices.Equal(got, want) {
			t.Errorf("KeeperArgs(%q) = %q, want %q", self, got, want)
		}
		if !IsKeeper(KeeperArgs(self), nil) {
			t.Errorf("IsKeeper does not know KeeperArgs(%q)", self)
		}
	}
}

// A keeper process started by its partner after switch_root under a
// busybox dispatcher has neither the '@' in os.Args nor /proc: its
// environment says it; PID 1's never does.
func TestIsPartnerKeeper(t *testing.T) {
	for _, tc := range []struct {
		pid  int
		role string
		want bool
	}{
		{4242, "guard", true},
		{4242, "keeper", true},
		{4242, "", false},
		{1, "guard", false}, // NETROOT_KEEPER_ROLE=guard on the kernel command line
	} {
		if got := IsPartnerKeeper(tc.pid, tc.role); got != tc.want {
			t.Errorf("IsPartnerKeeper(%d, %q) = %v, want %v", tc.pid, tc.role, got, tc.want)
		}
	}
}

func TestDistinctErrors(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	got := distinct([]error{nil, a, errors.New("a"), b, nil, a})
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("distinct = %v, want [a b]", got)
	}
	if distinct([]error{nil, nil}) != nil {
		t.Errorf("distinct of nils is not empty")
	}
}

func TestStepErrors(t *testing.T) {
	cause := errors.New("no carrier")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"step's hint", fail("ip", cause, "check ip="), "ip: no carrier — check ip="},
		{"no hint", fail("links", cause, ""), "links: no carrier"},
		{"the cause's hint wins", fail("ip", hint.Wrap(cause, "check the cable"), "check ip="), "ip: no carrier — check the cable"},
		{"the step named once", fail("keeper", errors.New("keeper: session 1 has no portal"), "x"), "keeper: session 1 has no portal — x"},
		{"several", errors.Join(fail("login", cause, "h1"), fail("login", errors.New("refused"), "h2")),
			"login: no carrier — h1\nlogin: refused — h2"},
		{"internal", errors.New("internal error: boom"), "internal error: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(tc.err); got != tc.want {
				t.Errorf("render = %q, want %q", got, tc.want)
			}
		})
	}
	if !errors.Is(fail("x", cause, ""), cause) {
		t.Errorf("a StepError does not unwrap to its cause")
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	files := DirFiles{Root: dir}
	if err := files.WriteFile("/etc/netroot/chap", []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := credentials(config.Auth{Username: "u", Password: config.SecretFile("/etc/netroot/chap")}, files.ReadFile)
	if err != nil || c.Username != "u" || c.Password != "s3cret" || c.Mutual() {
		t.Errorf("credentials = %v, %v", c, err)
	}
	_, err = credentials(config.Auth{Username: "u", Password: config.SecretFile("/etc/netroot/absent")}, files.ReadFile)
	if err == nil || !strings.Contains(err.Error(), "reading the CHAP password") {
		t.Errorf("a missing secret file: %v", err)
	}
}

func TestDirFiles(t *testing.T) {
	d := DirFiles{Root: t.TempDir()}
	for _, n := range []string{"/etc/cmdline.d/20-b.conf", "/etc/cmdline.d/10-a.conf"} {
		if err := d.WriteFile(n, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Glob("/etc/cmdline.d/*.conf")
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"/etc/cmdline.d/10-a.conf", "/etc/cmdline.d/20-b.conf"}) {
		t.Errorf("Glob = %q, %v", got, err)
	}
}

func TestReadConfigOrder(t *testing.T) {
	d := DirFiles{Root: t.TempDir()}
	for n, text := range map[string]string{
		"/etc/cmdline.d/20-b.conf": "rd.retry=20",
		"/etc/cmdline.d/10-a.conf": "rd.retry=10 " + scenario,
		"/proc/cmdline":            "rd.retry=30 console=ttyS0",
	} {
		if err := d.WriteFile(n, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, names, err := readConfig(d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"/etc/cmdline.d/10-a.conf", "/etc/cmdline.d/20-b.conf", "/proc/cmdline"}) {
		t.Errorf("sources %q", names)
	}
	if p.Boot.Retry != 30*time.Second {
		t.Errorf("rd.retry = %s: /proc/cmdline must win", p.Boot.Retry)
	}
}

func TestBootProcs(t *testing.T) {
	for _, tc := range []struct{ cpus, want int }{
		{0, 1}, // NumCPU never says 0; stay safe anyway
		{1, 1},
		{2, 2 + backgroundProcs},
		{64, 64 + backgroundProcs},
	} {
		if got := BootProcs(tc.cpus); got != tc.want {
			t.Errorf("BootProcs(%d) = %d, want %d", tc.cpus, got, tc.want)
		}
	}
}

// TestRootPathTargetGlobalCredentials: a root-path's target takes the
// credentials it does not give from rd.iscsi.username= & co., as dracut's
// iscsiroot.sh does (it reads them before parse_iscsi_root overrides them).
func TestRootPathTargetGlobalCredentials(t *testing.T) {
	global := config.Auth{Username: "u", Password: config.NewSecret("s3cret"), InUsername: "tu", InPassword: config.NewSecret("t4rget")}
	for _, tc := range []struct {
		name, rootPath       string
		user, inUser, reveal string // want; reveal: the password's
	}{
		{"none given", "iscsi:10.77.0.1::3260:1:" + targetIQN, "u", "tu", "s3cret"},
		{"one way given", "iscsi:own:0wnpass@10.77.0.1::3260:1:" + targetIQN, "own", "tu", "0wnpass"},
		{"both given", "iscsi:own:0wnpass:town:t0wn@10.77.0.1::3260:1:" + targetIQN, "own", "town", "0wnpass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &dhcp.Lease{Interface: "eth0", RootPath: tc.rootPath, Server: netip.MustParseAddr("10.77.0.1")}
			got, ok, err := rootPathTarget(l, global)
			if !ok || err != nil {
				t.Fatalf("rootPathTarget = %v, %v", ok, err)
			}
			pw, err := got.Auth.Password.Reveal(nil)
			if got.Auth.Username != tc.user || got.Auth.InUsername != tc.inUser || err != nil || pw != tc.reveal {
				t.Errorf("auth %s/%q, in %s; want %s/%q, in %s", got.Auth.Username, pw, got.Auth.InUsername, tc.user, tc.reveal, tc.inUser)
			}
		})
	}
	// The target's secret and ours the same: refused, neither shown.
	l := &dhcp.Lease{Interface: "eth0", RootPath: "iscsi:own:t4rget@10.77.0.1::3260:1:" + targetIQN, Server: netip.MustParseAddr("10.77.0.1")}
	if _, ok, err := rootPathTarget(l, global); ok || err == nil || strings.Contains(hint.Format(err), "t4rget") {
		t.Errorf("rootPathTarget with one secret both ways = %v, %v", ok, err)
	}
}
