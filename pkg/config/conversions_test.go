package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/netname"
)

// scenarioCmdline is integration/rig's ScenarioCmdline (issue 2's command
// line), copied: importing the rig would pull the QEMU harness into this
// package's tests.
const scenarioCmdline = "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " +
	"bond=bond0:eth0,eth1:mode=active-backup,miimon=100 " +
	"netroot=iscsi:10.77.0.1::3260:1:iqn.2010-01.org.example:root " +
	"rd.iscsi.initiator=iqn.2010-01.org.example:client root=LABEL=ISCSI_ROOT ro"

// acceptedCmdlines are command lines Parse must accept, each exercising
// conversions /init performs.
var acceptedCmdlines = []string{
	scenarioCmdline,
	scenarioCmdline + " console=ttyS0",
	// Bond options the bond step used to refuse, now applied.
	"root=LABEL=r bond=bond0:eth0,eth1:mode=802.3ad,miimon=100,lacp_rate=fast,lacp_active=on,coupled_control=off,peer_notif_delay=200,use_carrier=on,xmit_hash_policy=layer3+4 ip=bond0:dhcp",
	"root=LABEL=r bond=bond0:eth0,eth1:mode=active-backup,arp_interval=100,arp_ip_target=10.0.0.1;10.0.0.2,arp_validate=all,arp_missed_max=3,primary=eth1 ip=bond0:dhcp",
	// rd.iscsi.param: login keys (bare and open-iscsi names, hex), kernel settings, CHAP algorithms.
	"root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t rd.iscsi.param=node.session.iscsi.FirstBurstLength=0x10000 " +
		"rd.iscsi.param=MaxBurstLength=262144 rd.iscsi.param=node.conn[0].iscsi.HeaderDigest=CRC32C,None rd.iscsi.param=node.session.iscsi.ERL=0 " +
		"rd.iscsi.param=node.session.timeo.replacement_timeout=-1 rd.iscsi.param=node.conn[0].timeo.noop_out_interval=0 " +
		"rd.iscsi.param=node.session.initial_login_retry_max=4 rd.iscsi.param=ImmediateData=no",
	// A static ip= without an interface, on the one bond.
	"root=LABEL=r bond=bond0:eth0,eth1:mode=1,miimon=100 ip=10.0.0.2::10.0.0.1:255.255.255.0:::none netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t",
	"root=LABEL=r ip=10.0.0.2::10.0.0.1:24:h::none bootdev=eth1",
	// root=iscsi: and an iSCSI by-path root.
	"root=iscsi:10.0.0.1::3260:2:iqn.2015-01.com.example:t rd.iscsi.initiator=iqn.2015-01.com.example:i",
	"root=/dev/disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.2015-01.com.example:t-lun-1-part1 netroot=iscsi:10.0.0.1::3260:1:iqn.2015-01.com.example:t",
	"root=iscsi:[2001:db8::1]::::iqn.2009-06.dracut:target0 ip=[2001:db8::2]::[2001:db8::1]:64::eth0:none",
	// Filesystems, module lists.
	"root=UUID=x rootfstype=ext3 rd.driver.post=dm-mod rd.driver.pre=virtio_net",
	"root=LABEL=r ip=dhcp,dhcp6 netroot=dhcp",
	// netroot=dhcp: no ip= (DHCPv4 implied), one ip= of several, a list, the iBFT's network.
	"root=LABEL=r netroot=dhcp",
	"root=dhcp",
	"root=LABEL=r netroot=dhcp ip=eth0:dhcp6 ip=eth1:dhcp",
	"root=LABEL=r netroot=dhcp ip=eth0:dhcp6,dhcp",
	"root=LABEL=r netroot=dhcp ip=ibft",
	// A VLAN on a VLAN, listed before it: /init creates the parent first.
	"root=LABEL=r vlan=eth0.5.6:eth0.5 vlan=eth0.5:eth0 ip=eth0.5.6:dhcp",
	// rd.iscsi.target.ip: IPv4, IPv6 (bracketed or not), a host name.
	"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:t rd.iscsi.target.ip=[2001:db8::1] rd.iscsi.target.port=3261",
	"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:t rd.iscsi.target.ip=2001:db8::1",
	"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:t rd.iscsi.target.ip=filer.example.com",
	// rootflags=: mount(8)'s flag words, userspace's, the filesystem's data.
	"root=LABEL=r rootflags=noatime,nodiratime,relatime,nosuid,nodev,noexec,sync,lazytime,defaults,_netdev,nofail,x-systemd.device-timeout=30,comment=x,data=journal",
	// Static gateways on the link: in the prefix, the peer's, IPv6 link-local, /31.
	"root=LABEL=r ip=10.0.0.2:10.0.0.1:10.0.0.1:32::eth0:none",
	"root=LABEL=r ip=10.0.0.2:192.168.0.1/24:192.168.0.9:24::eth0:none",
	"root=LABEL=r ip=[2001:db8::2]::[fe80::1]:64::eth0:none",
	"root=LABEL=r ip=[2001:db8::2]::[2001:db8::1]:64::eth0:none",
	"root=LABEL=r ip=10.0.0.1::10.0.0.0:31::eth0:none",
	// rd.retry=0 without the network: nothing waits for it.
	"root=LABEL=r rd.retry=0",
	// One VLAN ID on two parents.
	"root=LABEL=r vlan=eth0.5:eth0 vlan=eth1.5:eth1 ip=eth0.5:dhcp ip=eth1.5:dhcp",
	"ip=10.0.0.5 netmask=255.255.255.0 gateway=10.0.0.1 ksdevice=eth0 root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t",
}

// checkConversions runs on a plan every conversion /init performs with
// it, through the same functions, and returns the first failure: what
// Parse accepts must never fail there.
func checkConversions(p *Plan) error {
	for _, b := range p.Net.Bonds {
		opts := make([]bond.Option, len(b.Options))
		for i, o := range b.Options {
			opts[i] = bond.Option{Name: o.Name, Value: o.Value}
		}
		if _, err := bond.Translate(b.Name, opts); err != nil {
			return fmt.Errorf("bond %s: bond.Translate: %w", b.Name, err)
		}
		if errs := bond.CheckOptions(opts, b.Slaves); len(errs) > 0 {
			return fmt.Errorf("bond %s: bond.CheckOptions: %v", b.Name, errs)
		}
	}
	s := p.ISCSI.Session
	if err := iscsi.CheckLoginParams(s.LoginKeys); err != nil {
		return fmt.Errorf("login keys: %w", err)
	}
	for _, a := range s.CHAPAlgorithms {
		if !a.Valid() {
			return fmt.Errorf("CHAP algorithm %v", a)
		}
	}
	if s.CmdsMax != nil && (*s.CmdsMax < 16 || *s.CmdsMax > 2048 || *s.CmdsMax&(*s.CmdsMax-1) != 0) {
		return fmt.Errorf("cmds_max %d", *s.CmdsMax)
	}
	if s.QueueDepth != nil && (*s.QueueDepth < 1 || *s.QueueDepth > 1024) {
		return fmt.Errorf("queue_depth %d", *s.QueueDepth)
	}
	kopts := s.KernelOptions(iscsi.KernelOptions{})
	initiator := p.ISCSI.Initiator
	if initiator == "" {
		initiator = DefaultInitiator(net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1})
	}
	for _, t := range p.ISCSI.Targets {
		host, _, err := net.SplitHostPort(t.Portal())
		if err != nil {
			return fmt.Errorf("portal %q: %w", t.Portal(), err)
		}
		// /init dials the host: an address, else a name to resolve.
		if _, err := netip.ParseAddr(host); err != nil && strings.ContainsAny(host, ":/,[] ") {
			return fmt.Errorf("portal %q: host %q is neither an address nor a name", t.Portal(), host)
		}
		name := t.Name
		if t.Discovery() {
			name = "iqn.2010-01.org.example:discovered" // /init logs in with the names the portal gives
		}
		sess := &iscsi.Session{Portal: t.Portal(), TargetName: name, InitiatorName: initiator,
			Params: iscsi.NegotiatedParams{HeaderDigest: "None", DataDigest: "None"}}
		if _, err := iscsi.KernelParams(sess, kopts); err != nil {
			return fmt.Errorf("target %s: iscsi.KernelParams: %w", t.Name, err)
		}
		if t.NetDev != "" && !supportNetDev {
			return fmt.Errorf("target %s: netdev %s", t.Name, t.NetDev)
		}
	}
	for _, m := range p.NeededModules() {
		if !validModuleName(m) || m != foldModule(m) {
			return fmt.Errorf("module %q", m)
		}
	}
	// /init: the loader refuses a blacklisted module it is asked for.
	for _, m := range p.neededModules() {
		if slices.Contains(p.Modules.Blacklist, m.name) {
			return fmt.Errorf("module %s is needed by %s but blacklisted", m.name, m.by)
		}
	}
	if fs := p.Root.FSType; fs != "" && blockdev.FSModule(fs) == "" {
		return fmt.Errorf("rootfstype=%s has no module in blockdev's table", fs)
	}
	for _, c := range p.Net.IP {
		// /init: static → netconf.ApplyStatic on the interface; otherwise
		// DHCPv4 must be among the methods.
		if c.Method == IPStatic {
			if c.Interface == "" || !c.Address.IsValid() || len(c.MoreMethods) > 0 {
				return fmt.Errorf("static ip= %+v", c)
			}
		} else {
			v4 := false
			for _, m := range append([]IPMethod{c.Method}, c.MoreMethods...) {
				switch {
				case m == IPDHCP || m == IPSingleDHCP:
					v4 = true
				case isIPv6Method(m) && supportIPv6:
				case isIPv6Method(m):
				default:
					return fmt.Errorf("ip= method %s", m)
				}
			}
			if !v4 && !supportIPv6 {
				return fmt.Errorf("ip= %+v: no DHCPv4", c)
			}
		}
		if c.MAC != nil && !supportIPMAC {
			return fmt.Errorf("ip= MAC %s", c.MAC)
		}
	}
	// /init: rootflags= is split by blockdev.ParseMountOptions; the kernel
	// refuses mount(8)'s flag words in the data (fs_context.c's
	// forbidden_sb_flag).
	o, err := blockdev.ParseMountOptions(p.Root.Flags)
	if err != nil {
		return fmt.Errorf("rootflags=%s: %w", p.Root.Flags, err)
	}
	for _, w := range strings.Split(o.Data, ",") {
		if slices.Contains(kernelForbiddenData, w) {
			return fmt.Errorf("rootflags=%s: the data %q holds %s, which the kernel refuses there", p.Root.Flags, o.Data, w)
		}
	}
	// /init: the network step's waits are bounded by rd.retry.
	if n := p.Net; p.Boot.Retry == 0 && (len(n.IP) > 0 || len(n.Bonds) > 0 || len(p.ISCSI.Targets) > 0 || n.NeedNet) {
		return errors.New("the network comes up with rd.retry=0")
	}
	// /init: the VLANs are created parents first; a cycle has no order.
	if _, err := OrderVLANs(p.Net.VLANs); err != nil {
		return err
	}
	// /init: netroot=dhcp (root=dhcp) fails the network step when no
	// DHCPv4 answer carried a root-path; the iBFT's NICs may run DHCPv4.
	if p.ISCSI.FromDHCP && !p.Net.IBFT && !slices.ContainsFunc(p.Net.IP, runsDHCP4) {
		return errors.New("netroot=dhcp, but no ip= runs DHCPv4")
	}
	// /init: the naming scheme is netname's; ip=ibft is Net.IBFT, never
	// an entry.
	if sc := p.Net.Names.Scheme; sc != "" {
		if _, err := netname.ParseScheme(sc); err != nil {
			return err
		}
	}
	for _, c := range p.Net.IP {
		if c.Method == IPIBFT || slices.Contains(c.MoreMethods, IPIBFT) {
			return fmt.Errorf("ip=ibft stored as an entry: %+v", c)
		}
	}
	spec := p.RootSpec()
	if p.Root.Kind == RootISCSI && p.Root.Value == "" {
		// root=dhcp: the spec exists once the DHCP target is added.
		if !supportDHCPRoot {
			return errors.New("root=dhcp accepted without supportDHCPRoot")
		}
		spec = p.RootSpec(Target{Server: "10.9.9.9", Port: 3260, Name: "iqn.2015-01.com.example:dhcp"})
	}
	sel, err := blockdev.ParseSelector(spec)
	if err != nil {
		return fmt.Errorf("root: blockdev.ParseSelector(%q): %w", spec, err)
	}
	// /init looks for the device the plan names: a label's, a UUID's
	// value reads back as the plan holds it.
	if k := p.Root.Kind; k != RootPath && k != RootISCSI && (rootKinds[sel.Kind] != k || sel.Value != p.Root.Value) {
		return fmt.Errorf("root: %s=%q reads back from %q as %s=%q", k, p.Root.Value, spec, sel.Kind, sel.Value)
	}
	return nil
}

// kernelForbiddenData are the words the kernel refuses in a mount's data
// string (fs/fs_context.c, forbidden_sb_flag).
var kernelForbiddenData = []string{"bind", "move", "private", "remount", "shared", "slave", "unbindable", "rec",
	"noatime", "relatime", "norelatime", "atime", "diratime", "nodiratime", "strictatime", "nostrictatime",
	"dev", "nodev", "exec", "noexec", "suid", "nosuid", "symfollow", "nosymfollow", "iversion", "noiversion"}

// sessionCmdline sets what only Plan.ISCSI.Session carries; Parse takes
// it once /init applies the Session (supportSession).
const sessionCmdline = "root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t " +
	"rd.iscsi.param=node.session.cmds_max=256 rd.iscsi.param=node.session.queue_depth=64 " +
	"rd.iscsi.param=node.session.auth.chap_algs=SHA3-256,SHA256,MD5 rd.iscsi.param=node.conn[0].timeo.login_timeout=10"

func TestPlanConversions(t *testing.T) {
	cls := acceptedCmdlines
	if supportSession {
		cls = append(cls, sessionCmdline)
	} else if _, err := Parse(proc(sessionCmdline)); err == nil {
		t.Errorf("Parse accepted settings only Plan.ISCSI.Session carries without supportSession")
	}
	for _, cl := range cls {
		p, err := Parse(proc(cl))
		if err != nil {
			t.Errorf("Parse(%q): %v", cl, err)
			continue
		}
		if err := checkConversions(p); err != nil {
			t.Errorf("%q: %v", cl, err)
		}
	}
}

// FuzzPlanConversions holds Parse to its promise: whatever it accepts,
// every conversion /init performs on the plan accepts too.
func FuzzPlanConversions(f *testing.F) {
	for _, s := range acceptedCmdlines {
		f.Add(s)
	}
	f.Add(sessionCmdline)
	for _, ex := range refusedExamples {
		f.Add(ex.cmdline)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Alone, and added to the scenario, so that a fuzzed parameter
		// meets a valid bond, address and target.
		for _, cl := range []string{s, scenarioCmdline + " " + s} {
			p, err := Parse(proc(cl))
			if err != nil {
				continue
			}
			if err := checkConversions(p); err != nil {
				t.Fatalf("Parse accepted %q, but /init's conversion fails: %v", cl, err)
			}
		}
	})
}

// refusedExamples are command lines /init cannot boot (issue 17) and the
// parameter the error must name.
var refusedExamples = []struct {
	cmdline, param string
}{
	{"root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t rd.iscsi.param=node.session.iscsi.FirstBurstLenght=65536", "node.session.iscsi.FirstBurstLength?"},
	{"root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t rd.iscsi.param=node.session.iscsi.MaxBurstLength=lots", "rd.iscsi.param=node.session.iscsi.MaxBurstLength=lots"},
	{"root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t rd.iscsi.param=node.session.iscsi.ERL=2", "ErrorRecoveryLevel"},
	{"root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t rd.iscsi.param=node.session.cmds_max=100", "node.session.cmds_max"},
	{"root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t rd.iscsi.param=node.session.auth.password=hunter2", "node.session.auth.password"},
	{"root=LABEL=r net.naming-scheme=v999", "net.naming-scheme=v999"},
	{"root=LABEL=r net.ifnames=0 bond=bond0:ens2,ens3", "ens2"},
	{"root=LABEL=r net.ifnames=maybe", "net.ifnames=maybe"},
	{"root=LABEL=r ip=eth0:dhcp netroot=dhcp6", "netroot=dhcp6"},
	{"root=LABEL=r ip=ibft,dhcp", "ip=ibft,dhcp"},
	{"root=LABEL=r ip=10.0.0.2::10.0.0.1:255.255.255.0:::none", "ip=10.0.0.2::10.0.0.1:255.255.255.0:::none"},
	{"root=LABEL=r bond=bond0:eth0,eth1:mode=4,ad_select=actor_port_prio", "ad_select"},
	{"root=LABEL=r bond=bond0:eth0,eth1:missed_max=3", "missed_max"},
	{"root=LABEL=r bond=bond0:eth0,eth1:lacp_active=on", "lacp_active"},
	{"root=LABEL=r bond=bond0:eth0,eth1:mode=1,peer_notif_delay=100", "peer_notif_delay"},
	{"root=LABEL=r bond=bond0:eth0,eth1:coupled_control=on", "coupled_control"},
	{"root=LABEL=r bond=bond0:eth0,eth1:use_carrier=yes", "use_carrier"},
	{"root=/dev/disk/by-path/pci-0000:00:1f.2-ata-1-part1", "root=/dev/disk/by-path/pci-0000:00:1f.2-ata-1-part1"},
	{"root=LABEL=r rootfstype=f2fs", "rootfstype=f2fs"},
	{"root=LABEL=r ip=::::::dhcp::52:54:00:12:34:56", "<macaddr> needs the interface whose MAC address it sets"},
	{"root=LABEL=r ip=eth0:dhcp::01:00:5e:00:00:01", "01:00:5e:00:00:01 is a multicast address"},
	{"root=LABEL=r ip=eth0:dhcp::00:00:00:00:00:00", "00:00:00:00:00:00 is no NIC's address"},
	{"root=LABEL=r rd.lvm.lv=vg/root", "rd.lvm.lv=vg/root"},
	{"root=LABEL=r rd.iscsi.mp=1", "rd.iscsi.mp"},
	{"root=LABEL=r team=team0:eth0,eth1", "team"},
	{"root=LABEL=r rd.iscsi.initator=iqn.x", "rd.iscsi.initiator?"},
	{"root=LABEL=r netroot=iscsi:filer\x00::::iqn.2015-01.com.example:t", "neither an IP address nor a host name"},
	{"root=LABEL=r netroot=iscsi:fi/ler::::iqn.2015-01.com.example:t", "neither an IP address nor a host name"},
	// A blacklisted module the plan needs: /init's loader refuses it.
	{"root=LABEL=r rd.driver.pre=e1000e rd.driver.blacklist=e1000e", "rd.driver.blacklist=e1000e: conflicting parameters: e1000e is needed by rd.driver.pre="},
	{"root=LABEL=r rd.driver.post=dm-mod rd.driver.blacklist=dm_mod", "rd.driver.blacklist=dm_mod: conflicting parameters: dm_mod is needed by rd.driver.post="},
	{"root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t rd.driver.blacklist=nouveau,iscsi_tcp", "rd.driver.blacklist=nouveau,iscsi_tcp: conflicting parameters: iscsi_tcp is needed by"},
	{"root=LABEL=r rootfstype=ext3 rd.driver.blacklist=ext4", "ext4 is needed by rootfstype=ext3"},
	{"root=LABEL=r bond=bond0:eth0,eth1 ip=bond0:dhcp rd.driver.blacklist=bonding", "bonding is needed by bond="},
	{"root=LABEL=r vlan=eth0.5:eth0 ip=eth0.5:dhcp rd.driver.blacklist=8021q", "8021q is needed by vlan="},
	{"root=LABEL=r rd.iscsi.firmware=1 rd.driver.blacklist=iscsi_ibft", "iscsi_ibft is needed by"},
	// The DHCP root-path with no ip= that runs DHCPv4: no answer can carry it.
	{"root=LABEL=r netroot=dhcp ip=eth0:dhcp6", "netroot=dhcp: conflicting parameters: netroot=dhcp takes the target from a DHCPv4 answer's root-path"},
	{"root=LABEL=r netroot=dhcp ip=10.0.0.2::10.0.0.1:24::eth0:none", "netroot=dhcp: conflicting parameters"},
	{"root=dhcp ip=eth0:dhcp6", "root=dhcp: conflicting parameters: root=dhcp takes the target"},
	{"root=/dev/root netroot=dhcp ip=eth0:auto6", "netroot=dhcp: conflicting parameters"},
	// Two VLANs of one ID on one parent: the kernel refuses the second (EEXIST).
	{"root=LABEL=r vlan=vlan100:eth0 vlan=eth0.100:eth0", "vlan=eth0.100:eth0: conflicting parameters: VLAN 100 on eth0 is already created by vlan=vlan100:eth0"},
	{"root=LABEL=r vlan=vlan0005:bond0 vlan=bond0.5:bond0 bond=bond0:eth0,eth1", "VLAN 5 on bond0 is already created by vlan=vlan0005:bond0"},
	// VLANs on each other in a cycle: none has a parent to be created on.
	{"root=LABEL=r vlan=a.5:b.6 vlan=b.6:a.5 ip=a.5:dhcp", "vlan: conflicting parameters: VLANs on each other in a cycle (a.5 on b.6 on a.5)"},
	// A bond slave that is a VLAN: /init enslaves before it creates VLANs.
	{"root=LABEL=r bond=bond0:eth0.5,eth1 vlan=eth0.5:eth0 ip=bond0:dhcp", "bond=bond0: conflicting parameters: slave eth0.5 is a VLAN (vlan=eth0.5)"},
	// rd.iscsi.target.ip is one address or host name, as netroot='s <servername>.
	{"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:t rd.iscsi.target.ip=10.0.0.1:3260", "rd.iscsi.target.ip=10.0.0.1:3260: syntax error: server \"10.0.0.1:3260\" is neither an IP address nor a host name: give the port with rd.iscsi.target.port="},
	{"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:t rd.iscsi.target.ip=[2001:db8::1]:3260", "give the port with rd.iscsi.target.port="},
	{"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:t rd.iscsi.target.ip=10.0.0.1,10.0.0.2", "rd.iscsi.target.ip=10.0.0.1,10.0.0.2: syntax error: one portal only"},
	{"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:t rd.iscsi.target.ip=fi/ler", "neither an IP address nor a host name"},
	{"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:t rd.iscsi.target.ip=::]", "brackets go around a whole IPv6 address"},
	{"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:t rd.iscsi.target.ip=[fd77::1", "brackets go around a whole IPv6 address"},
	{"root=LABEL=r netroot=iscsi:[[fd77::1]::3260:1:iqn.2020-01.com.example:t", "brackets go around a whole IPv6 address"},
	// mount(8)'s operations are no way to mount the root.
	{"root=LABEL=r rootflags=noatime,bind", "rootflags=noatime,bind: not supported: \"bind\" is an operation of mount(8)"},
	// A static gateway the kernel has no route to: the default route fails.
	{"root=LABEL=r ip=10.0.0.2::192.168.1.1:24::eth0:none", "ip=10.0.0.2::192.168.1.1:24::eth0:none: conflicting parameters: the gateway 192.168.1.1 is outside 10.0.0.0/24"},
	{"root=LABEL=r ip=10.0.0.2::10.0.0.1:32::eth0:none", "the gateway 10.0.0.1 is outside 10.0.0.2/32"},
	{"root=LABEL=r ip=10.0.0.2::10.0.0.2:24::eth0:none", "the gateway 10.0.0.2 is the address itself"},
	{"root=LABEL=r ip=[2001:db8::2]::[2001:db8:1::1]:64::eth0:none", "the gateway 2001:db8:1::1 is outside 2001:db8::/64"},
	{"root=LABEL=r ip=10.0.0.5 netmask=255.255.255.0 gateway=10.0.1.1 ksdevice=eth0", "ip=10.0.0.5: conflicting parameters: the gateway 10.0.1.1 is outside 10.0.0.0/24"},
	{"root=LABEL=r ip=10.0.0.2:10.0.9.1:10.0.0.1:32::eth0:none", "the gateway 10.0.0.1 is outside 10.0.9.1/32"},
	// '/' in an iSCSI name: no by-path name for its disk (and RFC 3722 has none).
	{"root=iscsi:10.0.0.1::::iqn.2020-01.com.example:a/b", "root=iscsi:10.0.0.1::::iqn.2020-01.com.example:a/b: syntax error: target name \"iqn.2020-01.com.example:a/b\" contains '/'"},
	{"root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2020-01.com.example:a/b", "netroot=iscsi:10.0.0.1::::iqn.2020-01.com.example:a/b: syntax error"},
	{"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:a/b rd.iscsi.target.ip=10.0.0.1", "rd.iscsi.target.name=iqn.2020-01.com.example:a/b: syntax error"},
	{"root=LABEL=r rd.iscsi.initiator=iqn.2020-01.com.example:h/1", "rd.iscsi.initiator=iqn.2020-01.com.example:h/1: syntax error: initiator name"},
	// rd.retry=0 gives every network wait an expired deadline.
	{"root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t rd.retry=0", "rd.retry=0: conflicting parameters: 0 seconds"},
	{"root=LABEL=r ip=eth0:dhcp rd.retry=00", "rd.retry=00: conflicting parameters"},
}

func TestRefusedExamples(t *testing.T) {
	for _, ex := range refusedExamples {
		_, err := Parse(proc(ex.cmdline))
		if err == nil {
			t.Errorf("Parse(%q) accepted it", ex.cmdline)
			continue
		}
		if !strings.Contains(err.Error(), ex.param) {
			t.Errorf("Parse(%q) = %v\nwant it to name %q", ex.cmdline, err, ex.param)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}

// TestNoSilentParameter: every parameter of the table that is not acted
// on is reported: a warning naming it, or an error naming it; the no-ops
// and the off forms are quiet.
func TestNoSilentParameter(t *testing.T) {
	for _, prm := range Parameters() {
		name := strings.Replace(prm.Name, ".*", ".x", 1)
		on := "root=LABEL=r " + name + "=1"
		off := "root=LABEL=r " + name + "=0"
		switch prm.Verdict {
		case Warned:
			p, err := Parse(proc(on))
			if err != nil {
				t.Errorf("%s: %v", on, err)
				continue
			}
			if len(p.Warnings) != 1 || !strings.HasPrefix(p.Warnings[0].Param, name) || p.Warnings[0].Note != prm.Doc {
				t.Errorf("%s: warnings %v", on, p.Warnings)
			}
		case Refused, OffOnly:
			_, err := Parse(proc(on))
			if err == nil || !strings.Contains(err.Error(), name) || !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s: err = %v", on, err)
			}
			if prm.Verdict == OffOnly {
				if p, err := Parse(proc(off)); err != nil || len(p.Warnings) != 0 {
					t.Errorf("%s: %v, warnings %v", off, err, p)
				}
			}
		case NoOp:
			if p, err := Parse(proc("root=LABEL=r " + name)); err != nil || len(p.Warnings) != 0 {
				t.Errorf("%s: %v", name, err)
			}
		case Acted:
		default:
			t.Errorf("%s: verdict %q", prm.Name, prm.Verdict)
		}
	}
	// An rd.* parameter netroot does not know is a warning with a hint;
	// in the iSCSI namespace, an error.
	p := mustParse(t, proc("root=LABEL=r rd.needent=1"))
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0].Note, "did you mean rd.neednet?") {
		t.Errorf("unknown rd.*: %v", p.Warnings)
	}
}

func TestWarnings(t *testing.T) {
	base := "root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t "
	for _, tc := range []struct{ cl, param string }{
		{base + "netroot=iscsi:10.0.0.2::::iqn.2015-01.com.example:u", "rd.iscsi.testroute"},
		{base + "rd.iscsi.target.group=2", "rd.iscsi.target.group"},
		{base + "hostname=h", "hostname"},
		{base + "rd.break=cmdline", "rd.break=cmdline"},
		{base + "biosdevname=1", "biosdevname=1"},
		{base + "rd.iscsi.param=node.session.timeo.replacement_timeout=0", "rd.iscsi.param=node.session.timeo.replacement_timeout=0"},
		{"root=LABEL=r netroot=iscsi:10.0.0.1::3260:myiface::0:iqn.2015-01.com.example:t", "netroot <iscsi_iface_name> myiface"},
		{"root=LABEL=r ip=eth0:dhcp netroot=iscsi:10.0.0.1::3260::eth1:0:iqn.2015-01.com.example:t", "netroot <netdev_name> eth1"},
	} {
		p, err := Parse(proc(tc.cl))
		if err != nil {
			t.Errorf("%s: %v", tc.cl, err)
			continue
		}
		found := false
		for _, w := range p.Warnings {
			found = found || w.Param == tc.param
		}
		if !found {
			t.Errorf("%s: warnings %v, want one for %s", tc.cl, p.Warnings, tc.param)
		}
	}
	// The defaults and what netroot does anyway are quiet.
	for _, cl := range []string{scenarioCmdline, base + "rd.iscsi.waitnet=1 rd.iscsi.testroute=0 biosdevname=0 rd.iscsi.transport=tcp", base + "rd.iscsi.waitnet=0",
		"root=LABEL=r ip=eth0:dhcp ip=eth1:dhcp netroot=iscsi:10.0.0.1::3260::eth1:0:iqn.2015-01.com.example:t"} {
		if p := mustParse(t, proc(cl)); len(p.Warnings) != 0 {
			t.Errorf("%s: warnings %v", cl, p.Warnings)
		}
	}
}

func TestStaticInterface(t *testing.T) {
	for _, tc := range []struct{ cl, want string }{
		{"root=LABEL=r bond=bond0:eth0,eth1 ip=10.0.0.2::10.0.0.1:24:::none", "bond0"},
		{"root=LABEL=r bond=bond0:eth0,eth1 vlan=bond0.5:bond0 ip=10.0.0.2::10.0.0.1:24:::none", "bond0.5"},
		{"root=LABEL=r ip=10.0.0.2::10.0.0.1:24:::none bootdev=eth3", "eth3"},
		{"root=LABEL=r ip=10.0.0.2 netmask=24 bond=bond1:eth0,eth1", "bond1"},
		// The PXE NIC's, named once it is found by its MAC (as dracut's
		// ifup applies it to the NIC it runs for).
		{"root=LABEL=r ip=10.0.0.2::10.0.0.1:24:::none BOOTIF=01-52-54-00-12-34-56", ""},
		{"root=LABEL=r ip=10.0.0.2 netmask=24 BOOTIF=01-52-54-00-12-34-56", ""},
		{"root=LABEL=r ip=10.0.0.2::10.0.0.1:24:::none BOOTIF=01-52-54-00-12-34-56 bootdev=eth3", "eth3"},
	} {
		p := mustParse(t, proc(tc.cl))
		if got := p.Net.IP[0].Interface; got != tc.want {
			t.Errorf("%s: interface %q, want %q", tc.cl, got, tc.want)
		}
	}
	for _, cl := range []string{
		"root=LABEL=r ip=10.0.0.2::10.0.0.1:24:::none",
		"root=LABEL=r bond=bond0:eth0,eth1 bond=bond1:eth2,eth3 ip=10.0.0.2::10.0.0.1:24:::none",
		"root=LABEL=r ip=10.0.0.2 netmask=24 BOOTIF=01-52-54-00-12-34-56 rd.bootif=0",
	} {
		if _, err := Parse(proc(cl)); err == nil || !errors.Is(err, ErrMissing) {
			t.Errorf("%s: err = %v", cl, err)
		}
	}
}

func TestRootSpecFound(t *testing.T) {
	nt := Target{Server: "10.0.0.2", Port: 3260, Name: "iqn.2015-01.com.example:d", LUN: 3}
	p := mustParse(t, proc("root=LABEL=r netroot=dhcp"))
	if got := p.RootSpec(nt); got != "LABEL=r" {
		t.Errorf("root=LABEL=r: RootSpec = %q", got)
	}
	// A root that is the DHCP target's LUN (root=dhcp) is its by-path name,
	// once the boot found the target; the plan is not changed.
	for _, cl := range []string{"root=dhcp", "root=/dev/root netroot=dhcp"} {
		q := mustParse(t, proc(cl))
		if got := q.RootSpec(); got != "" {
			t.Errorf("%s: RootSpec() = %q before the target is found", cl, got)
		}
		want := "/dev/disk/by-path/ip-10.0.0.2:3260-iscsi-iqn.2015-01.com.example:d-lun-3"
		if got := q.RootSpec(nt); got != want {
			t.Errorf("%s: RootSpec = %q, want %q", cl, got, want)
		}
		if q.Root.Value != "" || len(q.ISCSI.Targets) != 0 {
			t.Errorf("%s: RootSpec changed the plan: %+v %+v", cl, q.Root, q.ISCSI.Targets)
		}
		if _, err := blockdev.ParseSelector(q.RootSpec(nt)); err != nil {
			t.Error(err)
		}
	}
}
