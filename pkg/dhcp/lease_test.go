package dhcp

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// ack builds a DHCPACK for 10.77.0.50 with the given raw options.
func ack(opts map[uint8][]byte) *dhcpv4.DHCPv4 {
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        iana.HWTypeEthernet,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4(10, 77, 0, 50),
		ServerIPAddr:  net.IPv4(10, 77, 0, 1),
		GatewayIPAddr: net.IPv4zero,
		ClientHWAddr:  net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x11},
		Options:       dhcpv4.Options{},
	}
	m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	for code, v := range opts {
		m.Options[code] = v
	}
	return m
}

func TestFromACK(t *testing.T) {
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	base := map[uint8][]byte{
		1:  {255, 255, 255, 0},
		3:  {10, 77, 0, 1, 10, 77, 0, 2},
		6:  {10, 77, 0, 1, 8, 8, 8, 8},
		12: []byte("node7\x00"),
		15: []byte("example.org."),
		17: []byte("iscsi:10.77.0.1::3260:1:iqn.2010-01.org.example:root"),
		26: {0x05, 0xdc},
		51: {0, 0, 0x0e, 0x10},
		54: {10, 77, 0, 1},
	}
	tests := []struct {
		name    string
		opts    map[uint8][]byte
		edit    func(*dhcpv4.DHCPv4)
		want    Lease
		ignored []string // substrings, one per Ignored entry
		err     string
	}{
		{
			name: "full",
			opts: base,
			want: Lease{
				Interface: "bond0", MAC: "52:54:00:77:00:11",
				Address: p("10.77.0.50/24"), Router: a("10.77.0.1"),
				DNS: []netip.Addr{a("10.77.0.1"), a("8.8.8.8")}, Hostname: "node7", Domain: "example.org",
				MTU: 1500, RootPath: "iscsi:10.77.0.1::3260:1:iqn.2010-01.org.example:root",
				Server: a("10.77.0.1"), NextServer: a("10.77.0.1"), LeaseTime: 3600,
			},
		},
		{
			name: "no mask: classful",
			opts: map[uint8][]byte{},
			want: Lease{Interface: "bond0", MAC: "52:54:00:77:00:11", Address: p("10.77.0.50/8"), NextServer: a("10.77.0.1")},
		},
		{
			name: "bad values are dropped and listed",
			opts: map[uint8][]byte{
				1:  {255, 0, 255, 0},
				3:  {10, 77, 0},
				12: []byte("bad host;rm -rf"),
				17: []byte("iscsi:\n10.0.0.1"),
				26: {0, 12},
				28: {1, 2},
				51: {1},
			},
			want:    Lease{Interface: "bond0", MAC: "52:54:00:77:00:11", Address: p("10.77.0.50/8"), NextServer: a("10.77.0.1")},
			ignored: []string{"option 1", "option 28", "option 3", "option 12", "option 26", "option 17", "option 51"},
		},
		{
			name: "option 121 replaces option 3",
			opts: map[uint8][]byte{
				1:   {255, 255, 255, 0},
				3:   {10, 77, 0, 9},
				121: {0, 10, 77, 0, 254, 16, 192, 168, 10, 77, 0, 3},
			},
			want: Lease{Interface: "bond0", MAC: "52:54:00:77:00:11", Address: p("10.77.0.50/24"), NextServer: a("10.77.0.1"),
				Router: a("10.77.0.254"), Routes: []Route{{Destination: p("192.168.0.0/16"), Gateway: a("10.77.0.3")}}},
		},
		{
			name: "router equal to the address and multicast routers are skipped",
			opts: map[uint8][]byte{1: {255, 255, 255, 0}, 3: {10, 77, 0, 50, 224, 0, 0, 1, 10, 77, 0, 1}},
			want: Lease{Interface: "bond0", MAC: "52:54:00:77:00:11", Address: p("10.77.0.50/24"), NextServer: a("10.77.0.1"), Router: a("10.77.0.1")},
		},
		{
			name: "not an ACK",
			opts: map[uint8][]byte{53: {byte(dhcpv4.MessageTypeOffer)}},
			err:  "not a DHCPACK",
		},
		{
			name: "broadcast yiaddr",
			opts: map[uint8][]byte{},
			edit: func(m *dhcpv4.DHCPv4) { m.YourIPAddr = net.IPv4bcast },
			err:  "not a unicast IPv4 address",
		},
		{
			name: "zero yiaddr",
			opts: map[uint8][]byte{},
			edit: func(m *dhcpv4.DHCPv4) { m.YourIPAddr = net.IPv4zero },
			err:  "not a unicast IPv4 address",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ack(tt.opts)
			if tt.edit != nil {
				tt.edit(m)
			}
			got, err := FromACK("bond0", m)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Ignored) != len(tt.ignored) {
				t.Errorf("Ignored = %q, want %d entries like %q", got.Ignored, len(tt.ignored), tt.ignored)
			} else {
				for i, s := range tt.ignored {
					if !strings.Contains(got.Ignored[i], s) {
						t.Errorf("Ignored[%d] = %q, want it to mention %q", i, got.Ignored[i], s)
					}
				}
			}
			got.Ignored = nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("lease\n got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseClasslessRoutes(t *testing.T) {
	for _, tt := range []struct {
		raw  []byte
		want string
		err  bool
	}{
		{raw: []byte{0, 10, 0, 0, 1}, want: "[{0.0.0.0/0 10.0.0.1}]"},
		{raw: []byte{24, 192, 168, 1, 10, 0, 0, 1, 32, 1, 2, 3, 4, 0, 0, 0, 0}, want: "[{192.168.1.0/24 10.0.0.1} {1.2.3.4/32 0.0.0.0}]"},
		{raw: []byte{33, 0, 0, 0, 0, 0, 0, 0, 0}, err: true},
		{raw: []byte{24, 192, 168}, err: true},
		{raw: []byte{8, 10, 224, 0, 0, 1}, err: true},
		{raw: []byte{7, 11, 10, 0, 0, 1}, err: true}, // host bits set
	} {
		got, err := parseClasslessRoutes(tt.raw)
		if (err != nil) != tt.err {
			t.Errorf("%v: err = %v, want error %v", tt.raw, err, tt.err)
			continue
		}
		if !tt.err {
			if s := strings.ReplaceAll(strings.TrimSpace(fmtRoutes(got)), "\n", " "); s != tt.want {
				t.Errorf("%v: got %s, want %s", tt.raw, s, tt.want)
			}
		}
	}
}

func fmtRoutes(rs []Route) string {
	var s []string
	for _, r := range rs {
		s = append(s, "{"+r.Destination.String()+" "+r.Gateway.String()+"}")
	}
	return "[" + strings.Join(s, " ") + "]"
}

func TestValidHostname(t *testing.T) {
	for s, want := range map[string]bool{
		"node7": true, "node-7.rack3.example.org": true, "": false, "-a": false, "a-": false,
		"a..b": false, "a b": false, "a;b": false, strings.Repeat("a", 64): false, "UPPER": true,
	} {
		if got := ValidHostname(s); got != want {
			t.Errorf("ValidHostname(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{First: time.Second, Max: 16 * time.Second, Jitter: 0.25}
	for _, tt := range []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{0, 0.5, time.Second},
		{1, 0.5, 2 * time.Second},
		{4, 0.5, 16 * time.Second},
		{10, 0.5, 16 * time.Second},
		{1000, 0.5, 16 * time.Second},
		{0, 0, 750 * time.Millisecond},
		{4, 0.999999, 20 * time.Second},
		{0, 7, 1250 * time.Millisecond}, // clamped below 1
	} {
		got := b.Wait(tt.attempt, tt.r)
		if d := got - tt.want; d > time.Millisecond || d < -time.Millisecond {
			t.Errorf("Wait(%d, %v) = %v, want %v", tt.attempt, tt.r, got, tt.want)
		}
	}
}

func TestMessages(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x11}
	p := MessageParams{XID: dhcpv4.TransactionID{1, 2, 3, 4}, MAC: mac, Elapsed: 3 * time.Second, Hostname: "node7"}
	d := Discover(p)
	if d.MessageType() != dhcpv4.MessageTypeDiscover || d.TransactionID != p.XID || d.NumSeconds != 3 ||
		d.ClientHWAddr.String() != mac.String() || d.HostName() != "node7" {
		t.Errorf("discover: %s", d.Summary())
	}
	for _, o := range []dhcpv4.OptionCode{dhcpv4.OptionRootPath, dhcpv4.OptionInterfaceMTU, dhcpv4.OptionRouter} {
		if !d.IsOptionRequested(o) {
			t.Errorf("discover does not request %v", o)
		}
	}
	// Round trip through the wire format.
	if _, err := dhcpv4.FromBytes(d.ToBytes()); err != nil {
		t.Fatal(err)
	}
	offer := ack(map[uint8][]byte{53: {byte(dhcpv4.MessageTypeOffer)}, 54: {10, 77, 0, 1}})
	r := Request(p, offer)
	if r.MessageType() != dhcpv4.MessageTypeRequest || !r.RequestedIPAddress().Equal(net.IPv4(10, 77, 0, 50)) ||
		!r.ServerIdentifier().Equal(net.IPv4(10, 77, 0, 1)) || !r.ClientIPAddr.Equal(net.IPv4zero) {
		t.Errorf("request: %s", r.Summary())
	}
}

func TestBroadcast(t *testing.T) {
	for in, want := range map[string]string{"10.77.0.50/24": "10.77.0.255", "10.1.2.3/8": "10.255.255.255", "10.0.0.1/31": "invalid IP", "10.0.0.1/32": "invalid IP"} {
		l := &Lease{Address: netip.MustParsePrefix(in)}
		if got := Broadcast(l).String(); got != want {
			t.Errorf("Broadcast(%s) = %s, want %s", in, got, want)
		}
	}
	l := &Lease{Address: netip.MustParsePrefix("10.0.0.1/24"), Broadcast: netip.MustParseAddr("10.0.0.127")}
	if got := Broadcast(l).String(); got != "10.0.0.127" {
		t.Errorf("option 28 not preferred: %s", got)
	}
}
