package dhcp6

import (
	"bytes"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv6"
)

// fakeServer is a DHCPv6 "server" on the server end of l that answers
// each client message with whatever answer returns.
type fakeServer struct {
	conn *net.UDPConn
	wg   sync.WaitGroup
}

func (l *link) fakeServer(t *testing.T, answer func(m *dhcpv6.Message) [][]byte) {
	t.Helper()
	conn, ifindex := l.listenServer(t)
	s := &fakeServer{conn: conn}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, src, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m, err := dhcpv6.MessageFromBytes(buf[:n])
			if err != nil {
				continue
			}
			// The zone by index: names resolve in this process's namespace.
			dst := &net.UDPAddr{IP: src.IP, Port: src.Port, Zone: strconv.Itoa(ifindex)}
			for _, b := range answer(m) {
				conn.WriteToUDP(b, dst)
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); s.wg.Wait() })
}

// listenServer opens UDP port 547 in the server namespace, in
// All_DHCP_Relay_Agents_and_Servers: a socket stays in the namespace it
// was made in, whichever thread uses it later.
func (l *link) listenServer(t *testing.T) (*net.UDPConn, int) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.GetFromName(l.srvNS)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	ifi, err := net.InterfaceByName(l.srvIf)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp6", &net.UDPAddr{Port: dhcpv6.DefaultServerPort})
	if err != nil {
		t.Fatal(err)
	}
	if err := ipv6.NewPacketConn(c).JoinGroup(ifi, &net.UDPAddr{IP: net.ParseIP("ff02::1:2")}); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, ifi.Index
}

var fakeDUID = &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 0x47}}

// answerTo builds an answer of type t to m granting addr, with extra
// options.
func answerTo(m *dhcpv6.Message, t dhcpv6.MessageType, addr string, extra ...dhcpv6.Option) *dhcpv6.Message {
	a := &dhcpv6.Message{MessageType: t, TransactionID: m.TransactionID}
	if cid := m.Options.ClientID(); cid != nil {
		a.AddOption(dhcpv6.OptClientID(cid))
	}
	a.AddOption(dhcpv6.OptServerID(fakeDUID))
	var iaid [4]byte
	if ia := m.Options.OneIANA(); ia != nil {
		iaid = ia.IaId
	}
	ia := &dhcpv6.OptIANA{IaId: iaid, T1: 1800 * time.Second, T2: 2880 * time.Second}
	ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP(addr), PreferredLifetime: time.Hour, ValidLifetime: time.Hour})
	a.AddOption(ia)
	for _, o := range extra {
		a.AddOption(o)
	}
	return a
}

// garbage is what a hostile or broken server sends: nothing a client may
// take.
func garbage(m *dhcpv6.Message) [][]byte {
	wrongClient := answerTo(m, dhcpv6.MessageTypeAdvertise, "fd77::66")
	wrongClient.Options.Del(dhcpv6.OptionClientID)
	wrongClient.AddOption(dhcpv6.OptClientID(fakeDUID))
	noServer := answerTo(m, dhcpv6.MessageTypeAdvertise, "fd77::66")
	noServer.Options.Del(dhcpv6.OptionServerID)
	badAddr := answerTo(m, dhcpv6.MessageTypeAdvertise, "ff02::1")
	linkLocal := answerTo(m, dhcpv6.MessageTypeAdvertise, "fe80::66")
	refused := answerTo(m, dhcpv6.MessageTypeAdvertise, "fd77::66", &dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail, StatusMessage: "no\x1b[2J"})
	noRapid := answerTo(m, dhcpv6.MessageTypeReply, "fd77::66")
	good := answerTo(m, dhcpv6.MessageTypeAdvertise, "fd77::66").ToBytes()
	truncatedIANA := good[:len(good)-7]
	badClientID := append(append([]byte(nil), m.ToBytes()[:4]...), 0, 1, 0, 1, 0xff) // option 1 of 1 byte
	badClientID[0] = byte(dhcpv6.MessageTypeAdvertise)
	relay := append([]byte{byte(dhcpv6.MessageTypeRelayReply)}, bytes.Repeat([]byte{0x41}, 40)...)
	return [][]byte{
		{0xde, 0xad},
		bytes.Repeat([]byte{0xff}, 300),
		relay,
		truncatedIANA,
		badClientID,
		wrongClient.ToBytes(),
		noServer.ToBytes(),
		badAddr.ToBytes(),
		linkLocal.ToBytes(),
		refused.ToBytes(),
		noRapid.ToBytes(),
	}
}

// TestNetnsHostileGarbage: a server that sends only garbage and answers
// that are not ours ends like no server at all — after the deadline, with
// the answers counted and warned about — and never crashes the client.
func TestNetnsHostileGarbage(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	l.fakeServer(t, func(m *dhcpv6.Message) [][]byte {
		if m.MessageType != dhcpv6.MessageTypeSolicit {
			return nil
		}
		return garbage(m)
	})
	res := l.run(t, childJob{Mode: "dhcp6", Timeout: 4 * time.Second})
	if res.ErrKind != "NoLeaseError" || !strings.Contains(res.Err, "answer(s) ignored") {
		t.Fatalf("error %q (%s), want a NoLeaseError counting ignored answers", res.Err, res.ErrKind)
	}
	warnings := 0
	for _, line := range res.Logs {
		if strings.Contains(line, "ignoring an answer") {
			warnings++
		}
		if strings.ContainsAny(line, "\x1b\n") {
			t.Errorf("a log line carries a server's control characters: %q", line)
		}
	}
	if warnings == 0 || warnings > maxWarnings {
		t.Errorf("%d warnings about ignored answers, want 1-%d", warnings, maxWarnings)
	}
	if !strings.Contains(strings.Join(res.Logs, "\n"), "further ignored answers are not reported") {
		t.Errorf("no note that further warnings are dropped")
	}
}

// TestNetnsHostileUsable: garbage first, then a real offer whose
// informational options are partly bad: the client takes the address and
// the good options, drops the bad ones (Lease.Ignored) and warns.
func TestNetnsHostileUsable(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	l.fakeServer(t, func(m *dhcpv6.Message) [][]byte {
		switch m.MessageType {
		case dhcpv6.MessageTypeSolicit:
			adv := answerTo(m, dhcpv6.MessageTypeAdvertise, "fd77::42",
				&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionDNSRecursiveNameServer, OptionData: []byte{1, 2, 3, 4, 5}})
			return append(garbage(m), adv.ToBytes())
		case dhcpv6.MessageTypeRequest:
			reply := answerTo(m, dhcpv6.MessageTypeReply, "fd77::42",
				dhcpv6.OptDNS(net.ParseIP("ff02::1"), net.ParseIP("fd77::53"), net.ParseIP("fe80::53"), net.ParseIP("::ffff:10.0.0.1")),
				dhcpv6.OptBootFileURL("iscsi:[fd77::1]::3260:1:iqn.x:root\n$(reboot)"),
				&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionDomainSearchList, OptionData: []byte{3, 'a', 'b'}},
			)
			return [][]byte{{0}, reply.ToBytes()}
		}
		return nil
	})
	res := l.run(t, childJob{Mode: "dhcp6", Timeout: 20 * time.Second})
	if res.Err != "" {
		t.Fatalf("dhcp6: %s", res.Err)
	}
	lease := res.Lease
	if lease.Address != netip.MustParsePrefix("fd77::42/128") {
		t.Errorf("address %s, want fd77::42/128", lease.Address)
	}
	if len(lease.DNS) != 1 || lease.DNS[0] != netip.MustParseAddr("fd77::53") {
		t.Errorf("DNS %v, want only fd77::53", lease.DNS)
	}
	if lease.BootFileURL != "" || len(lease.Search) != 0 {
		t.Errorf("boot file URL %q, search %q: want both dropped", lease.BootFileURL, lease.Search)
	}
	ignored := strings.Join(lease.Ignored, "\n")
	for _, want := range []string{"option 23 (DNS) ff02::1", "option 23 (DNS) fe80::53", "option 23 (DNS) ::ffff:10.0.0.1", "option 59", "option 24"} {
		if !strings.Contains(ignored, want) {
			t.Errorf("Ignored lacks %q:\n%s", want, ignored)
		}
	}
	logs := strings.Join(res.Logs, "\n")
	if !strings.Contains(logs, "ignoring an answer") || !strings.Contains(logs, "option 23 (DNS): malformed") {
		t.Errorf("no warnings for the garbage and the malformed Advertise option:\n%s", logs)
	}
	if !strings.Contains(l.cliAddrs(t), "fd77::42/128 scope global") {
		t.Errorf("fd77::42/128 not applied:\n%s", l.cliAddrs(t))
	}
}
