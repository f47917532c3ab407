package boot

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/ibft"
	"github.com/netroot/netroot/pkg/ibft/ibfttest"
	"github.com/netroot/netroot/pkg/iscsi"
)

// ibftTable is a firmware's table for the virtio-root layout: NIC 0
// (eth0, booted) static, NIC 1 (eth1) by DHCP on VLAN 100; target 0 with
// CHAP through NIC 0, target 1 with mutual CHAP through NIC 1.
func ibftTable() *ibft.Table {
	ip := netip.MustParseAddr
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	return &ibft.Table{
		Initiator: &ibft.Initiator{Flags: ibft.BlockValid | ibft.FirmwareBootSelected, Name: "iqn.2010-01.org.example:firmware"},
		NICs: []ibft.NIC{{
			Index: 0, Flags: ibft.BlockValid | ibft.FirmwareBootSelected | ibft.NICGlobal,
			IP: ip("10.77.0.10"), PrefixLen: 24, Origin: ibft.OriginManual, Gateway: ip("10.77.0.1"), PrimaryDNS: ip("10.77.0.53"),
			MAC: mac("52:54:00:77:01:10"), PCI: ibft.NewBDF(0, 2, 0), Hostname: "node1",
		}, {
			Index: 1, Flags: ibft.BlockValid, Origin: ibft.OriginDHCP, DHCPServer: ip("10.78.0.1"), VLAN: 100,
			MAC: mac("52:54:00:77:01:11"), PCI: ibft.NewBDF(0, 3, 0),
		}},
		Targets: []ibft.Target{{
			Index: 0, Flags: ibft.BlockValid | ibft.FirmwareBootSelected, IP: ip("10.77.0.1"), Port: 3260,
			LUN: ibft.LUNFromInt(1), NICIndex: 0, Name: targetIQN,
			CHAP: ibft.CHAPOneWay, CHAPName: "client-user", CHAPSecret: ibft.NewSecret("forward-secret-1"),
		}, {
			Index: 1, Flags: ibft.BlockValid, IP: ip("10.78.0.1"), Port: 3261, LUN: ibft.LUNFromInt(2),
			NICIndex: 1, Name: "iqn.2010-01.org.example:data",
			CHAP: ibft.CHAPMutual, CHAPName: "client-user", CHAPSecret: ibft.NewSecret("forward-secret-2"),
			ReverseCHAPName: "target-user", ReverseCHAPSecret: ibft.NewSecret("reverse-secret-2"),
		}},
	}
}

// ibftMachine is a machine with the virtio-root NICs and tab's files
// (raw, when set, as the raw ACPI table only: iscsi_ibft refused it).
func ibftMachine(t *testing.T, tab *ibft.Table, raw []byte) (*machine, *[]iscsi.LoginConfig) {
	t.Helper()
	m := newMachine(t)
	nics := layoutNICs(t, "virtio-root")
	if raw != nil {
		nics.add(fstest.MapFS{ibft.ACPITableDir + "/iBFT": {Data: raw, Mode: 0o400}})
	} else if tab != nil {
		nics.add(ibfttest.Sysfs(tab, nil))
	}
	m.withNICs(nics)
	var mu sync.Mutex
	logins := &[]iscsi.LoginConfig{}
	m.connect = func(cfg iscsi.LoginConfig) error {
		mu.Lock()
		defer mu.Unlock()
		*logins = append(*logins, cfg)
		return nil
	}
	m.leases = map[string]*dhcp.Lease{"eth1.100": {Address: netip.MustParsePrefix("10.78.0.20/24")}}
	return m, logins
}

func TestBootIBFT(t *testing.T) {
	m, logins := ibftMachine(t, ibftTable(), nil)
	if _, err := m.boot("rd.iscsi.firmware=1 root=/dev/disk/by-path/ip-10.77.0.1:3260-iscsi-"+targetIQN+"-lun-1", Options{}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	screen := m.screen.String()
	for _, w := range []string{
		"netroot: ibft: initiator iqn.2010-01.org.example:firmware; NIC 0 52:54:00:77:01:10 10.77.0.10/24 (booted); NIC 1 52:54:00:77:01:11 DHCP VLAN 100; target 0 10.77.0.1:3260 " + targetIQN + " LUN 1 (CHAP); target 1 10.78.0.1:3261 iqn.2010-01.org.example:data LUN 2 (mutual CHAP)",
		"netroot: vlan: eth1.100 on eth1, id 100",
		"netroot: ip: eth0 10.77.0.10/24 gw 10.77.0.1",
		"netroot: ip: eth1.100 10.78.0.20/24",
		"netroot: login: initiator iqn.2010-01.org.example:firmware (the iBFT)",
	} {
		if !strings.Contains(screen, w) {
			t.Errorf("no %q on the console:\n%s", w, screen)
		}
	}
	for _, s := range []string{"forward-secret", "reverse-secret"} {
		if strings.Contains(screen, s) || strings.Contains(m.screen.kernelLog(), s) {
			t.Errorf("a CHAP secret on the console")
		}
	}
	if got := m.called("load iscsi_ibft"); len(got) != 1 {
		t.Errorf("iscsi_ibft loads: %q", got)
	}
	if got := m.called("static"); !slices.Equal(got, []string{"static eth0 10.77.0.10/24"}) {
		t.Errorf("static addresses: %q", got)
	}
	if got := m.called("dhcp "); !slices.Equal(got, []string{"dhcp eth1.100"}) {
		t.Errorf("DHCP: %q", got)
	}
	if len(*logins) != 2 {
		t.Fatalf("logins: %+v", *logins)
	}
	slices.SortFunc(*logins, func(a, b iscsi.LoginConfig) int { return strings.Compare(a.Portal, b.Portal) })
	l0, l1 := (*logins)[0], (*logins)[1]
	if l0.Portal != "10.77.0.1:3260" || l0.TargetName != targetIQN || l0.InitiatorName != "iqn.2010-01.org.example:firmware" ||
		l0.Credentials.Username != "client-user" || l0.Credentials.Password != "forward-secret-1" || l0.Credentials.InUsername != "" {
		t.Errorf("login 0: %+v", l0)
	}
	if l1.Portal != "10.78.0.1:3261" || l1.Credentials.Password != "forward-secret-2" ||
		l1.Credentials.InUsername != "target-user" || l1.Credentials.InPassword != "reverse-secret-2" {
		t.Errorf("login 1: %+v", l1)
	}
	if got := m.called("scan"); len(got) != 0 {
		t.Errorf("%q", got)
	}
	resolv, _ := m.files.ReadFile("/run/netroot/resolv.conf")
	if !strings.Contains(string(resolv), "nameserver 10.77.0.53") {
		t.Errorf("resolv.conf lacks the iBFT's DNS server:\n%s", resolv)
	}
	name, _ := m.files.ReadFile(initiatorFile)
	if string(name) != "InitiatorName=iqn.2010-01.org.example:firmware\n" {
		t.Errorf("%s: %q", initiatorFile, name)
	}
}

// TestBootIBFTBond: a NIC of the table that is a bond slave configures
// the bond, as its primary; its VLAN sits on the bond.
func TestBootIBFTBond(t *testing.T) {
	tab := ibftTable()
	tab.NICs[0].VLAN = 5
	tab.Targets = tab.Targets[:1]
	m, logins := ibftMachine(t, tab, nil)
	if _, err := m.boot("bond=bond0:eth1,eth0:mode=active-backup,miimon=100 rd.iscsi.firmware root=LABEL=ISCSI_ROOT", Options{}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	for _, w := range []string{"enslave bond0 eth1,eth0 primary=eth0", "vlan bond0.5", "static bond0.5 10.77.0.10/24"} {
		if len(m.called(w)) != 1 {
			t.Errorf("no %q in %q", w, m.called(""))
		}
	}
	if len(*logins) != 1 {
		t.Errorf("logins: %+v", *logins)
	}
}

// TestBootIBFTNetworkOnly: ip=ibft with the command line's own target:
// the table's network, not its targets.
func TestBootIBFTNetworkOnly(t *testing.T) {
	m, logins := ibftMachine(t, ibftTable(), nil)
	if _, err := m.boot("ip=ibft netroot="+target+" "+rootArgs, Options{}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	if len(*logins) != 1 || (*logins)[0].Credentials.Username != "" || (*logins)[0].InitiatorName != "iqn.2010-01.org.example:client" {
		t.Errorf("logins: %+v", *logins)
	}
	if len(m.called("static eth0")) != 1 {
		t.Errorf("calls %q", m.called(""))
	}
}

func TestBootIBFTFailures(t *testing.T) {
	malformed, err := ibft.Marshal(ibftTable())
	if err != nil {
		t.Fatal(err)
	}
	malformed[ibft.StructureOffset(malformed, ibft.SlotTarget1)+2] = 50
	ibft.FixChecksum(malformed)
	noTargets := ibftTable()
	noTargets.Targets = nil
	for _, tc := range []struct {
		name string
		tab  *ibft.Table
		raw  []byte
		want string
	}{
		{"no table", nil, nil, "FATAL ibft: /sys/firmware/ibft: absent (is iscsi_ibft loaded? it refuses a malformed table), and /sys/firmware/acpi/tables has no iBFT (does the firmware publish one?): no iBFT — did the firmware boot from iSCSI"},
		{"malformed", nil, malformed, "FATAL ibft: the firmware's iBFT is malformed: target slot 1 at 0x01c0: length 50, want 54 (read from /sys/firmware/acpi/tables/iBFT) — update the firmware"},
		{"no target", noTargets, nil, "FATAL ibft: the firmware's iBFT lists no valid target — "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, logins := ibftMachine(t, tc.tab, tc.raw)
			_, err := m.boot("rd.iscsi.firmware=1 root=LABEL=ISCSI_ROOT rd.shell=0", Options{})
			screen := m.screen.String()
			if err == nil || !strings.Contains(screen, tc.want) || strings.Count(screen, "FATAL") != 1 {
				t.Errorf("Run = %v; want one FATAL %q:\n%s", err, tc.want, screen)
			}
			if len(*logins) != 0 {
				t.Errorf("logged in: %+v", *logins)
			}
		})
	}
}
