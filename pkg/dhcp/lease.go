// Package dhcp obtains an IPv4 lease for /init over a raw packet socket
// bound to one interface (a plain NIC, a bond or a VLAN), using
// github.com/insomniacslk/dhcp's nclient4 transport, and turns the server's
// answer into a validated Lease: address, prefix, router, DNS servers,
// hostname, domain, MTU (option 26), classless routes (option 121) and the
// root-path (option 17) that netroot=dhcp takes its iSCSI target from.
//
// Everything a DHCP server sends is untrusted: FromACK validates each field
// and drops (and lists in Lease.Ignored) what is malformed, so a bad option
// never reaches the kernel, the hostname or a shell-sourced file.
// FromACK, the message builders, the backoff and the renderers (JSON, a
// dracut/dhclient-style env file, resolv.conf) are pure and unit-tested;
// Acquire and Apply are the syscall side, proven by the QEMU boot tests.
//
// DHCPv6 and SLAAC are not implemented.
package dhcp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Route is a classless static route from option 121.
type Route struct {
	// Destination is the routed network; 0.0.0.0/0 is a default route.
	Destination netip.Prefix `json:"destination"`
	// Gateway is the next hop; 0.0.0.0 means on-link.
	Gateway netip.Addr `json:"gateway"`
}

// Lease is a validated DHCPv4 lease.
type Lease struct {
	// Interface is the interface the lease was obtained on.
	Interface string `json:"interface"`
	// MAC is the client hardware address the server answered.
	MAC string `json:"mac"`
	// Address is the leased address with the prefix length of the
	// subnet mask (option 1, or the classful default when absent).
	Address netip.Prefix `json:"address"`
	// Broadcast is option 28, invalid when absent.
	Broadcast netip.Addr `json:"broadcast,omitzero"`
	// Router is the first usable router of option 3, invalid when none
	// (or when option 121 is present, which replaces option 3, RFC 3442).
	Router netip.Addr `json:"router,omitzero"`
	// Routes are option 121's routes other than the default route (whose
	// gateway is in Router).
	Routes []Route `json:"routes,omitempty"`
	// DNS holds option 6's servers.
	DNS []netip.Addr `json:"dns,omitempty"`
	// Domain is option 15.
	Domain string `json:"domain,omitempty"`
	// Search is option 119's domain search list.
	Search []string `json:"search,omitempty"`
	// Hostname is option 12.
	Hostname string `json:"hostname,omitempty"`
	// MTU is option 26, 0 when absent or invalid.
	MTU int `json:"mtu,omitempty"`
	// RootPath is option 17, e.g. iscsi:10.0.0.1::3260:1:iqn.…
	RootPath string `json:"root_path,omitempty"`
	// Server is the server identifier (option 54).
	Server netip.Addr `json:"server,omitzero"`
	// NextServer and BootFile are siaddr and file (or option 67).
	NextServer netip.Addr `json:"next_server,omitzero"`
	BootFile   string     `json:"boot_file,omitempty"`
	// LeaseTime, RenewalTime and RebindingTime are options 51, 58, 59 (0
	// when absent).
	LeaseTime     Seconds `json:"lease_time,omitempty"`
	RenewalTime   Seconds `json:"renewal_time,omitempty"`
	RebindingTime Seconds `json:"rebinding_time,omitempty"`
	// Obtained is when the ACK arrived.
	Obtained time.Time `json:"obtained,omitzero"`
	// Ignored lists the options that were present but invalid, e.g.
	// "option 26 (MTU) 12: below 68".
	Ignored []string `json:"ignored,omitempty"`
}

// Seconds is a duration written to JSON as whole seconds.
type Seconds int64

// Duration returns s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) * time.Second }

// String is a one-line summary, e.g. "10.77.0.50/24 gw 10.77.0.1 from
// 10.77.0.1, lease 1h0m0s".
func (l *Lease) String() string {
	s := l.Address.String()
	if l.Router.IsValid() {
		s += " gw " + l.Router.String()
	}
	if l.Server.IsValid() {
		s += " from " + l.Server.String()
	}
	if l.LeaseTime > 0 {
		s += ", lease " + l.LeaseTime.Duration().String()
	}
	if l.MTU > 0 {
		s += fmt.Sprintf(", mtu %d", l.MTU)
	}
	if l.Hostname != "" {
		s += ", host " + l.Hostname
	}
	return s
}

// ErrNotAck is returned by FromACK for a message that is not a DHCPACK.
var ErrNotAck = errors.New("not a DHCPACK")

// FromACK validates a server's DHCPACK and returns the lease it grants on
// iface. The address must be a unicast IPv4 address; every other field is
// optional and dropped (noted in Ignored) when malformed.
func FromACK(iface string, ack *dhcpv4.DHCPv4) (*Lease, error) {
	if ack == nil || ack.OpCode != dhcpv4.OpcodeBootReply || ack.MessageType() != dhcpv4.MessageTypeAck {
		return nil, ErrNotAck
	}
	l := &Lease{Interface: iface, MAC: ack.ClientHWAddr.String()}
	yi, ok := v4(ack.YourIPAddr)
	if !ok || !unicast(yi) {
		return nil, fmt.Errorf("DHCPACK offers %v, which is not a unicast IPv4 address", ack.YourIPAddr)
	}
	bits := classfulBits(yi)
	if raw := ack.Options.Get(dhcpv4.OptionSubnetMask); raw != nil {
		if b, ok := maskBits(raw); ok {
			bits = b
		} else {
			l.ignore("option 1 (subnet mask) %x: not a contiguous IPv4 mask; using the classful /%d", raw, bits)
		}
	}
	l.Address = netip.PrefixFrom(yi, bits)

	if raw := ack.Options.Get(dhcpv4.OptionBroadcastAddress); raw != nil {
		if a, ok := v4(net.IP(raw)); ok && len(raw) == 4 {
			l.Broadcast = a
		} else {
			l.ignore("option 28 (broadcast) %x: not an IPv4 address", raw)
		}
	}

	// Option 121 replaces option 3 (RFC 3442 section 3).
	if raw := ack.Options.Get(dhcpv4.OptionClasslessStaticRoute); raw != nil {
		routes, err := parseClasslessRoutes(raw)
		if err != nil {
			l.ignore("option 121 (classless routes): %v", err)
		}
		for _, r := range routes {
			if r.Destination.Bits() == 0 {
				if !l.Router.IsValid() && r.Gateway.IsValid() && !r.Gateway.IsUnspecified() {
					l.Router = r.Gateway
				}
				continue
			}
			l.Routes = append(l.Routes, r)
		}
	}
	if raw := ack.Options.Get(dhcpv4.OptionRouter); raw != nil && ack.Options.Get(dhcpv4.OptionClasslessStaticRoute) == nil {
		addrs, bad := ipList(raw)
		if bad != "" {
			l.ignore("option 3 (router): %s", bad)
		}
		for _, a := range addrs {
			if unicast(a) && a != yi {
				l.Router = a
				break
			}
		}
	}
	if raw := ack.Options.Get(dhcpv4.OptionDomainNameServer); raw != nil {
		addrs, bad := ipList(raw)
		if bad != "" {
			l.ignore("option 6 (DNS): %s", bad)
		}
		for _, a := range addrs {
			if unicast(a) || a.IsLoopback() {
				l.DNS = append(l.DNS, a)
			}
		}
	}
	if raw := ack.Options.Get(dhcpv4.OptionHostName); raw != nil {
		if h := trimNUL(raw); ValidHostname(h) {
			l.Hostname = h
		} else {
			l.ignore("option 12 (hostname) %q: not a valid host name", h)
		}
	}
	if raw := ack.Options.Get(dhcpv4.OptionDomainName); raw != nil {
		if d := strings.TrimSuffix(trimNUL(raw), "."); ValidHostname(d) {
			l.Domain = d
		} else {
			l.ignore("option 15 (domain) %q: not a valid domain name", d)
		}
	}
	if raw := ack.Options.Get(dhcpv4.OptionDNSDomainSearchList); raw != nil {
		if labels := ack.DomainSearch(); labels != nil {
			for _, d := range labels.Labels {
				d = strings.TrimSuffix(d, ".")
				if ValidHostname(d) {
					l.Search = append(l.Search, d)
				} else {
					l.ignore("option 119 (search) %q: not a valid domain name", d)
				}
			}
		} else {
			l.ignore("option 119 (search): malformed")
		}
	}
	if raw := ack.Options.Get(dhcpv4.OptionInterfaceMTU); raw != nil {
		switch {
		case len(raw) != 2:
			l.ignore("option 26 (MTU) %x: want 2 bytes", raw)
		case int(raw[0])<<8|int(raw[1]) < 68:
			l.ignore("option 26 (MTU) %d: below 68, the IPv4 minimum", int(raw[0])<<8|int(raw[1]))
		default:
			l.MTU = int(raw[0])<<8 | int(raw[1])
		}
	}
	if raw := ack.Options.Get(dhcpv4.OptionRootPath); raw != nil {
		if p := trimNUL(raw); printable(p) && p != "" {
			l.RootPath = p
		} else {
			// Not echoed: a root-path may hold CHAP credentials.
			l.ignore("option 17 (root-path) of %d bytes: empty or not printable ASCII", len(p))
		}
	}
	if raw := ack.Options.Get(dhcpv4.OptionServerIdentifier); raw != nil {
		if a, ok := v4(net.IP(raw)); ok && len(raw) == 4 {
			l.Server = a
		} else {
			l.ignore("option 54 (server identifier) %x: not an IPv4 address", raw)
		}
	}
	if a, ok := v4(ack.ServerIPAddr); ok && !a.IsUnspecified() {
		l.NextServer = a
	}
	l.BootFile = ack.BootFileName
	if raw := ack.Options.Get(dhcpv4.OptionBootfileName); raw != nil {
		l.BootFile = trimNUL(raw)
	}
	if !printable(l.BootFile) {
		l.ignore("boot file %q: not printable ASCII", l.BootFile)
		l.BootFile = ""
	}
	for _, t := range []struct {
		code dhcpv4.OptionCode
		name string
		dst  *Seconds
	}{
		{dhcpv4.OptionIPAddressLeaseTime, "lease time", &l.LeaseTime},
		{dhcpv4.OptionRenewTimeValue, "renewal time", &l.RenewalTime},
		{dhcpv4.OptionRebindingTimeValue, "rebinding time", &l.RebindingTime},
	} {
		if raw := ack.Options.Get(t.code); raw != nil {
			if len(raw) != 4 {
				l.ignore("option %d (%s) %x: want 4 bytes", t.code.Code(), t.name, raw)
				continue
			}
			*t.dst = Seconds(uint32(raw[0])<<24 | uint32(raw[1])<<16 | uint32(raw[2])<<8 | uint32(raw[3]))
		}
	}
	return l, nil
}

func (l *Lease) ignore(format string, args ...any) {
	l.Ignored = append(l.Ignored, fmt.Sprintf(format, args...))
}

// v4 converts a 4- or 16-byte IP to an IPv4 netip.Addr.
func v4(ip net.IP) (netip.Addr, bool) {
	ip4 := ip.To4()
	if ip4 == nil {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(ip4)), true
}

// unicast reports whether a is an IPv4 address a host can have.
func unicast(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255}) && a.As4()[0] < 240
}

// classfulBits is the pre-CIDR default prefix for a, used when the server
// sends no subnet mask (as dhclient does).
func classfulBits(a netip.Addr) int {
	switch b := a.As4()[0]; {
	case b < 128:
		return 8
	case b < 192:
		return 16
	default:
		return 24
	}
}

// maskBits returns the prefix length of a contiguous 4-byte mask.
func maskBits(raw []byte) (int, bool) {
	if len(raw) != 4 {
		return 0, false
	}
	ones, bits := net.IPMask(raw).Size()
	if bits != 32 || ones == 0 {
		return 0, false
	}
	return ones, true
}

// ipList splits a list of IPv4 addresses; bad describes a malformed list.
func ipList(raw []byte) (out []netip.Addr, bad string) {
	if len(raw) == 0 || len(raw)%4 != 0 {
		return nil, fmt.Sprintf("%d bytes is not a list of IPv4 addresses", len(raw))
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		out = append(out, netip.AddrFrom4([4]byte(raw[i:i+4])))
	}
	return out, ""
}

// parseClasslessRoutes decodes option 121 (RFC 3442): each route is a
// prefix length, the significant octets of the destination, and a gateway.
func parseClasslessRoutes(raw []byte) ([]Route, error) {
	var out []Route
	for len(raw) > 0 {
		bits := int(raw[0])
		if bits > 32 {
			return out, fmt.Errorf("prefix length %d", bits)
		}
		n := (bits + 7) / 8
		if len(raw) < 1+n+4 {
			return out, errors.New("truncated")
		}
		var dst [4]byte
		copy(dst[:], raw[1:1+n])
		p, err := netip.AddrFrom4(dst).Prefix(bits)
		if err != nil || p.Addr() != netip.AddrFrom4(dst) {
			return out, fmt.Errorf("destination %v/%d has host bits set", netip.AddrFrom4(dst), bits)
		}
		gw := netip.AddrFrom4([4]byte(raw[1+n : 1+n+4]))
		if !gw.IsUnspecified() && !unicast(gw) {
			return out, fmt.Errorf("gateway %v", gw)
		}
		out = append(out, Route{Destination: p, Gateway: gw})
		raw = raw[1+n+4:]
	}
	return out, nil
}

// trimNUL drops the NUL padding some servers append to strings.
func trimNUL(b []byte) string {
	return strings.TrimRight(string(b), "\x00")
}

// printable reports whether s is printable ASCII (no control characters,
// no quotes that would need escaping beyond the env file's own).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ValidHostname reports whether s is a host or domain name of RFC 1123
// labels (letters, digits, hyphens; no leading or trailing hyphen), at
// most 253 characters.
func ValidHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
