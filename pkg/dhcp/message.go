package dhcp

import (
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// RequestedOptions are the options asked for in every DISCOVER and
// REQUEST: a server sends most non-default options (the root-path, the
// MTU) only when the client asks for them.
var RequestedOptions = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionHostName,
	dhcpv4.OptionDomainName,
	dhcpv4.OptionRootPath,
	dhcpv4.OptionInterfaceMTU,
	dhcpv4.OptionBroadcastAddress,
	dhcpv4.OptionDNSDomainSearchList,
	dhcpv4.OptionClasslessStaticRoute,
}

// maxMessageSize is option 57: what the raw socket reads (nclient4's
// buffer is 1500 bytes, the frame minus IP and UDP headers).
const maxMessageSize = 1500 - 20 - 8

// MessageParams are the client's fields of a DISCOVER or REQUEST.
type MessageParams struct {
	// XID is the transaction ID.
	XID dhcpv4.TransactionID
	// MAC is the client hardware address (chaddr).
	MAC net.HardwareAddr
	// Elapsed is the time since the client began (the secs field).
	Elapsed time.Duration
	// Hostname, when set, is sent as option 12.
	Hostname string
}

// newMessage builds a BOOTREQUEST without drawing a transaction ID from
// crypto randomness (dhcpv4.New would, and may spin until the kernel's
// pool is initialised this early in boot).
func newMessage(p MessageParams, t dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	secs := p.Elapsed / time.Second
	if secs > 0xffff {
		secs = 0xffff
	}
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		TransactionID: p.XID,
		NumSeconds:    uint16(secs),
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		ClientHWAddr:  append(net.HardwareAddr(nil), p.MAC...),
		Options:       dhcpv4.Options{},
	}
	m.UpdateOption(dhcpv4.OptMessageType(t))
	m.UpdateOption(dhcpv4.OptParameterRequestList(RequestedOptions...))
	m.UpdateOption(dhcpv4.OptMaxMessageSize(maxMessageSize))
	if p.Hostname != "" {
		m.UpdateOption(dhcpv4.OptHostName(p.Hostname))
	}
	return m
}

// Discover builds a DHCPDISCOVER.
func Discover(p MessageParams) *dhcpv4.DHCPv4 {
	return newMessage(p, dhcpv4.MessageTypeDiscover)
}

// Request builds the DHCPREQUEST (SELECTING state, RFC 2131 4.3.2) that
// accepts offer.
func Request(p MessageParams, offer *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	m := newMessage(p, dhcpv4.MessageTypeRequest)
	m.UpdateOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr))
	if sid := offer.ServerIdentifier(); sid != nil {
		m.UpdateOption(dhcpv4.OptServerIdentifier(sid))
	}
	return m
}
