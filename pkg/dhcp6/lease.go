package dhcp6

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/netroot/netroot/pkg/dhcp"
)

// Lease is a validated DHCPv6 lease: one address from an IA_NA and the
// configuration that came with it.
type Lease struct {
	// Interface is the interface the lease was obtained on.
	Interface string `json:"interface"`
	// ClientDUID is the DUID the client identified itself with.
	ClientDUID HexBytes `json:"client_duid"`
	// IAID is the identity association's ID.
	IAID HexBytes `json:"iaid"`
	// Address is the leased address as a /128: DHCPv6 carries no prefix
	// length; the on-link prefix comes from router advertisements.
	Address netip.Prefix `json:"address"`
	// PreferredLifetime and ValidLifetime are the address's lifetimes.
	PreferredLifetime Seconds `json:"preferred_lifetime"`
	ValidLifetime     Seconds `json:"valid_lifetime"`
	// T1 and T2 are the IA_NA's renewal and rebinding times (0: the
	// server leaves them to the client).
	T1 Seconds `json:"t1,omitempty"`
	T2 Seconds `json:"t2,omitempty"`
	// DNS holds option 23's servers.
	DNS []netip.Addr `json:"dns,omitempty"`
	// Search is option 24's domain search list.
	Search []string `json:"search,omitempty"`
	// BootFileURL is option 59 (RFC 5970), e.g. iscsi:[fd00::1]::3260:1:iqn.…:
	// what netroot=dhcp6 takes the root from, as netroot=dhcp takes
	// DHCPv4's root-path.
	BootFileURL string `json:"boot_file_url,omitempty"`
	// BootFileParams is option 60.
	BootFileParams []string `json:"boot_file_params,omitempty"`
	// Hostname is the name of the server's client FQDN option (39).
	Hostname string `json:"hostname,omitempty"`
	// ServerDUID is the server identifier (option 2).
	ServerDUID HexBytes `json:"server_duid"`
	// Server is the address the Reply came from (usually link-local).
	Server netip.Addr `json:"server,omitzero"`
	// RapidCommit is set when the server answered the Solicit with a
	// Reply (option 14).
	RapidCommit bool `json:"rapid_commit,omitempty"`
	// Obtained is when the Reply arrived.
	Obtained time.Time `json:"obtained,omitzero"`
	// Ignored lists the options that were present but invalid.
	Ignored []string `json:"ignored,omitempty"`
}

// Seconds is a duration written to JSON as whole seconds.
type Seconds int64

// Duration returns s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) * time.Second }

// Infinity is RFC 8415's infinite lifetime (0xffffffff).
const Infinity Seconds = 0xffffffff

// HexBytes is written as colon-separated hex, the way DUIDs are shown.
type HexBytes []byte

// String returns e.g. "00:03:00:01:52:54:00:77:00:10".
func (h HexBytes) String() string {
	s := make([]string, len(h))
	for i, b := range h {
		s[i] = hex.EncodeToString([]byte{b})
	}
	return strings.Join(s, ":")
}

// MarshalText implements encoding.TextMarshaler.
func (h HexBytes) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HexBytes) UnmarshalText(b []byte) error {
	s := strings.ReplaceAll(string(b), ":", "")
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("%q is not colon-separated hex: %w", b, err)
	}
	*h = d
	return nil
}

// String is a one-line summary, e.g. "fd77::1a7/128 from fe80::1, valid
// 1h0m0s, dns fd77::1, boot file iscsi:user:***@[fd77::1]::3260:1:iqn.…",
// the boot file URL's CHAP passwords redacted (RedactedBootFileURL).
func (l *Lease) String() string {
	s := l.Address.String()
	if l.Server.IsValid() {
		s += " from " + l.Server.String()
	}
	if l.ValidLifetime == Infinity {
		s += ", valid forever"
	} else {
		s += ", valid " + l.ValidLifetime.Duration().String()
	}
	if l.RapidCommit {
		s += ", rapid commit"
	}
	if len(l.DNS) > 0 {
		s += ", dns " + dhcp.JoinAddrs(l.DNS)
	}
	if l.BootFileURL != "" {
		// The step's log line: console, /dev/kmsg and timeline.json.
		s += ", boot file " + l.RedactedBootFileURL()
	}
	return s
}

// Expect is what a server's answer must match: the exchange's transaction
// ID, the client's DUID and its IA_NA's IAID.
type Expect struct {
	XID  dhcpv6.TransactionID
	DUID dhcpv6.DUID
	IAID [4]byte
}

// ParseMessage decodes a datagram from a server. A malformed option the
// client only reads for information (DNS, search list, boot file…) is kept
// as opaque data and named in the returned notes; one the exchange depends
// on (client and server identifiers, IA_NA, status code) or a malformed
// message makes it fail. Domain names in compressed form are malformed
// (checkNames), and name options over their cap (maxDecoded) are kept
// opaque too.
func ParseMessage(b []byte) (*dhcpv6.Message, []string, error) {
	if len(b) < dhcpv6.MessageHeaderSize {
		return nil, nil, fmt.Errorf("%d bytes is shorter than a DHCPv6 header", len(b))
	}
	t := dhcpv6.MessageType(b[0])
	if t == dhcpv6.MessageTypeRelayForward || t == dhcpv6.MessageTypeRelayReply {
		return nil, nil, fmt.Errorf("unexpected %s message", t)
	}
	m := &dhcpv6.Message{MessageType: t}
	copy(m.TransactionID[:], b[1:4])
	var notes []string
	parser := func(code dhcpv6.OptionCode, data []byte) (dhcpv6.Option, error) {
		if limit, ok := maxDecoded[code]; ok && len(data) > limit {
			notes = append(notes, fmt.Sprintf("option %d (%s): %d bytes, over the %d decoded", uint16(code), code, len(data), limit))
			return &dhcpv6.OptionGeneric{OptionCode: code, OptionData: append([]byte(nil), data...)}, nil
		}
		err := checkNames(code, data)
		if err == nil {
			var opt dhcpv6.Option
			if opt, err = dhcpv6.ParseOption(code, data); err == nil {
				return opt, nil
			}
		}
		switch code {
		case dhcpv6.OptionClientID, dhcpv6.OptionServerID, dhcpv6.OptionIANA, dhcpv6.OptionStatusCode:
			return nil, fmt.Errorf("option %d (%s): %w", uint16(code), code, err)
		}
		notes = append(notes, fmt.Sprintf("option %d (%s): malformed: %v", uint16(code), code, err))
		return &dhcpv6.OptionGeneric{OptionCode: code, OptionData: append([]byte(nil), data...)}, nil
	}
	if err := m.Options.FromBytesWithParser(b[4:], parser); err != nil {
		return nil, notes, fmt.Errorf("malformed %s: %w", t, err)
	}
	return m, notes, nil
}

// Advertise is a server's usable offer.
type Advertise struct {
	// Message is the Advertise as received.
	Message *dhcpv6.Message
	// ServerID is the server's DUID.
	ServerID dhcpv6.DUID
	// Preference is option 7 (0 when absent); 255 means "take me now".
	Preference int
	// Address is the advertised address.
	Address netip.Addr
}

// checkHeader applies RFC 8415 section 16's checks common to Advertise
// and Reply: transaction ID, our client identifier, a server identifier.
func checkHeader(m *dhcpv6.Message, e Expect) error {
	if m.TransactionID != e.XID {
		return fmt.Errorf("transaction ID %s, want %s", m.TransactionID, e.XID)
	}
	cid := m.Options.ClientID()
	if cid == nil {
		return errors.New("no client identifier")
	}
	if e.DUID != nil && !bytes.Equal(cid.ToBytes(), e.DUID.ToBytes()) {
		return fmt.Errorf("client identifier %s is not ours", cid)
	}
	if len(m.Options.Get(dhcpv6.OptionServerID)) != 1 {
		return errors.New("not exactly one server identifier")
	}
	return nil
}

// statusError is a server's non-success Status Code option.
type statusError struct {
	where string
	code  iana.StatusCode
	msg   string
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("%s status %s (%d)", e.where, e.code, uint16(e.code))
	if e.msg != "" {
		s += ": " + quote(e.msg, 200)
	}
	return s
}

func status(where string, sc *dhcpv6.OptStatusCode) error {
	if sc == nil || sc.StatusCode == iana.StatusSuccess {
		return nil
	}
	return &statusError{where: where, code: sc.StatusCode, msg: sc.StatusMessage}
}

// ourIANA returns the IA_NA with our IAID, checked for a failure status.
func ourIANA(m *dhcpv6.Message, iaid [4]byte) (*dhcpv6.OptIANA, error) {
	for _, ia := range m.Options.IANA() {
		if ia.IaId != iaid {
			continue
		}
		if err := status("IA_NA", ia.Options.Status()); err != nil {
			return nil, err
		}
		return ia, nil
	}
	return nil, fmt.Errorf("no IA_NA with IAID %x", iaid)
}

// pickAddress returns the first usable address of an IA_NA (RFC 8415
// 21.6: a preferred lifetime above the valid one voids the address; a
// valid lifetime of 0 withdraws it).
func pickAddress(ia *dhcpv6.OptIANA) (*dhcpv6.OptIAAddress, netip.Addr, error) {
	var why []string
	for _, a := range ia.Options.Addresses() {
		addr, ok := netip.AddrFromSlice(a.IPv6Addr)
		switch {
		case !ok || !addr.Is6() || addr.Is4In6():
			why = append(why, fmt.Sprintf("%v: not an IPv6 address", a.IPv6Addr))
		case !unicast6(addr) || addr.IsLinkLocalUnicast():
			why = append(why, fmt.Sprintf("%v: not a global or unique-local unicast address", addr))
		case a.ValidLifetime <= 0:
			why = append(why, fmt.Sprintf("%v: valid lifetime 0", addr))
		case a.PreferredLifetime > a.ValidLifetime:
			why = append(why, fmt.Sprintf("%v: preferred lifetime %s above valid lifetime %s", addr, a.PreferredLifetime, a.ValidLifetime))
		case status("address", a.Options.Status()) != nil:
			why = append(why, fmt.Sprintf("%v: %v", addr, status("address", a.Options.Status())))
		default:
			return a, addr, nil
		}
	}
	if len(why) == 0 {
		return nil, netip.Addr{}, errors.New("IA_NA holds no address")
	}
	return nil, netip.Addr{}, fmt.Errorf("IA_NA holds no usable address (%s)", strings.Join(why, "; "))
}

// validate checks what an Advertise and a Reply must both carry for e: the
// message type (what names it in the error), our identifiers, a success
// status and a usable address in our IA_NA, which it returns with the
// IA_NA and its address option.
func validate(m *dhcpv6.Message, typ dhcpv6.MessageType, what string, e Expect) (*dhcpv6.OptIANA, *dhcpv6.OptIAAddress, netip.Addr, error) {
	if m == nil || m.MessageType != typ {
		return nil, nil, netip.Addr{}, errors.New("not " + what)
	}
	if err := checkHeader(m, e); err != nil {
		return nil, nil, netip.Addr{}, err
	}
	if err := status("message", m.Options.Status()); err != nil {
		return nil, nil, netip.Addr{}, err
	}
	ia, err := ourIANA(m, e.IAID)
	if err != nil {
		return nil, nil, netip.Addr{}, err
	}
	ao, addr, err := pickAddress(ia)
	if err != nil {
		return nil, nil, netip.Addr{}, err
	}
	return ia, ao, addr, nil
}

// ParseAdvertise validates an Advertise for e (RFC 8415 18.2.9): it must
// carry our identifiers and an address in our IA_NA.
func ParseAdvertise(m *dhcpv6.Message, e Expect) (*Advertise, error) {
	_, _, addr, err := validate(m, dhcpv6.MessageTypeAdvertise, "an Advertise", e)
	if err != nil {
		return nil, err
	}
	adv := &Advertise{Message: m, ServerID: m.Options.ServerID(), Address: addr}
	if o := m.Options.GetOne(dhcpv6.OptionPreference); o != nil {
		if b := o.ToBytes(); len(b) == 1 {
			adv.Preference = int(b[0])
		}
	}
	return adv, nil
}

// FromReply validates a server's Reply (to a Request, or to a Solicit
// with Rapid Commit) and returns the lease it grants on iface. The
// identifiers must match e and the IA_NA must hold a usable address;
// every other option is optional and dropped (noted in Ignored) when
// malformed.
func FromReply(iface string, m *dhcpv6.Message, e Expect) (*Lease, error) {
	ia, ao, addr, err := validate(m, dhcpv6.MessageTypeReply, "a Reply", e)
	if err != nil {
		return nil, err
	}
	l := &Lease{
		Interface:         iface,
		IAID:              append(HexBytes(nil), e.IAID[:]...),
		Address:           netip.PrefixFrom(addr, 128),
		PreferredLifetime: lifetime(ao.PreferredLifetime),
		ValidLifetime:     lifetime(ao.ValidLifetime),
		ServerDUID:        HexBytes(m.Options.ServerID().ToBytes()),
		RapidCommit:       m.Options.GetOne(dhcpv6.OptionRapidCommit) != nil,
	}
	if cid := m.Options.ClientID(); cid != nil {
		l.ClientDUID = HexBytes(cid.ToBytes())
	}
	if t1, t2 := lifetime(ia.T1), lifetime(ia.T2); t1 <= t2 || t2 == 0 {
		l.T1, l.T2 = t1, t2
	} else {
		l.ignore("IA_NA T1 %ds above T2 %ds", t1, t2)
	}

	for _, o := range m.Options.Get(dhcpv6.OptionDNSRecursiveNameServer) {
		if g, ok := o.(*dhcpv6.OptionGeneric); ok {
			l.ignore("option 23 (DNS): %d bytes is not a list of IPv6 addresses", len(g.OptionData))
		}
	}
	seen := map[netip.Addr]bool{}
	for _, ip := range m.Options.DNS() {
		a, ok := netip.AddrFromSlice(ip)
		switch {
		case !ok:
			l.ignore("option 23 (DNS) %x: not an IPv6 address", []byte(ip))
		case !a.Is6() || a.Is4In6() || !unicast6(a):
			l.ignore("option 23 (DNS) %s: not a unicast IPv6 address", a)
		case a.IsLinkLocalUnicast():
			l.ignore("option 23 (DNS) %v: link-local (no interface scope in resolv.conf)", a)
		case !seen[a]:
			seen[a] = true
			l.DNS = append(l.DNS, a)
		}
	}
	if o := m.Options.GetOne(dhcpv6.OptionDomainSearchList); o != nil {
		if labels := m.Options.DomainSearchList(); labels != nil {
			for _, d := range labels.Labels {
				d = strings.TrimSuffix(d, ".")
				if dhcp.ValidHostname(d) {
					l.Search = append(l.Search, d)
				} else {
					l.ignore("option 24 (search) %s: not a valid domain name", quote(d, 80))
				}
			}
		} else {
			l.ignore("option 24 (search): malformed")
		}
	}
	if o := m.Options.GetOne(dhcpv6.OptionBootfileURL); o != nil {
		u := strings.TrimRight(m.Options.BootFileURL(), "\x00")
		if u != "" && len(u) <= maxBootFileURL && printable(u) {
			l.BootFileURL = u
		} else {
			// Not echoed (as DHCPv4's root-path): it may hold CHAP
			// credentials.
			l.ignore("option 59 (boot file URL) of %d bytes: empty, over %d bytes or not printable ASCII", len(u), maxBootFileURL)
		}
	}
	if o := m.Options.GetOne(dhcpv6.OptionBootfileParam); o != nil {
		params := m.Options.BootFileParam()
		ok := params != nil
		for _, p := range params {
			if !printable(p) || len(p) > maxBootFileURL {
				ok = false
			}
		}
		if ok {
			l.BootFileParams = params
		} else {
			l.ignore("option 60 (boot file parameters): malformed or not printable ASCII")
		}
	}
	if o := m.Options.GetOne(dhcpv6.OptionFQDN); o != nil {
		f := m.Options.FQDN()
		if f != nil && f.DomainName != nil && len(f.DomainName.Labels) > 0 {
			name := strings.TrimSuffix(f.DomainName.Labels[0], ".")
			if dhcp.ValidHostname(name) {
				l.Hostname = name
			} else {
				l.ignore("option 39 (FQDN) %s: not a valid host name", quote(name, 80))
			}
		} else {
			l.ignore("option 39 (FQDN): malformed")
		}
	}
	return l, nil
}

// maxBootFileURL bounds option 59 (a root-path is a line of the command
// line, not a document).
const maxBootFileURL = 1024

func (l *Lease) ignore(format string, args ...any) {
	l.Ignored = append(l.Ignored, fmt.Sprintf(format, args...))
}

// lifetime converts a decoded lifetime (a uint32 of seconds) to Seconds.
func lifetime(d time.Duration) Seconds {
	if d < 0 {
		return 0
	}
	return Seconds(d / time.Second)
}

// unicast6 reports whether a is an IPv6 address a host can have or talk to.
func unicast6(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast()
}

// printable reports whether s is printable ASCII.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// quote makes a server's text safe to print: quoted, control and
// non-ASCII bytes escaped, at most max bytes of it.
func quote(s string, max int) string {
	if len(s) > max {
		return strconv.QuoteToASCII(s[:max]) + "…"
	}
	return strconv.QuoteToASCII(s)
}
