//go:build linux

package keeper

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/u-root/iscsinl"
	"golang.org/x/sys/unix"
)

const testHandle = 0xffffffffa0123456

// loginBehaviour answers one login request of a portal; nil: no answer.
type loginBehaviour func(req *iscsi.LoginRequest) *iscsi.LoginResponse

// fakeKernel is the kernel's iSCSI side as the keeper sees it: the
// commands, the sysfs states they leave, and a target behind each bound
// socket (chosen by the socket's peer port) that answers the logins the
// kernel carries (SEND_PDU out, RECV_PDU events back).
type fakeKernel struct {
	t      *testing.T
	h      *harness
	events chan Event

	mu        sync.Mutex
	calls     []string
	times     []time.Time
	conn      string // sysfs connection state
	session   string // sysfs session state
	boundPort int
	portals   map[int]loginBehaviour
	// onStart runs after each successful START_CONN (without the lock).
	onStart func(n int)
	starts  int
	// logoutT2W answers a Logout Request (response 0 when negative).
	answerLogout bool
	// params are the connection parameters set (SET_PARAM), last value
	// wins; a stop for recovery clears the digests, as libiscsi does.
	params map[iscsinl.IscsiParam]string
}

func newFakeKernel(t *testing.T) *fakeKernel {
	return &fakeKernel{t: t, events: make(chan Event, 64), conn: "up", session: "LOGGED_IN", portals: map[int]loginBehaviour{}}
}

func (k *fakeKernel) record(call string) {
	k.mu.Lock()
	k.calls = append(k.calls, call)
	k.times = append(k.times, time.Now())
	k.mu.Unlock()
}

// callsOf returns the recorded calls that start with prefix, and when.
func (k *fakeKernel) callsOf(prefix string) ([]string, []time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	var at []time.Time
	for i, c := range k.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
			at = append(at, k.times[i])
		}
	}
	return out, at
}

func (k *fakeKernel) connState() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.conn
}

func (k *fakeKernel) state(sid, cid uint32) (SessionState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return SessionState{Session: k.session, Conn: k.conn}, nil
}

// fail makes the connection fail as the kernel does: the state first,
// then the CONN_ERROR event.
func (k *fakeKernel) fail() {
	k.mu.Lock()
	k.conn = "failed"
	k.mu.Unlock()
	k.record("fail")
	k.events <- Event{Type: EventConnError, TransportHandle: testHandle, SID: 1, CID: 0, Error: 1011}
}

func (k *fakeKernel) CreateSession(uint16, uint16) (uint32, uint32, error) {
	k.t.Error("keeper created a session")
	return 0, 0, errors.New("no")
}
func (k *fakeKernel) CreateConnection(uint32) (uint32, error) {
	k.t.Error("keeper created a connection")
	return 0, errors.New("no")
}
func (k *fakeKernel) DestroyConnection(uint32, uint32) error {
	k.t.Error("keeper destroyed a connection")
	return errors.New("no")
}
func (k *fakeKernel) DestroySession(uint32) error {
	k.t.Error("keeper destroyed a session")
	return errors.New("no")
}

func (k *fakeKernel) BindConnection(sid, cid uint32, fd int) error {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return err
	}
	port := sa.(*unix.SockaddrInet4).Port
	k.mu.Lock()
	k.boundPort, k.conn = port, "bound"
	k.mu.Unlock()
	k.record("bind " + strconv.Itoa(port))
	return nil
}

func (k *fakeKernel) SetParam(sid, cid uint32, p iscsinl.IscsiParam, v string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.params == nil {
		k.params = map[iscsinl.IscsiParam]string{}
	}
	k.params[p] = v
	return nil
}

// param returns a parameter's value ("" when never set).
func (k *fakeKernel) param(p iscsi.ParamID) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.params[iscsinl.IscsiParam(p)]
}

func (k *fakeKernel) StartConnection(sid, cid uint32) error {
	k.mu.Lock()
	k.conn, k.session = "up", "LOGGED_IN"
	k.starts++
	n, hook := k.starts, k.onStart
	k.mu.Unlock()
	k.record("start")
	if hook != nil {
		hook(n)
	}
	return nil
}

func (k *fakeKernel) StopConnection(sid, cid uint32) error {
	k.mu.Lock()
	k.conn, k.session = "down", "FAILED"
	delete(k.params, iscsinl.IscsiParam(iscsi.ParamHdrDgstEn))
	delete(k.params, iscsinl.IscsiParam(iscsi.ParamDataDgstEn))
	k.mu.Unlock()
	k.record("stop")
	return nil
}

func (k *fakeKernel) SendPDU(sid, cid uint32, pdu iscsinl.PduLike) error {
	b := pdu.Serialize()
	if len(b) < iscsi.BHSLen {
		return fmt.Errorf("short PDU")
	}
	switch iscsi.Opcode(b[0] & 0x3f) {
	case iscsi.OpLoginRequest:
		wire := append(append([]byte(nil), b...), make([]byte, (4-len(b)%4)%4)...)
		p, err := iscsi.ReadPDU(strings.NewReader(string(wire)), 1<<20)
		if err != nil {
			return err
		}
		req, err := iscsi.ParseLoginRequest(p)
		if err != nil {
			return err
		}
		k.mu.Lock()
		h := k.portals[k.boundPort]
		port := k.boundPort
		k.mu.Unlock()
		k.record("login " + strconv.Itoa(port))
		if h == nil {
			h = accept
		}
		r := h(req)
		if r == nil {
			return nil
		}
		rb, err := r.PDU().Marshal()
		if err != nil {
			return err
		}
		k.events <- Event{Type: EventRecvPDU, TransportHandle: testHandle, SID: sid, CID: cid, PDU: rb[:iscsi.BHSLen+len(r.Data)]}
	case 0x06: // Logout Request
		k.record("logout")
		k.mu.Lock()
		answer := k.answerLogout
		k.mu.Unlock()
		if answer {
			rsp := make([]byte, iscsi.BHSLen)
			rsp[0], rsp[1] = 0x26, 0x80
			copy(rsp[16:20], b[16:20])
			k.events <- Event{Type: EventRecvPDU, TransportHandle: testHandle, SID: sid, CID: cid, PDU: rsp}
		}
	default:
		k.record(fmt.Sprintf("pdu 0x%02x", b[0]&0x3f))
	}
	return nil
}

// accept answers a login as a target that agrees with every offer (and
// prefers no digests).
func accept(req *iscsi.LoginRequest) *iscsi.LoginResponse { return agree(req, false) }

// agree answers a login, choosing CRC32C for the digests when offered
// and crc32c is set.
func agree(req *iscsi.LoginRequest, crc32c bool) *iscsi.LoginResponse {
	kvs, _ := iscsi.ParseText(req.Data)
	var answer []iscsi.KeyValue
	for _, kv := range kvs {
		switch kv.Key {
		case "InitiatorName", "TargetName", "SessionType":
		case "HeaderDigest", "DataDigest":
			v := "None"
			if crc32c && strings.Contains(kv.Value, "CRC32C") {
				v = "CRC32C"
			}
			answer = append(answer, iscsi.KeyValue{Key: kv.Key, Value: v})
		default:
			answer = append(answer, kv)
		}
	}
	return &iscsi.LoginResponse{Transit: req.Transit, CSG: req.CSG, NSG: req.NSG, ISID: req.ISID, TSIH: 9, ITT: req.ITT,
		StatSN: 77, ExpCmdSN: req.CmdSN, MaxCmdSN: req.CmdSN + 32, Data: iscsi.EncodeText(answer)}
}

// requireDigests answers as LIO does when it requires digests: a login
// offering none fails with 0x0200.
func requireDigests(offers *[]string) loginBehaviour {
	return func(req *iscsi.LoginRequest) *iscsi.LoginResponse {
		kvs, _ := iscsi.ParseText(req.Data)
		h, _ := lookupKV(kvs, "HeaderDigest")
		*offers = append(*offers, h)
		if !strings.Contains(h, "CRC32C") {
			return status(2, 0)(req)
		}
		return agree(req, true)
	}
}

func lookupKV(kvs []iscsi.KeyValue, key string) (string, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// status answers a login with a non-zero status.
func status(class, detail uint8, kvs ...iscsi.KeyValue) loginBehaviour {
	return func(req *iscsi.LoginRequest) *iscsi.LoginResponse {
		return &iscsi.LoginResponse{CSG: req.CSG, ISID: req.ISID, ITT: req.ITT, StatSN: 1, ExpCmdSN: req.CmdSN,
			MaxCmdSN: req.CmdSN + 1, StatusClass: class, StatusDetail: detail, Data: iscsi.EncodeText(kvs)}
	}
}

// portal listens on a loopback port and holds what connects.
func portal(t *testing.T) (string, int) {
	addr, port, _ := portalConns(t)
	return addr, port
}

// portalConns is portal, with a function that resets what it holds.
func portalConns(t *testing.T) (string, int, func()) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	closeAll := func() {
		// The connect returns before Accept does: wait for the
		// connection to be held.
		for i := 0; i < 200; i++ {
			mu.Lock()
			n := len(conns)
			mu.Unlock()
			if n > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		for _, c := range conns {
			c.(*net.TCPConn).SetLinger(0) // a reset
			c.Close()
		}
		conns = nil
		mu.Unlock()
	}
	t.Cleanup(func() {
		l.Close()
		closeAll()
	})
	return l.Addr().String(), l.Addr().(*net.TCPAddr).Port, closeAll
}

// closedPortal is a loopback port nothing listens on (dials are refused).
func closedPortal(t *testing.T) string {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type harness struct {
	k      *fakeKernel
	links  chan LinkEvent
	other  atomic.Bool
	dials  atomic.Int32
	mu     sync.Mutex
	logs   []string
	done   chan error
	cancel context.CancelFunc
}

func (h *harness) logf(format string, args ...any) {
	h.mu.Lock()
	h.logs = append(h.logs, fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

func (h *harness) logged(sub string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.logs {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func testSession(portals ...string) Session {
	return Session{SID: 1, CID: 0, HostNo: 2, InitiatorName: "iqn.i:me", TargetName: "iqn.t:root",
		Portals: portals, ISID: iscsi.ISID{0x80, 1, 2, 3, 0, 0}, NoopIntervalSec: 5, NoopTimeoutSec: 5}
}

// start runs the keeper's loop on k with s; o's zero fields get test
// values (fast backoff, a quick iscsid poll).
func start(t *testing.T, k *fakeKernel, s Session, o Options, e env) *harness {
	t.Helper()
	return startState(t, k, State{TransportHandle: testHandle, Sessions: []Session{s}}, o, e)
}

// startState is start with a whole State.
func startState(t *testing.T, k *fakeKernel, st State, o Options, e env) *harness {
	t.Helper()
	h := &harness{k: k, links: make(chan LinkEvent, 8), done: make(chan error, 1)}
	k.h = h
	ready := make(chan struct{})
	o.Ready = func() { close(ready) }
	if o.Logf == nil {
		o.Logf = func(format string, args ...any) {
			h.logf(format, args...)
			t.Logf("keeper: "+format, args...)
		}
	}
	if o.OtherDaemon == nil {
		o.OtherDaemon = h.other.Load
	}
	if o.OtherDaemonPoll == 0 {
		o.OtherDaemonPoll = 50 * time.Millisecond
	}
	if o.InitialBackoff == 0 {
		o.InitialBackoff, o.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = 5 * time.Second
	}
	dial := o.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.dials.Add(1)
		return dial(ctx, network, addr)
	}
	e.t, e.events = k, k.events
	if e.state == nil {
		e.state = k.state
	}
	if e.links == nil {
		e.links = h.links
	}
	if e.resolve == nil {
		e.resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return nil, fmt.Errorf("no resolver in tests for %s", host)
		}
	}
	if e.route == nil {
		e.route = func(netip.Addr) (int, error) { return 7, nil }
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- run(ctx, st, o, e) }()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("keeper not ready within 5 s")
	}
	// Let the check of sysfs at start pass, so that what the test does
	// next reaches the keeper as an event.
	time.Sleep(20 * time.Millisecond)
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Error("keeper did not stop within 5 s of its context ending")
		}
	})
	return h
}

// eventually waits up to d for cond.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recovered reports whether the keeper logged n recoveries and the
// connection is up.
func (k *fakeKernel) recovered(n int) func() bool {
	return func() bool {
		k.h.mu.Lock()
		got := 0
		for _, l := range k.h.logs {
			if strings.HasPrefix(l, "recovered session") {
				got++
			}
		}
		k.h.mu.Unlock()
		return got >= n && k.connState() == "up"
	}
}

// waitDone waits for the loop to return.
func (h *harness) waitDone(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("keeper still running after %v", d)
		return nil
	}
}

func TestRunRecoversAConnectionError(t *testing.T) {
	k := newFakeKernel(t)
	p, port := portal(t)
	start(t, k, testSession(p), Options{}, env{})
	k.fail()
	eventually(t, 3*time.Second, "recovered", k.recovered(1))
	if binds, _ := k.callsOf("bind"); binds[0] != "bind "+strconv.Itoa(port) {
		t.Errorf("binds %v", binds)
	}
}

// iscsid took over while a recovery runs: the keeper exits at once
// instead of waiting for the recovery that it cancelled.
func TestRunStepsAsideDuringRecovery(t *testing.T) {
	k := newFakeKernel(t)
	h := start(t, k, testSession(closedPortal(t)), Options{}, env{})
	k.fail()
	eventually(t, 2*time.Second, "a dial", func() bool { return h.dials.Load() > 0 })
	h.other.Store(true)
	if err := h.waitDone(t, 3*time.Second); !errors.Is(err, ErrSteppedAside) {
		t.Errorf("Run = %v, want ErrSteppedAside", err)
	}
}

// The only session is destroyed (by iscsiadm, say) while it is being
// recovered: the keeper has nothing left to keep and exits.
func TestRunSessionDestroyedDuringRecovery(t *testing.T) {
	k := newFakeKernel(t)
	h := start(t, k, testSession(closedPortal(t)), Options{}, env{})
	k.fail()
	eventually(t, 2*time.Second, "a dial", func() bool { return h.dials.Load() > 0 })
	k.events <- Event{Type: EventDestroySession, TransportHandle: testHandle, SID: 1}
	if err := h.waitDone(t, 3*time.Second); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// A session that failed before the keeper listened (or while a previous
// keeper was gone) is adopted from sysfs at start.
func TestRunReconcilesAtStart(t *testing.T) {
	for _, tc := range []struct{ conn, session string }{{"failed", "LOGGED_IN"}, {"down", "FAILED"}, {"bound", "FAILED"}, {"", "FAILED"}} {
		t.Run(tc.conn+"/"+tc.session, func(t *testing.T) {
			k := newFakeKernel(t)
			k.conn, k.session = tc.conn, tc.session
			p, _ := portal(t)
			start(t, k, testSession(p), Options{}, env{})
			eventually(t, 3*time.Second, "recovered without an event", k.recovered(1))
		})
	}
	// A healthy session is left alone.
	k := newFakeKernel(t)
	p, _ := portal(t)
	start(t, k, testSession(p), Options{}, env{})
	time.Sleep(200 * time.Millisecond)
	if calls, _ := k.callsOf(""); len(calls) != 0 {
		t.Errorf("healthy session touched: %v", calls)
	}
}

// After the event socket overran, sysfs says which sessions failed.
func TestRunReconcilesAfterOverrun(t *testing.T) {
	k := newFakeKernel(t)
	p, _ := portal(t)
	start(t, k, testSession(p), Options{}, env{})
	time.Sleep(50 * time.Millisecond)
	k.mu.Lock()
	k.conn = "failed" // its CONN_ERROR was lost
	k.mu.Unlock()
	k.events <- Event{Type: EventOverrun}
	eventually(t, 3*time.Second, "recovered after the overrun", k.recovered(1))
}

// nlmsg wraps an iSCSI event in a netlink message.
func nlmsg(payload []byte) []byte {
	b := make([]byte, 16, 16+len(payload))
	binary.LittleEndian.PutUint32(b[0:], uint32(16+len(payload)))
	binary.LittleEndian.PutUint16(b[4:], EventConnError)
	return append(b, payload...)
}

// An unexpected read error must not leave the keeper deaf.
func TestReadEventsSurvivesErrors(t *testing.T) {
	for _, first := range []error{syscall.EIO, syscall.ENOBUFS, syscall.EBADF} {
		t.Run(first.Error(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var n atomic.Int32
			recv := func(b []byte) (int, error) {
				switch n.Add(1) {
				case 1:
					return 0, first
				case 2:
					return copy(b, nlmsg(uevent(EventConnError, 7, []uint32{3, 0, 1020}, nil))), nil
				}
				<-ctx.Done()
				return 0, syscall.EAGAIN
			}
			out := make(chan Event, 8)
			go readEvents(ctx, recv, out, t.Logf)
			var got []uint32
			timeout := time.After(3 * time.Second)
			for len(got) < 2 {
				select {
				case ev := <-out:
					got = append(got, ev.Type)
				case <-timeout:
					t.Fatalf("events %v after a %v: want an overrun mark and the connection error", got, first)
				}
			}
			if got[0] != EventOverrun || got[1] != EventConnError {
				t.Errorf("events %v, want [%d %d]", got, EventOverrun, EventConnError)
			}
		})
	}
}

// A connection that fails again right after the recovery started it
// (before the keeper took note of the success) is recovered again.
func TestRunErrorRightAfterRestartIsNotLost(t *testing.T) {
	k := newFakeKernel(t)
	k.onStart = func(n int) {
		if n == 1 {
			k.fail()
		}
	}
	p, _ := portal(t)
	start(t, k, testSession(p), Options{}, env{})
	k.fail()
	eventually(t, 3*time.Second, "recovered", func() bool {
		starts, _ := k.callsOf("start")
		return len(starts) >= 2 && k.recovered(1)()
	})
}

// A connection error during a login (the target reset the new
// connection) ends that attempt at once instead of after its timeout.
func TestRunErrorDuringLoginRetriesAtOnce(t *testing.T) {
	k := newFakeKernel(t)
	p, port := portal(t)
	var logins atomic.Int32
	k.portals[port] = func(req *iscsi.LoginRequest) *iscsi.LoginResponse {
		if logins.Add(1) == 1 {
			go func() { time.Sleep(100 * time.Millisecond); k.fail() }()
			return nil // never answers
		}
		return accept(req)
	}
	start(t, k, testSession(p), Options{AttemptTimeout: 10 * time.Second}, env{})
	k.fail()
	eventually(t, 2*time.Second, "recovered before the first attempt's timeout", k.recovered(1))
}

// A target that resets the new connection during the login: the kernel
// reports nothing for a connection it has not started, so the keeper
// watches the socket and retries soon instead of after the login timeout.
func TestRunTargetResetDuringLogin(t *testing.T) {
	k := newFakeKernel(t)
	p, port, reset := portalConns(t)
	var logins atomic.Int32
	k.portals[port] = func(req *iscsi.LoginRequest) *iscsi.LoginResponse {
		if logins.Add(1) == 1 {
			go reset()
			return nil
		}
		return accept(req)
	}
	start(t, k, testSession(p), Options{AttemptTimeout: 10 * time.Second}, env{})
	k.fail()
	eventually(t, 3*time.Second, "recovered before the login timeout", k.recovered(1))
}

// Targets that balance connections redirect a re-login: temporarily
// (0x0101: the next recovery starts at the original portal again) or
// permanently (0x0102: the new portal replaces it).
func TestRunFollowsRedirects(t *testing.T) {
	for _, tc := range []struct {
		detail uint8
		want   string
	}{{1, "A B A B"}, {2, "A B B"}} {
		t.Run(fmt.Sprintf("0x01%02x", tc.detail), func(t *testing.T) {
			k := newFakeKernel(t)
			a, portA := portal(t)
			b, portB := portal(t)
			k.portals[portA] = status(1, tc.detail, iscsi.KeyValue{Key: "TargetAddress", Value: b + ",1"})
			start(t, k, testSession(a), Options{}, env{})
			k.fail()
			eventually(t, 3*time.Second, "recovered via the redirect", k.recovered(1))
			k.fail()
			eventually(t, 3*time.Second, "recovered again", k.recovered(2))
			binds, _ := k.callsOf("bind")
			got := strings.Join(binds, " ")
			got = strings.ReplaceAll(got, "bind "+strconv.Itoa(portA), "A")
			got = strings.ReplaceAll(got, "bind "+strconv.Itoa(portB), "B")
			if got != tc.want {
				t.Errorf("binds %s, want %s", got, tc.want)
			}
		})
	}
}

// A portal a target redirects to that does not answer sends the keeper
// back to its own portals, instead of dialling the dead one for ever.
func TestRunRedirectToADeadPortalFallsBack(t *testing.T) {
	k := newFakeKernel(t)
	a, portA := portal(t)
	var logins atomic.Int32
	dead := closedPortal(t)
	k.portals[portA] = func(req *iscsi.LoginRequest) *iscsi.LoginResponse {
		if logins.Add(1) == 1 {
			return status(1, 1, iscsi.KeyValue{Key: "TargetAddress", Value: dead + ",1"})(req)
		}
		return accept(req)
	}
	start(t, k, testSession(a), Options{}, env{})
	k.fail()
	eventually(t, 3*time.Second, "recovered at the original portal", k.recovered(1))
}

// asyncPDU is an Asynchronous Message (RFC 7143 §11.9).
func asyncPDU(event uint8, p1, p2, p3 uint16) Event {
	b := make([]byte, iscsi.BHSLen)
	b[0], b[1] = 0x32, 0x80
	binary.BigEndian.PutUint32(b[16:], 0xffffffff)
	b[36] = event
	binary.BigEndian.PutUint16(b[38:], p1)
	binary.BigEndian.PutUint16(b[40:], p2)
	binary.BigEndian.PutUint16(b[42:], p3)
	return Event{Type: EventRecvPDU, TransportHandle: testHandle, SID: 1, CID: 0, PDU: b}
}

// AsyncEvent 1: the target asks for a logout; the initiator logs out
// (within Parameter3 seconds) and logs in again.
func TestRunAsyncLogoutRequest(t *testing.T) {
	k := newFakeKernel(t)
	k.answerLogout = true
	p, _ := portal(t)
	start(t, k, testSession(p), Options{}, env{})
	k.events <- asyncPDU(1, 0, 0, 5)
	eventually(t, 3*time.Second, "logged out and in again", k.recovered(1))
	calls, _ := k.callsOf("")
	if got := strings.Join(calls, ","); !strings.HasPrefix(got, "logout,stop,bind") {
		t.Errorf("calls %s, want logout, stop, bind…", got)
	}
}

// AsyncEvent 4: the target wants to renegotiate; ERL 0 does that with a
// new login (open-iscsi drops the connection).
func TestRunAsyncRenegotiate(t *testing.T) {
	k := newFakeKernel(t)
	p, _ := portal(t)
	start(t, k, testSession(p), Options{}, env{})
	k.events <- asyncPDU(4, 0, 0, 0)
	eventually(t, 3*time.Second, "logged in again", k.recovered(1))
}

// DefaultTime2Wait — negotiated, or from AsyncEvent 2/3 — passes before
// the lost connection is reopened.
func TestRunHonoursTime2Wait(t *testing.T) {
	for _, tc := range []struct {
		name  string
		t2w   int
		async *Event
		want  time.Duration
	}{
		{"negotiated", 1, nil, time.Second},
		{"dropping the connection", 0, ptr(asyncPDU(2, 0, 1, 20)), time.Second},
		{"dropping all connections", 0, ptr(asyncPDU(3, 0, 1, 20)), time.Second},
		{"zero", 0, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel(t)
			p, _ := portal(t)
			s := testSession(p)
			s.DefaultTime2WaitSec = tc.t2w
			start(t, k, s, Options{}, env{})
			if tc.async != nil {
				k.events <- *tc.async
				time.Sleep(50 * time.Millisecond)
			}
			failed := time.Now()
			k.fail()
			eventually(t, 3*time.Second, "recovered", k.recovered(1))
			_, at := k.callsOf("bind")
			if waited := at[0].Sub(failed); waited < tc.want-50*time.Millisecond || waited > tc.want+700*time.Millisecond {
				t.Errorf("first reconnect %v after the failure, want %v", waited, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A link or an address coming back on the session's interface retries at
// once instead of after a long backoff step; other interfaces do not.
func TestRunLinkUpRetriesAtOnce(t *testing.T) {
	k := newFakeKernel(t)
	p, port := portal(t)
	var logins atomic.Int32
	k.portals[port] = func(req *iscsi.LoginRequest) *iscsi.LoginResponse {
		if logins.Add(1) == 1 {
			return status(3, 1)(req) // service unavailable: retry later
		}
		return accept(req)
	}
	h := start(t, k, testSession(p), Options{InitialBackoff: time.Minute, MaxBackoff: time.Minute}, env{})
	k.fail()
	eventually(t, 2*time.Second, "the first attempt", func() bool { return logins.Load() == 1 })
	time.Sleep(50 * time.Millisecond)
	h.links <- LinkEvent{Index: 9, Name: "other0", Up: true}
	time.Sleep(300 * time.Millisecond)
	if logins.Load() != 1 {
		t.Fatalf("an event on another interface retried")
	}
	h.links <- LinkEvent{Index: 3, MasterIndex: 7, Name: "eth0", Up: true} // a port of the route's bond
	eventually(t, 2*time.Second, "recovered after the link came back", k.recovered(1))
}

// A refused connect (the target restarts) is retried on a short, capped
// schedule: the session is back soon after the target is.
func TestRunRefusedConnectRetriesOnACappedSchedule(t *testing.T) {
	k := newFakeKernel(t)
	h := start(t, k, testSession(closedPortal(t)), Options{InitialBackoff: -1}, env{}) // the keeper's own schedule
	k.fail()
	time.Sleep(4 * time.Second)
	if n := h.dials.Load(); n < 5 {
		t.Errorf("%d connects in 4 s to a refusing target, want at least 5 (a schedule capped near 1 s)", n)
	}
}

// A connect that hangs (SYNs lost while the path is down) does not hold
// the next one back: attempts overlap, so the first SYN after the path is
// back gets through.
func TestRunHangingConnectDoesNotDelayTheNext(t *testing.T) {
	k := newFakeKernel(t)
	p, _ := portal(t)
	var n atomic.Int32
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if n.Add(1) == 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return d.DialContext(ctx, network, addr)
	}
	start(t, k, testSession(p), Options{Dial: dial, AttemptTimeout: 20 * time.Second}, env{})
	k.fail()
	eventually(t, 2*time.Second, "recovered while the first connect hangs", k.recovered(1))
}

// A portal given as a host name is re-resolved with the real root's
// resolver; when that fails, the address it had at boot is used.
func TestRunResolvesHostNames(t *testing.T) {
	t.Run("fallback", func(t *testing.T) {
		k := newFakeKernel(t)
		p, port := portal(t)
		s := testSession("target.invalid:3260")
		s.Resolved = map[string][]string{"target.invalid:3260": {p}}
		start(t, k, s, Options{}, env{})
		k.fail()
		eventually(t, 3*time.Second, "recovered via the boot-time address", k.recovered(1))
		if binds, _ := k.callsOf("bind"); binds[0] != "bind "+strconv.Itoa(port) {
			t.Errorf("binds %v", binds)
		}
	})
	t.Run("re-resolved", func(t *testing.T) {
		k := newFakeKernel(t)
		_, port := portal(t)
		name := "target.invalid:" + strconv.Itoa(port)
		s := testSession(name)
		s.Resolved = map[string][]string{name: {closedPortal(t)}}
		var asked atomic.Value
		start(t, k, s, Options{}, env{resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
			asked.Store(host)
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}})
		k.fail()
		eventually(t, 3*time.Second, "recovered via the resolved address", k.recovered(1))
		if asked.Load() != "target.invalid" {
			t.Errorf("resolver asked for %v", asked.Load())
		}
	})
}

// replacement_timeout=0 (fail I/O at once) survives the hand-over to the
// keeper instead of becoming one day at the first recovery.
func TestSessionKernelOptionsKeepConfiguredZero(t *testing.T) {
	s := testSession("10.0.0.1:3260")
	s.RecoveryTimeoutSet = true
	if o := s.KernelOptions(); !o.RecoveryTimeoutSet || o.RecoveryTimeoutSec != 0 {
		t.Errorf("KernelOptions %+v, want a configured 0", o)
	}
}

// TestRunScansTheOtherLUNsWhenAsked: /init leaves the scan of the
// target's other LUNs to the keeper (Session.ScanOtherLUNs), so that
// switch_root does not wait for it; a session not so marked is not
// scanned (node.session.scan=manual, or /init scanned the whole target).
func TestRunScansTheOtherLUNsWhenAsked(t *testing.T) {
	for _, asked := range []bool{true, false} {
		t.Run(fmt.Sprint(asked), func(t *testing.T) {
			k := newFakeKernel(t)
			p, _ := portal(t)
			s := testSession(p)
			s.ScanOtherLUNs = asked
			scanned := make(chan uint32, 2)
			scanErr := errors.New("the host is gone")
			var reads atomic.Int32 // the loop's reads of the session's state
			h := start(t, k, s, Options{}, env{
				state: func(sid, cid uint32) (SessionState, error) {
					reads.Add(1)
					return k.state(sid, cid)
				},
				scan: func(host uint32, lun uint64) error {
					if lun != iscsi.AllLUNs {
						t.Errorf("scanned LUN %d of host %d, want every LUN", lun, host)
					}
					scanned <- host
					return scanErr
				}})
			if !asked {
				// The loop starts any scan before it waits for events:
				// its reconcile at the next poll is past that.
				after := reads.Load()
				eventually(t, 3*time.Second, "a reconcile at the poll", func() bool { return reads.Load() > after })
				if len(scanned) != 0 {
					t.Fatalf("scanned host %d, not asked to", <-scanned)
				}
				return
			}
			select {
			case host := <-scanned:
				if host != s.HostNo {
					t.Errorf("scanned host %d, want %d", host, s.HostNo)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the other LUNs were not scanned")
			}
			eventually(t, 3*time.Second, "the scan's failure logged", func() bool {
				return h.logged("session 1: scanning the other LUNs of iqn.t:root, as open-iscsi's node.session.scan=auto does: the host is gone")
			})
			if len(scanned) != 0 {
				t.Errorf("scanned more than once")
			}
		})
	}
}

// TestRunRecoversOnTheBoundDevice: a session bound to an interface
// (netroot='s <netdev_name>) reconnects through it: the dial's context
// carries the device, and iscsi.DialContext binds the socket to it.
func TestRunRecoversOnTheBoundDevice(t *testing.T) {
	k := newFakeKernel(t)
	p, _ := portal(t)
	s := testSession(p)
	s.Device = "lo"
	devices := make(chan string, 8)
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		devices <- iscsi.Device(ctx)
		return iscsi.DialContext(ctx, network, address)
	}
	start(t, k, s, Options{Dial: dial}, env{})
	k.fail()
	eventually(t, 3*time.Second, "recovered", k.recovered(1))
	if dev := <-devices; dev != "lo" {
		t.Errorf("dialled with device %q, want lo", dev)
	}
}
