package rig

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Second paths to the target for the redundant-path tests: more
// addresses on the bridge (a second portal, a portal nobody serves), a
// second bridge with a subnet of its own (a NIC on its own switch), and a
// portal that never answers.

// AddAddr gives the bridge one more address (CIDR), e.g. a second portal
// on the same subnet.
func (n *Net) AddAddr(ctx context.Context, cidr string) error {
	_, err := run(ctx, "ip", "-n", n.NS, "addr", "add", cidr, "dev", n.Bridge)
	return err
}

// AddBridge makes a second bridge ("switch") named name with address
// addr (CIDR) and moves the taps given onto it: their NICs are then on a
// subnet of their own. Close deletes it with the namespace.
func (n *Net) AddBridge(ctx context.Context, name, addr string, taps ...string) error {
	steps := [][]string{
		{"link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"addr", "add", addr, "dev", name},
		{"link", "set", name, "up"},
	}
	for _, tap := range taps {
		steps = append(steps, []string{"link", "set", tap, "master", name})
	}
	for _, s := range steps {
		if _, err := run(ctx, "ip", append([]string{"-n", n.NS}, s...)...); err != nil {
			return err
		}
	}
	return nil
}

// BlackHole makes addr ("ip:port", the address on one of the namespace's
// bridges, AddAddr) a portal that never answers: a listener whose accept
// queue is full, so the kernel drops every SYN to it without a reset —
// the connects of a guest wait until they time out, as over a dead path.
// Close the returned function's resources by calling it.
func (n *Net) BlackHole(addr string) (func(), error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("rig: black hole %q: want an IPv4 ip:port", addr)
	}
	type result struct {
		fds []int
		err error
	}
	out := make(chan result, 1)
	go func() {
		// This thread enters the namespace and is thrown away with the
		// goroutine (never unlocked): the sockets stay in the namespace.
		runtime.LockOSThread()
		ns, err := os.Open(filepath.Join("/run/netns", n.NS))
		if err != nil {
			out <- result{err: err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			out <- result{err: fmt.Errorf("setns %s: %w", n.NS, err)}
			return
		}
		sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
		l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			out <- result{err: err}
			return
		}
		if err := unix.Bind(l, sa); err != nil {
			unix.Close(l)
			out <- result{err: fmt.Errorf("bind %s: %w", addr, err)}
			return
		}
		// A backlog of 0 holds one connection; the one made here fills it.
		if err := unix.Listen(l, 0); err != nil {
			unix.Close(l)
			out <- result{err: err}
			return
		}
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			err = unix.Connect(c, sa)
		}
		if err != nil {
			unix.Close(l)
			out <- result{err: fmt.Errorf("filling the accept queue of %s: %w", addr, err)}
			return
		}
		out <- result{fds: []int{l, c}}
	}()
	r := <-out
	if r.err != nil {
		return nil, fmt.Errorf("rig: black hole: %w", r.err)
	}
	return func() {
		for _, fd := range r.fds {
			unix.Close(fd)
		}
	}, nil
}
