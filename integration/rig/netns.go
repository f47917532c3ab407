package rig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
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
		for _, pid := range strings.Fields(out) {
			run(ctx, "kill", "-9", pid)
		}
	}
	_, err := run(ctx, "ip", "netns", "del", n.NS)
	return err
}
