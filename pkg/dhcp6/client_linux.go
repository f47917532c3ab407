package dhcp6

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/netroot/netroot/pkg/limit"
	"github.com/netroot/netroot/pkg/netconf"
)

// Options configures Acquire.
type Options struct {
	// Interface to run DHCPv6 on (a NIC, a bond or a VLAN); it is brought
	// up, must get carrier, and gets IPv6 turned on.
	Interface string
	// Hostname, when set, is sent as the client FQDN (option 39).
	Hostname string
	// DUID identifies the client; nil means the DUID-LL of the
	// interface's MAC.
	DUID dhcpv6.DUID
	// NoRapidCommit leaves option 14 out of the Solicit; with it, a
	// server that allows Rapid Commit answers with the Reply at once.
	NoRapidCommit bool
	// Solicit and Request are the retransmission schedules; zero values
	// mean RFC 8415's (SolicitBackoff, RequestBackoff).
	Solicit, Request Backoff
	// Logf receives one line per ignored answer and per failed round;
	// nil discards them.
	Logf func(format string, args ...any)
}

// NoLeaseError is returned when no server granted a lease before the
// context ended.
type NoLeaseError struct {
	Interface string
	DUID      HexBytes
	// Solicits is the number of Solicit messages sent.
	Solicits int
	Elapsed  time.Duration
	// Ignored counts the answers that were dropped (malformed, not ours,
	// refusing); the last one's reason is in Last when nothing else
	// failed.
	Ignored int
	// Last is the last failure.
	Last error
	// Limit is the limit that ended the wait, as the command line writes
	// it (limit.Ended); "" when unnamed.
	Limit string
}

func (e *NoLeaseError) Error() string {
	s := fmt.Sprintf("%s: no DHCPv6 lease (DUID %s) after %d Solicit(s) in %s: %v",
		e.Interface, e.DUID, e.Solicits, e.Elapsed.Round(100*time.Millisecond), e.Last)
	if e.Ignored > 0 {
		s += fmt.Sprintf("; %d answer(s) ignored", e.Ignored)
	}
	return s + " — " + e.Hint()
}

// Unwrap returns the last failure.
func (e *NoLeaseError) Unwrap() error { return e.Last }

// Hint says what to check.
func (e *NoLeaseError) Hint() string {
	return "is a DHCPv6 server answering on this link (a range or reservation for this DUID, the switch port's VLAN, multicast to ff02::1:2 not filtered)?" +
		limit.BoundsTheWait(e.Limit)
}

// errNoAnswer is a round in which no usable answer arrived.
var errNoAnswer = errors.New("no answer")

// maxWarnings bounds the warnings about ignored answers one Acquire
// logs, so a flood of garbage cannot flood the console.
const maxWarnings = 10

// maxDatagram bounds the answers decoded: a server's answer is a few
// hundred bytes, 8 KiB (a jumbo frame) leaves room for any real one, and
// it bounds what a bigger datagram from anyone on the link (reassembled
// fragments, up to 64 KiB) costs the decoder.
const maxDatagram = 8192

// client is one interface's DHCPv6 exchanges.
type client struct {
	iface    string
	conn     *net.UDPConn
	server   *net.UDPAddr
	params   MessageParams
	o        Options
	logf     func(string, ...any)
	ignored  int
	lastDrop error
	solicits int
}

// Acquire turns IPv6 on for the interface, brings it up, waits for
// carrier and for its link-local address to pass duplicate address
// detection, then runs Solicit/Advertise/Request/Reply (or Solicit/Reply
// with Rapid Commit) from that address on RFC 8415's retransmission
// schedules until a server grants a valid lease or ctx ends. It does not
// configure the address: see Apply. Answers that are malformed or not
// for this client are ignored with a warning through Logf.
func Acquire(ctx context.Context, o Options) (*Lease, error) {
	start := time.Now()
	if o.Solicit == (Backoff{}) {
		o.Solicit = SolicitBackoff
	}
	if o.Request == (Backoff{}) {
		o.Request = RequestBackoff
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	iface := o.Interface
	if err := EnableIPv6(iface); err != nil {
		return nil, fmt.Errorf("dhcp6: %s: %w", iface, err)
	}
	if err := netconf.LinkUp(iface); err != nil {
		return nil, fmt.Errorf("dhcp6: bringing %s up: %w", iface, err)
	}
	if err := netconf.WaitCarrier(ctx, iface); err != nil {
		return nil, fmt.Errorf("dhcp6: %w", err)
	}
	mac, err := netconf.HardwareAddr(iface)
	if err != nil {
		return nil, fmt.Errorf("dhcp6: %s: %w", iface, err)
	}
	duid := o.DUID
	if duid == nil {
		d, err := DUIDLL(mac)
		if err != nil {
			return nil, fmt.Errorf("dhcp6: %s: no DUID (set Options.DUID): %w", iface, err)
		}
		duid = d
	}
	ll, err := WaitLinkLocal(ctx, iface)
	if err != nil {
		return nil, fmt.Errorf("dhcp6: %w", err)
	}
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: ll.AsSlice(), Port: dhcpv6.DefaultClientPort, Zone: iface})
	if err != nil {
		return nil, fmt.Errorf("dhcp6: listening on [%s%%%s]:%d: %w", ll, iface, dhcpv6.DefaultClientPort, err)
	}
	defer conn.Close()
	// A cancelled context (either6's other method won) ends a blocked read.
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()

	c := &client{
		iface:  iface,
		conn:   conn,
		server: &net.UDPAddr{IP: net.ParseIP("ff02::1:2"), Port: dhcpv6.DefaultServerPort, Zone: iface},
		params: MessageParams{DUID: duid, IAID: IAID(mac), Hostname: o.Hostname, RapidCommit: !o.NoRapidCommit},
		o:      o,
		logf:   logf,
	}
	for {
		lease, adv, err := c.solicit(ctx)
		if err == nil && adv != nil {
			lease, err = c.request(ctx, adv)
		}
		if err == nil {
			lease.Obtained = time.Now()
			return lease, nil
		}
		if expired(ctx) {
			if errors.Is(err, errNoAnswer) && c.lastDrop != nil {
				err = fmt.Errorf("%w (the last ignored: %v)", err, c.lastDrop)
			}
			return nil, &NoLeaseError{Interface: iface, DUID: HexBytes(duid.ToBytes()), Solicits: c.solicits,
				Elapsed: time.Since(start), Ignored: c.ignored, Last: err, Limit: limit.Ended(ctx)}
		}
		logf("dhcp6: %s: %v; soliciting again", iface, err)
	}
}

// expired reports whether ctx is done or its deadline has passed: a read
// deadline set to ctx's deadline fires a moment before ctx reports it, and
// a loop that only asked ctx.Err() would spin in between.
func expired(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// expect is what answers to the current exchange must match.
func (c *client) expect() Expect {
	return Expect{XID: c.params.XID, DUID: c.params.DUID, IAID: c.params.IAID}
}

// drop counts and reports an ignored answer.
func (c *client) drop(from netip.Addr, err error) {
	c.ignored++
	c.lastDrop = fmt.Errorf("from %s: %w", from, err)
	if c.ignored <= maxWarnings {
		c.logf("dhcp6: %s: ignoring an answer from %s: %v", c.iface, from, err)
		if c.ignored == maxWarnings {
			c.logf("dhcp6: %s: further ignored answers are not reported", c.iface)
		}
	}
}

// send transmits m to All_DHCP_Relay_Agents_and_Servers.
func (c *client) send(m *dhcpv6.Message) error {
	_, err := c.conn.WriteToUDP(m.ToBytes(), c.server)
	return err
}

// receive reads one datagram until deadline; ok is false when the
// deadline (or ctx) ended the read.
func (c *client) receive(ctx context.Context, deadline time.Time, buf []byte) (_ *dhcpv6.Message, from netip.Addr, ok bool, _ error) {
	if expired(ctx) {
		return nil, from, false, nil
	}
	if d, has := ctx.Deadline(); has && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetReadDeadline(deadline)
	n, src, err := c.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, from, false, nil
		}
		return nil, from, false, err
	}
	from = src.Addr()
	if n > maxDatagram {
		c.drop(from, fmt.Errorf("a datagram of %d bytes, over the %d decoded", n, maxDatagram))
		return nil, from, true, nil
	}
	m, notes, err := ParseMessage(buf[:n])
	if err != nil {
		c.drop(from, err)
		return nil, from, true, nil
	}
	if m.TransactionID != c.params.XID {
		// Another exchange's (a late answer to an earlier round): not
		// hostile, not worth a warning.
		return nil, from, true, nil
	}
	for _, n := range notes {
		c.logf("dhcp6: %s: answer from %s: %s", c.iface, from, n)
	}
	return m, from, true, nil
}

// solicit runs one Solicit exchange: it returns a lease when a server
// answers with a Rapid Commit Reply, else the Advertise to request.
// Advertise messages are collected for the whole first wait and the
// most preferred taken (RFC 8415 18.2.1), unless one has preference 255;
// after the first wait the first usable one is taken.
func (c *client) solicit(ctx context.Context) (*Lease, *Advertise, error) {
	c.params.XID = newXID()
	begin := time.Now()
	buf := make([]byte, 65536)
	var best *Advertise
	var rt time.Duration
	for sent := 0; !c.o.Solicit.Exhausted(sent); sent++ {
		rt = c.o.Solicit.Next(rt, rand.Float64())
		c.params.Elapsed = time.Since(begin)
		if err := c.send(Solicit(c.params)); err != nil {
			return nil, nil, fmt.Errorf("sending Solicit: %w", err)
		}
		c.solicits++
		end := time.Now().Add(rt)
		for {
			m, from, ok, err := c.receive(ctx, end, buf)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				break
			}
			if m == nil {
				continue
			}
			switch m.MessageType {
			case dhcpv6.MessageTypeReply:
				if !c.params.RapidCommit || m.Options.GetOne(dhcpv6.OptionRapidCommit) == nil {
					c.drop(from, errors.New("a Reply to a Solicit without Rapid Commit"))
					continue
				}
				l, err := FromReply(c.iface, m, c.expect())
				if err != nil {
					c.drop(from, fmt.Errorf("Rapid Commit Reply: %w", err))
					continue
				}
				l.Server = from
				return l, nil, nil
			case dhcpv6.MessageTypeAdvertise:
				adv, err := ParseAdvertise(m, c.expect())
				if err != nil {
					c.drop(from, fmt.Errorf("Advertise: %w", err))
					continue
				}
				if adv.Preference == 255 || sent > 0 {
					return nil, adv, nil
				}
				if best == nil || adv.Preference > best.Preference {
					best = adv
				}
			default:
				c.drop(from, fmt.Errorf("unexpected %s", m.MessageType))
			}
		}
		if best != nil {
			return nil, best, nil
		}
		if expired(ctx) {
			break
		}
	}
	return nil, nil, fmt.Errorf("%w to Solicit", errNoAnswer)
}

// request runs the Request exchange for adv; a server that refuses or
// never answers sends the client back to soliciting.
func (c *client) request(ctx context.Context, adv *Advertise) (*Lease, error) {
	c.params.XID = newXID()
	begin := time.Now()
	buf := make([]byte, 65536)
	var rt time.Duration
	var refused error
	for sent := 0; !c.o.Request.Exhausted(sent); sent++ {
		rt = c.o.Request.Next(rt, rand.Float64())
		c.params.Elapsed = time.Since(begin)
		req, err := Request(c.params, adv)
		if err != nil {
			return nil, err
		}
		if err := c.send(req); err != nil {
			return nil, fmt.Errorf("sending Request: %w", err)
		}
		end := time.Now().Add(rt)
		for {
			m, from, ok, err := c.receive(ctx, end, buf)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			if m == nil {
				continue
			}
			if m.MessageType != dhcpv6.MessageTypeReply {
				c.drop(from, fmt.Errorf("unexpected %s to a Request", m.MessageType))
				continue
			}
			l, err := FromReply(c.iface, m, c.expect())
			if err != nil {
				var se *statusError
				if errors.As(err, &se) {
					// The server refused (NoAddrsAvail, NotOnLink…): wait out
					// the round, then solicit again.
					refused = fmt.Errorf("server %s refused %s: %w", from, adv.Address, err)
					c.drop(from, refused)
					continue
				}
				c.drop(from, fmt.Errorf("Reply: %w", err))
				continue
			}
			l.Server = from
			return l, nil
		}
		if refused != nil {
			return nil, refused
		}
		if expired(ctx) {
			break
		}
	}
	return nil, fmt.Errorf("%w to Request for %s", errNoAnswer, adv.Address)
}
