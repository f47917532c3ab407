package integration

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

// The network tests boot the way real fleets do: DHCP on the bond with a
// reservation for the PXE NIC, the iSCSI target from the DHCP root-path,
// slaves down at boot and during the login, a VLAN on the bond, and the
// bonding modes. Each asserts from the console and the real root's
// NETROOT-TEST report.

const (
	// pxeMAC is eth1's MAC: the PXE NIC of the DHCP tests.
	pxeMAC    = "52:54:00:77:00:11"
	pxeBOOTIF = "BOOTIF=01-52-54-00-77-00-11"
	// reservedIP is the DHCP reservation for pxeMAC.
	reservedIP = "10.77.0.77"
	targetPath = "iscsi:10.77.0.1::3260:1:" + rig.TargetIQN
	bondAB     = "bond=bond0:eth0,eth1:mode=active-backup,miimon=100"
	rootArgs   = "rd.iscsi.initiator=" + rig.InitiatorIQN + " root=LABEL=" + rig.RootLabel + " ro"
)

// realRoot waits for the real root's report and power-off, checks the
// root was mounted read-only as ext4 with init as PID 1 and the way down
// through the shutdown role, logs /init's lines and returns the console
// log.
func realRoot(t *testing.T, b *rig.Boot) string {
	t.Helper()
	waitFor(t, b, `NETROOT-TEST: done=`, 4*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.VM.Wait(ctx); err != nil {
		t.Errorf("guest did not power off: %v", err)
	}
	log := b.VM.Log()
	for _, l := range netrootLines(log) {
		t.Log(l)
	}
	if got := reported(log, "init"); len(got) != 1 || !strings.HasPrefix(got[0], "pid=1 ") {
		t.Errorf("real init: got %q, want it to run as pid 1", got)
	}
	if got := reported(log, "root-mount"); len(got) != 1 || !strings.Contains(got[0], " ext4 ro") {
		t.Errorf("root mount = %q, want an ext4 mounted ro", got)
	}
	if strings.Contains(log, "Kernel panic") || strings.Contains(log, "netroot: FATAL") {
		t.Errorf("kernel panic or FATAL on the console")
	}
	assertShutdownRole(t, log)
	return log
}

// wantReport fails unless one NETROOT-TEST line for key contains every
// substring of want.
func wantReport(t *testing.T, log, key string, want ...string) {
	t.Helper()
	got := reported(log, key)
	for _, g := range got {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(g, w)
		}
		if ok {
			t.Logf("NETROOT-TEST: %s=%s", key, g)
			return
		}
	}
	t.Errorf("no %s report containing %q; got %q", key, want, got)
}

// wantLine fails unless /init logged a line matching re, and returns it.
func wantLine(t *testing.T, log, re string) string {
	t.Helper()
	r := regexp.MustCompile(re)
	for _, l := range netrootLines(log) {
		if r.MatchString(l) {
			return l
		}
	}
	t.Errorf("no /init line matching %q", re)
	return ""
}

// TestNetDHCPBondPXE: ip=bond0:dhcp on an active-backup bond whose PXE
// NIC is eth1 (BOOTIF): the bond takes eth1's MAC, so the server's
// reservation for that MAC gives the guest its address; the MTU (option
// 26), DNS and hostname come from the lease, and the lease is left in
// /run/netroot for the OS.
func TestNetDHCPBondPXE(t *testing.T) {
	b := start(t, rig.BootSpec{
		Cmdline: "ip=bond0:dhcp " + bondAB + " " + pxeBOOTIF + " netroot=" + targetPath + " " + rootArgs,
		Target:  rig.DefaultTarget(),
		DHCP: &rig.DHCPConfig{
			Hosts:   []string{pxeMAC + "," + reservedIP + ",node77"},
			Options: []string{"26,1400", "6,10.77.0.1", "15,example.org"},
		},
	})
	log := realRoot(t, b)
	wantLine(t, log, `^netroot: links: .*PXE interface eth1 \(52:54:00:77:00:11\)`)
	wantLine(t, log, `^netroot: bond: bond0 active-backup 52:54:00:77:00:11: eth1 active, eth0 backup`)
	wantLine(t, log, `^netroot: ip: bond0 10\.77\.0\.77/24 .*from 10\.77\.0\.1.*mtu 1400.*DHCP, MAC 52:54:00:77:00:11`)
	wantReport(t, log, "bond", "bond0 ", `mac="52:54:00:77:00:11"`, `active="eth1"`)
	wantReport(t, log, "addr", "bond0 10.77.0.77/24 mac=52:54:00:77:00:11 mtu=1400")
	wantReport(t, log, "hostname", "node77")
	wantReport(t, log, "resolv", "search example.org", "nameserver 10.77.0.1")
	for _, f := range []string{"dhcp-bond0.json", "net.bond0.env", "resolv.conf", "timeline.json"} {
		if !slices.Contains(reported(log, "netroot-file"), f) {
			t.Errorf("/run/netroot/%s missing in the real root: %q", f, reported(log, "netroot-file"))
		}
	}
	if !strings.Contains(b.DHCP.Log(), "DHCPACK(br0) "+reservedIP+" "+pxeMAC) {
		t.Errorf("dnsmasq did not ACK the reservation:\n%s", b.DHCP.Log())
	}
}

// TestNetDHCPRootPath: ip=dhcp on plain NICs (no bond, no BOOTIF: DHCP
// races on every NIC) with netroot=dhcp: the target comes from the
// root-path (option 17) and the boot reaches the real root.
func TestNetDHCPRootPath(t *testing.T) {
	b := start(t, rig.BootSpec{
		Cmdline: "ip=dhcp netroot=dhcp " + rootArgs,
		Target:  rig.DefaultTarget(),
		DHCP:    &rig.DHCPConfig{Options: []string{"17," + targetPath}},
	})
	log := realRoot(t, b)
	wantLine(t, log, `^netroot: ip: ip=dhcp: DHCP on eth0, eth1$`)
	wantLine(t, log, `^netroot: dhcp: netroot=dhcp: root-path from 10\.77\.0\.1: target 10\.77\.0\.1:3260 `+regexp.QuoteMeta(rig.TargetIQN)+` LUN 1`)
	wantLine(t, log, `^netroot: ip: eth[01] 10\.77\.0\.1[5-9][0-9]/24 .*\(DHCP`)
	wantLine(t, log, `^netroot: login: 10\.77\.0\.1:3260 `)
	wantReport(t, log, "iscsi-session", rig.TargetIQN)
}

// TestNetSlaveDownAtBoot: eth0's link is down from the start (QEMU's
// set_link, which the guest sees as carrier loss): the bond runs on eth1
// and the console says which slave is down.
func TestNetSlaveDownAtBoot(t *testing.T) {
	b := start(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline, Target: rig.DefaultTarget()})
	if err := b.VM.Monitor("set_link n0 off"); err != nil {
		t.Fatal(err)
	}
	log := realRoot(t, b)
	wantLine(t, log, `slave eth0 of bond0 is down \(no carrier\)`)
	wantLine(t, log, `^netroot: bond: bond0 active-backup .*eth0 DOWN \(no carrier\), eth1 active`)
	wantReport(t, log, "bond", `active="eth1"`)
}

// TestNetFailoverDuringLogin: the active slave's link goes down as the
// login starts (right after the ip step's line): the bond fails over and
// the boot completes on the other slave.
func TestNetFailoverDuringLogin(t *testing.T) {
	b := start(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline, Target: rig.DefaultTarget()})
	m := waitFor(t, b, `netroot: bond: bond0 [^\n]* eth([01]) active`, 4*time.Minute)
	waitFor(t, b, `netroot: ip: `, time.Minute)
	if err := b.VM.Monitor("set_link n" + m[1] + " off"); err != nil {
		t.Fatal(err)
	}
	t.Logf("set_link n%s off (eth%s, the active slave) at the ip step's line", m[1], m[1])
	log := realRoot(t, b)
	other := map[string]string{"0": "eth1", "1": "eth0"}[m[1]]
	wantReport(t, log, "bond", `active="`+other+`"`)
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "bond0: ") && (strings.Contains(l, "link status") || strings.Contains(l, "making interface")) ||
			strings.Contains(l, "netroot: login:") {
			t.Logf("console: %s", strings.TrimSpace(l))
		}
	}
}

// TestNetVLANOnBond: a VLAN (id 100) on the bond reaches the target on a
// tagged network: 10.77.100.1/24, where tgtd listens, is reachable only
// with VLAN 100 tags (rig.VLANPort, since the host kernel may lack 8021q
// and bridge VLAN filtering); the guest has no untagged address at all.
func TestNetVLANOnBond(t *testing.T) {
	b := start(t, rig.BootSpec{
		Cmdline: "vlan=bond0.100:bond0 ip=10.77.100.10::10.77.100.1:255.255.255.0:client:bond0.100:none " + bondAB +
			" netroot=iscsi:10.77.100.1::3260:1:" + rig.TargetIQN + " " + rootArgs,
		NetSetup: func(ctx context.Context, n *rig.Net) error {
			_, err := n.AddVLANPort(ctx, 100, "10.77.100.1/24")
			return err
		},
		Target: &rig.TargetConfig{Portal: "10.77.100.1:3260", IQN: rig.TargetIQN},
	})
	log := realRoot(t, b)
	wantLine(t, log, `^netroot: vlan: bond0\.100 on bond0, id 100`)
	wantLine(t, log, `^netroot: login: 10\.77\.100\.1:3260 `)
	wantReport(t, log, "addr", "bond0.100 10.77.100.10/24")
	wantReport(t, log, "iscsi-conn", `persistent=10.77.100.1:3260`)
}

// TestNetUSBNICLate boots over a USB NIC (QEMU's usb-net behind an xHCI
// controller), the way a diskless desktop on a USB-C dock does. The USB
// device shows up only once the hub worker has enumerated the bus, after
// the xHCI driver's probe returned and the modules step's sysfs rounds
// ended: the uevent loop loads its driver (cdc_ether),
// ifname= names it by MAC, and the boot reaches the iSCSI root over it.
// Without the loop no driver would be loaded and the boot would stop at
// "no interface usbnic".
func TestNetUSBNICLate(t *testing.T) {
	b := start(t, rig.BootSpec{
		Cmdline: "ifname=usbnic:" + pxeMAC + " ip=10.77.0.10::10.77.0.1:255.255.255.0:client:usbnic:none netroot=" +
			targetPath + " " + rootArgs,
		BuildArgs: []string{"-drivers", "virtio_pci,virtio_net,xhci_pci,cdc_ether"},
		Target:    rig.DefaultTarget(),
		USBNICs:   []int{1},
	})
	log := realRoot(t, b)
	step := wantLine(t, log, `^netroot: modules: .*loaded for devices and network`)
	late := wantLine(t, log, `^netroot: modules: cdc_ether for a device added since \(usb:v0525pA4A2`)
	if strings.Contains(step, "cdc_ether") {
		t.Errorf("the USB NIC's driver came from the sysfs rounds (%q), not the uevent loop", step)
	}
	t.Logf("late driver: %s", late)
	wantLine(t, log, `^netroot: links: usbnic present`)
	wantReport(t, log, "addr", "usbnic 10.77.0.10/24")
}

// TestNetBootIFStatic: a static ip= naming no interface, with BOOTIF=
// (pxelinux's IPAPPEND 2 beside a fixed address), is the PXE NIC's, as
// dracut's ifup applies it: the address lands on eth1, the NIC BOOTIF
// names, and the boot reaches the root over it.
func TestNetBootIFStatic(t *testing.T) {
	b := start(t, rig.BootSpec{
		Cmdline: "ip=10.77.0.10::10.77.0.1:255.255.255.0:client::none " + pxeBOOTIF + " netroot=" + targetPath + " " + rootArgs,
		Target:  rig.DefaultTarget(),
	})
	log := realRoot(t, b)
	wantLine(t, log, `^netroot: links: none present; PXE interface eth1 \(`+pxeMAC+`\)`)
	wantLine(t, log, `^netroot: ip: eth1 10\.77\.0\.10/24 gw 10\.77\.0\.1 \(`)
	wantReport(t, log, "addr", "eth1 10.77.0.10/24")
}

// TestNetIPMAC: ip=…:<macaddr> gives the NIC that MAC address before its
// address, as dracut's ifup does; the boot reaches the root over it and
// the real root sees the NIC with it.
func TestNetIPMAC(t *testing.T) {
	const mac = "02:00:00:77:00:99"
	b := start(t, rig.BootSpec{
		Cmdline: "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:eth0:none::" + mac + " netroot=" + targetPath + " " + rootArgs,
		Target:  rig.DefaultTarget(),
	})
	log := realRoot(t, b)
	wantLine(t, log, `^netroot: mac: eth0 `+mac+` \(`)
	wantLine(t, log, `^netroot: ip: eth0 10\.77\.0\.10/24 gw 10\.77\.0\.1 \(`)
	wantReport(t, log, "addr", "eth0 10.77.0.10/24", "mac="+mac)
}

// TestNetBondModes boots the scenario with other bonding modes: balance-rr
// (with ifname= renaming the NICs by MAC first) and 802.3ad, which the
// bridge does not negotiate: the bond counts as up on its active
// aggregator and /init says LACP did not negotiate.
func TestNetBondModes(t *testing.T) {
	ip := "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none netroot=" + targetPath + " " + rootArgs
	for _, tc := range []struct {
		name, args string
		nicOptions string
		lines      []string
		report     []string
	}{
		{
			name:   "balance-rr-ifname",
			args:   "ifname=lan0:52:54:00:77:00:10 ifname=lan1:52:54:00:77:00:11 bond=bond0:lan0,lan1:mode=balance-rr,miimon=100",
			lines:  []string{`^netroot: bond: bond0 balance-rr 52:54:00:77:00:10: lan0 up, lan1 up`},
			report: []string{`mode="balance-rr 0"`, `slaves="lan0 lan1"`},
		},
		{
			name:       "802.3ad",
			args:       "bond=bond0:eth0,eth1:mode=802.3ad,miimon=100,lacp_rate=fast",
			nicOptions: "speed=1000,duplex=full",
			lines: []string{
				`LACP did not negotiate within 5s \(aggregator [0-9]+ with [1-9] port\(s\) has no partner, partner MAC 00:00:00:00:00:00\).*LACP fallback`,
				`^netroot: bond: bond0 802\.3ad `,
			},
			report: []string{`mode="802.3ad 4"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := start(t, rig.BootSpec{Cmdline: tc.args + " " + ip, Target: rig.DefaultTarget(), NICOptions: tc.nicOptions})
			log := realRoot(t, b)
			for _, l := range tc.lines {
				t.Logf("matched: %s", wantLine(t, log, l))
			}
			wantReport(t, log, "bond", tc.report...)
		})
	}
}

// TestNetFailures: each failure ends in one FATAL line naming the
// cause, not a hang.
func TestNetFailures(t *testing.T) {
	waitsMostly(t) // each case runs out its rd.retry
	for _, tc := range []struct {
		name, cmdline string
		dhcp          *rig.DHCPConfig
		target        bool
		want          []string
	}{
		{
			name:    "no-server",
			cmdline: "ip=bond0:dhcp " + bondAB + " netroot=" + targetPath + " rd.retry=6 " + rootArgs,
			want:    []string{"no DHCP lease on bond0 (52:54:00:77:00:10)", "is a DHCP server on this network"},
		},
		{
			name:    "no-root-path",
			cmdline: "ip=dhcp netroot=dhcp rd.retry=20 " + rootArgs,
			dhcp:    &rig.DHCPConfig{},
			want:    []string{"no DHCP answer carried a root-path (option 17)", "dhcp-option=17"},
		},
		{
			// virtio NICs without speed= and duplex= cannot aggregate:
			// the kernel raises the bond's carrier on an empty
			// aggregator, or activates such a port until its next link
			// check drops it (once in a CI run); /init must take
			// neither for "up".
			name:    "802.3ad-no-usable-port",
			cmdline: "bond=bond0:eth0,eth1:mode=802.3ad,miimon=100 ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none netroot=" + targetPath + " " + rootArgs,
			target:  true,
			want: []string{"FATAL bond: bond0 802.3ad: no port in an active aggregator after 5s", "LACP did not negotiate",
				"eth0, eth1 report no speed or duplex", "LACP fallback"},
		},
		{
			name:    "no-dhcp6-server",
			cmdline: "ip=bond0:dhcp6 " + bondAB + " netroot=" + targetPath + " rd.retry=6 " + rootArgs,
			want:    []string{"FATAL ip: ip=bond0:dhcp6: bond0: no DHCPv6 lease", "is a DHCPv6 server answering on this link"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := rig.BootSpec{Cmdline: tc.cmdline + " rd.shell=0", DHCP: tc.dhcp}
			if tc.target {
				spec.Target = rig.DefaultTarget()
			}
			b := start(t, spec)
			fatal := "FATAL " + waitFatal(t, b, 3*time.Minute)
			for _, w := range tc.want {
				if !strings.Contains(fatal, w) {
					t.Errorf("FATAL line lacks %q", w)
				}
			}
			if n := strings.Count(b.VM.Log(), "netroot: FATAL"); n != 1 {
				t.Errorf("%d FATAL lines, want 1", n)
			}
		})
	}
}
