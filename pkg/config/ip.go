package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Grammars shown in errors.
const (
	grammarIP = "{dhcp|on|any|dhcp6|auto6|either6|link6|single-dhcp} | " +
		"<interface>:{dhcp|on|any|dhcp6|auto6|either6|link6}[:[<mtu>][:<macaddr>]] | " +
		"<client-IP>:[<peer>]:<gateway-IP>:<netmask>:<client_hostname>:<interface>:{none|off|dhcp|on|any|dhcp6|auto6|ibft}" +
		"[:[<mtu>][:<macaddr>]] or [:[<dns1>][:<dns2>]] (IPv6 addresses in brackets)"
	grammarRoute = "<net>/<netmask>:<gateway>[:<interface>] (IPv6 addresses in brackets)"
)

// splitFields splits a colon-separated value the way dracut's ip_to_var
// and route_to_var do: the value gets a trailing ':' appended and is cut at
// every ':', except that a field starting with '[' and holding at least two
// colons before "]:" is an IPv6 address in brackets, returned without them.
// "a:b" gives [a b], "a:b:" gives [a b ""], "" gives [""].
func splitFields(s string) []string {
	v := s + ":"
	var out []string
	for v != "" {
		if strings.HasPrefix(v, "[") {
			if end := strings.Index(v, "]:"); end > 0 && strings.Count(v[1:end], ":") >= 2 {
				out = append(out, v[1:end])
				v = v[end+2:]
				continue
			}
		}
		i := strings.IndexByte(v, ':')
		out = append(out, v[:i])
		v = v[i+1:]
	}
	return out
}

// parseAddr parses an IPv4 or IPv6 address, with or without brackets.
func parseAddr(s string) (netip.Addr, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %q is not an IP address", ErrSyntax, s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: %q: zones are not allowed here", ErrSyntax, s)
	}
	return a, nil
}

// parseMaskBits parses a netmask given as a prefix length ("24", "64") or,
// for IPv4, as a dotted quad with contiguous bits ("255.255.255.0").
func parseMaskBits(s string, is4 bool) (int, error) {
	max := 128
	if is4 {
		max = 32
	}
	if n, err := strconv.Atoi(s); err == nil && isDigits(s) {
		if n < 0 || n > max {
			return 0, fmt.Errorf("%w: prefix length %d out of range 0-%d", ErrSyntax, n, max)
		}
		return n, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("%w: netmask %q is neither a prefix length nor a dotted quad", ErrSyntax, s)
	}
	if !is4 {
		return 0, fmt.Errorf("%w: netmask %q: an IPv6 address needs a prefix length", ErrSyntax, s)
	}
	b := a.As4()
	ones, bits := net.IPv4Mask(b[0], b[1], b[2], b[3]).Size()
	if bits == 0 {
		return 0, fmt.Errorf("%w: netmask %q is not contiguous", ErrSyntax, s)
	}
	return ones, nil
}

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseUint parses a decimal number in [min, max]; leading zeros are fine.
func parseUint(s string, min, max int) (int, error) {
	if !isDigits(s) {
		return 0, fmt.Errorf("%w: %q is not a decimal number", ErrSyntax, s)
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		s = "0"
	}
	if len(s) > 10 {
		return 0, fmt.Errorf("%w: %s is out of range %d-%d", ErrSyntax, s, min, max)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("%w: %s is out of range %d-%d", ErrSyntax, s, min, max)
	}
	return n, nil
}

// parseMTU parses an MTU field.
func parseMTU(s string) (int, error) {
	n, err := parseUint(s, 68, 65535)
	if err != nil {
		return 0, fmt.Errorf("mtu: %w", err)
	}
	return n, nil
}

// parseMACFields parses the <macaddr> tail of ip=: empty, one field
// (aa-bb-cc-dd-ee-ff) or the six colon-separated octets cut by the split.
func parseMACFields(f []string) (net.HardwareAddr, error) {
	switch {
	case len(f) == 0 || (len(f) == 1 && f[0] == ""):
		return nil, nil
	case len(f) == 1 || len(f) == 6 || len(f) == 8 || len(f) == 20:
		return parseMAC(strings.Join(f, ":"))
	}
	return nil, fmt.Errorf("%w: %q is not a MAC address", ErrSyntax, strings.Join(f, ":"))
}

// parseMAC parses a MAC address in any form net.ParseMAC accepts.
func parseMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a MAC address", ErrSyntax, s)
	}
	return m, nil
}

// parseMethods parses the autoconf field: one method or a comma-separated
// list (dracut's network-legacy tries each in turn).
func parseMethods(s string) ([]IPMethod, error) {
	if s == "" {
		// parse-ip-opts.sh: "Empty autoconf values default to dhcp".
		return []IPMethod{IPDHCP}, nil
	}
	var out []IPMethod
	for _, m := range strings.Split(s, ",") {
		switch m {
		case "none", "off":
			out = append(out, IPStatic)
		case "dhcp", "on", "any":
			out = append(out, IPDHCP)
		case "dhcp6", "auto6", "either6", "link6", "single-dhcp", "ibft":
			out = append(out, IPMethod(m))
		case "bootp", "rarp", "both":
			return nil, fmt.Errorf("%w: method %q", ErrUnsupported, m)
		default:
			return nil, fmt.Errorf("%w: unknown method %q", ErrSyntax, m)
		}
	}
	return out, nil
}

// shortForm reports whether the second field of an ip= value is the
// method list of ip=<interface>:<methods>… rather than the long form's
// peer: one or more of the automatic methods.
func shortForm(field string) bool {
	if field == "" {
		return false
	}
	for _, m := range strings.Split(field, ",") {
		switch m {
		case "dhcp", "on", "any", "dhcp6", "auto6", "either6", "link6":
		default:
			return false
		}
	}
	return true
}

// isAutoMethod reports whether the method obtains the address by itself.
func isAutoMethod(m IPMethod) bool { return m != IPStatic && m != IPIBFT }

// ParseIP parses the value of one ip= parameter in any of dracut's three
// forms. The anaconda-style ip=<IPv4> (with gateway=, netmask= …) is
// handled by Parse, which sees the other parameters; ParseIP rejects it.
func ParseIP(value string) (IPConfig, error) {
	c, anaconda, err := parseIP(value)
	if err == nil && anaconda.IsValid() {
		return c, fmt.Errorf("%w: anaconda-style ip=<address> needs netmask= and friends; only Parse handles it", ErrUnsupported)
	}
	return c, err
}

// parseIP implements ParseIP. For the anaconda-style ip=<IPv4> it returns
// the address alone, for Parse to complete from gateway=, netmask= …
func parseIP(value string) (c IPConfig, anaconda netip.Addr, err error) {
	c, err = parseIPForms(value)
	if err == nil && c.Method == IPStatic && !c.Address.IsValid() && c.Peer.IsValid() && c.Interface == "" {
		anaconda, c.Peer = c.Peer, netip.Addr{}
	}
	return c, anaconda, err
}

// parseIPForms parses the three forms of ip=; a bare IPv4 address comes
// back as a static config holding the address in Peer.
func parseIPForms(value string) (IPConfig, error) {
	var c IPConfig
	f := splitFields(value)
	if len(f) == 1 {
		if a, err := netip.ParseAddr(f[0]); err == nil && a.Is4() {
			// ip=<ipv4-address>: anaconda-style cluster (net-lib.sh).
			c.Method = IPStatic
			c.Peer = a // placeholder: Parse moves it into Address
			return c, nil
		}
		if f[0] != "" && strings.Count(f[0], ".") == 3 {
			return c, fmt.Errorf("%w: %q is not an IPv4 address", ErrSyntax, f[0])
		}
		ms, err := parseMethods(f[0])
		if err != nil {
			return c, err
		}
		c.Method, c.MoreMethods = ms[0], moreMethods(ms)
		for _, m := range ms {
			if m == IPStatic {
				return c, fmt.Errorf("%w: method %q needs the static form <client-IP>:…", ErrSyntax, f[0])
			}
		}
		return c, nil
	}

	if shortForm(f[1]) {
		// ip=<interface>:{dhcp|…}[:[<mtu>][:<macaddr>]], the methods a
		// list as in the other forms (ip_to_var takes the field whole).
		// dracut's ip_to_var omits link6 here although dracut.cmdline(7)
		// lists it; we follow the man page (dracut would reject the line).
		if err := checkIfname(f[0], true); err != nil {
			return c, err
		}
		c.Interface = f[0]
		ms, _ := parseMethods(f[1])
		c.Method, c.MoreMethods = ms[0], moreMethods(ms)
		if len(f) > 2 && f[2] != "" {
			mtu, err := parseMTU(f[2])
			if err != nil {
				return c, err
			}
			c.MTU = mtu
		}
		if len(f) > 3 {
			mac, err := parseMACFields(f[3:])
			if err != nil {
				return c, err
			}
			c.MAC = mac
		}
		return c, nil
	}

	// ip=<client-IP>:[<peer>]:<gateway-IP>:<netmask>:<client_hostname>:
	//    <interface>:{none|off|dhcp|…}[:[<mtu>][:<macaddr>]] | [:[<dns1>][:<dns2>]]
	get := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	var addr netip.Addr
	if s := get(0); s != "" {
		a, err := parseAddr(s)
		if err != nil {
			return c, fmt.Errorf("client-IP: %w", err)
		}
		addr = a
	}
	if s := get(1); s != "" {
		if p, err := netip.ParsePrefix(strings.Trim(s, "[]")); err == nil {
			c.Peer, c.PeerPrefix = p.Addr(), p
		} else {
			a, err := parseAddr(s)
			if err != nil {
				return c, fmt.Errorf("peer: %w", err)
			}
			c.Peer = a
		}
	}
	if s := get(2); s != "" {
		a, err := parseAddr(s)
		if err != nil {
			return c, fmt.Errorf("gateway-IP: %w", err)
		}
		if !a.IsUnspecified() {
			// 0.0.0.0 (::) is no gateway, as the kernel's ip= reads
			// it and pxelinux's IPAPPEND 1 writes it without a router.
			c.Gateway = a
		}
	}
	if s := get(3); s != "" {
		if !addr.IsValid() {
			return c, fmt.Errorf("%w: netmask without client-IP", ErrSyntax)
		}
		bits, err := parseMaskBits(s, addr.Is4())
		if err != nil {
			return c, err
		}
		c.Address = netip.PrefixFrom(addr, bits)
	}
	if s := get(4); s != "" {
		if err := checkHostname(s); err != nil {
			return c, err
		}
		c.Hostname = s
	}
	if err := checkIfname(get(5), true); err != nil {
		return c, err
	}
	c.Interface = get(5)
	ms, err := parseMethods(get(6))
	if err != nil {
		return c, err
	}
	c.Method, c.MoreMethods = ms[0], moreMethods(ms)
	if len(f) > 7 {
		tail := f[7:]
		dns := func(fs []string) error {
			if len(fs) > 2 {
				return fmt.Errorf("%w: more than two DNS servers", ErrSyntax)
			}
			for _, s := range fs {
				if s == "" {
					continue
				}
				a, err := parseAddr(s)
				if err != nil {
					return fmt.Errorf("dns: %w", err)
				}
				c.DNS = append(c.DNS, a)
			}
			return nil
		}
		_, ipErr := netip.ParseAddr(tail[0])
		switch {
		case ipErr == nil:
			if err := dns(tail); err != nil {
				return c, err
			}
		case isDigits(tail[0]):
			mtu, err := parseMTU(tail[0])
			if err != nil {
				return c, err
			}
			c.MTU = mtu
			mac, err := parseMACFields(tail[1:])
			if err != nil {
				return c, err
			}
			c.MAC = mac
		case tail[0] == "":
			// "::<dns2>" is allowed by the man page's grammar; dracut's
			// ip_to_var would take it for a MAC address. We read an IP
			// address there as dns2.
			if len(tail) == 2 {
				if _, err := netip.ParseAddr(tail[1]); err == nil {
					if err := dns(tail); err != nil {
						return c, err
					}
					break
				}
			}
			mac, err := parseMACFields(tail[1:])
			if err != nil {
				return c, err
			}
			c.MAC = mac
		default:
			return c, fmt.Errorf("%w: %q is neither an MTU nor a DNS server", ErrSyntax, tail[0])
		}
	}

	// The checks of parse-ip-opts.sh.
	for _, m := range ms {
		switch {
		case m == IPStatic:
			if !addr.IsValid() {
				return c, fmt.Errorf("%w: method none/off without a client-IP", ErrSyntax)
			}
			if !c.Address.IsValid() {
				return c, fmt.Errorf("%w: a static address needs a netmask", ErrSyntax)
			}
		case m == IPIBFT:
		default:
			if addr.IsValid() {
				hint := ""
				if get(6) == "" {
					hint = " (an empty method means dhcp; write :none for a static address)"
				}
				return c, fmt.Errorf("%w: a client-IP makes no sense with method %s%s", ErrSyntax, m, hint)
			}
		}
	}
	if c.Gateway.IsValid() && c.Address.IsValid() && c.Gateway.Is4() != c.Address.Addr().Is4() {
		return c, fmt.Errorf("%w: gateway and client-IP are of different families", ErrSyntax)
	}
	return c, nil
}

// checkHostname accepts host names made of letters, digits, '-', '_' and
// '.', at most 253 bytes.
func checkHostname(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("%w: hostname longer than 253 bytes", ErrSyntax)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("%w: hostname %q has an invalid character", ErrSyntax, s)
		}
	}
	return nil
}

// checkIfname checks an interface name as the kernel's dev_valid_name():
// 1-15 bytes, not "." or "..", no '/', ':' or white space.
func checkIfname(s string, emptyOK bool) error {
	if s == "" {
		if emptyOK {
			return nil
		}
		return fmt.Errorf("%w: empty interface name", ErrSyntax)
	}
	if len(s) > 15 {
		return fmt.Errorf("%w: interface name %q longer than 15 bytes", ErrSyntax, s)
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%w: invalid interface name %q", ErrSyntax, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == ':' || isKernelSpace(s[i]) || s[i] < 0x20 || s[i] == 0x7f {
			return fmt.Errorf("%w: interface name %q has an invalid character", ErrSyntax, s)
		}
	}
	return nil
}

// ParseRoute parses the value of rd.route=<net>/<netmask>:<gateway>[:<interface>].
// The netmask may be a prefix length or, for IPv4, a dotted quad; host bits
// of the destination are cleared (the man page's own IPv6 example,
// 2001:DB8:3::/8, has some, which ip-route would refuse).
func ParseRoute(value string) (Route, error) {
	var r Route
	f := splitFields(value)
	if len(f) < 2 || len(f) > 3 {
		return r, fmt.Errorf("%w: want 2 or 3 fields, got %d", ErrSyntax, len(f))
	}
	dst, mask, ok := strings.Cut(f[0], "/")
	if !ok {
		return r, fmt.Errorf("%w: destination %q lacks /<netmask>", ErrSyntax, f[0])
	}
	a, err := parseAddr(dst)
	if err != nil {
		return r, fmt.Errorf("net: %w", err)
	}
	bits, err := parseMaskBits(mask, a.Is4())
	if err != nil {
		return r, err
	}
	r.Destination = netip.PrefixFrom(a, bits).Masked()
	if f[1] != "" {
		gw, err := parseAddr(f[1])
		if err != nil {
			return r, fmt.Errorf("gateway: %w", err)
		}
		if gw.Is4() != a.Is4() {
			return r, fmt.Errorf("%w: gateway and net are of different families", ErrSyntax)
		}
		r.Gateway = gw
	}
	if len(f) == 3 {
		if err := checkIfname(f[2], true); err != nil {
			return r, err
		}
		r.Interface = f[2]
	}
	if !r.Gateway.IsValid() && r.Interface == "" {
		return r, fmt.Errorf("%w: a route needs a gateway or an interface", ErrSyntax)
	}
	return r, nil
}

// moreMethods returns the methods after the first, nil when there are none.
func moreMethods(ms []IPMethod) []IPMethod {
	if len(ms) < 2 {
		return nil
	}
	return ms[1:]
}

// isIPv6Method reports whether m configures IPv6.
func isIPv6Method(m IPMethod) bool {
	switch m {
	case IPDHCP6, IPAuto6, IPEither6, IPLink6:
		return true
	}
	return false
}

// ipSupported checks an ip= parameter against what /init implements:
// static addresses, DHCPv4, the iBFT's network (IPv6 behind supportIPv6,
// <macaddr> behind supportIPMAC). Until /init configures IPv6, a list of
// methods with DHCPv4 and IPv6 ones is accepted with a warning.
func (p *parser) ipSupported(a arg, c IPConfig) error {
	methods := append([]IPMethod{c.Method}, c.MoreMethods...)
	var v4, static bool
	var v6 []string
	for _, m := range methods {
		switch {
		case m == IPIBFT:
			if len(methods) > 1 || c.Address.IsValid() {
				return fmt.Errorf("%w: ibft takes the network from the firmware's iBFT and cannot be combined with another method or an address", ErrConflict)
			}
		case m == IPStatic:
			static = true
		case m == IPDHCP || m == IPSingleDHCP:
			v4 = true
		case isIPv6Method(m):
			v6 = append(v6, string(m))
		}
	}
	if static && len(methods) > 1 {
		return fmt.Errorf("%w: a static address cannot be combined with other methods", ErrUnsupported)
	}
	if len(v6) > 0 && !supportIPv6 {
		if !v4 {
			return fmt.Errorf("%w: IPv6 configuration (%s) is not supported yet: use dhcp or a static address (IPv6 static addresses work)", ErrUnsupported, strings.Join(v6, ","))
		}
		p.warn("ip="+a.Value, "IPv6 configuration ("+strings.Join(v6, ",")+") is not supported yet: netroot runs DHCPv4 only")
	}
	if c.MAC != nil && !supportIPMAC {
		return fmt.Errorf("%w: the <macaddr> field (setting a MAC address on the interface) is not supported yet", ErrUnsupported)
	}
	return nil
}
