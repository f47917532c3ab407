package dhcp

import (
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzFromACK feeds arbitrary packets (as a server could send them)
// through the parser, FromACK and the renderers: nothing may panic, a
// lease must have a unicast IPv4 address, and the env file must stay one
// safely quoted assignment per line.
func FuzzFromACK(f *testing.F) {
	f.Add(ack(map[uint8][]byte{
		1: {255, 255, 255, 0}, 3: {10, 77, 0, 1}, 6: {10, 77, 0, 1}, 12: []byte("node7"),
		17: []byte("iscsi:10.77.0.1::3260:1:iqn.2010-01.org.example:root"), 26: {5, 220}, 51: {0, 0, 14, 16},
		121: {24, 192, 168, 1, 10, 77, 0, 1}, 119: {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0},
	}).ToBytes())
	f.Add(ack(map[uint8][]byte{17: []byte("iscsi:'$(reboot)'\n"), 12: []byte("a\nb")}).ToBytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := dhcpv4.FromBytes(data)
		if err != nil {
			return
		}
		l, err := FromACK("eth0", m)
		if err != nil {
			return
		}
		if !unicast(l.Address.Addr()) || l.Address.Bits() < 1 || l.Address.Bits() > 32 {
			t.Fatalf("lease address %v", l.Address)
		}
		if l.MTU != 0 && l.MTU < 68 {
			t.Fatalf("MTU %d", l.MTU)
		}
		if l.Hostname != "" && !ValidHostname(l.Hostname) {
			t.Fatalf("hostname %q", l.Hostname)
		}
		for _, line := range strings.Split(strings.TrimSuffix(l.EnvFile(), "\n"), "\n") {
			if !envLine.MatchString(line) {
				t.Fatalf("env line %q", line)
			}
		}
		rc := ResolvConf("DHCP on eth0", l.DNS, l.Search)
		for _, line := range strings.Split(strings.TrimSuffix(rc, "\n"), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "search ") && !strings.HasPrefix(line, "nameserver ") {
				t.Fatalf("resolv.conf line %q", line)
			}
		}
		if _, err := l.JSON(); err != nil {
			t.Fatal(err)
		}
		// The same root-path with CHAP credentials: the files never
		// hold the password.
		const secret = "Zq9SECRETx"
		if l.RootPath != "" && !strings.Contains(l.RootPath, secret) {
			c := *l
			c.RootPath = "iscsi:u:" + secret + "@" + strings.TrimPrefix(l.RootPath, "iscsi:")
			j, err := c.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(j)+c.EnvFile(), secret) {
				t.Fatalf("root-path %q: the password is written", c.RootPath)
			}
		}
		_ = Broadcast(l)
		for _, r := range l.Routes {
			if !r.Destination.IsValid() || r.Destination.Addr() != r.Destination.Masked().Addr() {
				t.Fatalf("route %v", r)
			}
		}
		if l.Router.IsValid() && !unicast(l.Router) {
			t.Fatalf("router %v", l.Router)
		}

	})
}
