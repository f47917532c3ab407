package dhcp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/netroot/netroot/pkg/backoff"
	"github.com/netroot/netroot/pkg/limit"
	"github.com/netroot/netroot/pkg/netconf"
	"github.com/vishvananda/netlink"
)

// Options configures Acquire.
type Options struct {
	// Interface to run DHCP on; it is brought up and must get carrier.
	Interface string
	// Hostname, when set, is sent to the server (option 12).
	Hostname string
	// Backoff is the retransmission schedule; zero means DefaultBackoff.
	Backoff Backoff
	// Logf receives one line per failed attempt; nil discards them.
	Logf func(format string, args ...any)
}

// NoLeaseError is returned when no server granted a lease before the
// context ended.
type NoLeaseError struct {
	Interface string
	MAC       net.HardwareAddr
	Attempts  int
	Elapsed   time.Duration
	// Last is the last attempt's failure.
	Last error
	// Limit is the limit that ended the wait, as the command line writes
	// it (limit.Ended); "" when unnamed.
	Limit string
}

func (e *NoLeaseError) Error() string {
	return fmt.Sprintf("no DHCP lease on %s (%s) after %d attempt(s) in %s: %v — %s",
		e.Interface, e.MAC, e.Attempts, e.Elapsed.Round(100*time.Millisecond), e.Last, e.Hint())
}

// Unwrap returns the last attempt's failure.
func (e *NoLeaseError) Unwrap() error { return e.Last }

// Hint says what to check.
func (e *NoLeaseError) Hint() string {
	return fmt.Sprintf("is a DHCP server on this network answering %s (a reservation for this MAC, the switch port's VLAN)?", e.MAC) +
		limit.BoundsTheWait(e.Limit)
}

// errNoAnswer is an attempt that timed out.
var errNoAnswer = errors.New("no answer")

// Acquire brings the interface up, waits for carrier, and runs
// DISCOVER/OFFER/REQUEST/ACK on a raw packet socket bound to it, with
// retransmissions on Backoff's schedule, until a server grants a valid
// lease or ctx ends. It does not configure the interface: see Apply.
func Acquire(ctx context.Context, o Options) (*Lease, error) {
	start := time.Now()
	if o.Backoff == (Backoff{}) {
		o.Backoff = DefaultBackoff
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := netconf.LinkUp(o.Interface); err != nil {
		return nil, fmt.Errorf("dhcp: bringing %s up: %w", o.Interface, err)
	}
	if err := netconf.WaitCarrier(ctx, o.Interface); err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	mac, err := netconf.HardwareAddr(o.Interface)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("dhcp: %s has no Ethernet address (%v)", o.Interface, err)
	}
	raw, err := nclient4.NewRawUDPConn(o.Interface, nclient4.ClientPort)
	if err != nil {
		return nil, fmt.Errorf("dhcp: opening a packet socket on %s: %w", o.Interface, err)
	}
	conn := newFrameConn(raw)
	defer func() {
		if n := conn.Dropped(); n > 0 {
			logf("dhcp: %s: dropped %d malformed frame(s)", o.Interface, n)
		}
	}()
	// One send per SendAndRead; the waits are Backoff's, through contexts.
	c, err := nclient4.NewWithConn(conn, mac, nclient4.WithRetry(1), nclient4.WithTimeout(24*time.Hour))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dhcp: %s: %w", o.Interface, err)
	}
	defer c.Close()

	var last error
	// DISCOVER retransmissions keep their transaction ID (RFC 2131
	// 4.4.1), so a late OFFER still counts: servers that probe an address
	// before offering it (dnsmasq and ISC dhcpd ping it) answer after
	// seconds. A new exchange after a REQUEST failed gets a new one.
	x := xid()
	waits := backoff.New(o.Backoff.Policy(), nil)
	for attempt := 0; ; attempt++ {
		lease, offered, err := exchange(ctx, c, o, mac, x, start, waits.Next())
		if err == nil {
			return lease, nil
		}
		if offered {
			x = xid()
		}
		last = err
		if ctx.Err() != nil {
			return nil, &NoLeaseError{Interface: o.Interface, MAC: mac, Attempts: attempt + 1, Elapsed: time.Since(start), Last: last, Limit: limit.Ended(ctx)}
		}
		logf("dhcp: %s: attempt %d: %v; retrying", o.Interface, attempt+1, err)
	}
}

// exchange is one DISCOVER→OFFER, REQUEST→ACK round, each leg waiting at
// most wait. A failure other than a timeout (a NAK, an unusable ACK)
// still waits out the leg, so a misbehaving server cannot make the client
// spin.
func exchange(ctx context.Context, c *nclient4.Client, o Options, mac net.HardwareAddr, x dhcpv4.TransactionID, start time.Time, wait time.Duration) (_ *Lease, offered bool, _ error) {
	legCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	fail := func(err error) (*Lease, bool, error) {
		<-legCtx.Done()
		return nil, offered, err
	}
	p := MessageParams{XID: x, MAC: mac, Elapsed: time.Since(start), Hostname: o.Hostname}
	offer, err := c.SendAndRead(legCtx, c.RemoteAddr(), Discover(p), nclient4.IsMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		if legCtx.Err() != nil {
			return nil, false, fmt.Errorf("%w to DHCPDISCOVER within %s", errNoAnswer, wait.Round(10*time.Millisecond))
		}
		return fail(fmt.Errorf("DHCPDISCOVER: %w", err))
	}
	offered = true
	cancel()
	legCtx, cancel = context.WithTimeout(ctx, wait)
	defer cancel()
	match := nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)
	if sid := offer.ServerIdentifier(); sid != nil {
		match = nclient4.IsAll(nclient4.IsCorrectServer(sid), match)
	}
	p.Elapsed = time.Since(start)
	ack, err := c.SendAndRead(legCtx, c.RemoteAddr(), Request(p, offer), match)
	if err != nil {
		if legCtx.Err() != nil {
			return nil, true, fmt.Errorf("%w to DHCPREQUEST for %v from %v within %s", errNoAnswer, offer.YourIPAddr, offer.ServerIdentifier(), wait.Round(10*time.Millisecond))
		}
		return fail(fmt.Errorf("DHCPREQUEST: %w", err))
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return fail(fmt.Errorf("server %v refused %v (DHCPNAK %q)", ack.ServerIdentifier(), offer.YourIPAddr, ack.Message()))
	}
	lease, err := FromACK(o.Interface, ack)
	if err != nil {
		return fail(fmt.Errorf("unusable DHCPACK from %v: %w", ack.ServerIdentifier(), err))
	}
	lease.Obtained = time.Now()
	return lease, true, nil
}

// xid draws a transaction ID from math/rand, which never blocks (unlike
// crypto randomness before the kernel's pool is initialised). It only
// needs to be unlikely to collide on the segment.
func xid() dhcpv4.TransactionID {
	var x dhcpv4.TransactionID
	v := rand.Uint32()
	x[0], x[1], x[2], x[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return x
}

// ApplyOptions adjusts Apply.
type ApplyOptions struct {
	// MTU, when non-zero, replaces the lease's (ip=…:<mtu> wins).
	MTU int
	// NoMTU ignores the lease's MTU.
	NoMTU bool
}

// Apply configures the lease on its interface: MTU, address with its
// broadcast, default route and option 121's routes. The address is kept
// without a lifetime: the real OS's DHCP client takes the lease over
// (/run/netroot/dhcp-<iface>.json), and a diskless root must not lose its
// address when nobody renews it in between.
func Apply(l *Lease, o ApplyOptions) error {
	link, err := netlink.LinkByName(l.Interface)
	if err != nil {
		return fmt.Errorf("dhcp: %s: %w", l.Interface, err)
	}
	mtu := l.MTU
	if o.NoMTU {
		mtu = 0
	}
	if o.MTU > 0 {
		mtu = o.MTU
	}
	if mtu > 0 && mtu != link.Attrs().MTU {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("dhcp: setting MTU %d on %s: %w", mtu, l.Interface, err)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: l.Address.Addr().AsSlice(), Mask: net.CIDRMask(l.Address.Bits(), 32)}}
	if bc := Broadcast(l); bc.IsValid() {
		addr.Broadcast = bc.AsSlice()
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("dhcp: adding %s to %s: %w", l.Address, l.Interface, err)
	}
	for _, r := range l.Routes {
		if err := netconf.AddRoute(netconf.Route{Destination: r.Destination, Gateway: r.Gateway, Interface: l.Interface}); err != nil {
			return fmt.Errorf("dhcp: option 121: %w", err)
		}
	}
	if l.Router.IsValid() {
		if err := netconf.AddRoute(netconf.Route{Gateway: l.Router, Interface: l.Interface}); err != nil {
			return fmt.Errorf("dhcp: default route: %w", err)
		}
	}
	return nil
}

// Broadcast is the lease's broadcast address: option 28, else the
// subnet's last address (none for /31 and /32).
func Broadcast(l *Lease) netip.Addr {
	if l.Broadcast.IsValid() {
		return l.Broadcast
	}
	bits := l.Address.Bits()
	if bits >= 31 || !l.Address.Addr().Is4() {
		return netip.Addr{}
	}
	a := l.Address.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= 1<<(32-bits) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
