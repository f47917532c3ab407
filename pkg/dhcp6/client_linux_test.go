package dhcp6

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// TestReceiveOversized: a datagram bigger than any DHCPv6 answer is
// dropped before it is decoded, counted and warned about; one of the
// usual size is taken.
func TestReceiveOversized(t *testing.T) {
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer conn.Close()
	var logs []string
	c := &client{iface: "lo", conn: conn, params: MessageParams{XID: testXID},
		logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }}
	send, err := net.DialUDP("udp6", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()

	hdr := []byte{byte(dhcpv6.MessageTypeAdvertise), testXID[0], testXID[1], testXID[2]}
	big := append(hdr, rawOption(dhcpv6.OptionDomainSearchList, pointerChain(4000, 4000))...)
	small := append(hdr, rawOption(dhcpv6.OptionDomainSearchList, wireName("example", "org"))...)
	buf := make([]byte, 65536)
	for _, b := range [][]byte{big, small} {
		if _, err := send.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	m, _, ok, err := c.receive(context.Background(), time.Now().Add(5*time.Second), buf)
	if m != nil || !ok || err != nil {
		t.Fatalf("a datagram of %d bytes taken: %v %v %v", len(big), m, ok, err)
	}
	if c.ignored != 1 || len(logs) != 1 || !strings.Contains(logs[0], fmt.Sprintf("%d bytes", len(big))) {
		t.Errorf("ignored %d, logs %q: want one warning giving the size", c.ignored, logs)
	}
	m, _, ok, err = c.receive(context.Background(), time.Now().Add(5*time.Second), buf)
	if m == nil || !ok || err != nil {
		t.Fatalf("a datagram of %d bytes dropped: %v %v %v (logs %q)", len(small), m, ok, err, logs)
	}
}
