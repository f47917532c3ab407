package osnet

import (
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// The scenario's path: bond0 (static) over eth0 and eth1, which carry the
// bond's MAC.
var bonded = Config{
	Links: []Link{
		{Name: "bond0", Kind: Bond, MAC: mac("52:54:00:77:00:10"), Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.10/24")},
			Gateways: []netip.Addr{netip.MustParseAddr("10.77.0.1")}},
		{Name: "eth0", MAC: mac("52:54:00:77:00:10"), PermanentMAC: mac("52:54:00:77:00:10"), Master: "bond0"},
		{Name: "eth1", MAC: mac("52:54:00:77:00:10"), PermanentMAC: mac("52:54:00:77:00:11"), Master: "bond0"},
	},
	Nameservers: []netip.Addr{netip.MustParseAddr("10.77.0.1")},
	RootServer:  netip.MustParseAddr("10.77.0.1"),
}

// A DHCP VLAN over a bond.
var vlanDHCP = Config{
	Links: []Link{
		{Name: "bond0.100", Kind: VLAN, Parent: "bond0", VLANID: 100, Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.5.20/22")},
			Gateways: []netip.Addr{netip.MustParseAddr("192.168.4.1")}, DHCP4: true},
		{Name: "bond0", Kind: Bond},
		{Name: "eno1", PermanentMAC: mac("aa:bb:cc:00:00:01"), Master: "bond0"},
		{Name: "eno2", MAC: mac("aa:bb:cc:00:00:02"), Master: "bond0"},
	},
	Hostname: "node7",
}

func TestFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		// want: path → substrings its contents must have; absent: paths
		// or substrings that must not be there ("path|substring").
		want   map[string][]string
		absent []string
	}{
		{
			name: "bond static",
			c:    bonded,
			want: map[string][]string{
				"/run/systemd/network/05-netroot-eth0.link":     {"[Match]\nPermanentMACAddress=52:54:00:77:00:10\n", "Name=eth0\n", "NamePolicy=\n", "AlternativeNamesPolicy=\n"},
				"/run/systemd/network/05-netroot-eth1.link":     {"PermanentMACAddress=52:54:00:77:00:11\n", "Name=eth1\n"},
				"/run/systemd/network/05-netroot-bond0.link":    {"OriginalName=bond0\n", "Name=bond0\n", "MACAddressPolicy=none\n"},
				"/run/systemd/network/05-netroot-bond0.network": {"Name=bond0\n", "KeepConfiguration=yes\n", "DHCP=no\n", "Address=10.77.0.10/24\n", "Gateway=10.77.0.1\n", "DNS=10.77.0.1\n", "IPv6AcceptRA=no\n"},
				"/run/systemd/network/05-netroot-eth0.network":  {"Name=eth0\n", "KeepMaster=yes\n", "KeepConfiguration=yes\n", "DHCP=no\n"},
				"/run/systemd/network/05-netroot-eth1.network":  {"KeepMaster=yes\n"},
				NMConfFile:                   {"match-device=interface-name:bond0;interface-name:eth0;interface-name:eth1\n", "managed=0\n"},
				"/run/network/ifstate.bond0": {"bond0\n"},
				"/run/network/ifstate.eth1":  {"eth1\n"},
				"/run/net-bond0.conf":        {"DEVICE='bond0'\n", "PROTO='none'\n", "IPV4ADDR='10.77.0.10'\n", "IPV4BROADCAST='10.77.0.255'\n", "IPV4NETMASK='255.255.255.0'\n", "IPV4GATEWAY='10.77.0.1'\n", "IPV4DNS0='10.77.0.1'\n", "IPV4DNS1='0.0.0.0'\n", "ROOTSERVER='10.77.0.1'\n"},
			},
			absent: []string{"/run/net-eth0.conf", "/run/systemd/network/05-netroot-eth0.network|Address=", "/run/systemd/network/05-netroot-eth0.network|DNS="},
		},
		{
			name: "vlan dhcp",
			c:    vlanDHCP,
			want: map[string][]string{
				"/run/systemd/network/05-netroot-bond0.100.network": {"DHCP=ipv4\n", "KeepConfiguration=yes\n", "[DHCPv4]\nSendRelease=no\n"},
				"/run/systemd/network/05-netroot-bond0.network":     {"# VLAN bond0.100 (id 100) rides on this interface.\n", "DHCP=no\n"},
				"/run/systemd/network/05-netroot-eno2.link":         {"MACAddress=aa:bb:cc:00:00:02\nOriginalName=eno2\n"},
				"/run/systemd/network/05-netroot-eno1.network":      {"KeepMaster=yes\n"},
				"/run/net-bond0.100.conf":                           {"PROTO='dhcp'\n", "IPV4BROADCAST='192.168.7.255'\n", "IPV4NETMASK='255.255.252.0'\n", "HOSTNAME='node7'\n", "ROOTSERVER=''\n"},
			},
			absent: []string{"/run/systemd/network/05-netroot-bond0.100.network|Address=", "/run/systemd/network/05-netroot-bond0.100.network|Gateway=", "/run/net-bond0.conf"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Files(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, f := range files {
				if _, dup := got[f.Path]; dup {
					t.Errorf("%s written twice", f.Path)
				}
				got[f.Path] = string(f.Data)
			}
			for p, subs := range tc.want {
				data, ok := got[p]
				if !ok {
					t.Errorf("%s missing", p)
					continue
				}
				for _, s := range subs {
					if !strings.Contains(data, s) {
						t.Errorf("%s lacks %q:\n%s", p, s, data)
					}
				}
			}
			for _, a := range tc.absent {
				p, sub, _ := strings.Cut(a, "|")
				data, ok := got[p]
				if ok && (sub == "" || strings.Contains(data, sub)) {
					t.Errorf("%s has %q:\n%s", p, sub, data)
				}
			}
		})
	}
}

func TestFilesInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"slash", Config{Links: []Link{{Name: "../etc"}}}},
		{"too long", Config{Links: []Link{{Name: "abcdefghijklmnop"}}}},
		{"newline", Config{Links: []Link{{Name: "eth0\nBond=x"}}}},
		{"quote", Config{Links: []Link{{Name: "eth'0"}}}},
		{"twice", Config{Links: []Link{{Name: "eth0"}, {Name: "eth0"}}}},
		{"master missing", Config{Links: []Link{{Name: "eth0", Master: "bond0"}}}},
		{"parent missing", Config{Links: []Link{{Name: "eth0.5", Kind: VLAN, Parent: "eth0"}}}},
	} {
		if _, err := Files(tc.c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
		}
	}
	files, err := Files(Config{Links: []Link{{Name: "eth0", Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/8")}}},
		Hostname: "a'; rm -rf /", Domain: "x\ny"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.Contains(string(f.Data), "rm -rf") || strings.Contains(string(f.Data), "x\ny") {
			t.Errorf("%s carries the unsafe names:\n%s", f.Path, f.Data)
		}
	}
	if f, err := Files(Config{}); err != nil || f != nil {
		t.Errorf("empty: %v, %v", f, err)
	}
}

// FuzzFiles: any configuration either is refused or renders files whose
// names stay in their directories.
func FuzzFiles(f *testing.F) {
	f.Add("bond0", "eth0", "host", "example.com")
	f.Fuzz(func(t *testing.T, a, b, host, domain string) {
		c := Config{Links: []Link{{Name: a, Kind: Bond}, {Name: b, Master: a}}, Hostname: host, Domain: domain}
		files, err := Files(c)
		if err != nil {
			return
		}
		// An interface may be named "0." (the kernel allows it), so
		// "05-netroot-0..link" is fine; a ".." component is not.
		for _, f := range files {
			if filepath.Clean(f.Path) != f.Path || strings.Contains(f.Path+"/", "/../") || strings.Count(f.Path, "/") > 4 {
				t.Errorf("path %q", f.Path)
			}
		}
	})
}
