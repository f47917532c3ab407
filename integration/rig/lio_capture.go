package rig

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Capture is a tcpdump writing a namespace's iSCSI traffic to a pcap file
// (to read the login exchanges back with LoginExchanges).
type Capture struct {
	Path string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartCapture runs tcpdump on n's bridge for TCP port 3260, writing
// packet by packet (-U) to path, and returns once it listens.
func StartCapture(ctx context.Context, n *Net, path string) (*Capture, error) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		return nil, fmt.Errorf("rig: capturing needs tcpdump (apt-get install tcpdump): %w", err)
	}
	logPath := path + ".log"
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c := &Capture{Path: path, done: make(chan struct{})}
	// Not CommandContext: the capture outlives the setup context.
	c.cmd = exec.Command("ip", "netns", "exec", n.NS, "tcpdump", "-i", n.Bridge, "-U", "--immediate-mode", "-s", "0", "-w", path, "tcp port 3260")
	c.cmd.Stdout = logf
	c.cmd.Stderr = logf
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { c.cmd.Wait(); logf.Close(); close(c.done) }()
	for {
		if b, _ := os.ReadFile(logPath); bytes.Contains(b, []byte("listening on")) {
			return c, nil
		}
		select {
		case <-c.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("rig: tcpdump exited: %s", strings.TrimSpace(string(b)))
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the capture (the file is complete afterwards).
func (c *Capture) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// LoginPDU is one iSCSI Login Request or Response seen on the wire.
type LoginPDU struct {
	Time     time.Time
	From, To netip.AddrPort
	// Response is true for a Login Response (from the target).
	Response bool
	// Transit, Continue, CSG and NSG are the PDU's stage flags.
	Transit, Continue bool
	CSG, NSG          int
	ISID              [6]byte
	TSIH              uint16
	// StatusClass and StatusDetail are a response's status.
	StatusClass, StatusDetail int
	// Keys are the data segment's key=value pairs in order.
	Keys []string
}

// String renders the PDU on one line; CHAP_R/CHAP_C values (hashes and
// challenges, not secrets, but noise) are shortened.
func (p LoginPDU) String() string {
	dir := "I→T req "
	if p.Response {
		dir = fmt.Sprintf("T→I rsp status=%d/%d ", p.StatusClass, p.StatusDetail)
	}
	flags := ""
	if p.Transit {
		flags += "T"
	}
	if p.Continue {
		flags += "C"
	}
	keys := make([]string, len(p.Keys))
	for i, k := range p.Keys {
		if (strings.HasPrefix(k, "CHAP_R=") || strings.HasPrefix(k, "CHAP_C=")) && len(k) > 20 {
			k = k[:20] + "…"
		}
		keys[i] = k
	}
	return fmt.Sprintf("%s%s→%s csg=%d nsg=%d flags=%s isid=%x tsih=%d %s", dir, p.From, p.To, p.CSG, p.NSG, flags,
		p.ISID, p.TSIH, strings.Join(keys, " "))
}

type flowKey struct{ src, dst netip.AddrPort }

type segment struct {
	seq  uint32
	data []byte
	t    time.Time
}

// LoginExchanges reads a pcap file (Ethernet, IPv4, TCP) and returns
// the login PDUs of every connection, in time order. Each direction of a
// connection is reassembled from its SYN; parsing stops at its first PDU
// that is not a login PDU (digests may follow from there on).
func LoginExchanges(path string) ([]LoginPDU, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseLoginExchanges(b)
}

// ParseLoginExchanges is LoginExchanges on the file's contents.
func ParseLoginExchanges(pcap []byte) ([]LoginPDU, error) {
	if len(pcap) < 24 {
		return nil, errors.New("pcap: short file")
	}
	var bo binary.ByteOrder
	nano := false
	switch binary.LittleEndian.Uint32(pcap) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, errors.New("pcap: not a pcap file")
	}
	if lt := bo.Uint32(pcap[20:]); lt != 1 {
		return nil, fmt.Errorf("pcap: link type %d, want Ethernet", lt)
	}
	isn := map[flowKey]uint32{}
	segs := map[flowKey][]segment{}
	var order []flowKey
	for off := 24; off+16 <= len(pcap); {
		sec, frac := bo.Uint32(pcap[off:]), bo.Uint32(pcap[off+4:])
		incl := int(bo.Uint32(pcap[off+8:]))
		off += 16
		if incl < 0 || off+incl > len(pcap) {
			break // truncated last record
		}
		pkt := pcap[off : off+incl]
		off += incl
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		t := time.Unix(int64(sec), ns)
		k, seq, syn, payload, ok := parseTCP(pkt)
		if !ok {
			continue
		}
		if syn {
			if _, seen := isn[k]; !seen {
				order = append(order, k)
			}
			isn[k] = seq + 1
			delete(segs, k)
			continue
		}
		if len(payload) > 0 {
			segs[k] = append(segs[k], segment{seq: seq, data: append([]byte(nil), payload...), t: t})
		}
	}
	var out []LoginPDU
	for _, k := range order {
		out = append(out, loginPDUs(k, isn[k], segs[k])...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// parseTCP returns the flow, sequence number, SYN flag and payload of an
// Ethernet/IPv4/TCP frame.
func parseTCP(pkt []byte) (k flowKey, seq uint32, syn bool, payload []byte, ok bool) {
	if len(pkt) < 14 {
		return
	}
	et := binary.BigEndian.Uint16(pkt[12:])
	p := pkt[14:]
	if et == 0x8100 && len(p) >= 4 {
		et = binary.BigEndian.Uint16(p[2:])
		p = p[4:]
	}
	if et != 0x0800 || len(p) < 20 || p[0]>>4 != 4 {
		return
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:]))
	if p[9] != 6 || ihl < 20 || total < ihl || total > len(p) {
		return
	}
	src := netip.AddrFrom4([4]byte(p[12:16]))
	dst := netip.AddrFrom4([4]byte(p[16:20]))
	tcp := p[ihl:total]
	if len(tcp) < 20 {
		return
	}
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return
	}
	k = flowKey{netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp[0:])), netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:]))}
	return k, binary.BigEndian.Uint32(tcp[4:]), tcp[13]&0x02 != 0, tcp[doff:], true
}

// loginPDUs reassembles one direction from its initial sequence number
// and parses its leading login PDUs.
func loginPDUs(k flowKey, start uint32, segs []segment) []LoginPDU {
	sort.SliceStable(segs, func(i, j int) bool { return int32(segs[i].seq-segs[j].seq) < 0 })
	var stream []byte
	var times []time.Time // the time each stream byte arrived
	next := start
	for _, s := range segs {
		// In int64: -d of a segment 2^31 behind would overflow int32.
		d := int64(int32(s.seq - next))
		switch {
		case d > 0:
			goto parse // a gap: stop at what is contiguous
		case -d >= int64(len(s.data)):
			continue // a retransmission
		}
		data := s.data[-d:]
		stream = append(stream, data...)
		for range data {
			times = append(times, s.t)
		}
		next += uint32(len(data))
	}
parse:
	var out []LoginPDU
	for off := 0; off+48 <= len(stream); {
		bhs := stream[off : off+48]
		op := bhs[0] & 0x3f
		if op != 0x03 && op != 0x23 {
			break
		}
		ahs := int(bhs[4]) * 4
		dlen := int(bhs[5])<<16 | int(bhs[6])<<8 | int(bhs[7])
		end := off + 48 + ahs + (dlen+3)&^3
		if end > len(stream) || off+48+ahs+dlen > len(stream) {
			break
		}
		p := LoginPDU{
			Time: times[off], From: k.src, To: k.dst, Response: op == 0x23,
			Transit: bhs[1]&0x80 != 0, Continue: bhs[1]&0x40 != 0, CSG: int(bhs[1]>>2) & 3, NSG: int(bhs[1]) & 3,
			ISID: [6]byte(bhs[8:14]), TSIH: binary.BigEndian.Uint16(bhs[14:]),
		}
		if p.Response {
			p.StatusClass, p.StatusDetail = int(bhs[36]), int(bhs[37])
		}
		for _, kv := range bytes.Split(stream[off+48+ahs:off+48+ahs+dlen], []byte{0}) {
			if len(kv) > 0 {
				p.Keys = append(p.Keys, string(kv))
			}
		}
		out = append(out, p)
		off = end
	}
	return out
}
