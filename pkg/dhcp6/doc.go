// Package dhcp6 configures IPv6 on one interface for /init: a DHCPv6
// client (dracut's ip=dhcp6), the wait for stateless autoconfiguration
// (ip=auto6) and the race of the two (ip=either6).
//
// Layers, from the wire up:
//
//   - message.go, lease.go, names.go, backoff.go, render.go are pure: the
//     Solicit and Request builders (DUID-LL, IAID, ORO 23/24/59/60, Elapsed
//     Time, Rapid Commit, client FQDN), ParseMessage, which keeps a
//     malformed informational option as opaque data instead of dropping the
//     whole answer and refuses domain names in compressed form before the
//     library decodes them, ParseAdvertise and FromReply, which check an answer against
//     the exchange (RFC 8415 section 16) and validate every field into a
//     Lease (Lease.Ignored lists what was dropped), RFC 8415's
//     retransmission schedule, and the JSON and env-file renderings.
//   - sysctl_linux.go and addr_linux.go are the kernel's side:
//     net.ipv6.conf.<if>.* settings and address states (tentative,
//     optimistic, dadfailed); every wait here (WaitLinkLocal, WaitDAD,
//     WaitRoute, WaitSLAAC) is netconf.WaitEvents on link, address and
//     route events.
//   - client_linux.go (Acquire), apply_linux.go (Apply), slaac_linux.go
//     (WaitSLAAC) and either_linux.go (Either) are what /init calls.
//
// Messages are github.com/insomniacslk/dhcp/dhcpv6's. Its nclient6
// transport is not used: it retransmits without RFC 8415's randomisation
// or cap and without updating the Elapsed Time option, returns the first
// Advertise instead of collecting them for the first retransmission time,
// drops malformed answers silently (or logs them to its own logger), and
// binds to the link-local address without waiting for duplicate address
// detection to end, which fails while the address is tentative. Acquire
// has its own socket and read loop, bound to the link-local address with
// the interface as its zone (so also to the interface: a bond and a VLAN
// on it, which share a link-local address, can run at once).
//
// Every wait is an event wait bounded by the caller's context (rd.retry);
// nothing sleeps.
package dhcp6
