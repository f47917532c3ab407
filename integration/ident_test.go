package integration

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/netroot/netroot/pkg/ibft"
)

// The configuration users bring from dracut or initramfs-tools (issue
// 19): NICs named the systemd way, the initiator name of
// /etc/iscsi/initiatorname.iscsi, the firmware's iBFT, IPv6.

// TestNamesPredictable boots command lines that name the rig's NICs as
// systemd-udev does — virtio NICs at 00:02.0 and 00:03.0 on the pc
// machine's root bus, whose ACPI hotplug slots give them ens2 and ens3
// (and the path names enp0s2, enp0s3) — as Debian 12 and 13 name them:
// a bond over ens2,ens3, and dracut's TEST-30-ISCSI style of an ip= on
// the path name.
func TestNamesPredictable(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline string
		names         string // the names step's line
		report        []string
	}{
		{"bond", "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none bond=bond0:ens2,ens3:mode=active-backup,miimon=100",
			`^netroot: names: eth0 → ens2 \(slot\), eth1 → ens3 \(slot\); scheme v257; other NICs keep the kernel's names \(`,
			[]string{"bond", `slaves="ens2 ens3"`}},
		{"dracut-path-name", "ip=10.77.0.10::10.77.0.1:255.255.255.0:iscsi-1:enp0s2:off",
			`^netroot: names: eth0 → enp0s2 \(path, udev's alternative name; its name is ens2\); scheme v257`,
			[]string{"addr", "enp0s2 10.77.0.10/24 mac=52:54:00:77:00:10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := start(t, rig.BootSpec{Cmdline: tc.cmdline + " netroot=" + targetPath + " " + rootArgs, Target: rig.DefaultTarget()})
			log := realRoot(t, b)
			t.Logf("names step: %s", wantLine(t, log, tc.names))
			wantReport(t, log, tc.report[0], tc.report[1:]...)
		})
	}
}

// TestNamesLayouts boots each of rig.NICLayouts — the NIC arrangements
// pkg/netname's sysfs trees were captured from, with the names Debian 13's
// udev gave each NIC there — with net.ifnames=1 and the first NIC named as
// udev names it: /init must rename every NIC to the name udev 257's
// 99-default.link gives it (LayoutNIC.Name; with a first NIC named by
// Debian's USB rule, every NIC's DebianName) and reach the root through the
// first. (The comparison with `udevadm test-builtin net_id` run inside real
// Debian 12 and 13 roots on these layouts waits for the rig's distribution
// images, branch wip/distro.)
func TestNamesLayouts(t *testing.T) {
	type variant struct {
		layout rig.NICLayout
		debian bool
	}
	var vs []variant
	for _, l := range rig.NICLayouts {
		vs = append(vs, variant{l, false})
		if l.NICs[0].DebianName != l.NICs[0].Name {
			vs = append(vs, variant{l, true})
		}
	}
	for _, v := range vs {
		l := v.layout
		name := l.Name
		want := func(n rig.LayoutNIC) string { return n.Name }
		if v.debian {
			name += "-debian"
			want = func(n rig.LayoutNIC) string { return n.DebianName }
		}
		t.Run(name, func(t *testing.T) {
			first := want(l.NICs[0])
			b := start(t, rig.BootSpec{
				Cmdline:   "net.ifnames=1 ip=10.77.0.10::10.77.0.1:255.255.255.0:client:" + first + ":none netroot=" + targetPath + " " + rootArgs,
				Target:    rig.DefaultTarget(),
				Layout:    &l,
				BuildArgs: []string{"-drivers", strings.Join(l.Modules(), ","), "-fs", "ext4"},
			})
			log := realRoot(t, b)
			line := wantLine(t, log, `^netroot: names: `)
			t.Logf("%s", line)
			namesAt := consoleTime(t, log, `netroot: names: `)
			for _, n := range l.NICs {
				if strings.Contains(line, "→ "+want(n)+" (") {
					continue
				}
				// A USB NIC behind a hub may enumerate after the step:
				// the real root's udev names it.
				if at, ok := kernelMentions(log, n.MAC); ok && at > namesAt {
					t.Logf("NIC %s appeared at %.2fs, after the names step (%.2fs)", n.MAC, at, namesAt)
					continue
				}
				t.Errorf("NIC %s is not renamed %s", n.MAC, want(n))
			}
			wantReport(t, log, "addr", first+" 10.77.0.10/24 mac="+l.NICs[0].MAC)
		})
	}
}

// kernelMentions is the timestamp of the first kernel line (not /init's)
// that names mac, as a NIC driver's registration does.
func kernelMentions(log, mac string) (float64, bool) {
	return firstConsoleLine(log, func(text string) bool {
		return strings.Contains(text, mac) && !strings.Contains(text, "netroot")
	})
}

// TestInitiatorBaked: no rd.iscsi.initiator=, the initiator name baked by
// netroot build from an open-iscsi initiatorname.iscsi, and a target whose
// ACL admits only that name: the login is accepted, /init says where the
// name came from, the session and /run/initiatorname.iscsi carry it.
func TestInitiatorBaked(t *testing.T) {
	const name = "iqn.1993-08.org.debian:01:5ab3c7e1f0"
	dir := t.TempDir()
	file := filepath.Join(dir, "initiatorname.iscsi")
	if err := os.WriteFile(file, []byte("## DO NOT EDIT OR REMOVE THIS FILE!\nInitiatorName="+name+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tc := rig.DefaultTarget()
	tc.Initiators = []string{name}
	b := start(t, rig.BootSpec{
		Cmdline:   "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " + bondAB + " netroot=" + targetPath + " root=LABEL=" + rig.RootLabel + " ro",
		BuildArgs: []string{"-initiator-name-file", file},
		Target:    tc,
	})
	if !strings.Contains(b.BuildOutput, "initiator name "+name+" (from "+file+") baked as /etc/iscsi/initiatorname.iscsi") {
		t.Errorf("netroot build did not say it baked the name:\n%s", b.BuildOutput)
	}
	log := realRoot(t, b)
	wantLine(t, log, `^netroot: login: initiator `+regexp.QuoteMeta(name)+` \(/etc/iscsi/initiatorname.iscsi in the initramfs\)$`)
	wantReport(t, log, "iscsi-initiator", `initiator="`+name+`"`)
	wantReport(t, log, "initiatorname", "InitiatorName="+name)
}

// ibftInitiator is the initiator name of the iBFT boot tests' tables.
const ibftInitiator = "iqn.2010-01.org.example:firmware"

// ibftDataIQN is the second target of the table tests.
const ibftDataIQN = "iqn.2010-01.org.example:data"

// bootTable is a firmware's table for the rig: NIC 0 (eth0, 00:02.0,
// booted) static on the bridge's network, NIC 1 (eth1, 00:03.0) static on
// VLAN 100; the root through NIC 0 with CHAP, a data LUN through NIC 1
// with mutual CHAP.
func bootTable() *ibft.Table {
	ip := netip.MustParseAddr
	mac := func(i int) net.HardwareAddr { m, _ := net.ParseMAC(guestMAC(i)); return m }
	return &ibft.Table{
		OEMID: "NETRT", OEMTableID: "NRTBOOT",
		Initiator: &ibft.Initiator{Flags: ibft.BlockValid | ibft.FirmwareBootSelected, Name: ibftInitiator},
		NICs: []ibft.NIC{{
			Index: 0, Flags: ibft.BlockValid | ibft.FirmwareBootSelected | ibft.NICGlobal,
			IP: ip("10.77.0.10"), PrefixLen: 24, Origin: ibft.OriginManual, Gateway: ip(rig.HostAddr),
			MAC: mac(0), PCI: ibft.NewBDF(0, 2, 0), Hostname: "fwclient",
		}, {
			Index: 1, Flags: ibft.BlockValid | ibft.NICGlobal, IP: ip("10.77.100.10"), PrefixLen: 24, Origin: ibft.OriginManual,
			VLAN: 100, MAC: mac(1), PCI: ibft.NewBDF(0, 3, 0),
		}},
		Targets: []ibft.Target{{
			Index: 0, Flags: ibft.BlockValid | ibft.FirmwareBootSelected, IP: ip(rig.HostAddr), Port: 3260,
			LUN: ibft.LUNFromInt(1), NICIndex: 0, Name: rig.TargetIQN,
			CHAP: ibft.CHAPOneWay, CHAPName: "root-user", CHAPSecret: ibft.NewSecret("root-secret-1"),
		}, {
			Index: 1, Flags: ibft.BlockValid, IP: ip("10.77.100.1"), Port: 3260, LUN: ibft.LUNFromInt(1),
			NICIndex: 1, Name: ibftDataIQN,
			CHAP: ibft.CHAPMutual, CHAPName: "data-user", CHAPSecret: ibft.NewSecret("data-secret-22"),
			ReverseCHAPName: "data-target", ReverseCHAPSecret: ibft.NewSecret("data-target-333"),
		}},
	}
}

// TestIBFTTables boots with tables from ibft.Marshal installed by QEMU
// (-acpitable) and rd.iscsi.firmware=1 alone: the table's NICs get their
// addresses (one on VLAN 100, reached through rig.VLANPort), /init logs
// in to both targets with their CHAP credentials and the table's
// initiator name (both targets admit only that name), and the root is
// found on the first. A malformed table stops the boot with one FATAL.
func TestIBFTTables(t *testing.T) {
	t.Run("two-NICs-VLAN-CHAP", func(t *testing.T) {
		tab := bootTable()
		raw, err := ibft.Marshal(tab)
		if err != nil {
			t.Fatal(err)
		}
		root := &rig.TargetConfig{Portal: rig.HostAddr + ":3260", IQN: rig.TargetIQN, User: "root-user", Password: "root-secret-1",
			Initiators: []string{ibftInitiator}}
		b := start(t, rig.BootSpec{
			Cmdline:    "rd.iscsi.firmware=1 root=LABEL=" + rig.RootLabel + " ro",
			ACPITables: [][]byte{raw},
			Target:     root,
			NetSetup: func(ctx context.Context, n *rig.Net) error {
				if _, err := n.AddVLANPort(ctx, 100, "10.77.100.1/24"); err != nil {
					return err
				}
				return startDataTarget(t, ctx, n, rig.TargetConfig{Portal: "10.77.100.1:3260", IQN: ibftDataIQN,
					User: "data-user", Password: "data-secret-22", OutUser: "data-target", OutPassword: "data-target-333",
					Initiators: []string{ibftInitiator}})
			},
		})
		log := realRoot(t, b)
		wantLine(t, log, `^netroot: ibft: initiator `+ibftInitiator+`; NIC 0 52:54:00:77:00:10 10\.77\.0\.10/24 \(booted\); NIC 1 52:54:00:77:00:11 10\.77\.100\.10/24 VLAN 100; `+
			`target 0 10\.77\.0\.1:3260 `+regexp.QuoteMeta(rig.TargetIQN)+` LUN 1 \(CHAP\); target 1 10\.77\.100\.1:3260 `+regexp.QuoteMeta(ibftDataIQN)+` LUN 1 \(mutual CHAP\)`)
		wantLine(t, log, `^netroot: vlan: eth1\.100 on eth1, id 100`)
		wantLine(t, log, `^netroot: login: initiator `+ibftInitiator+` \(the iBFT\)$`)
		wantLine(t, log, `^netroot: login: 10\.77\.0\.1:3260 `+regexp.QuoteMeta(rig.TargetIQN)+`: .*auth CHAP`)
		wantLine(t, log, `^netroot: login: 10\.77\.100\.1:3260 `+regexp.QuoteMeta(ibftDataIQN)+`: .*auth mutual CHAP`)
		wantReport(t, log, "addr", "eth0 10.77.0.10/24")
		wantReport(t, log, "addr", "eth1.100 10.77.100.10/24")
		wantReport(t, log, "iscsi-initiator", `target="`+ibftDataIQN+`" initiator="`+ibftInitiator+`"`)
		for _, s := range []string{"root-secret-1", "data-secret-22", "data-target-333"} {
			if strings.Contains(log, s) {
				t.Errorf("a CHAP secret of the table on the console")
			}
		}
	})
	t.Run("malformed", func(t *testing.T) {
		raw, err := ibft.Marshal(bootTable())
		if err != nil {
			t.Fatal(err)
		}
		raw[ibft.StructureOffset(raw, ibft.SlotNIC1)+4] = 0 // NIC 1 claims NIC 0's index: iscsi_ibft refuses the table
		ibft.FixChecksum(raw)
		b := start(t, rig.BootSpec{Cmdline: "rd.iscsi.firmware=1 root=LABEL=" + rig.RootLabel + " rd.shell=0", ACPITables: [][]byte{raw}})
		fatal := waitFatal(t, b, 3*time.Minute)
		for _, w := range []string{"ibft: the firmware's iBFT is malformed: NIC 0: two NICs have index 0", "/sys/firmware/acpi/tables/iBFT", "— update the firmware"} {
			if !strings.Contains(fatal, w) {
				t.Errorf("FATAL line lacks %q", w)
			}
		}
		if n := strings.Count(b.VM.Log(), "netroot: FATAL"); n != 1 {
			t.Errorf("%d FATAL lines, want 1", n)
		}
	})
}

// startDataTarget runs a second tgtd in n (its own process and control
// port), serving an empty 16 MiB LUN, stopped when the test ends.
func startDataTarget(t *testing.T, ctx context.Context, n *rig.Net, tc rig.TargetConfig) error {
	lun := filepath.Join(t.TempDir(), "data.img")
	if err := os.WriteFile(lun, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(lun, 16<<20); err != nil {
		return err
	}
	tc.LUNs = []string{lun}
	tgt, err := rig.StartTarget(ctx, n, tc, filepath.Join(t.TempDir(), "tgtd-data.log"))
	if err != nil {
		return err
	}
	t.Cleanup(tgt.Stop)
	return nil
}

// TestIBFTSanhook: QEMU's iPXE ROM hooks the rig's target with mutual
// CHAP (sanhook), which makes iPXE publish an iBFT in base memory, then
// loads the kernel and netroot's initramfs over TFTP; the command line
// says rd.iscsi.firmware=1 and the root, nothing of the network, the
// target or the initiator. /init must find iPXE's table (iscsi_ibft's
// low-memory copy), run DHCP on the NIC it names, and log in with its
// initiator name (the only one the target admits) and CHAP secrets.
func TestIBFTSanhook(t *testing.T) {
	if reason := rig.MissingPXE(); reason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the PXE boot tests, but: %s", reason)
		}
		t.Skip(reason)
	}
	tc := ipxeCHAP
	tc.Portal, tc.IQN, tc.Initiators = rig.HostAddr+":3260", rig.TargetIQN, []string{rig.InitiatorIQN}
	script := func(cmdline string) string {
		return "#!ipxe\n" +
			"set initiator-iqn " + rig.InitiatorIQN + "\n" +
			"set username " + ipxeCHAP.User + "\n" +
			"set password " + ipxeCHAP.Password + "\n" +
			"set reverse-username " + ipxeCHAP.OutUser + "\n" +
			"set reverse-password " + ipxeCHAP.OutPassword + "\n" +
			"sanhook --drive 0x80 iscsi:" + rig.HostAddr + "::3260:1:" + rig.TargetIQN + " || goto failed\n" +
			"echo IPXE-SANHOOK-OK\n" +
			"kernel tftp://${next-server}/" + rig.PXEKernelName + " initrd=" + rig.PXEInitrdName + " " + cmdline + "\n" +
			"initrd tftp://${next-server}/" + rig.PXEInitrdName + "\n" +
			"boot\n" +
			":failed\n" +
			"echo IPXE-SANHOOK-FAILED ${errno}\n"
	}
	b := start(t, rig.BootSpec{
		Cmdline: "rd.iscsi.firmware=1 root=LABEL=" + rig.RootLabel + " ro",
		Target:  &tc,
		PXE:     &rig.PXESpec{Mode: rig.IPXEScriptMode, NIC: 0, Script: script},
	})
	m := waitFor(t, b, `IPXE-SANHOOK-(OK|FAILED[^\r\n]*)\r?\n`, 4*time.Minute)
	if m[1] != "OK" {
		t.Fatalf("iPXE: sanhook %s", m[1])
	}
	log := realRoot(t, b)
	wantLine(t, log, `^netroot: ibft: initiator `+regexp.QuoteMeta(rig.InitiatorIQN)+`; NIC 0 `+guestMAC(0)+` DHCP \(booted\); target 0 10\.77\.0\.1:3260 `+
		regexp.QuoteMeta(rig.TargetIQN)+` LUN 1 \(mutual CHAP\)`)
	wantLine(t, log, `^netroot: ip: eth0 10\.77\.0\.1[0-9][0-9]/24 .*\(DHCP`)
	wantLine(t, log, `^netroot: login: initiator `+regexp.QuoteMeta(rig.InitiatorIQN)+` \(the iBFT\)$`)
	wantLine(t, log, `^netroot: login: 10\.77\.0\.1:3260 `+regexp.QuoteMeta(rig.TargetIQN)+`: .*auth mutual CHAP`)
	wantReport(t, log, "iscsi-initiator", `initiator="`+rig.InitiatorIQN+`"`)
	if strings.Contains(log, ipxeCHAP.Password) || strings.Contains(log, ipxeCHAP.OutPassword) {
		t.Errorf("a CHAP secret on the console")
	}
}

// v6Target is the IPv6 tests' target: tgtd on the bridge's IPv4 and IPv6
// addresses.
func v6Target() *rig.TargetConfig {
	return &rig.TargetConfig{Portal: rig.HostAddr + ":3260", Portals: []string{"[fd77::1]:3260"}, IQN: rig.TargetIQN}
}

// addV6 gives the bridge fd77::1/64.
func addV6(ctx context.Context, n *rig.Net) error { return n.AddAddr6(ctx, "fd77::1/64") }

// TestIPv6 boots to the root over an IPv6 portal on a bond: ip=dhcp6 with
// netroot=dhcp6 (dnsmasq's DHCPv6 gives the address and the target in
// option 59; its router advertisements the on-link prefix), ip=auto6
// (SLAAC from router advertisements only) with the portal on the command
// line, and ip=auto6 on a VLAN of the bond (rig.VLANPort: the tagged
// network's host side carries fd78::1, dnsmasq and the portal).
func TestIPv6(t *testing.T) {
	root6 := "iscsi:[fd77::1]::3260:1:" + rig.TargetIQN
	vlanSetup := func(ctx context.Context, n *rig.Net) error {
		p, err := n.AddVLANPort(ctx, 100, "10.77.100.1/24")
		if err != nil {
			return err
		}
		_, err = n.Run(ctx, "ip", "addr", "add", "fd78::1/64", "dev", p.Host, "nodad")
		return err
	}
	for _, tc := range []struct {
		name, cmdline string
		dhcp          rig.DHCPConfig
		lines         []string
		addr6         string
		setup         func(context.Context, *rig.Net) error
		target        *rig.TargetConfig
		portal        string
	}{
		{"dhcp6-bond", "ip=bond0:dhcp6 " + bondAB + " netroot=dhcp6 " + rootArgs,
			rig.DHCPConfig{DHCPv6Range: "fd77::100,fd77::1ff,64,1h", RA: true, V6Options: []string{"23,[fd77::1]", "59," + root6}},
			[]string{`^netroot: ip: bond0 fd77::1[0-9a-f][0-9a-f]/128 .*\(DHCPv6\), route to fd77::1`,
				`^netroot: dhcp6: netroot=dhcp6: boot file URL from fe80::[0-9a-f:]+%bond0: target \[fd77::1\]:3260 ` + regexp.QuoteMeta(rig.TargetIQN) + ` LUN 1`},
			"bond0 fd77::1", nil, nil, ""},
		{"auto6-bond", "ip=bond0:auto6 " + bondAB + " netroot=" + root6 + " " + rootArgs,
			rig.DHCPConfig{DHCPv6Range: "fd77::,ra-only,64", RA: true},
			[]string{`^netroot: ip: bond0 fd77::5054:ff:fe77:10/64 .*\(SLAAC\)`},
			"bond0 fd77::5054:ff:fe77:10/64", nil, nil, ""},
		{"auto6-vlan", "vlan=bond0.100:bond0 ip=bond0.100:auto6 " + bondAB + " netroot=iscsi:[fd78::1]::3260:1:" + rig.TargetIQN + " " + rootArgs,
			rig.DHCPConfig{Interface: "vlp100", DHCPv6Range: "fd78::,ra-only,64", RA: true},
			[]string{`^netroot: vlan: bond0\.100 on bond0, id 100`, `^netroot: ip: bond0\.100 fd78::5054:ff:fe77:10/64 .*\(SLAAC\)`},
			"bond0.100 fd78::5054:ff:fe77:10/64", vlanSetup,
			&rig.TargetConfig{Portal: rig.HostAddr + ":3260", Portals: []string{"[fd78::1]:3260"}, IQN: rig.TargetIQN}, "fd78::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.dhcp
			setup, target, portal := tc.setup, tc.target, tc.portal
			if setup == nil {
				setup, target, portal = addV6, v6Target(), "fd77::1"
			}
			b := start(t, rig.BootSpec{Cmdline: tc.cmdline, Target: target, NetSetup: setup, DHCP: &d})
			log := realRoot(t, b)
			for _, l := range tc.lines {
				wantLine(t, log, l)
			}
			wantLine(t, log, `^netroot: login: \[`+portal+`\]:3260 `+regexp.QuoteMeta(rig.TargetIQN)+`: session`)
			wantReport(t, log, "iscsi-conn", `persistent=`+portal+`:3260`)
			wantLine(t, log, `^netroot: keeper: @netroot-keeper pid [0-9]+ keeps 1 session`)
			wantReport(t, log, "addr6", tc.addr6)
			wantReport(t, log, "bond", `slaves="eth0 eth1"`)
		})
	}
}
