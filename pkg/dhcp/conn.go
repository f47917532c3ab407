package dhcp

import (
	"fmt"
	"net"
	"sync/atomic"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// frameConn guards the boot against the DHCP library's parsing of frames
// from the LAN. nclient4 reads the raw socket in a goroutine of its own
// (its receive loop), unwraps each frame's IP and UDP headers and parses
// the DHCP message there; a panic on a malformed frame (as its IPv4
// reader had on a header whose total length ends inside the UDP header)
// would end PID 1, which no recover of ours can catch in that goroutine.
// So every frame is unwrapped and parsed here first, under a recover: a
// frame that panics either step is dropped and the next one read.
type frameConn struct {
	net.PacketConn
	dropped atomic.Int64
}

func newFrameConn(c net.PacketConn) *frameConn { return &frameConn{PacketConn: c} }

// ReadFrom returns the next frame that unwraps and parses without a panic.
func (c *frameConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err, ok := c.readOne(b)
		if ok {
			return n, addr, err
		}
		c.dropped.Add(1)
	}
}

// Dropped is how many frames ReadFrom has dropped.
func (c *frameConn) Dropped() int64 { return c.dropped.Load() }

// readOne reads one frame; ok is false when reading or parsing it panicked.
func (c *frameConn) readOne(b []byte) (n int, addr net.Addr, err error, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			n, addr, err, ok = 0, nil, fmt.Errorf("malformed frame: %v", r), false
		}
	}()
	n, addr, err = c.PacketConn.ReadFrom(b)
	if err == nil {
		// The receive loop parses it again; a parse error there
		// drops the frame as before.
		_, _ = dhcpv4.FromBytes(b[:n])
	}
	return n, addr, err, true
}
