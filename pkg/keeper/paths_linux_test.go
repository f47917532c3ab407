//go:build linux

package keeper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/devmapper"
	"github.com/netroot/netroot/pkg/multipath"
)

// fakeMap is a multipath map of two paths, 8:16 (the session's) and 8:32;
// messages change the paths' states.
type fakeMap struct {
	mu     sync.Mutex
	failed map[string]bool
	msgs   []string
}

func (m *fakeMap) Create(string, string) (devmapper.Info, error) {
	return devmapper.Info{}, errors.New("no")
}
func (m *fakeMap) Load(string, []devmapper.Target, bool) error { return errors.New("no") }
func (m *fakeMap) Resume(string, bool) (devmapper.Info, error) {
	return devmapper.Info{}, errors.New("no")
}
func (m *fakeMap) Remove(string) error { return errors.New("no") }

func (m *fakeMap) Status(name string) (devmapper.Info, []devmapper.Target, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name != "3600140512345" {
		return devmapper.Info{}, nil, fmt.Errorf("no map %s", name)
	}
	state := func(dev string) string {
		if m.failed[dev] {
			return "F 1"
		}
		return "A 0"
	}
	line := fmt.Sprintf("2 0 0 0 2 1 A 0 1 2 8:16 %s 0 1 E 0 1 2 8:32 %s 0 1", state("8:16"), state("8:32"))
	return devmapper.Info{}, []devmapper.Target{{Length: 8, Type: "multipath", Params: line}}, nil
}

func (m *fakeMap) Message(name string, sector uint64, msg string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	verb, dev, _ := strings.Cut(msg, " ")
	switch verb {
	case "reinstate_path":
		m.failed[dev] = false
	case "fail_path":
		m.failed[dev] = true
	}
	return "", nil
}

func (m *fakeMap) isFailed(dev string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed[dev]
}

func mapSession(p string) Session {
	s := testSession(p)
	s.Map, s.PathDev = "3600140512345", "8:16"
	return s
}

// TestRunReinstatesThePathAfterARecovery: the session's path failed in
// its map while the connection was down; once the keeper recovered the
// session it reinstates the path (dm-multipath never does by itself).
func TestRunReinstatesThePathAfterARecovery(t *testing.T) {
	k := newFakeKernel(t)
	p, _ := portal(t)
	m := &fakeMap{failed: map[string]bool{"8:16": true}}
	h := start(t, k, mapSession(p), Options{OtherDaemonPoll: time.Hour}, env{maps: m, multipathd: func() bool { return false }})
	k.fail()
	eventually(t, 3*time.Second, "recovered", k.recovered(1))
	eventually(t, time.Second, "reinstated", func() bool { return !m.isFailed("8:16") })
	if !h.logged("session 1: path 8:16 back in multipath map 3600140512345 after its recovery") {
		t.Errorf("no log line about the path")
	}
	if m.isFailed("8:32") {
		t.Errorf("the other path was touched: %q", m.msgs)
	}
}

// TestRunChecksThePathsOnItsTick: a path the kernel failed while its
// session stayed up (an I/O error) is reinstated on the keeper's tick;
// once multipathd runs the keeper leaves the map to it, and takes it back
// when multipathd is gone.
func TestRunChecksThePathsOnItsTick(t *testing.T) {
	k := newFakeKernel(t)
	p, _ := portal(t)
	m := &fakeMap{failed: map[string]bool{}}
	var mpathd atomic.Bool
	h := start(t, k, mapSession(p), Options{OtherDaemonPoll: 20 * time.Millisecond}, env{maps: m, multipathd: mpathd.Load})
	m.Message("3600140512345", 0, "fail_path 8:16")
	eventually(t, 2*time.Second, "reinstated on the tick", func() bool { return !m.isFailed("8:16") })
	mpathd.Store(true)
	m.Message("3600140512345", 0, "fail_path 8:16")
	time.Sleep(200 * time.Millisecond)
	if !m.isFailed("8:16") {
		t.Errorf("the keeper reinstated a path while multipathd runs")
	}
	if !h.logged("multipathd runs: it checks and reinstates the paths of 3600140512345 now") {
		t.Errorf("no line about multipathd")
	}
	// multipathd stopped (shut down, or its service restarts): the
	// keeper takes the map back.
	mpathd.Store(false)
	eventually(t, 2*time.Second, "reinstated once multipathd is gone", func() bool { return !m.isFailed("8:16") })
	if !h.logged("multipathd no longer answers: the keeper reinstates the paths of 3600140512345 again") {
		t.Errorf("no line about multipathd leaving")
	}
}

// keeperBond is an active-backup bond of eth0 and eth1 whose eth0 path
// carries nothing (its carrier is up).
type keeperBond struct {
	mu     sync.Mutex
	active string
	sets   []string
}

func (b *keeperBond) failover(string) *bond.Failover {
	return &bond.Failover{Bond: "bond0",
		Ports: func() (string, []bond.Port, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			return "active-backup", []bond.Port{{Name: "eth0", Carrier: true, Active: b.active == "eth0"}, {Name: "eth1", Carrier: true, Active: b.active == "eth1"}}, nil
		},
		SetActive: func(s string) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.active = s
			b.sets = append(b.sets, s)
			return nil
		}}
}

func (b *keeperBond) current() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.active
}

// TestRunSwitchesADeadActiveSlave: a recovery's connects over the bond's
// active slave get no answer (its carrier is up): the keeper makes the
// other slave active and the session comes back over it.
func TestRunSwitchesADeadActiveSlave(t *testing.T) {
	k := newFakeKernel(t)
	p, _ := portal(t)
	b := &keeperBond{active: "eth0"}
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if b.current() == "eth0" {
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		}
		return d.DialContext(ctx, network, addr)
	}
	s := testSession(p)
	s.Bond = "bond0"
	h := start(t, k, s, Options{Dial: dial, AttemptTimeout: 300 * time.Millisecond}, env{failover: b.failover})
	k.fail()
	eventually(t, 5*time.Second, "recovered over eth1", k.recovered(1))
	if b.current() != "eth1" || !h.logged("over bond0's active slave eth0 although it has carrier") || !h.logged("made eth1 the active slave") {
		t.Errorf("active %s after %q", b.current(), b.sets)
	}
}

// A refused connect is an answer: no switch.
func TestRunRefusedConnectKeepsTheSlave(t *testing.T) {
	k := newFakeKernel(t)
	b := &keeperBond{active: "eth0"}
	s := testSession(closedPortal(t))
	s.Bond = "bond0"
	h := start(t, k, s, Options{}, env{failover: b.failover})
	k.fail()
	eventually(t, 2*time.Second, "connects", func() bool { return h.dials.Load() >= 3 })
	if len(b.sets) != 0 {
		t.Errorf("switched to %q after refused connects", b.sets)
	}
}

func TestUnansweredDial(t *testing.T) {
	timeout := &net.OpError{Op: "dial", Err: context.DeadlineExceeded}
	for _, tc := range []struct {
		err     error
		expired bool
		want    bool
	}{
		{timeout, false, true},
		{&net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, false, true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, false, false},
		{&net.OpError{Op: "dial", Err: syscall.ENETUNREACH}, false, false},
		{errors.New("whatever"), true, true},
	} {
		if got := unansweredDial(tc.err, tc.expired); got != tc.want {
			t.Errorf("unansweredDial(%v, %v) = %v", tc.err, tc.expired, got)
		}
	}
}

// TestRunPacesSwitchesWhileNothingAnswers: with every path dead the
// keeper does not flap the bond on every connect: each switch waits twice
// as long as the one before.
func TestRunPacesSwitchesWhileNothingAnswers(t *testing.T) {
	old := minSwitchGap
	minSwitchGap = 200 * time.Millisecond
	t.Cleanup(func() { minSwitchGap = old })
	k := newFakeKernel(t)
	b := &keeperBond{active: "eth0"}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	s := testSession("10.77.0.1:3260")
	s.Bond = "bond0"
	h := start(t, k, s, Options{Dial: dial, AttemptTimeout: 50 * time.Millisecond}, env{failover: b.failover})
	k.fail()
	time.Sleep(1500 * time.Millisecond)
	b.mu.Lock()
	n := len(b.sets)
	b.mu.Unlock()
	// 0, 0.2, 0.6 (+0.4), 1.4 (+0.8): at most 4 in 1.5 s, where a switch
	// per timed-out connect would be about 25.
	if n < 2 || n > 4 {
		t.Errorf("%d switches in 1.5 s (%q), want 2 to 4", n, b.sets)
	}
	if h.dials.Load() < 10 {
		t.Errorf("%d connects: the pace of switches slowed the connects", h.dials.Load())
	}
}

// fakeMultipathd listens on a fresh abstract socket and answers each
// request with reply (framed as multipathd frames it); an empty reply
// answers nothing, as systemd's multipathd.socket before (or without)
// multipathd.service.
func fakeMultipathd(t *testing.T, reply string) string {
	t.Helper()
	name := fmt.Sprintf("@netroot-test-multipathd-%d-%s", time.Now().UnixNano(), strings.ReplaceAll(t.Name(), "/", "-"))
	ln, err := net.Listen("unix", name)
	if err != nil {
		t.Skip("no abstract unix sockets here:", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := multipath.ReadReply(c) // a request is framed as a reply
				if err != nil || req != "show daemon" || reply == "" {
					time.Sleep(2 * time.Second)
					return
				}
				b, _ := multipath.EncodeRequest(reply)
				c.Write(b)
			}()
		}
	}()
	return name
}

// TestAskMultipathd: the keeper steps aside only for a multipathd that
// answers with a serving state; a socket that accepts and stays silent
// (systemd's, before multipathd runs) or a multipathd shutting down is
// none, and the question is bounded by its timeout.
func TestAskMultipathd(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		serving     bool
	}{
		{"idle", "pid 172 idle\n", true},
		{"running", "pid 172 running\n", true},
		{"starting up", "pid 172 startup\n", false},
		{"shutting down", "pid 172 shutdown\n", false},
		{"socket only", "", false},
		{"garbage", "fail\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := fakeMultipathd(t, tc.reply)
			start := time.Now()
			st, err := askMultipathd(sock, 300*time.Millisecond)
			if took := time.Since(start); took > time.Second {
				t.Errorf("asking took %v, want the timeout's 300ms at most", took)
			}
			if got := err == nil && st.Serving(); got != tc.serving {
				t.Errorf("serving = %v (%+v, %v), want %v", got, st, err, tc.serving)
			}
		})
	}
	if _, err := askMultipathd("@netroot-test-nobody-listens", 300*time.Millisecond); err == nil {
		t.Errorf("no error with nobody listening")
	}
}
