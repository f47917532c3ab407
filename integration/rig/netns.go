package rig

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Net is a private network namespace holding a bridge (the "switch") with
// the host side address and one tap per guest NIC.
type Net struct {
	// NS is the namespace's name.
	NS string
	// Bridge is the bridge's name inside NS.
	Bridge string
	// Addr is the bridge's address with prefix, e.g. 10.77.0.1/24.
	Addr string
	// Addr6 is the bridge's IPv6 address with prefix (e.g. fd77::1/64)
	// once AddAddr6 gave it one.
	Addr6 string
	// Taps are the tap interfaces, enslaved to Bridge.
	Taps []string
	// onClose runs first in Close (e.g. VLANPort.Close).
	onClose []func()
}

var netSeq atomic.Int32

// NewNet creates namespace "nr<pid>-<n>" with a bridge addressed addr
// (CIDR) and taps enslaved to it, all up and forwarding at once.
func NewNet(ctx context.Context, addr string, taps int) (*Net, error) {
	n := &Net{
		NS:     fmt.Sprintf("nr%d-%d", os.Getpid(), netSeq.Add(1)),
		Bridge: "br0",
		Addr:   addr,
	}
	for i := 0; i < taps; i++ {
		n.Taps = append(n.Taps, fmt.Sprintf("tap%d", i))
	}
	if _, err := run(ctx, "ip", "netns", "add", n.NS); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", n.Bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"addr", "add", addr, "dev", n.Bridge},
		{"link", "set", n.Bridge, "up"},
	}
	for _, tap := range n.Taps {
		steps = append(steps,
			[]string{"tuntap", "add", tap, "mode", "tap"},
			[]string{"link", "set", tap, "master", n.Bridge},
			[]string{"link", "set", tap, "up"})
	}
	for _, s := range steps {
		if _, err := run(ctx, "ip", append([]string{"-n", n.NS}, s...)...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// AddAddr6 gives the bridge an IPv6 address (CIDR, e.g. fd77::1/64),
// usable at once (no duplicate address detection), so a DHCPv6 server,
// router advertisements and an IPv6 iSCSI portal can be served on it.
//
// The bridge's link-local address, made when the bridge gets carrier
// (when a port does, after this call), skips DAD too: router
// advertisements sent while it is tentative carry a global source
// address, and hosts drop those.
func (n *Net) AddAddr6(ctx context.Context, addr string) error {
	if _, err := n.Run(ctx, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/"+n.Bridge+"/accept_dad"); err != nil {
		return err
	}
	if _, err := run(ctx, "ip", "-n", n.NS, "addr", "add", addr, "dev", n.Bridge, "nodad"); err != nil {
		return err
	}
	n.Addr6 = addr
	return nil
}

// AddTap adds a tap enslaved to the bridge, up, for a guest of its own
// (VMConfig.Taps); it is not added to Taps, which stay the client's NICs.
func (n *Net) AddTap(ctx context.Context, name string) error {
	for _, s := range [][]string{
		{"tuntap", "add", name, "mode", "tap"},
		{"link", "set", name, "master", n.Bridge},
		{"link", "set", name, "up"},
	} {
		if _, err := run(ctx, "ip", append([]string{"-n", n.NS}, s...)...); err != nil {
			return err
		}
	}
	return nil
}

// Command returns a command that runs inside the namespace.
func (n *Net) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// Run runs a command inside the namespace.
func (n *Net) Run(ctx context.Context, name string, args ...string) (string, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// SetLink takes an interface of the namespace up or down.
func (n *Net) SetLink(ctx context.Context, dev string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	_, err := run(ctx, "ip", "-n", n.NS, "link", "set", dev, state)
	return err
}

// Close kills whatever still runs in the namespace and deletes it.
func (n *Net) Close() error {
	for _, f := range n.onClose {
		f()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := run(ctx, "ip", "netns", "pids", n.NS); err == nil {
		self := strconv.Itoa(os.Getpid())
		for _, pid := range strings.Fields(out) {
			// A thread of ours left in the namespace (BlackHole's) can
			// be the main thread, which then names this process.
			if pid != self {
				run(ctx, "kill", "-9", pid)
			}
		}
	}
	_, err := run(ctx, "ip", "netns", "del", n.NS)
	return err
}

// Within runs f on a thread inside the namespace, so the sockets and taps
// it opens belong to the namespace (they stay there after f returns).
func (n *Net) Within(f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	ns, err := os.Open("/run/netns/" + n.NS)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("rig: entering %s: %w", n.NS, err)
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with this goroutine rather
		// than serve others in the wrong namespace.
		return fmt.Errorf("rig: leaving %s: %w", n.NS, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Listen opens a listener inside the namespace (e.g. "tcp",
// "10.77.0.1:3260"), for servers the test process runs itself.
func (n *Net) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.Within(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}
