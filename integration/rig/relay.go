package rig

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Impair is what a Relay does to one guest NIC's frames, in both
// directions. The zero value passes every frame at once.
type Impair struct {
	// Loss is the fraction of frames dropped in each direction (0 to 1),
	// drawn from the relay's seeded source.
	Loss float64
	// Delay holds every frame this long in each direction, in order (a
	// round trip gains twice Delay).
	Delay time.Duration
	// Blackhole drops every frame while the guest's NIC keeps its carrier,
	// as when the switch's uplink behind the port dies: miimon sees
	// nothing, only ARP monitoring or a failed ping can.
	Blackhole bool
}

// String describes the impairment for logs.
func (im Impair) String() string {
	switch {
	case im.Blackhole:
		return "black hole"
	case im == Impair{}:
		return "pass"
	}
	return fmt.Sprintf("loss %.0f%%, delay %v", im.Loss*100, im.Delay)
}

// Direction is the way a frame crosses a relay.
type Direction int

// Directions.
const (
	FromGuest Direction = iota // QEMU → tap (the guest sends)
	ToGuest                    // tap → QEMU (the guest receives)
)

func (d Direction) String() string {
	if d == FromGuest {
		return "from guest"
	}
	return "to guest"
}

// Match selects frames for Relay.Trap.
type Match func(dir Direction, frame []byte) bool

// RelayStats counts one direction's frames.
type RelayStats struct {
	// Passed frames reached the other side; Lost were dropped by Loss,
	// Blackholed by Blackhole (or a trap), Overflow because the delay
	// queue was full.
	Passed, Lost, Blackholed, Overflow int
	Bytes                              int64
}

// relayQueue bounds the frames held back by Delay in one direction: at
// the emulated guest's rates a second's worth.
const relayQueue = 8192

// Relay carries one guest NIC's Ethernet frames between QEMU and the NIC's
// tap in the namespace, impairing them as told (Set), switchable at any
// time. QEMU reaches it through a -netdev dgram on one end of a unix
// datagram socket pair; the relay holds the other end and the tap, which
// stays enslaved to the namespace's bridge. The host kernel needs neither
// sch_netem nor tbf.
type Relay struct {
	// NIC is the guest NIC's index, Tap its tap in the namespace.
	NIC int
	Tap string

	conn *net.UnixConn // the relay's end of the socket pair
	qemu *os.File      // QEMU's end, until StartVM hands it over
	tap  *os.File

	mu    sync.Mutex
	im    Impair
	rnd   *rand.Rand
	trap  Match
	fired chan struct{}
	stats [2]RelayStats

	queues [2]chan relayFrame
	wg     sync.WaitGroup
	once   sync.Once
	done   chan struct{}
}

type relayFrame struct {
	due   time.Time
	frame []byte
}

// StartRelay puts guest NIC nic (whose tap in n is tap) behind a relay;
// seed drives its losses. Pass it to StartVM in VMConfig.Relays, which
// gives QEMU its end of the socket pair. Close stops it, and so does n's
// Close.
func StartRelay(n *Net, nic int, tap string, seed uint64) (*Relay, error) {
	r := &Relay{
		NIC: nic, Tap: tap,
		rnd:  rand.New(rand.NewPCG(seed, uint64(nic))),
		done: make(chan struct{}),
	}
	// The socket pair is made inside the namespace, whose datagram queue
	// limit (net.unix.max_dgram_qlen) is raised first: the default of 10
	// frames would drop or stall bursts.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.Run(ctx, "sysctl", "-q", "-w", "net.unix.max_dgram_qlen=1024"); err != nil {
		return nil, err
	}
	err := n.Within(func() error {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("rig: relay socket pair: %w", err)
		}
		for _, fd := range fds {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
		}
		own := os.NewFile(uintptr(fds[0]), "relay")
		defer own.Close()
		c, err := net.FileConn(own)
		if err != nil {
			unix.Close(fds[1])
			return err
		}
		r.conn = c.(*net.UnixConn)
		r.qemu = os.NewFile(uintptr(fds[1]), fmt.Sprintf("relay-qemu-%d", nic))
		r.tap, err = openTap(tap)
		return err
	})
	if err != nil {
		r.closeFiles()
		return nil, fmt.Errorf("rig: relay for NIC %d: %w", nic, err)
	}
	for d := range r.queues {
		r.queues[d] = make(chan relayFrame, relayQueue)
	}
	r.wg.Add(4)
	go r.receive(FromGuest, r.conn)
	go r.receive(ToGuest, r.tap)
	go r.send(FromGuest, r.tap)
	go r.send(ToGuest, r.conn)
	n.onClose = append(n.onClose, r.Close)
	return r, nil
}

// netdev is the QEMU -netdev value for the NIC's netdev id, its socket
// passed to QEMU as file descriptor fd.
func (r *Relay) netdev(id string, fd int) string {
	return fmt.Sprintf("dgram,id=%s,local.type=fd,local.str=%d", id, fd)
}

// qemuEnd returns QEMU's end of the socket pair, for its ExtraFiles.
func (r *Relay) qemuEnd() *os.File { return r.qemu }

// handedOver closes the relay's copy of QEMU's end once QEMU holds it.
func (r *Relay) handedOver() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.qemu != nil {
		r.qemu.Close()
		r.qemu = nil
	}
}

// Set changes the impairment at once (frames already held back by a delay
// are still delivered, unless the new setting is a black hole).
func (r *Relay) Set(im Impair) {
	r.mu.Lock()
	r.im = im
	r.mu.Unlock()
}

// Impairment returns the current setting.
func (r *Relay) Impairment() Impair {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.im
}

// Trap arms a one-shot trigger: the first frame matching m is dropped and
// the relay turns into a black hole (Set lifts it), freezing the exchange
// the frame belonged to at that point; the returned channel is closed
// then. A later Trap replaces an armed one.
func (r *Relay) Trap(m Match) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trap = m
	r.fired = make(chan struct{})
	return r.fired
}

// Stats returns the counts of one direction.
func (r *Relay) Stats(d Direction) RelayStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats[d]
}

// Close stops the relay; the guest's NIC then loses its peer.
func (r *Relay) Close() {
	r.once.Do(func() {
		close(r.done)
		r.closeFiles()
		r.wg.Wait()
	})
}

func (r *Relay) closeFiles() {
	if r.conn != nil {
		r.conn.Close()
	}
	if r.tap != nil {
		r.tap.Close()
	}
	r.handedOver()
}

// verdict decides a received frame's fate; it returns false when the
// frame is dropped.
func (r *Relay) verdict(d Direction, frame []byte) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &r.stats[d]
	if r.trap != nil && r.trap(d, frame) {
		r.trap = nil
		r.im.Blackhole = true
		close(r.fired)
	}
	switch {
	case r.im.Blackhole:
		st.Blackholed++
		return 0, false
	case r.im.Loss > 0 && r.rnd.Float64() < r.im.Loss:
		st.Lost++
		return 0, false
	}
	return r.im.Delay, true
}

// receive reads frames from src and queues those that pass.
func (r *Relay) receive(d Direction, src interface{ Read([]byte) (int, error) }) {
	defer r.wg.Done()
	defer close(r.queues[d])
	buf := make([]byte, 65536)
	for {
		n, err := src.Read(buf)
		if err != nil {
			select {
			case <-r.done:
				return
			default:
			}
			if isTransient(err) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		delay, ok := r.verdict(d, buf[:n])
		if !ok {
			continue
		}
		f := relayFrame{due: time.Now().Add(delay), frame: append([]byte(nil), buf[:n]...)}
		select {
		case r.queues[d] <- f:
		default:
			r.mu.Lock()
			r.stats[d].Overflow++
			r.mu.Unlock()
		}
	}
}

// send delivers queued frames to dst when they are due.
func (r *Relay) send(d Direction, dst interface{ Write([]byte) (int, error) }) {
	defer r.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for f := range r.queues[d] {
		if wait := time.Until(f.due); wait > 0 {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-r.done:
				return
			}
		}
		r.mu.Lock()
		black := r.im.Blackhole
		if black {
			r.stats[d].Blackholed++
		} else {
			r.stats[d].Passed++
			r.stats[d].Bytes += int64(len(f.frame))
		}
		r.mu.Unlock()
		if !black {
			// A tap that is down refuses frames (EIO), as a cable
			// pulled would lose them; nothing to retry.
			dst.Write(f.frame)
		}
	}
}

// isTransient reports read errors worth reading on after (a tap reports
// EIO while it is down).
func isTransient(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)
}

// MatchISCSILogin matches an IPv4 TCP segment from the guest to port whose
// payload starts with an iSCSI Login Request (opcode 0x03 with the
// immediate bit): the first PDU of a login, never part of a connection in
// full feature phase, so a retransmission of an older connection's
// commands does not match.
func MatchISCSILogin(port uint16) Match {
	return func(d Direction, frame []byte) bool {
		p, ok := tcpPayloadTo(frame, port)
		return d == FromGuest && ok && len(p) >= 48 && p[0] == 0x43
	}
}

// tcpPayloadTo returns the TCP payload of an IPv4 frame (untagged or
// 802.1Q-tagged) to port.
func tcpPayloadTo(frame []byte, port uint16) ([]byte, bool) {
	if len(frame) < 14 {
		return nil, false
	}
	eth := 12
	if binary.BigEndian.Uint16(frame[eth:]) == 0x8100 {
		eth += 4
	}
	if len(frame) < eth+2 || binary.BigEndian.Uint16(frame[eth:]) != 0x0800 {
		return nil, false
	}
	ip := frame[eth+2:]
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 6 {
		return nil, false
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total < ihl || total > len(ip) {
		return nil, false
	}
	tcp := ip[ihl:total]
	if len(tcp) < 20 || binary.BigEndian.Uint16(tcp[2:]) != port {
		return nil, false
	}
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return nil, false
	}
	return tcp[off:], true
}
