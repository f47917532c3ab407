package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/blockdev"
)

func proc(s string) Source { return Source{Name: "/proc/cmdline", Text: s} }

func mustParse(t *testing.T, srcs ...Source) *Plan {
	t.Helper()
	p, err := Parse(srcs...)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestParseDefaults(t *testing.T) {
	p := mustParse(t, proc("root=LABEL=root"))
	if !p.Boot.Shell || p.Boot.Emergency != EmergencyShell || p.Boot.Retry != 180*time.Second || p.Boot.Timeout != 0 {
		t.Errorf("boot defaults: %+v", p.Boot)
	}
	if !reflect.DeepEqual(p.Root, Root{Kind: RootLabel, Value: "root", Init: "/sbin/init"}) {
		t.Errorf("root: %+v", p.Root)
	}
	if !p.Net.PeerDNS || p.Net.NeedNet || !p.ISCSI.TestRoute || p.ISCSI.WaitNet != WaitNetGrace || p.ISCSI.LoginRetryMax != 0 || p.Modules.Params == nil {
		t.Errorf("defaults: %+v %+v %+v", p.Net, p.ISCSI, p.Modules)
	}
	if len(p.Net.IP) != 0 {
		t.Errorf("no network needed, yet ip: %+v", p.Net.IP)
	}
}

func TestParseRoot(t *testing.T) {
	// dracut.cmdline(7)'s root= examples.
	tests := map[string]Root{
		"/dev/sda1":               {Kind: RootPath, Value: "/dev/sda1"},
		"/dev/disk/by-label/Root": {Kind: RootLabel, Value: "Root"},
		"LABEL=Root":              {Kind: RootLabel, Value: "Root"},
		"/dev/disk/by-uuid/3f5ad593-4546-4a94-a374-bcfb68aa11f7": {Kind: RootUUID, Value: "3f5ad593-4546-4a94-a374-bcfb68aa11f7"},
		"UUID=3f5ad593-4546-4a94-a374-bcfb68aa11f7":              {Kind: RootUUID, Value: "3f5ad593-4546-4a94-a374-bcfb68aa11f7"},
		"PARTUUID=3f5ad593-4546-4a94-a374-bcfb68aa11f7":          {Kind: RootPartUUID, Value: "3f5ad593-4546-4a94-a374-bcfb68aa11f7"},
		`/dev/disk/by-label/my\x2froot\x20fs`:                    {Kind: RootLabel, Value: "my/root fs"},
		"/dev/disk/by-partlabel/sys":                             {Kind: RootPartLabel, Value: "sys"},
		"/dev/disk/by-partuuid/abcd-01":                          {Kind: RootPartUUID, Value: "abcd-01"},
		"block:/dev/vda2":                                        {Kind: RootPath, Value: "/dev/vda2"},
		`"LABEL=a b"`:                                            {Kind: RootLabel, Value: "a b"},
		`LABEL=My\x20Root`:                                       {Kind: RootLabel, Value: "My Root"},
		`PARTLABEL=EFI\x20System`:                                {Kind: RootPartLabel, Value: "EFI System"},
		`/dev/disk/by-label/a\x5cx20b`:                           {Kind: RootLabel, Value: `a\x20b`},
	}
	for in, want := range tests {
		p := mustParse(t, proc("root="+in))
		want.Init = "/sbin/init"
		if !reflect.DeepEqual(p.Root, want) {
			t.Errorf("root=%s: %+v, want %+v", in, p.Root, want)
		}
		// /init reads the spec back with blockdev.ParseSelector.
		if sel, err := blockdev.ParseSelector(p.RootSpec()); err != nil || sel.Value != want.Value && want.Kind != RootPath {
			t.Errorf("root=%s: RootSpec %q reads back as %+v, %v", in, p.RootSpec(), sel, err)
		}
	}
	// LVM's /dev/<vg>/<lv>, as /dev/mapper/…: not assembled, refused
	// naming LVM (a kernel name would never appear).
	for _, in := range []string{"/dev/mapper/rhel-root", "/dev/rhel/root"} {
		if _, err := Parse(proc("root=" + in)); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "LVM") {
			t.Errorf("root=%s: %v, want not supported naming LVM", in, err)
		}
	}
	// An iSCSI disk's by-path name, when a target of the command line has
	// that portal, name and LUN.
	bp := "/dev/disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.2015-01.com.example:t-lun-1-part2"
	p := mustParse(t, proc("root="+bp+" netroot=iscsi:10.0.0.1::3260:1:iqn.2015-01.com.example:t"))
	if p.Root.Kind != RootPath || p.Root.Value != bp || p.RootSpec() != bp {
		t.Errorf("by-path root: %+v", p.Root)
	}
	for _, in := range []string{"", "root=", "root=sda1", "root=nfs:1.2.3.4:/x", "root=/dev/nfs", "root=UUID=", "root=live:LABEL=x",
		"root=/dev/disk/by-path/pci-0000:00:1f.1-scsi-0:0:1:0-part1", "root=/dev/disk/by-id/wwn-0x5000c500a1b2c3d4",
		"root=PARTUUID=abcd-01/PARTNROFF=1", "root=/dev/mapper/vg-root", "root=/dev/root", `root=LABEL=C:\Windows`,
		"root=" + bp + " netroot=iscsi:10.0.0.1::3260:2:iqn.2015-01.com.example:t"} {
		if _, err := Parse(proc(in)); err == nil {
			t.Errorf("Parse(%q): want an error", in)
		}
	}
}

// TestParseLegacyISCSIRoot: dracut's deprecated iscsiroot=<value> is
// netroot=iscsi:<value> with a warning, where parse-iscsiroot.sh takes
// it: with root=iscsi (the whole LUN is the root) or a bare netroot=iscsi;
// elsewhere dracut dies, and so does check.
func TestParseLegacyISCSIRoot(t *testing.T) {
	const tgt = "10.0.0.1::3261:1:iqn.2015-01.com.example:t"
	want := Target{Server: "10.0.0.1", Port: 3261, LUN: 1, Group: 1, Name: "iqn.2015-01.com.example:t"}
	deprecated := func(p *Plan) bool {
		for _, w := range p.Warnings {
			if w.Param == "iscsiroot" && strings.Contains(w.Note, "deprecated") && strings.Contains(w.Note, "netroot=") {
				return true
			}
		}
		return false
	}
	p := mustParse(t, proc("root=iscsi iscsiroot="+tgt))
	if p.Root.Kind != RootISCSI || p.Root.Value != "/dev/disk/by-path/"+ISCSIPath(want) || len(p.ISCSI.Targets) != 1 ||
		!reflect.DeepEqual(p.ISCSI.Targets[0], want) || !p.Net.NeedNet || !deprecated(p) {
		t.Errorf("root=iscsi iscsiroot=: %+v %+v %q", p.Root, p.ISCSI.Targets, p.Warnings)
	}
	p = mustParse(t, proc("root=LABEL=r netroot=iscsi iscsiroot="+tgt))
	if p.Root.Kind != RootLabel || len(p.ISCSI.Targets) != 1 || !reflect.DeepEqual(p.ISCSI.Targets[0], want) ||
		p.ISCSI.Firmware || p.Net.IBFT || !deprecated(p) {
		t.Errorf("netroot=iscsi iscsiroot=: %+v %+v %q", p.Root, p.ISCSI, p.Warnings)
	}
	// Its credentials are a root path's, never shown.
	p = mustParse(t, proc("root=LABEL=r netroot=iscsi iscsiroot=u:s3cr3t@"+tgt))
	if a := p.ISCSI.Targets[0].Auth; a.Username != "u" || strings.Contains(p.Describe()+fmt.Sprint(p.Warnings), "s3cr3t") {
		t.Errorf("iscsiroot= with credentials: %+v", a)
	}
	// Nor when it is an argument of the real init (FuzzParse finding).
	if d := mustParse(t, proc("root=LABEL=r -- iscsiroot=u:s3cr3t@"+tgt)).Describe(); strings.Contains(d, "s3cr3t") {
		t.Errorf("an init argument iscsiroot= shows its secret:\n%s", d)
	}
	for _, cl := range []string{
		"root=LABEL=r iscsiroot=" + tgt, // dracut: only with root=iscsi or netroot=iscsi
		"root=LABEL=r netroot=iscsi:10.0.0.2::::iqn.2015-01.com.example:u iscsiroot=" + tgt, // a netroot= target already
		"root=LABEL=r netroot=dhcp iscsiroot=" + tgt,
		"root=iscsi:10.0.0.2::::iqn.2015-01.com.example:u iscsiroot=" + tgt,
		"root=iscsi rd.iscsi.firmware=1 iscsiroot=" + tgt, // "Mixing iscsiroot and iscsi_firmware is dangerous"
		"root=LABEL=r netroot=iscsi iscsi_firmware iscsiroot=" + tgt,
		"root=iscsi iscsiroot=u:s3cr3t@10.0.0.1::3261:x:iqn.2015-01.com.example:t", // bad LUN
	} {
		_, err := Parse(proc(cl))
		if err == nil || !strings.Contains(err.Error(), "iscsiroot") {
			t.Errorf("Parse(%q) = %v, want an error naming iscsiroot", cl, err)
		} else if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Parse(%q): the error shows the secret: %v", cl, err)
		}
	}
}

func TestParseISCSIRootForms(t *testing.T) {
	// root=iscsi:… : the whole LUN, target first.
	p := mustParse(t, proc("root=iscsi:192.168.50.1::::iqn.2009-06.dracut:target0 netroot=iscsi:192.168.50.1::::iqn.2009-06.dracut:target1"))
	if p.Root.Kind != RootISCSI || len(p.ISCSI.Targets) != 2 || p.ISCSI.Targets[0].Name != "iqn.2009-06.dracut:target0" || !p.Net.NeedNet {
		t.Errorf("root=iscsi: %+v %+v", p.Root, p.ISCSI.Targets)
	}
	if len(p.Net.IP) != 1 || !p.Net.IP[0].Implicit || p.Net.IP[0].Method != IPDHCP {
		t.Errorf("implicit dhcp: %+v", p.Net.IP)
	}
	if p.Root.Spec() != "/dev/disk/by-path/ip-192.168.50.1:3260-iscsi-iqn.2009-06.dracut:target0-lun-0" {
		t.Errorf("root=iscsi: spec %q", p.Root.Spec())
	}
	// Several netroot=, root=UUID.
	p = mustParse(t, proc("root=UUID=12424547 netroot=iscsi:192.168.50.1::::iqn.2009-06.dracut:target0 netroot=iscsi:192.168.50.1::::iqn.2009-06.dracut:target1"))
	if p.Root.Kind != RootUUID || len(p.ISCSI.Targets) != 2 || p.ISCSI.Targets[1].Name != "iqn.2009-06.dracut:target1" {
		t.Errorf("netroot x2: %+v %+v", p.Root, p.ISCSI.Targets)
	}
	// root=dhcp: the whole LUN of the DHCP root-path.
	for _, cl := range []string{"root=/dev/root netroot=dhcp", "root=dhcp"} {
		if p, err := Parse(proc(cl)); err != nil || p.Root.Kind != RootISCSI || !p.ISCSI.FromDHCP {
			t.Errorf("%s: %+v, %v", cl, p, err)
		}
	}
	p = mustParse(t, proc("root=LABEL=r netroot=dhcp"))
	if !p.ISCSI.FromDHCP || p.Root.Kind != RootLabel {
		t.Errorf("netroot=dhcp with a label: %+v %+v", p.ISCSI, p.Root)
	}
	// rd.iscsi.target.* and the global credentials.
	p = mustParse(t, proc("root=LABEL=r netroot=iscsi rd.iscsi.initiator=iqn.2015-01.com.example:host rd.iscsi.target.name=iqn.2015-01.com.example:t rd.iscsi.target.ip=10.0.0.1 rd.iscsi.target.port=3261 rd.iscsi.target.group=2 rd.iscsi.username=u rd.iscsi.password=@/etc/netroot/chap rd.iscsi.in.username=tu rd.iscsi.in.password=tp"))
	want := Target{Server: "10.0.0.1", Port: 3261, Group: 1, AnyLUN: true, Name: "iqn.2015-01.com.example:t",
		Auth: Auth{Username: "u", Password: SecretFile("/etc/netroot/chap"), InUsername: "tu", InPassword: NewSecret("tp")}}
	if len(p.ISCSI.Targets) != 1 || !reflect.DeepEqual(p.ISCSI.Targets[0], want) || p.ISCSI.Initiator != "iqn.2015-01.com.example:host" {
		t.Errorf("rd.iscsi.target: %+v", p.ISCSI)
	}
	if len(p.Warnings) != 1 || p.Warnings[0].Param != "rd.iscsi.target.group" {
		t.Errorf("rd.iscsi.target.group: warnings %v", p.Warnings)
	}
	// Own credentials win; rd.iscsi.in.* fill in mutual CHAP for two fields.
	p = mustParse(t, proc("root=LABEL=r rd.iscsi.username=gu rd.iscsi.password=gp rd.iscsi.in.username=tu rd.iscsi.in.password=tp netroot=iscsi:u:p@10.0.0.1::::iqn.2015-01.com.example:t netroot=iscsi:10.0.0.2::::iqn.2015-01.com.example:t2"))
	if a := p.ISCSI.Targets[0].Auth; a.Username != "u" || a.InUsername != "tu" {
		t.Errorf("own credentials: %+v", a)
	}
	if a := p.ISCSI.Targets[1].Auth; a.Username != "gu" || a.Method() != "mutual CHAP" {
		t.Errorf("global credentials: %+v", a)
	}
}

func TestParseOverrideOrder(t *testing.T) {
	baked := Source{Name: "/etc/cmdline.d/10-netroot.conf", Text: "# baked by mkinitramfs\nrd.retry=30 rd.shell=0\nnetroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:a\nroot=LABEL=baked\n"}
	p := mustParse(t, baked, proc("BOOT_IMAGE=/vmlinuz root=LABEL=cmdline rd.retry=60 netroot=iscsi:10.0.0.2::::iqn.2015-01.com.example:b console=ttyS0"))
	if p.Root.Value != "cmdline" || p.Boot.Retry != 60*time.Second || p.Boot.Shell || p.Boot.Emergency != EmergencyPoweroff {
		t.Errorf("override: %+v %+v", p.Root, p.Boot)
	}
	if len(p.ISCSI.Targets) != 2 || p.ISCSI.Targets[0].Server != "10.0.0.1" || p.ISCSI.Targets[1].Server != "10.0.0.2" {
		t.Errorf("accumulate: %+v", p.ISCSI.Targets)
	}
	// An invalid value that a later one overrides is not an error (getarg).
	mustParse(t, Source{Name: "a.conf", Text: "rd.retry=abc"}, proc("root=LABEL=x rd.retry=5"))
	// ro/rw: last wins.
	if p := mustParse(t, proc("ro root=LABEL=x rw")); !p.Root.ReadWrite {
		t.Error("rw after ro")
	}
	if p := mustParse(t, proc("rw root=LABEL=x ro")); p.Root.ReadWrite {
		t.Error("ro after rw")
	}
}

func TestParseEverything(t *testing.T) {
	cl := `BOOT_IMAGE=/vmlinuz-6.1 initrd=initrd.img console=ttyS0,115200 quiet loglevel=3
	root=UUID=3f5ad593 rootfstype=xfs rootflags=noatime,nobarrier rw init=/usr/lib/systemd/systemd
	ifname=nic0:52:54:00:00:00:01 ifname=nic1:52:54:00:00:00:02 BOOTIF=01-52-54-00-00-00-01
	bond=bond0:nic0,nic1:mode=802.3ad,miimon=100,lacp_rate=fast:9000 vlan=bond0.100:bond0
	ip=10.1.0.5::10.1.0.1:255.255.255.0:node5:bond0.100:none:10.1.0.53
	rd.route=10.2.0.0/16:10.1.0.254 nameserver=10.1.0.54 nameserver=[2001:db8::53] rd.peerdns=0
	netroot=iscsi:@10.1.0.10::3260::iqn.2015-01.com.example:store:node5@root
	rd.iscsi.initiator=iqn.2015-01.com.example:node5 rd.iscsi.param=node.session.timeo.replacement_timeout=30
	rd.iscsi.param=node.conn[0].iscsi.DataDigest=CRC32C rd.iscsi.login_retry_max=5 rd.iscsi.waitnet=1 rd.iscsi.testroute=0
	rd.shell=0 rd.emergency=reboot rd.break=pre-mount rd.break rd.retry=90 rd.timeout=600 rd.debug
	rd.driver.pre=bonding,8021q rd.driver.pre=virtio-net rd.driver.blacklist=nouveau rd.driver.post=dm-mod
	bonding.max_bonds=0 ixgbe.allow_unsupported_sfp=1 mlx4-core.debug_level=1 "e1000e.InterruptThrottleRate=3,3"
	rd.luks=0 rd.lvm.conf=0 rd.md=0 rd.live.image rd.iscsi.firmware=0 rd.break=initqueue rd.nfs.domain=x rd.plymouth=0 rd.nonvmf
	-- --single`
	p := mustParse(t, proc(cl))
	n := p.Net
	if len(n.Renames) != 2 || n.BootIF.String() != "52:54:00:00:00:01" || len(n.Bonds) != 1 || n.Bonds[0].MTU != 9000 ||
		len(n.VLANs) != 1 || n.VLANs[0].ID != 100 || len(n.IP) != 1 || n.IP[0].Address.String() != "10.1.0.5/24" ||
		len(n.IP[0].DNS) != 1 || len(n.Routes) != 1 || len(n.Nameservers) != 2 || n.PeerDNS || !n.NeedNet {
		t.Errorf("net: %+v", n)
	}
	if p.ISCSI.Targets[0].Name != "iqn.2015-01.com.example:store:node5@root" || p.ISCSI.LoginRetryMax != 5 || p.ISCSI.WaitNet != WaitNetAll || p.ISCSI.TestRoute || p.ISCSI.Firmware {
		t.Errorf("iscsi: %+v", p.ISCSI)
	}
	wantRoot := Root{Kind: RootUUID, Value: "3f5ad593", FSType: "xfs", Flags: "noatime,nobarrier", ReadWrite: true, Init: "/usr/lib/systemd/systemd", InitArgs: []string{"--single"}}
	if !reflect.DeepEqual(p.Root, wantRoot) {
		t.Errorf("root: %+v", p.Root)
	}
	wantBoot := Boot{Shell: false, Emergency: EmergencyReboot, Breaks: []string{"pre-mount", ""}, Retry: 90 * time.Second, Timeout: 600 * time.Second, Debug: true, Quiet: true, Keeper: true, OSConfig: true}
	if !reflect.DeepEqual(p.Boot, wantBoot) {
		t.Errorf("boot: %+v", p.Boot)
	}
	wantMods := Modules{Pre: []string{"bonding", "8021q", "virtio_net"}, Blacklist: []string{"nouveau"}, Post: []string{"dm_mod"},
		Params: map[string][]string{"bonding": {"max_bonds=0"}, "ixgbe": {"allow_unsupported_sfp=1"}, "mlx4_core": {"debug_level=1"}, "e1000e": {"InterruptThrottleRate=3,3"}}}
	if !reflect.DeepEqual(p.Modules, wantMods) {
		t.Errorf("modules: %+v", p.Modules)
	}
	var warned []string
	for _, w := range p.Warnings {
		warned = append(warned, w.Param)
	}
	if want := []string{"rd.live.image", "rd.break=initqueue", "rd.nfs.domain", "rd.plymouth", "rd.emergency=reboot"}; !reflect.DeepEqual(warned, want) {
		t.Errorf("warnings:\n got %q\nwant %q", warned, want)
	}
	if len(p.Ignored) != len(p.Warnings) || p.Ignored[0] != p.Warnings[0].String() {
		t.Errorf("Ignored %q", p.Ignored)
	}
	if got, want := p.NeededModules(), []string{"bonding", "8021q", "virtio_net", "iscsi_tcp", "sd_mod", "crc32c", "xfs", "dm_mod"}; !reflect.DeepEqual(got, want) {
		t.Errorf("NeededModules = %q, want %q", got, want)
	}
	d := p.Describe()
	for _, s := range []string{"bond bond0: slaves nic0,nic1, options mode=802.3ad miimon=100 lacp_rate=fast, mtu 9000",
		"vlan bond0.100: id 100 on bond0", "static 10.1.0.5/24", "portal 10.1.0.10:3260, every LUN (the <LUN> field is empty: the whole target, as dracut)", "route 10.2.0.0/16 via 10.1.0.254",
		"root: UUID=3f5ad593, type xfs, flags noatime,nobarrier (mount flags noatime; filesystem data nobarrier), rw", "session: replacement timeout 30s", "login keys offered: DataDigest=CRC32C", "emergency: reboot",
		"logins: once every ip= interface is up (rd.iscsi.waitnet=1)"} {
		if !strings.Contains(d, s) {
			t.Errorf("Describe lacks %q:\n%s", s, d)
		}
	}
}

// TestParseRootflags: rootflags= is mount(8)'s -o; its ro or rw decides
// only when the command line has neither (dracut appends them after it).
func TestParseRootflags(t *testing.T) {
	for _, tc := range []struct {
		args string
		rw   bool
		desc string
	}{
		{"", false, "root: LABEL=r, type auto, ro"},
		{"rootflags=noatime", false, "flags noatime (mount flags noatime), ro"},
		{"rootflags=rw,noatime", true, "flags rw,noatime (mount flags noatime), rw"},
		{"rootflags=rw ro", false, ", ro"},
		{"ro rootflags=rw", false, ", ro"},
		{"rootflags=ro rw", true, ", rw"},
		{"rootflags=ro,rw", true, ", rw"},
		{"rootflags=defaults", false, "flags defaults, ro"},
		{"rootflags=defaults,_netdev,x-systemd.device-timeout=5,subvol=@", false, "(filesystem data subvol=@; not the kernel's: _netdev,x-systemd.device-timeout=5), ro"},
	} {
		p, err := Parse(proc("root=LABEL=r " + tc.args))
		if err != nil {
			t.Errorf("%s: %v", tc.args, err)
			continue
		}
		if p.Root.ReadWrite != tc.rw {
			t.Errorf("%s: ReadWrite = %v, want %v", tc.args, p.Root.ReadWrite, tc.rw)
		}
		if d := p.Describe(); !strings.Contains(d, tc.desc) {
			t.Errorf("%s: Describe lacks %q:\n%s", tc.args, tc.desc, d)
		}
	}
}

// TestParseBootDevWithoutIP: bootdev= naming an interface no ip= names is
// brought up with DHCP, as dracut's parse-ip-opts.sh puts BOOTDEV first
// in its interfaces and ifup runs DHCP on it when no ip= is directed at
// it; an ip= it already takes is left alone.
func TestParseBootDevWithoutIP(t *testing.T) {
	dhcpOn := func(iface string) IPConfig { return IPConfig{Interface: iface, Method: IPDHCP, Implicit: true} }
	for _, tc := range []struct {
		cl    string
		added *IPConfig
	}{
		{"ip=eth0:dhcp bootdev=eth1", &IPConfig{Interface: "eth1", Method: IPDHCP, Implicit: true}},
		{"ip=10.0.0.2::10.0.0.1:24::eth0:none bootdev=eth1", &IPConfig{Interface: "eth1", Method: IPDHCP, Implicit: true}},
		{"ip=eth0:dhcp ip=eth2:dhcp6 bootdev=eth1", &IPConfig{Interface: "eth1", Method: IPDHCP, Implicit: true}},
		{"bond=bond0:eth0,eth1 ip=eth2:dhcp bootdev=bond0", &IPConfig{Interface: "bond0", Method: IPDHCP, Implicit: true}},
		{"ip=eth0:dhcp bootdev=eth0", nil},
		{"ip=dhcp bootdev=eth1", nil},                                                  // DHCP runs on bootdev already
		{"ip=10.0.0.2::10.0.0.1:24:::none bootdev=eth1", nil},                          // the static address goes to bootdev
		{"bootdev=eth1 " + "netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t", nil}, // the implied ip=dhcp runs on it
		{"bootdev=eth1", nil},                                                          // no network
	} {
		p, err := Parse(proc("root=LABEL=r " + tc.cl))
		if err != nil {
			t.Errorf("%s: %v", tc.cl, err)
			continue
		}
		added := slices.ContainsFunc(p.Net.IP, func(c IPConfig) bool { return reflect.DeepEqual(c, dhcpOn(p.Net.BootDev)) })
		if added != (tc.added != nil) {
			t.Errorf("%s: ip %+v, want DHCP added on bootdev: %v", tc.cl, p.Net.IP, tc.added != nil)
		}
		if tc.added != nil && !strings.Contains(p.Describe(), "address of "+tc.added.Interface+": dhcp (implied: bootdev=") {
			t.Errorf("%s: Describe lacks the implied DHCP:\n%s", tc.cl, p.Describe())
		}
	}
}

// TestParseEmergencyWithShell: rd.emergency= beside the shell (rd.shell on,
// its default, or rd.break) is taken at once by netroot, while dracut
// opens its shell first; check warns, and rd.shell=0 (which
// dracut.cmdline(7) asks for beside it) makes both the same.
func TestParseEmergencyWithShell(t *testing.T) {
	for _, tc := range []struct {
		cl   string
		warn bool
	}{
		{"rd.emergency=reboot", true},
		{"rd.emergency=poweroff rd.shell=1", true},
		{"rd.emergency=halt rd.shell=0 rd.break=pre-mount", true},
		{"rd.emergency=reboot rd.shell=0", false},
		{"rd.shell=0", false},
		{"", false},
	} {
		p, err := Parse(proc("root=LABEL=r " + tc.cl))
		if err != nil {
			t.Fatalf("%s: %v", tc.cl, err)
		}
		warned := slices.ContainsFunc(p.Warnings, func(w Warning) bool {
			return strings.HasPrefix(w.Param, "rd.emergency=") && strings.Contains(w.Note, "rd.shell=0")
		})
		if warned != tc.warn {
			t.Errorf("%q: warned %v, want %v: %q", tc.cl, warned, tc.warn, p.Warnings)
		}
	}
}

// TestParseNoGateway: 0.0.0.0 (::) in a gateway field is no gateway, as
// the kernel's ip= reads it, not one outside the prefix.
func TestParseNoGateway(t *testing.T) {
	for _, cl := range []string{
		"root=LABEL=x ip=10.0.0.2::0.0.0.0:255.255.255.0::eth0:none",
		"root=LABEL=x ip=[2001:db8::2]::[::]:64::eth0:none",
		"root=LABEL=x ip=10.0.0.5 netmask=255.255.255.0 gateway=0.0.0.0 ksdevice=eth0",
	} {
		p, err := Parse(proc(cl))
		if err != nil {
			t.Errorf("Parse(%q): %v", cl, err)
			continue
		}
		if c := p.Net.IP[0]; c.Gateway.IsValid() || !c.Address.IsValid() {
			t.Errorf("%s: %+v, want an address without a gateway", cl, c)
		}
	}
}

func TestParseAnaconda(t *testing.T) {
	p := mustParse(t, proc("root=LABEL=x ip=10.0.0.5 netmask=255.255.255.0 gateway=10.0.0.1 hostname=h ksdevice=eth1 mtu=9000"))
	c := p.Net.IP[0]
	if c.Address.String() != "10.0.0.5/24" || c.Gateway.String() != "10.0.0.1" || c.Hostname != "h" || c.Interface != "eth1" || c.MTU != 9000 || c.Method != IPStatic {
		t.Errorf("anaconda: %+v", c)
	}
	if _, err := Parse(proc("root=LABEL=x ip=10.0.0.5")); err == nil {
		t.Error("anaconda without netmask: want an error")
	}
}

func TestParseErrorsAll(t *testing.T) {
	cl := `ip=eth0:dhcp ip=dhcp bond=bond0:eth0,eth1:mode=9 netroot=iscsi:u:hunter2@10.0.0.1:::x:iqn.x rd.retry=abc rd.emergency=explode
	rd.break=nowhere rd.iscsi.pasword=x vlan=foo:eth0 rd.iscsi.password=s3cr3t rd.route=1.2.3.4 rd.driver.pre=a/b`
	_, err := Parse(proc(cl))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want Errors", err)
	}
	for _, want := range []string{"ip=dhcp", "bond=", "netroot=", "rd.retry=abc", "rd.emergency=explode", "rd.break=nowhere",
		"rd.iscsi.pasword", "vlan=foo:eth0", "rd.route=1.2.3.4", "rd.driver.pre=a/b", "root"} {
		found := false
		for _, e := range errs {
			if strings.Contains(e.Error(), want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error mentions %q:\n%v", want, err)
		}
	}
	for _, secret := range []string{"hunter2", "s3cr3t"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
	for _, e := range errs {
		if e.Param == "" || (e.Expected == "" && e.Err == nil) {
			t.Errorf("incomplete error %#v", e)
		}
	}
}

func TestParseCrossChecks(t *testing.T) {
	for _, cl := range []string{
		"root=LABEL=x bond=bond0:eth0,eth1 ip=eth0:dhcp",                       // address on a slave
		"root=LABEL=x bond=bond0:eth0,eth1 bond=bond1:eth1,eth2",               // slave twice
		"root=LABEL=x bond=bond0:eth0,eth1 bond=bond0:eth2,eth3",               // bond twice
		"root=LABEL=x ip=eth0:dhcp ip=eth0:dhcp6",                              // interface twice
		"root=LABEL=x ifname=a:52:54:00:00:00:01 ifname=b:52:54:00:00:00:01",   // MAC twice
		"root=LABEL=x ifname=a:52:54:00:00:00:01 ip=a:dhcp::52:54:00:00:00:02", // macaddr with ifname
		"root=LABEL=x rd.iscsi.target.ip=10.0.0.1",                             // no name
		"root=LABEL=x rd.iscsi.username=u netroot=iscsi:10.0.0.1::::iqn.x:y",   // user without password
		"root=LABEL=x rd.iscsi.username=u netroot=dhcp",                        // the same for the root-path's target
		"root=LABEL=x rd.iscsi.in.password=p netroot=dhcp6 ip=eth0:dhcp6",      // in.password without in.username
		"root=LABEL=x netroot=iscsi:10.0.0.1::::iqn.x:y netroot=iscsi:10.0.0.1::3260:0:iqn.x:y",
		"root=LABEL=x netroot=foo bar",
		"root=LABEL=x vlan=vlan5:eth0 bond=bond0:eth0,eth1",
	} {
		if _, err := Parse(proc(cl)); err == nil {
			t.Errorf("Parse(%q): want an error", cl)
		}
	}
	// Several ip= lines name their interfaces, set bootdev and need the network.
	if p, err := Parse(proc("root=LABEL=x ip=eth0:dhcp ip=192.168.1.2:::24:h:eth1:none")); err != nil || p.Net.BootDev != "eth0" || !p.Net.NeedNet {
		t.Errorf("multiple ip=: %+v, %v", p, err)
	}
}

func TestParseRefusedNetroot(t *testing.T) {
	p := mustParse(t, proc("root=LABEL=x rd.bootif=0 BOOTIF=01-52-54-00-00-00-01 rd.neednet"))
	if p.Net.BootIF != nil || !p.Net.NeedNet || len(p.Warnings) != 0 {
		t.Errorf("got %+v %q", p.Net, p.Warnings)
	}
	for _, cl := range []string{"root=LABEL=x netroot=nbd:10.0.0.1:root", "root=LABEL=x netroot=nfs:10.0.0.1:/r"} {
		if _, err := Parse(proc(cl)); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v, want not supported", cl, err)
		}
	}
}

// TestParseKeeper checks rd.netroot.keeper (on unless set to a false value)
// and rd.netroot.async_probe (off unless set to a true value).
func TestParseKeeper(t *testing.T) {
	base := "netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:a root=LABEL=r "
	for _, tc := range []struct {
		arg        string
		keeper, ap bool
	}{
		{"", true, false},
		{"rd.netroot.keeper", true, false},
		{"rd.netroot.keeper=1", true, false},
		{"rd.netroot.keeper=0", false, false},
		{"rd.netroot.keeper=no", false, false},
		{"rd.netroot.keeper=0 rd.netroot.keeper=1", true, false},
		{"rd.netroot.async_probe", true, true},
		{"rd.netroot.async_probe=1", true, true},
		{"rd.netroot.async_probe=1 rd.netroot.async_probe=0", true, false},
	} {
		p, err := Parse(Source{Name: "/proc/cmdline", Text: base + tc.arg})
		if err != nil {
			t.Fatalf("%q: %v", tc.arg, err)
		}
		if p.Boot.Keeper != tc.keeper || p.Boot.AsyncProbe != tc.ap {
			t.Errorf("%q: Keeper = %v, AsyncProbe = %v, want %v, %v", tc.arg, p.Boot.Keeper, p.Boot.AsyncProbe, tc.keeper, tc.ap)
		}
	}
}

// TestParseOSConfig checks rd.netroot.osconfig: on unless set to a false
// value, independent of the keeper.
func TestParseOSConfig(t *testing.T) {
	base := "netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:a root=LABEL=r "
	for _, tc := range []struct {
		arg              string
		osconfig, keeper bool
	}{
		{"", true, true},
		{"rd.netroot.osconfig", true, true},
		{"rd.netroot.osconfig=0", false, true},
		{"rd.netroot.osconfig=off", false, true},
		{"rd.netroot.osconfig=0 rd.netroot.osconfig=yes", true, true},
		{"rd.netroot.keeper=0", true, false},
	} {
		p, err := Parse(Source{Name: "/proc/cmdline", Text: base + tc.arg})
		if err != nil {
			t.Fatalf("%q: %v", tc.arg, err)
		}
		if p.Boot.OSConfig != tc.osconfig || p.Boot.Keeper != tc.keeper {
			t.Errorf("%q: OSConfig = %v, Keeper = %v, want %v, %v", tc.arg, p.Boot.OSConfig, p.Boot.Keeper, tc.osconfig, tc.keeper)
		}
	}
}

// TestParseLastWins: a single-valued parameter's last occurrence wins
// (dracut's getarg; the kernel's last of ro and rw), also when an earlier
// copy has the same value: A B A is A, not B. A module parameter's last
// value wins too (the kernel applies them in order). Repeatable ones keep
// the order of their first copies.
func TestParseLastWins(t *testing.T) {
	baked := func(s string) Source { return Source{Name: "/etc/cmdline.d/50-netroot.conf", Text: s} }
	const target = "netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:a"
	for _, tc := range []struct {
		name  string
		srcs  []Source
		check func(*Plan) string
	}{
		{"rd.shell A B A", []Source{proc("root=LABEL=r rd.shell=0 rd.shell=1 rd.shell=0")}, func(p *Plan) string {
			if p.Boot.Shell || p.Boot.Emergency != EmergencyPoweroff {
				return "rd.shell=0 last, yet the shell is on"
			}
			return ""
		}},
		{"baked rw and retry, kernel repeats them", []Source{baked("rw rd.retry=60"), proc("root=LABEL=r ro quiet rw rd.retry=30 rd.retry=60")}, func(p *Plan) string {
			if !p.Root.ReadWrite || p.Boot.Retry != 60*time.Second {
				return "want rw and 60s (the last of each)"
			}
			return ""
		}},
		{"ro rw ro", []Source{baked("ro"), proc("root=LABEL=r rw ro")}, func(p *Plan) string {
			if p.Root.ReadWrite {
				return "ro last, yet rw"
			}
			return ""
		}},
		{"module parameter A B A", []Source{baked("e1000e.InterruptThrottleRate=1"), proc("root=LABEL=r e1000e.InterruptThrottleRate=3 e1000e.InterruptThrottleRate=1")}, func(p *Plan) string {
			if got := p.Modules.Params["e1000e"]; len(got) == 0 || got[len(got)-1] != "InterruptThrottleRate=1" {
				return "the module would get InterruptThrottleRate=3 last"
			}
			return ""
		}},
		{"off-only switch turned off last", []Source{baked("rd.lvm=1"), proc("root=LABEL=r rd.lvm=0")}, func(p *Plan) string { return "" }},
		{"repeatable: first copies keep their order", []Source{
			baked("ip=eth0:dhcp ip=eth1:dhcp " + target + " netroot=iscsi:10.0.0.2::::iqn.2015-01.com.example:b rd.iscsi.param=node.session.timeo.replacement_timeout=30"),
			proc("root=LABEL=r ip=eth1:dhcp ip=eth0:dhcp netroot=iscsi:10.0.0.2::::iqn.2015-01.com.example:b " + target + " rd.iscsi.param=node.session.timeo.replacement_timeout=60 rd.iscsi.param=node.session.timeo.replacement_timeout=30"),
		}, func(p *Plan) string {
			if len(p.Net.IP) != 2 || p.Net.IP[0].Interface != "eth0" || p.Net.BootDev != "eth0" {
				return "ip= reordered"
			}
			if len(p.ISCSI.Targets) != 2 || p.ISCSI.Targets[0].Server != "10.0.0.1" {
				return "netroot= reordered"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.srcs...)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(p); msg != "" {
				t.Errorf("%s: %+v %+v %+v", msg, p.Root, p.Boot, p.Modules.Params)
			}
		})
	}
	// An off-only switch turned on last is still refused.
	if _, err := Parse(baked("rd.lvm=0"), proc("root=LABEL=r rd.lvm=1")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("rd.lvm=0 then rd.lvm=1: err = %v, want not supported", err)
	}
}

// The same settings baked into the initramfs and given again on the kernel
// command line are one configuration, not a conflict.
func TestParseBakedAndKernelIdentical(t *testing.T) {
	cl := "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none bond=bond0:eth0,eth1:mode=active-backup,miimon=100 " +
		"netroot=iscsi:10.77.0.1::3260:1:iqn.2010-01.org.example:root rd.iscsi.initiator=iqn.2010-01.org.example:client root=LABEL=R ro"
	p, err := Parse(Source{Name: "/etc/cmdline.d/50-netroot.conf", Text: cl}, Source{Name: "/proc/cmdline", Text: cl + " console=ttyS0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Net.IP) != 1 || len(p.Net.Bonds) != 1 || len(p.ISCSI.Targets) != 1 {
		t.Errorf("got %d ip, %d bonds, %d targets; want one each", len(p.Net.IP), len(p.Net.Bonds), len(p.ISCSI.Targets))
	}
	// A different value for the same bond is still a conflict.
	if _, err := Parse(Source{Name: "a", Text: cl}, Source{Name: "b", Text: "bond=bond0:eth2"}); err == nil {
		t.Error("two different bond= for bond0 accepted")
	}
}

func TestParseUnclosedQuote(t *testing.T) {
	for _, tc := range []struct {
		name, cl string
		ok       bool
	}{
		{"swallows the rest", `root=LABEL="my root rd.iscsi.password=s3cr3t quiet`, false},
		{"swallows the next line of a conf file", "rootflags=\"noatime\nrd.iscsi.password=s3cr3t root=LABEL=r", false},
		{"quoted key swallows", `"rd.shell root=LABEL=r`, false},
		{"closed", `root=LABEL="my root" rd.iscsi.password=s3cr3t`, true},
		{"unclosed at the very end, nothing swallowed", `root=LABEL=r rootflags="noatime`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(Source{Name: "/etc/cmdline.d/x.conf", Text: tc.cl})
			if tc.ok {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tc.cl, err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "never closed") {
				t.Fatalf("Parse(%q) = %v, want an unclosed-quote error", tc.cl, err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error leaks the secret: %v", err)
			}
			t.Log(err)
		})
	}
}

// TestBlacklistIBFTVLAN: the iBFT may need 8021q (when its NICs are on a
// VLAN, which only the boot learns); blacklisting it is not refused.
func TestBlacklistIBFTVLAN(t *testing.T) {
	for _, cl := range []string{"root=LABEL=r rd.iscsi.firmware=1 rd.driver.blacklist=8021q", "root=LABEL=r ip=ibft rd.driver.blacklist=8021q"} {
		if _, err := Parse(proc(cl)); err != nil {
			t.Errorf("Parse(%q): %v", cl, err)
		}
	}
}
