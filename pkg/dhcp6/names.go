package dhcp6

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// The library decodes domain names (rfc1035label) in options 24, 39 and
// 56's FQDN suboption, wherever they are nested. Its decoder follows
// compression pointers and builds each name by concatenation, so a few
// thousand pointers back at a name of a few thousand labels cost the
// square of the datagram in copies, in PID 1, from any host on the link
// and before the transaction ID is checked. RFC 8415 section 10: "domain
// names ... MUST NOT be stored in compressed form"; such names, and names
// longer than DNS allows, are refused before the library sees them, which
// leaves its work linear in the datagram.

// maxName is the longest domain name in wire format (RFC 1035 section
// 2.3.4).
const maxName = 255

// maxDecoded caps the informational options that carry names: bigger
// ones are kept opaque, not decoded.
var maxDecoded = map[dhcpv6.OptionCode]int{
	// A handful of names: musl and glibc before 2.26 keep 256 bytes of
	// resolv.conf's search line.
	dhcpv6.OptionDomainSearchList: 1024,
	// The flags and one name.
	dhcpv6.OptionFQDN: 1 + maxName,
	// Not read; room for a few servers.
	dhcpv6.OptionNTPServer: 1024,
}

// nestedAt is where the options nested in an option begin, for the
// options the library decodes nested options of (each of which it
// decodes like a message's).
var nestedAt = map[dhcpv6.OptionCode]int{
	dhcpv6.OptionIANA:     12, // IAID, T1, T2
	dhcpv6.OptionIATA:     4,  // IAID
	dhcpv6.OptionIAAddr:   24, // address, preferred and valid lifetimes
	dhcpv6.OptionIAPD:     12, // IAID, T1, T2
	dhcpv6.OptionIAPrefix: 25, // lifetimes, prefix length, prefix
	dhcpv6.Option4RD:      0,
}

var errPointer = errors.New("a compression pointer (RFC 8415 section 10: domain names are not compressed)")

// checkNames returns why the library must not decode option code's data:
// a domain name in it, or in an option nested in it, is compressed, of a
// reserved label type or too long.
func checkNames(code dhcpv6.OptionCode, data []byte) error {
	switch code {
	case dhcpv6.OptionDomainSearchList:
		return checkWireNames(data)
	case dhcpv6.OptionFQDN:
		if len(data) == 0 {
			return nil
		}
		return checkWireNames(data[1:]) // after the flags
	case dhcpv6.OptionNTPServer:
		return eachOption(data, func(sub dhcpv6.OptionCode, d []byte) error {
			if sub != dhcpv6.NTPSuboptionSrvFQDNCode {
				return nil
			}
			if err := checkWireNames(d); err != nil {
				return fmt.Errorf("suboption %d (server FQDN): %w", uint16(sub), err)
			}
			return nil
		})
	case dhcpv6.OptionRelayMsg:
		// A whole message, relayed or not (RFC 8415 sections 8 and 9).
		at := dhcpv6.MessageHeaderSize
		if len(data) > 0 && (dhcpv6.MessageType(data[0]) == dhcpv6.MessageTypeRelayForward || dhcpv6.MessageType(data[0]) == dhcpv6.MessageTypeRelayReply) {
			at = 34 // type, hop count, link and peer addresses
		}
		return checkNested(data, at)
	}
	if at, ok := nestedAt[code]; ok {
		return checkNested(data, at)
	}
	return nil
}

// checkNested runs checkNames on the options in data from at on.
func checkNested(data []byte, at int) error {
	if len(data) < at {
		return nil // the library decodes no option from what a short header leaves
	}
	return eachOption(data[at:], func(code dhcpv6.OptionCode, d []byte) error {
		if err := checkNames(code, d); err != nil {
			return fmt.Errorf("option %d (%s): %w", uint16(code), code, err)
		}
		return nil
	})
}

// eachOption calls f on each option in b as the library splits them; a
// truncated last one it decodes from no data, so it is skipped.
func eachOption(b []byte, f func(dhcpv6.OptionCode, []byte) error) error {
	for len(b) >= 4 {
		code := dhcpv6.OptionCode(binary.BigEndian.Uint16(b))
		n := int(binary.BigEndian.Uint16(b[2:]))
		b = b[4:]
		if n > len(b) {
			return nil
		}
		if err := f(code, b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// checkWireNames checks a sequence of domain names in wire format (RFC
// 1035 section 3.1): plain labels only, no name over maxName bytes. A
// label running past the end is left to the library, which refuses it.
func checkWireNames(b []byte) error {
	name := 0
	for i := 0; i < len(b); {
		l := int(b[i])
		switch l & 0xc0 {
		case 0:
		case 0xc0:
			return errPointer
		default:
			return fmt.Errorf("a reserved label type %#x", l&0xc0)
		}
		name += 1 + l
		if name > maxName {
			return fmt.Errorf("a domain name over %d bytes", maxName)
		}
		if l == 0 {
			name = 0
		}
		i += 1 + l
	}
	return nil
}
