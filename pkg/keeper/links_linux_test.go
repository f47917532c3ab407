package keeper

import (
	"context"
	"net"
	"os"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// TestLinkWatchChanges: the watch compares states, so what changed
// between two checks is reported once, whatever the events that woke it.
func TestLinkWatchChanges(t *testing.T) {
	eth0 := linkState{Index: 2, MasterIndex: 5, Name: "eth0", Up: true}
	eth1 := linkState{Index: 3, MasterIndex: 5, Name: "eth1"}
	bond0 := linkState{Index: 5, Name: "bond0", Up: true}
	bondAddr := addrKey{Index: 5, Prefix: "10.0.0.2/24"}
	up := func(l linkState) linkState { l.Up = true; return l }
	down := func(l linkState) linkState { l.Up = false; return l }
	ev := func(l linkState) LinkEvent {
		return LinkEvent{Index: l.Index, MasterIndex: l.MasterIndex, Name: l.Name, Up: true}
	}
	w := linkWatch{}
	for _, c := range []struct {
		what  string
		links []linkState
		addrs []addrKey
		want  []LinkEvent
	}{
		{"the keeper starts: what is up came up before it", []linkState{eth0, eth1, bond0}, []addrKey{bondAddr}, nil},
		{"nothing changed (another link's event woke it)", []linkState{eth0, eth1, bond0}, []addrKey{bondAddr}, nil},
		{"eth1 gets carrier", []linkState{eth0, up(eth1), bond0}, []addrKey{bondAddr}, []LinkEvent{ev(up(eth1))}},
		{"the bond loses its address and eth0 its carrier", []linkState{down(eth0), up(eth1), bond0}, nil, nil},
		{"both back in one check (events coalesced, or a subscription made again)", []linkState{eth0, up(eth1), bond0}, []addrKey{bondAddr}, []LinkEvent{ev(eth0), ev(bond0)}},
		{"an IPv6 address ends its duplicate detection", []linkState{eth0, up(eth1), bond0},
			[]addrKey{bondAddr, {Index: 5, Prefix: "fd00::2/64", Flags: 0x40}}, []LinkEvent{ev(bond0)}},
		{"... and is usable", []linkState{eth0, up(eth1), bond0}, []addrKey{bondAddr, {Index: 5, Prefix: "fd00::2/64"}}, []LinkEvent{ev(bond0)}},
		{"a new link up with an address: one event", []linkState{eth0, up(eth1), bond0, {Index: 9, Name: "eth2", Up: true}},
			[]addrKey{bondAddr, {Index: 5, Prefix: "fd00::2/64"}, {Index: 9, Prefix: "10.1.0.2/24"}}, []LinkEvent{{Index: 9, Name: "eth2", Up: true}}},
		{"an address of a link the list missed (it came after the dump)", []linkState{eth0, up(eth1), bond0},
			[]addrKey{bondAddr, {Index: 5, Prefix: "fd00::2/64"}, {Index: 9, Prefix: "10.1.0.2/24"}, {Index: 11, Prefix: "10.2.0.2/24"}}, []LinkEvent{{Index: 11, Up: true}}},
	} {
		if got := w.changes(c.links, c.addrs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.what, got, c.want)
		}
	}
}

// TestWatchLinksInANamespace runs the watch against a kernel: a veth pair
// brought up, then an address added, in a network namespace of its own.
func TestWatchLinksInANamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (a network namespace)")
	}
	ns := make(chan netns.NsHandle, 1)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan LinkEvent, 16)
	ended := make(chan struct{})
	go func() { // the watch, on a thread in the namespace
		defer close(ended)
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		h, err := netns.New()
		if err != nil {
			t.Errorf("new namespace: %v", err)
			close(ns)
			return
		}
		// No IPv6 link-local addresses: the link's own event is tested,
		// not the address the kernel would add as it comes up.
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", []byte("1"), 0); err != nil {
			t.Logf("IPv6 stays on: %v", err)
		}
		ns <- h
		watchLinks(ctx, out, t.Logf)
	}()
	defer func() { cancel(); <-ended }()
	h, ok := <-ns
	if !ok {
		return
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	if err := nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "kw0"}, PeerName: "kw1"}); err != nil {
		t.Fatalf("veth: %v", err)
	}
	kw0, err := nl.LinkByName("kw0")
	if err != nil {
		t.Fatal(err)
	}
	kw1, err := nl.LinkByName("kw1")
	if err != nil {
		t.Fatal(err)
	}
	if err := nl.LinkSetUp(kw1); err != nil {
		t.Fatal(err)
	}
	// The watch's first check only records what it finds, and the test
	// cannot tell when it ran: each change is made again until it is seen.
	// A change is undone and redone on alternate tries, never both at
	// once: a check that ran after both (a slow one, under -race) would
	// find nothing changed.
	toggle := func(do, undo func() error) func() error {
		done := false
		return func() error {
			done = !done
			if done {
				return do()
			}
			return undo()
		}
	}
	until := func(what string, change func() error, want func(LinkEvent) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if err := change(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			again := time.After(500 * time.Millisecond)
		wait:
			for {
				select {
				case ev := <-out:
					if want(ev) {
						return
					}
				case <-again:
					break wait
				}
			}
		}
		t.Fatalf("no event for %s", what)
	}
	until("kw0 up or down", toggle(func() error { return nl.LinkSetUp(kw0) }, func() error { return nl.LinkSetDown(kw0) }),
		func(ev LinkEvent) bool { return ev.Name == "kw0" && ev.Index == kw0.Attrs().Index })
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 99, 0, 1), Mask: net.CIDRMask(24, 32)}}
	until("kw0's address", toggle(func() error { return nl.AddrAdd(kw0, addr) }, func() error { return nl.AddrDel(kw0, addr) }),
		func(ev LinkEvent) bool { return ev.Index == kw0.Attrs().Index })
}
