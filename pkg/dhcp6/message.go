package dhcp6

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

// RequestedOptions are asked for in every Solicit and Request (option 6,
// ORO): servers send most options only when asked.
var RequestedOptions = []dhcpv6.OptionCode{
	dhcpv6.OptionDNSRecursiveNameServer, // 23
	dhcpv6.OptionDomainSearchList,       // 24
	dhcpv6.OptionBootfileURL,            // 59: netroot=dhcp6's root-path
	dhcpv6.OptionBootfileParam,          // 60
}

// DUIDLL returns the DUID-LL (RFC 8415 section 11.4) of a link-layer
// address: the same on every boot without stable storage, so a server's
// reservation for the machine keeps working. dracut's dhclient -6 makes a
// DUID-LLT instead, whose time part changes on every boot.
func DUIDLL(mac net.HardwareAddr) (*dhcpv6.DUIDLL, error) {
	var hw iana.HWType
	switch len(mac) {
	case 6:
		hw = iana.HWTypeEthernet
	case 20:
		hw = iana.HWTypeInfiniband
	default:
		return nil, fmt.Errorf("link-layer address %q is neither Ethernet nor InfiniBand", mac)
	}
	return &dhcpv6.DUIDLL{HWType: hw, LinkLayerAddr: append(net.HardwareAddr(nil), mac...)}, nil
}

// IAID is the identity association's ID: the last four bytes of the
// link-layer address, as dhclient and insomniacslk's client choose it, so
// it is stable across boots too.
func IAID(mac net.HardwareAddr) [4]byte {
	var id [4]byte
	if len(mac) >= 4 {
		copy(id[:], mac[len(mac)-4:])
	} else {
		copy(id[:], mac)
	}
	return id
}

// MessageParams are the client's fields of a Solicit or Request.
type MessageParams struct {
	// XID is the transaction ID; retransmissions keep it.
	XID dhcpv6.TransactionID
	// DUID identifies the client (option 1).
	DUID dhcpv6.DUID
	// IAID identifies the IA_NA (option 3).
	IAID [4]byte
	// Elapsed is the time since the exchange began (option 8).
	Elapsed time.Duration
	// Hostname, when set, is sent as the client FQDN (option 39, RFC 4704)
	// with the S flag: the server may register it in DNS.
	Hostname string
	// RapidCommit asks for a two-message exchange (option 14).
	RapidCommit bool
}

// maxElapsed is the largest Elapsed Time option (0xffff hundredths).
const maxElapsed = 65535 * 10 * time.Millisecond

func newMessage(t dhcpv6.MessageType, p MessageParams) *dhcpv6.Message {
	m := &dhcpv6.Message{MessageType: t, TransactionID: p.XID}
	m.AddOption(dhcpv6.OptClientID(p.DUID))
	m.AddOption(dhcpv6.OptRequestedOption(RequestedOptions...))
	e := p.Elapsed
	if e < 0 {
		e = 0
	}
	if e > maxElapsed {
		e = maxElapsed
	}
	m.AddOption(dhcpv6.OptElapsedTime(e))
	if p.Hostname != "" {
		m.AddOption(&dhcpv6.OptFQDN{Flags: fqdnFlagS, DomainName: &rfc1035label.Labels{Labels: []string{p.Hostname}}})
	}
	return m
}

// fqdnFlagS asks the server to update the AAAA record (RFC 4704 4.1).
const fqdnFlagS = 1

// Solicit builds a Solicit asking for one non-temporary address.
func Solicit(p MessageParams) *dhcpv6.Message {
	m := newMessage(dhcpv6.MessageTypeSolicit, p)
	m.AddOption(&dhcpv6.OptIANA{IaId: p.IAID})
	if p.RapidCommit {
		m.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
	}
	return m
}

// Request builds the Request that takes up an Advertise: the server's
// DUID and the advertised address, as a hint with zero lifetimes
// (RFC 8415 section 18.2.2).
func Request(p MessageParams, adv *Advertise) (*dhcpv6.Message, error) {
	if adv == nil || adv.ServerID == nil {
		return nil, errors.New("no advertised server")
	}
	m := newMessage(dhcpv6.MessageTypeRequest, p)
	m.AddOption(dhcpv6.OptServerID(adv.ServerID))
	ia := &dhcpv6.OptIANA{IaId: p.IAID}
	if adv.Address.IsValid() {
		ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: adv.Address.AsSlice()})
	}
	m.AddOption(ia)
	return m, nil
}

// newXID draws a transaction ID from math/rand, which never blocks (crypto
// randomness may, before the kernel's pool is initialised).
func newXID() dhcpv6.TransactionID {
	v := rand.Uint32()
	return dhcpv6.TransactionID{byte(v >> 16), byte(v >> 8), byte(v)}
}
