package dhcp6

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/rfc1035label"
	"github.com/netroot/netroot/pkg/dhcp"
)

// FuzzFromReply feeds arbitrary datagrams (as a server could send them)
// through ParseMessage, ParseAdvertise, FromReply and the renderers:
// nothing may panic, a lease must have a /128 global or unique-local
// unicast address, and what reaches resolv.conf, the env file and the
// console must be valid.
func FuzzFromReply(f *testing.F) {
	h := time.Hour
	f.Add(reply(dhcpv6.MessageTypeReply, "fd77::42", h, h,
		dhcpv6.OptDNS(net.ParseIP("fd77::1")),
		dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: []string{"example.org"}}),
		dhcpv6.OptBootFileURL("iscsi:[fd77::1]::3260:1:iqn.2010-01.org.example:root"),
		&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit},
	).ToBytes())
	f.Add(reply(dhcpv6.MessageTypeAdvertise, "2001:db8::5", h, 2*h,
		&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionPreference, OptionData: []byte{255}}).ToBytes())
	f.Add(reply(dhcpv6.MessageTypeReply, "fd77::42", h, h, dhcpv6.OptBootFileURL("x'\n$(reboot)")).ToBytes())
	f.Add([]byte{7, 1, 2, 3, 0, 23, 0, 5, 1, 2, 3, 4, 5})
	// Compression pointers, which a decoder following them pays for
	// quadratically.
	f.Add(reply(dhcpv6.MessageTypeReply, "fd77::42", h, h,
		&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionDomainSearchList, OptionData: pointerChain(100, 200)},
		&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionFQDN, OptionData: []byte{0, 1, 'a', 0xc0, 1}},
	).ToBytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _, err := ParseMessage(data)
		if err != nil {
			return
		}
		// Expect what the message claims, so the fuzzer gets past the
		// identity checks and into the options.
		e := Expect{XID: m.TransactionID}
		if cid := m.Options.ClientID(); cid != nil {
			e.DUID = cid
		}
		if ia := m.Options.OneIANA(); ia != nil {
			e.IAID = ia.IaId
		}
		if adv, err := ParseAdvertise(m, e); err == nil {
			if !unicast6(adv.Address) || adv.Address.IsLinkLocalUnicast() || adv.Preference < 0 || adv.Preference > 255 {
				t.Fatalf("advertise %+v", adv)
			}
		}
		l, err := FromReply("eth0", m, e)
		if err != nil {
			_ = err.Error()
			return
		}
		a := l.Address.Addr()
		if l.Address.Bits() != 128 || !unicast6(a) || a.IsLinkLocalUnicast() || a.Is4In6() {
			t.Fatalf("lease address %v", l.Address)
		}
		if l.PreferredLifetime > l.ValidLifetime || l.ValidLifetime == 0 {
			t.Fatalf("lifetimes %d/%d", l.PreferredLifetime, l.ValidLifetime)
		}
		for _, d := range l.DNS {
			if !unicast6(d) || d.IsLinkLocalUnicast() {
				t.Fatalf("DNS %v", d)
			}
		}
		for _, s := range l.Search {
			if !dhcp.ValidHostname(s) {
				t.Fatalf("search %q", s)
			}
		}
		if l.Hostname != "" && !dhcp.ValidHostname(l.Hostname) {
			t.Fatalf("hostname %q", l.Hostname)
		}
		if !printable(l.BootFileURL) || len(l.BootFileURL) > maxBootFileURL {
			t.Fatalf("boot file URL %q", l.BootFileURL)
		}
		for _, line := range strings.Split(strings.TrimSuffix(l.EnvFile(), "\n"), "\n") {
			if !envLine.MatchString(line) {
				t.Fatalf("env line %q", line)
			}
		}
		for _, s := range append([]string{l.String()}, l.Ignored...) {
			if strings.ContainsAny(s, "\n\r\x1b") {
				t.Fatalf("text with control characters: %q", s)
			}
		}
		b, err := l.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Lease
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("JSON does not read back: %v", err)
		}
	})
}
