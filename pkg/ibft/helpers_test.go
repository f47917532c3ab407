package ibft_test

import (
	"net"
	"net/netip"

	"github.com/netroot/netroot/pkg/ibft"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

var ip = netip.MustParseAddr

// full is a table with everything: two NICs (one on a VLAN, one from
// DHCP), two targets (one-way and mutual CHAP, one over IPv6).
func full() *ibft.Table {
	return &ibft.Table{
		Signature: "iBFT", OEMID: "NETRT", OEMTableID: "NETROOT", OEMRevision: 7, CreatorID: "NRT", CreatorRevision: 3,
		Control: ibft.SingleLoginOnly,
		Initiator: &ibft.Initiator{
			Flags: ibft.BlockValid | ibft.FirmwareBootSelected,
			Name:  "iqn.2010-01.org.example:client", ISNSServer: ip("10.77.0.5"), SecondaryRADIUS: ip("2001:db8::7"),
		},
		NICs: []ibft.NIC{{
			Index: 0, Flags: ibft.BlockValid | ibft.FirmwareBootSelected | ibft.NICGlobal,
			IP: ip("10.77.0.10"), PrefixLen: 24, Origin: ibft.OriginManual,
			Gateway: ip("10.77.0.1"), PrimaryDNS: ip("10.77.0.1"), SecondaryDNS: ip("2001:db8::53"),
			MAC: mac("52:54:00:77:00:10"), PCI: ibft.NewBDF(0, 2, 0), Hostname: "client",
		}, {
			Index: 1, Flags: ibft.BlockValid,
			IP: ip("10.78.0.10"), PrefixLen: 16, Origin: ibft.OriginDHCP, DHCPServer: ip("10.78.0.1"),
			VLAN: 100, MAC: mac("52:54:00:77:00:11"), PCI: ibft.NewBDF(0, 3, 0),
		}},
		Targets: []ibft.Target{{
			Index: 0, Flags: ibft.BlockValid | ibft.FirmwareBootSelected,
			IP: ip("10.77.0.1"), Port: 3260, LUN: ibft.LUNFromInt(1), NICIndex: 0,
			Name: "iqn.2010-01.org.example:root",
			CHAP: ibft.CHAPOneWay, CHAPName: "client-user", CHAPSecret: ibft.NewSecret("forward-secret-1"),
		}, {
			Index: 1, Flags: ibft.BlockValid,
			IP: ip("2001:db8::1"), Port: 3261, LUN: ibft.LUNFromInt(0x4005), NICIndex: 1,
			Name: "iqn.2010-01.org.example:data",
			CHAP: ibft.CHAPMutual, CHAPName: "client-user", CHAPSecret: ibft.NewSecret("forward-secret-2"),
			ReverseCHAPName: "target-user", ReverseCHAPSecret: ibft.NewSecret("reverse-secret-2"),
		}},
	}
}

// minimal is what iPXE's sanhook writes: one NIC, one target, no CHAP.
func minimal() *ibft.Table {
	return &ibft.Table{
		Signature: "iBFT",
		Initiator: &ibft.Initiator{Flags: ibft.BlockValid | ibft.FirmwareBootSelected, Name: "iqn.2010-04.org.ipxe:client"},
		NICs: []ibft.NIC{{
			Flags: ibft.BlockValid | ibft.FirmwareBootSelected, IP: ip("10.77.0.100"), PrefixLen: 24,
			Origin: ibft.OriginDHCP, Gateway: ip("10.77.0.1"), DHCPServer: ip("10.77.0.1"),
			MAC: mac("52:54:00:77:00:10"), PCI: ibft.NewBDF(0, 2, 0),
		}},
		Targets: []ibft.Target{{
			Flags: ibft.BlockValid | ibft.FirmwareBootSelected, IP: ip("10.77.0.1"), Port: 3260,
			LUN: ibft.LUNFromInt(1), Name: "iqn.2010-01.org.example:root",
		}},
	}
}

// secrets are the secrets of full, which no output may contain.
var secrets = []string{"forward-secret-1", "forward-secret-2", "reverse-secret-2"}

func mustMarshal(t *ibft.Table) []byte {
	raw, err := ibft.Marshal(t)
	if err != nil {
		panic(err)
	}
	return raw
}
