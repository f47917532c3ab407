package config

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestParseIP(t *testing.T) {
	a := netip.MustParseAddr
	pf := netip.MustParsePrefix
	tests := []struct {
		in   string
		want IPConfig
	}{
		// dracut.cmdline(7), form 1.
		{"dhcp", IPConfig{Method: IPDHCP}},
		{"on", IPConfig{Method: IPDHCP}},
		{"any", IPConfig{Method: IPDHCP}},
		{"dhcp6", IPConfig{Method: IPDHCP6}},
		{"auto6", IPConfig{Method: IPAuto6}},
		{"either6", IPConfig{Method: IPEither6}},
		{"link6", IPConfig{Method: IPLink6}},
		{"single-dhcp", IPConfig{Method: IPSingleDHCP}},
		{"dhcp,dhcp6", IPConfig{Method: IPDHCP, MoreMethods: []IPMethod{IPDHCP6}}},
		{"", IPConfig{Method: IPDHCP}}, // parse-ip-opts.sh: empty autoconf means dhcp
		// Form 2.
		{"eth0:dhcp", IPConfig{Interface: "eth0", Method: IPDHCP}},
		{"eth0:auto6", IPConfig{Interface: "eth0", Method: IPAuto6}},
		{"bond0:dhcp,dhcp6", IPConfig{Interface: "bond0", Method: IPDHCP, MoreMethods: []IPMethod{IPDHCP6}}},
		{"eth0:link6", IPConfig{Interface: "eth0", Method: IPLink6}},
		{"eth0:dhcp:9000", IPConfig{Interface: "eth0", Method: IPDHCP, MTU: 9000}},
		{"eth0:dhcp::52:54:00:12:34:56", IPConfig{Interface: "eth0", Method: IPDHCP, MAC: mac("52:54:00:12:34:56")}},
		{"eth0:dhcp:1500:52-54-00-12-34-56", IPConfig{Interface: "eth0", Method: IPDHCP, MTU: 1500, MAC: mac("52:54:00:12:34:56")}},
		// Form 3.
		{"192.168.1.10::192.168.1.1:255.255.255.0:node1:eth0:none",
			IPConfig{Interface: "eth0", Method: IPStatic, Address: pf("192.168.1.10/24"), Gateway: a("192.168.1.1"), Hostname: "node1"}},
		{"192.168.1.10::192.168.1.1:24::eth0:off",
			IPConfig{Interface: "eth0", Method: IPStatic, Address: pf("192.168.1.10/24"), Gateway: a("192.168.1.1")}},
		{"10.0.0.2:10.0.0.1/30::30::ppp0:none",
			IPConfig{Interface: "ppp0", Method: IPStatic, Address: pf("10.0.0.2/30"), Peer: a("10.0.0.1"), PeerPrefix: pf("10.0.0.1/30")}},
		{"[2001:db8::10]::[2001:db8::1]:64::eth0:none",
			IPConfig{Interface: "eth0", Method: IPStatic, Address: pf("2001:db8::10/64"), Gateway: a("2001:db8::1")}},
		{"192.168.1.10::192.168.1.1:24:h:eth0:none:9000:52:54:00:12:34:56",
			IPConfig{Interface: "eth0", Method: IPStatic, Address: pf("192.168.1.10/24"), Gateway: a("192.168.1.1"), Hostname: "h", MTU: 9000, MAC: mac("52:54:00:12:34:56")}},
		{"192.168.1.10::192.168.1.1:24:h:eth0:none::52:54:00:12:34:56",
			IPConfig{Interface: "eth0", Method: IPStatic, Address: pf("192.168.1.10/24"), Gateway: a("192.168.1.1"), Hostname: "h", MAC: mac("52:54:00:12:34:56")}},
		{"192.168.1.10::192.168.1.1:24:h:eth0:none:192.168.1.2:192.168.1.3",
			IPConfig{Interface: "eth0", Method: IPStatic, Address: pf("192.168.1.10/24"), Gateway: a("192.168.1.1"), Hostname: "h", DNS: []netip.Addr{a("192.168.1.2"), a("192.168.1.3")}}},
		{"192.168.1.10::192.168.1.1:24:h:eth0:none::192.168.1.3",
			IPConfig{Interface: "eth0", Method: IPStatic, Address: pf("192.168.1.10/24"), Gateway: a("192.168.1.1"), Hostname: "h", DNS: []netip.Addr{a("192.168.1.3")}}},
		{"[2001:db8::10]::[2001:db8::1]:64::eth0:none:[2001:db8::53]",
			IPConfig{Interface: "eth0", Method: IPStatic, Address: pf("2001:db8::10/64"), Gateway: a("2001:db8::1"), DNS: []netip.Addr{a("2001:db8::53")}}},
		{"::::node1:eth0:dhcp", IPConfig{Interface: "eth0", Method: IPDHCP, Hostname: "node1"}},
		// A gateway of 0.0.0.0 (::) is none, as the kernel's ip= reads it
		// (and pxelinux's IPAPPEND writes it without a router).
		{"10.0.0.2::0.0.0.0:255.255.255.0::eth0:none",
			IPConfig{Interface: "eth0", Method: IPStatic, Address: pf("10.0.0.2/24")}},
		{"[2001:db8::10]::[::]:64::eth0:none",
			IPConfig{Interface: "eth0", Method: IPStatic, Address: pf("2001:db8::10/64")}},
	}
	for _, tt := range tests {
		got, err := ParseIP(tt.in)
		if err != nil {
			t.Errorf("ParseIP(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseIP(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseIPErrors(t *testing.T) {
	for _, in := range []string{
		"bootp",                              // unsupported
		"dhcpx",                              // unknown method
		"none",                               // static without address
		"192.168.1.10::192.168.1.1:24::eth0", // empty method = dhcp, with an address
		"192.168.1.10::192.168.1.1:24::eth0:dhcp",          // address with dhcp
		"192.168.1.10::192.168.1.1:::eth0:none",            // no netmask
		"192.168.1.10::192.168.1.1:255.0.255.0::eth0:none", // non-contiguous mask
		"192.168.1.10::192.168.1.1:33::eth0:none",          // prefix too long
		"[2001:db8::10]::[2001:db8::1]:255.255.0.0::eth0:none",
		"192.168.1.10::[2001:db8::1]:24::eth0:none", // families differ
		"eth0:dhcp:abc",
		"eth0:dhcp:1500:52:54:00",
		"eth0:dhcp:20",
		"averyveryverylongname0:dhcp",
		"192.168.1.10::192.168.1.1:24:h:eth0:none:foo",
		"1.2.3.4::::h/x:eth0:none",
		"1.2.3.4", // anaconda style needs Parse
		"1.2.3.999",
		"::::h:eth/0:dhcp",
	} {
		if c, err := ParseIP(in); err == nil {
			t.Errorf("ParseIP(%q) = %+v, want an error", in, c)
		}
	}
	if _, err := ParseIP("bootp"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ParseIP(bootp) = %v, want ErrUnsupported", err)
	}
}

func TestParseRoute(t *testing.T) {
	pf := netip.MustParsePrefix
	a := netip.MustParseAddr
	tests := []struct {
		in   string
		want Route
	}{
		// dracut.cmdline(7) examples.
		{"192.168.200.0/24:192.168.100.222:ens10", Route{pf("192.168.200.0/24"), a("192.168.100.222"), "ens10"}},
		{"192.168.200.0/24:192.168.100.222", Route{pf("192.168.200.0/24"), a("192.168.100.222"), ""}},
		{"192.168.200.0/24::ens10", Route{pf("192.168.200.0/24"), netip.Addr{}, "ens10"}},
		{"[2001:DB8:3::/8]:[2001:DB8:2::1]:ens10", Route{pf("2000::/8"), a("2001:db8:2::1"), "ens10"}},
		{"10.1.0.0/255.255.0.0:10.0.0.1", Route{pf("10.1.0.0/16"), a("10.0.0.1"), ""}},
	}
	for _, tt := range tests {
		got, err := ParseRoute(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRoute(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/8", "10.0.0.0:10.0.0.1", "10.0.0.0/8::", "10.0.0.0/8:[2001:db8::1]", "10.0.0.0/8:1.2.3.4:e:x", "x/8:1.2.3.4"} {
		if r, err := ParseRoute(in); err == nil {
			t.Errorf("ParseRoute(%q) = %+v, want an error", in, r)
		}
	}
}

func TestSplitFields(t *testing.T) {
	tests := map[string][]string{
		"":                 {""},
		"a:b":              {"a", "b"},
		"a:b:":             {"a", "b", ""},
		"[2001:db8::1]::x": {"2001:db8::1", "", "x"},
		"eth0:dhcp::aa:bb": {"eth0", "dhcp", "", "aa", "bb"},
		"[1.2.3.4]:x":      {"[1.2.3.4]", "x"},
	}
	for in, want := range tests {
		if got := splitFields(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitFields(%q) = %q, want %q", in, got, want)
		}
	}
}
