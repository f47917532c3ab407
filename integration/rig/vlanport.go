package rig

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// VLANPort is a userspace 802.1Q access port on the namespace's bridge,
// for hosts whose kernel has neither 8021q nor bridge VLAN filtering: a
// tap enslaved to the bridge receives the guests' frames, those tagged
// with VID are untagged and handed to a second, unbridged tap that holds
// the tagged network's address (where a target can listen); its replies
// are tagged and sent back into the bridge. Untagged frames never reach
// that address.
type VLANPort struct {
	VID int
	// Bridged and Host are the two taps' names.
	Bridged, Host string
	br, host      *os.File
	wg            sync.WaitGroup
	once          sync.Once
}

// AddVLANPort adds a VLAN port for vid with the host address addr (CIDR,
// e.g. 10.77.100.1/24); Close stops it, and so does the namespace's Close.
func (n *Net) AddVLANPort(ctx context.Context, vid int, addr string) (*VLANPort, error) {
	p := &VLANPort{VID: vid, Bridged: fmt.Sprintf("vlp%dbr", vid), Host: fmt.Sprintf("vlp%d", vid)}
	var err error
	if p.br, p.host, err = n.openTaps(p.Bridged, p.Host); err != nil {
		return nil, err
	}
	for _, c := range [][]string{
		{"link", "set", p.Bridged, "master", n.Bridge},
		{"link", "set", p.Bridged, "up"},
		{"addr", "add", addr, "dev", p.Host},
		{"link", "set", p.Host, "up"},
	} {
		if _, err := run(ctx, "ip", append([]string{"-n", n.NS}, c...)...); err != nil {
			p.Close()
			return nil, err
		}
	}
	p.wg.Add(2)
	go p.relay(p.br, p.host, untag)
	go p.relay(p.host, p.br, tag)
	n.onClose = append(n.onClose, p.Close)
	return p, nil
}

// openTaps creates two taps inside the namespace: a tap is created in the
// network namespace of the thread that opens it.
func (n *Net) openTaps(names ...string) (br, host *os.File, err error) {
	var files []*os.File
	err = n.Within(func() error {
		for _, name := range names {
			f, err := openTap(name)
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		return nil, nil, err
	}
	return files[0], files[1], nil
}

func openTap(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("rig: /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rig: creating tap %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// untag returns the frame without its 802.1Q tag if it carries vid.
func untag(frame []byte, vid int) []byte {
	if len(frame) < 18 || binary.BigEndian.Uint16(frame[12:]) != 0x8100 || int(binary.BigEndian.Uint16(frame[14:])&0x0fff) != vid {
		return nil
	}
	return append(frame[:12:12], frame[16:]...)
}

// tag returns the frame with an 802.1Q tag for vid.
func tag(frame []byte, vid int) []byte {
	if len(frame) < 14 {
		return nil
	}
	out := make([]byte, 0, len(frame)+4)
	out = append(out, frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, 0x8100)
	out = binary.BigEndian.AppendUint16(out, uint16(vid))
	return append(out, frame[12:]...)
}

func (p *VLANPort) relay(from, to *os.File, conv func([]byte, int) []byte) {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := from.Read(buf)
		if err != nil {
			return
		}
		if out := conv(buf[:n], p.VID); out != nil {
			to.Write(out)
		}
	}
}

// Close stops the port; its taps disappear with their file descriptors.
func (p *VLANPort) Close() {
	p.once.Do(func() {
		p.br.Close()
		p.host.Close()
		p.wg.Wait()
	})
}
