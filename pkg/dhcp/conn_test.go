package dhcp

import (
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// frames is a packet socket that returns the given IPv4 packets, then EOF.
type frames struct {
	net.PacketConn
	next [][]byte
}

func (f *frames) ReadFrom(b []byte) (int, net.Addr, error) {
	if len(f.next) == 0 {
		return 0, nil, io.EOF
	}
	p := f.next[0]
	f.next = f.next[1:]
	return copy(b, p), &net.IPAddr{IP: net.IPv4(10, 77, 0, 1)}, nil
}

// ipv4UDP wraps payload in IPv4 and UDP headers (server port to client
// port), with totalLength as the IPv4 header's total length (-1: the
// right one) and pad zero bytes after the packet (an Ethernet frame's
// padding, which a packet socket hands on).
func ipv4UDP(payload []byte, totalLength, pad int) []byte {
	p := make([]byte, 28+len(payload)+pad)
	if totalLength < 0 {
		totalLength = 28 + len(payload)
	}
	p[0] = 0x45 // version 4, 20-byte header
	binary.BigEndian.PutUint16(p[2:], uint16(totalLength))
	p[8] = 64
	p[9] = 17 // UDP
	copy(p[12:], net.IPv4(10, 77, 0, 1).To4())
	copy(p[16:], net.IPv4bcast.To4())
	binary.BigEndian.PutUint16(p[20:], nclient4.ServerPort)
	binary.BigEndian.PutUint16(p[22:], nclient4.ClientPort)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

// readAll reads the frames through the same stack Acquire uses: nclient4's
// IP/UDP unwrapping behind frameConn.
func readAll(t *testing.T, in ...[]byte) (got [][]byte, dropped int64) {
	t.Helper()
	fc := newFrameConn(nclient4.NewBroadcastUDPConn(&frames{next: in}, &net.UDPAddr{Port: nclient4.ClientPort}))
	buf := make([]byte, maxMessageSize)
	for {
		n, _, err := fc.ReadFrom(buf)
		if err == io.EOF {
			return got, fc.Dropped()
		}
		if err != nil {
			t.Fatalf("ReadFrom: %v", err)
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
}

func TestFrameConnSkipsMalformedFrames(t *testing.T) {
	offer := ack(map[uint8][]byte{53: {byte(dhcpv4.MessageTypeOffer)}}).ToBytes()
	// An IPv4 total length that ends inside the UDP header: the UDP
	// payload's length computes negative. The library's reader, before
	// insomniacslk/dhcp 2026-09, sliced with it and panicked.
	for tl := 20; tl < 28; tl++ {
		got, _ := readAll(t, ipv4UDP(nil, tl, 18), ipv4UDP(offer, -1, 0))
		if len(got) != 1 || string(got[0]) != string(offer) {
			t.Fatalf("total length %d: read %d message(s), want the offer after it", tl, len(got))
		}
	}
}

// panicky stands for a reader that panics on a frame.
type panicky struct {
	net.PacketConn
	n int
}

func (p *panicky) ReadFrom(b []byte) (int, net.Addr, error) {
	p.n++
	switch p.n {
	case 1:
		var s []byte
		_ = s[:p.n-2] // a library's slicing gone wrong
	case 2:
		return copy(b, "next"), nil, nil
	}
	return 0, nil, io.EOF
}

func TestFrameConnRecoversAndReadsOn(t *testing.T) {
	fc := newFrameConn(&panicky{})
	buf := make([]byte, 16)
	n, _, err := fc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "next" {
		t.Fatalf("ReadFrom = %q, %v; want the frame after the one that panicked", buf[:n], err)
	}
	if fc.Dropped() != 1 {
		t.Fatalf("dropped %d, want 1", fc.Dropped())
	}
}

// FuzzRawFrame feeds arbitrary packets as the packet socket returns them
// through the stack Acquire reads with: nothing may panic, and what is
// returned must be a prefix of what came in after the headers.
func FuzzRawFrame(f *testing.F) {
	offer := ack(map[uint8][]byte{53: {byte(dhcpv4.MessageTypeOffer)}}).ToBytes()
	f.Add(ipv4UDP(offer, -1, 0))
	f.Add(ipv4UDP(nil, 24, 18))
	f.Add(ipv4UDP(offer, 300, 0))
	f.Add([]byte{0x4f, 0, 0, 20})
	f.Fuzz(func(t *testing.T, p []byte) {
		got, _ := readAll(t, p)
		for _, m := range got {
			if len(m) > len(p) {
				t.Fatalf("read %d bytes from a %d-byte packet", len(m), len(p))
			}
		}
	})
}
