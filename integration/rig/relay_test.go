package rig

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/vishvananda/netns"
)

// needRoot skips (fails under CI) a test that needs root and tools.
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("needs root (network namespaces)")
	}
	for _, tool := range append([]string{"ip", "sysctl"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			skip("needs %s (run `make deps`): %v", tool, err)
		}
	}
}

// A fake guest behind a relay: it sends and receives Ethernet frames on
// QEMU's end of the relay's socket pair.
const (
	guestIP  = "10.77.0.50"
	guestMAC = "52:54:00:77:00:99"
	udpPort  = 9999
)

type relayBench struct {
	n      *Net
	r      *Relay
	guest  *net.UnixConn
	brMAC  net.HardwareAddr
	udp    net.PacketConn // in the namespace, on HostAddr:udpPort
	ipID   uint16
	hostIP net.IP
}

func newRelayBench(t *testing.T) *relayBench {
	t.Helper()
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := NewNet(ctx, HostAddr+"/24", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	r, err := StartRelay(n, 0, "tap0", 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.FileConn(r.qemuEnd())
	if err != nil {
		t.Fatal(err)
	}
	r.handedOver()
	b := &relayBench{n: n, r: r, guest: c.(*net.UnixConn), hostIP: net.ParseIP(HostAddr).To4()}
	t.Cleanup(func() { b.guest.Close() })
	if _, err := run(ctx, "ip", "-n", n.NS, "neigh", "add", guestIP, "lladdr", guestMAC, "dev", n.Bridge, "nud", "permanent"); err != nil {
		t.Fatal(err)
	}
	err = n.Within(func() error {
		ifc, err := net.InterfaceByName(n.Bridge)
		if err != nil {
			return err
		}
		b.brMAC = ifc.HardwareAddr
		b.udp, err = net.ListenPacket("udp4", net.JoinHostPort(HostAddr, "9999"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.udp.Close() })
	b.udp.(*net.UDPConn).SetReadBuffer(16 << 20)
	b.guest.SetReadBuffer(16 << 20)
	return b
}

// ipv4 builds an Ethernet frame carrying an IPv4 packet from the guest.
func (b *relayBench) ipv4(proto byte, l4 []byte) []byte {
	mac, _ := net.ParseMAC(guestMAC)
	f := append(append(append([]byte(nil), b.brMAC...), mac...), 0x08, 0x00)
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	b.ipID++
	binary.BigEndian.PutUint16(ip[4:], b.ipID)
	copy(ip[12:], net.ParseIP(guestIP).To4())
	copy(ip[16:], b.hostIP)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	return append(append(f, ip...), l4...)
}

// udpFrame is a UDP datagram from the guest to HostAddr:udpPort (no
// checksum, which IPv4 allows).
func (b *relayBench) udpFrame(payload []byte) []byte {
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], udpPort)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return b.ipv4(17, append(u, payload...))
}

// sendFromGuest sends n datagrams, paced by every, and counts those the
// namespace receives within wait after the last.
func (b *relayBench) sendFromGuest(t *testing.T, n int, every, wait time.Duration) int {
	t.Helper()
	got := make(chan int)
	go func() {
		buf := make([]byte, 2048)
		c := 0
		for {
			b.udp.SetReadDeadline(time.Now().Add(wait))
			if _, _, err := b.udp.ReadFrom(buf); err != nil {
				got <- c
				return
			}
			c++
		}
	}()
	frame := b.udpFrame(make([]byte, 64))
	for i := 0; i < n; i++ {
		if _, err := b.guest.Write(frame); err != nil {
			t.Fatal(err)
		}
		if every > 0 {
			time.Sleep(every)
		}
	}
	return <-got
}

func TestRelayImpair(t *testing.T) {
	b := newRelayBench(t)
	if got := b.sendFromGuest(t, 200, time.Millisecond, time.Second); got != 200 {
		t.Errorf("pass: %d of 200 frames arrived", got)
	}

	b.r.Set(Impair{Loss: 0.3})
	before := b.r.Stats(FromGuest)
	got := b.sendFromGuest(t, 1000, 200*time.Microsecond, time.Second)
	lost := b.r.Stats(FromGuest).Lost - before.Lost
	if got+lost != 1000 || lost < 230 || lost > 370 {
		t.Errorf("loss 30%%: %d arrived, %d lost of 1000", got, lost)
	}

	b.r.Set(Impair{Blackhole: true})
	before = b.r.Stats(FromGuest)
	if got := b.sendFromGuest(t, 50, time.Millisecond, 500*time.Millisecond); got != 0 {
		t.Errorf("black hole: %d frames arrived", got)
	}
	if d := b.r.Stats(FromGuest).Blackholed - before.Blackholed; d != 50 {
		t.Errorf("black hole counted %d frames, want 50", d)
	}

	// A trap turns the relay into a black hole at the first login request.
	b.r.Set(Impair{})
	fired := b.r.Trap(MatchISCSILogin(3260))
	tcp := make([]byte, 20+48)
	binary.BigEndian.PutUint16(tcp[0:], 40001)
	binary.BigEndian.PutUint16(tcp[2:], 3260)
	tcp[12], tcp[13] = 5<<4, 0x18 // header length, PSH ACK
	nop := append([]byte(nil), tcp...)
	nop[20] = 0x40 // a NOP-Out: does not spring the trap
	if got := b.sendFromGuest(t, 1, 0, 200*time.Millisecond); got != 1 {
		t.Fatalf("before the trap: %d frames", got)
	}
	b.guest.Write(b.ipv4(6, nop))
	select {
	case <-fired:
		t.Fatal("a NOP-Out sprang the trap")
	case <-time.After(100 * time.Millisecond):
	}
	tcp[20] = 0x43
	b.guest.Write(b.ipv4(6, tcp))
	select {
	case <-fired:
	case <-time.After(2 * time.Second):
		t.Fatal("the login request did not spring the trap")
	}
	if got := b.sendFromGuest(t, 10, time.Millisecond, 300*time.Millisecond); got != 0 || !b.r.Impairment().Blackhole {
		t.Errorf("after the trap: %d frames passed, impairment %v", got, b.r.Impairment())
	}
	b.r.Set(Impair{})
	if got := b.sendFromGuest(t, 10, time.Millisecond, 300*time.Millisecond); got != 10 {
		t.Errorf("after lifting the trap's black hole: %d of 10 frames", got)
	}
}

// TestRelayDelay measures one frame's trip through a delaying relay
// towards the guest.
func TestRelayDelay(t *testing.T) {
	b := newRelayBench(t)
	b.r.Set(Impair{Delay: 120 * time.Millisecond})
	// Prime the bridge's forwarding table and the neighbour path.
	b.guest.Write(b.udpFrame([]byte("hello")))
	dst := &net.UDPAddr{IP: net.ParseIP(guestIP), Port: 7}
	buf := make([]byte, 2048)
	// The first datagram may wait for the neighbour path on a loaded
	// machine: send a numbered one every second and time the one that
	// arrives from its own send.
	var sent []time.Time
	var took time.Duration
	for took == 0 {
		if len(sent) == 5 {
			t.Fatal("no frame reached the guest in 5 s")
		}
		sent = append(sent, time.Now())
		if _, err := b.udp.WriteTo([]byte{byte(len(sent) - 1)}, dst); err != nil {
			t.Fatal(err)
		}
		b.guest.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, err := b.guest.Read(buf)
			if err != nil {
				break // send the next one
			}
			if n > 42 && buf[23] == 17 && int(buf[42]) < len(sent) { // the UDP datagram, numbered
				took = time.Since(sent[buf[42]])
				break
			}
		}
	}
	if took < 120*time.Millisecond || took > time.Second {
		t.Errorf("a frame took %v through a relay delaying 120 ms", took)
	}
}

// TestRelayThroughput measures how fast a relay carries full-size frames
// each way, against what a TCG guest can send (well under 1 Gbit/s). The
// blasts overrun queues (the host's, the relay's delay queue: overflow),
// as they would a switch's; most frames must get through.
func TestRelayThroughput(t *testing.T) {
	b := newRelayBench(t)
	const frames, size = 20000, 1472
	payload := make([]byte, size)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := run(ctx, "ip", "-n", b.n.NS, "link", "set", "tap0", "txqueuelen", "10000"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	got := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			b.udp.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, _, err := b.udp.ReadFrom(buf); err != nil {
				return
			}
			got++
		}
	}()
	frame := b.udpFrame(payload)
	before := b.r.Stats(FromGuest)
	for i := 0; i < frames; i++ {
		b.guest.Write(frame)
	}
	<-done
	took := time.Since(start) - 500*time.Millisecond
	out := b.r.Stats(FromGuest)
	t.Logf("from the guest: %d of %d frames of %d bytes in %v: %.0f frames/s, %.0f Mbit/s (relay passed %d, overflow %d)",
		got, frames, len(frame), took.Round(time.Millisecond), float64(got)/took.Seconds(),
		float64(got*len(frame))*8/took.Seconds()/1e6, out.Passed-before.Passed, out.Overflow)
	if got < frames/2 {
		t.Errorf("the relay passed %d of %d frames, %d arrived", out.Passed-before.Passed, frames, got)
	}

	// Towards the guest: the namespace sends, the fake guest counts.
	b.guest.Write(b.udpFrame([]byte("learn my MAC")))
	dst := &net.UDPAddr{IP: net.ParseIP(guestIP), Port: 7}
	recv := 0
	done = make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			b.guest.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := b.guest.Read(buf)
			if err != nil {
				return
			}
			if n >= size {
				recv++
			}
		}
	}()
	before = b.r.Stats(ToGuest)
	start = time.Now()
	for i := 0; i < frames; i++ {
		if _, err := b.udp.WriteTo(payload, dst); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal(err)
		}
	}
	<-done
	took = time.Since(start) - 500*time.Millisecond
	in := b.r.Stats(ToGuest)
	t.Logf("to the guest: %d of %d frames in %v: %.0f frames/s, %.0f Mbit/s (relay passed %d, overflow %d)",
		recv, frames, took.Round(time.Millisecond), float64(recv)/took.Seconds(),
		float64(recv*len(frame))*8/took.Seconds()/1e6, in.Passed-before.Passed, in.Overflow)
	if recv < frames/2 {
		t.Errorf("%d of the %d datagrams sent reached the guest", recv, frames)
	}
}

// TestTargetRedirect checks the rig's tgtd redirect against pkg/iscsi's
// login: tgtd redirects on every portal, so the redirect's destination is
// a second tgtd on the same LUN.
func TestTargetRedirect(t *testing.T) {
	needRoot(t, "tgtd", "tgtadm")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := NewNet(ctx, HostAddr+"/24", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, a := range []string{"10.77.0.2/24", "10.77.0.3/24"} {
		if _, err := run(ctx, "ip", "-n", n.NS, "addr", "add", a, "dev", n.Bridge); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	lun := filepath.Join(dir, "lun.img")
	if err := os.WriteFile(lun, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	home, err := StartTarget(ctx, n, TargetConfig{Portal: HostAddr + ":3260", Portals: []string{"10.77.0.2:3260"}, IQN: TargetIQN, LUNs: []string{lun}},
		filepath.Join(dir, "home.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer home.Stop()
	away, err := StartTarget(ctx, n, TargetConfig{Portal: "10.77.0.3:3260", IQN: TargetIQN, LUNs: home.Config().LUNs},
		filepath.Join(dir, "away.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer away.Stop()
	ns, err := netns.GetFromName(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	login := func(portal string) error {
		c, err := dialIn(ns)(ctx, "tcp", portal)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = iscsi.Login(ctx, c, iscsi.LoginConfig{InitiatorName: InitiatorIQN, TargetName: TargetIQN, Portal: portal})
		return err
	}
	redirected := func(portal string, status uint16) {
		t.Helper()
		err := login(portal)
		var le *iscsi.LoginError
		if !errors.As(err, &le) || le.Status() != status || le.Redirect != "10.77.0.3:3260" {
			t.Errorf("login to %s: %v, want a redirect 0x%04x to 10.77.0.3:3260", portal, err, status)
		}
	}
	for _, permanent := range []bool{false, true} {
		if err := home.Redirect(ctx, "10.77.0.3", 3260, permanent); err != nil {
			t.Fatal(err)
		}
		status := uint16(0x0101)
		if permanent {
			status = 0x0102
		}
		redirected(HostAddr+":3260", status)
		redirected("10.77.0.2:3260", status) // every portal of the redirecting tgtd
		if err := login("10.77.0.3:3260"); err != nil {
			t.Errorf("login to the second tgtd: %v", err)
		}
	}
	if err := home.ClearRedirect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := login(HostAddr + ":3260"); err != nil {
		t.Errorf("login after ClearRedirect: %v", err)
	}
}
