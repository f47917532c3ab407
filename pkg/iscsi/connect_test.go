package iscsi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/limit"
)

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func TestConnectRefusedRetriesWithBackoff(t *testing.T) {
	portal := closedPort(t)
	var waits []time.Duration
	var log logRecorder
	_, _, err := Connect(context.Background(), LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y", Portal: portal},
		ConnectOptions{MaxAttempts: 4, Jitter: func() float64 { return 0.5 }, Logf: log.logf,
			Wait: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }})
	if err == nil || !strings.Contains(err.Error(), "giving up after 4 login attempts") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v", err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	if len(log.lines) != 3 || !strings.Contains(log.lines[0], "login attempt 1 failed") || !strings.Contains(log.lines[0], "retrying in 1.0s") {
		t.Errorf("log %q", log.lines)
	}
}

// TestDialHint: what to check follows from how the connect failed — a
// refusal is the host's answer (the service or the port), no route or
// no answer is the network's.
func TestDialHint(t *testing.T) {
	op := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{op(syscall.ECONNREFUSED), "nothing listens on port 3261: is the target service running"},
		{op(syscall.ENETUNREACH), "no route to the portal: check the address, netmask and gateway of ip="},
		{op(syscall.EHOSTUNREACH), "nothing answered ARP"},
		{op(syscall.ETIMEDOUT), "no answer to the connect: check the network path (a firewall dropping port 3261?)"},
		{context.DeadlineExceeded, "no answer to the connect"},
		{op(syscall.EACCES), "check the network and the portal address"},
	} {
		if got := dialHint("10.0.0.1:3261", "", tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
	// A login bound to an interface (netroot='s <netdev_name>).
	for _, tc := range []struct {
		err  error
		want string
	}{
		{op(syscall.ENETUNREACH), "the login is bound to eth1 (netroot='s <netdev_name>): it needs an address there"},
		{op(syscall.ECONNREFUSED), "nothing listens on port 3261"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: &BindError{Device: "eth9", Err: syscall.ENODEV}}, "binds the login to eth9: is that the interface's name here"},
	} {
		if got := dialHint("10.0.0.1:3261", "eth1", tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("bound, %v: %q, want %q", tc.err, got, tc.want)
		}
	}
	// A real refusal, through Connect.
	_, _, err := Connect(context.Background(), LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y", Portal: closedPort(t)},
		ConnectOptions{MaxAttempts: 1})
	if le, ok := errors.AsType[*LoginError](err); !ok || !strings.Contains(le.Hint, "nothing listens on port") {
		t.Errorf("a refused connect: %v", err)
	}
}

func TestConnectRefusedDeadline(t *testing.T) {
	portal := closedPort(t)
	start := time.Now()
	_, _, err := Connect(context.Background(), LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y", Portal: portal},
		ConnectOptions{Deadline: 1500 * time.Millisecond, InitialBackoff: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "giving up") || !strings.Contains(err.Error(), portal) {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %v", el)
	}
	t.Log(err)
}

// pipeDialer connects each dial to a fake target chosen by address.
func pipeDialer(t *testing.T, targets map[string]func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU, dialed *[]string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var mu sync.Mutex
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		*dialed = append(*dialed, addr)
		mu.Unlock()
		h, ok := targets[addr]
		if !ok {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		c1, c2 := net.Pipe()
		f := &fakeTarget{t: t, handler: h}
		go f.serve(c2)
		return c1, nil
	}
}

func TestConnectFailFastAndRedirect(t *testing.T) {
	notFound := func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
		r := f.resp(req, false, 0)
		r.StatusClass, r.StatusDetail = 2, 3
		return pdus(r)
	}
	redirect := func(to string) func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
		return func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			r := f.resp(req, false, 0, KeyValue{"TargetAddress", to + ",1"})
			r.StatusClass, r.StatusDetail = 1, 1
			return pdus(r)
		}
	}
	ok := func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
		return pdus(f.resp(req, true, StageFullFeature))
	}
	cfg := LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y"}
	noWait := func(context.Context, time.Duration) error { return nil }

	var dialed []string
	cfg.Portal = "10.0.0.1:3260"
	_, _, err := Connect(context.Background(), cfg, ConnectOptions{MaxAttempts: 5, Wait: noWait,
		Dial: pipeDialer(t, map[string]func(*fakeTarget, *LoginRequest, []KeyValue) []*PDU{"10.0.0.1:3260": notFound}, &dialed)})
	var le *LoginError
	if !errors.As(err, &le) || le.Status() != 0x0203 || len(dialed) != 1 {
		t.Errorf("not found: err %v after dials %v", err, dialed)
	}

	dialed = nil
	s, conn, err := Connect(context.Background(), cfg, ConnectOptions{MaxAttempts: 5, Wait: noWait,
		Dial: pipeDialer(t, map[string]func(*fakeTarget, *LoginRequest, []KeyValue) []*PDU{
			"10.0.0.1:3260": redirect("10.0.0.2:3261"), "10.0.0.2:3261": ok}, &dialed)})
	if err != nil || s.Portal != "10.0.0.2:3261" || fmt.Sprint(dialed) != "[10.0.0.1:3260 10.0.0.2:3261]" {
		t.Fatalf("redirect: %v, dials %v", err, dialed)
	}
	conn.Close()

	dialed = nil
	_, _, err = Connect(context.Background(), cfg, ConnectOptions{MaxAttempts: 5, Wait: noWait,
		Dial: pipeDialer(t, map[string]func(*fakeTarget, *LoginRequest, []KeyValue) []*PDU{
			"10.0.0.1:3260": redirect("10.0.0.2:3261"), "10.0.0.2:3261": redirect("10.0.0.1:3260")}, &dialed)})
	if err == nil || !strings.Contains(err.Error(), "second redirect") || len(dialed) != 2 {
		t.Errorf("redirect loop: %v, dials %v", err, dialed)
	}

	// A transient target error is retried, keeping the same ISID.
	dialed = nil
	var isids []ISID
	flaky := func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
		isids = append(isids, req.ISID)
		if len(isids) < 3 {
			r := f.resp(req, false, 0)
			r.StatusClass, r.StatusDetail = 3, 2
			return pdus(r)
		}
		return ok(f, req, nil)
	}
	cfg.Portal = "10.0.0.1:3260"
	_, conn, err = Connect(context.Background(), cfg, ConnectOptions{MaxAttempts: 5, Wait: noWait,
		Dial: pipeDialer(t, map[string]func(*fakeTarget, *LoginRequest, []KeyValue) []*PDU{"10.0.0.1:3260": flaky}, &dialed)})
	if err != nil || len(dialed) != 3 || isids[0] != isids[2] || isids[0][0] != 0x80 {
		t.Fatalf("flaky: %v dials %v isids %v", err, dialed, isids)
	}
	conn.Close()
}

// TestConnectNamesTheLimit: a login given up when a limit ran out says
// which, as the command line writes it, and a target's temporary refusal
// gets the advice to raise it; an unnamed limit is not guessed at.
func TestConnectNamesTheLimit(t *testing.T) {
	unavailable := func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
		r := f.resp(req, false, 0)
		r.StatusClass, r.StatusDetail = 3, 1
		return pdus(r)
	}
	cfg := LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y", Portal: "10.0.0.1:3260"}
	const refusal = "iscsi: login to 10.0.0.1:3260 iqn.x:y: target reports 0x0301 service unavailable — the target's own trouble: its log says why (LIO: the kernel log; tgt: tgtd's output)"
	for _, tc := range []struct {
		name    string
		timeout string // a limit of the caller's context
		o       ConnectOptions
		want    string
	}{
		{"rd.retry", "", ConnectOptions{Deadline: 100 * time.Millisecond, DeadlineLimit: "rd.retry=1"},
			" (rd.retry=1 ran out): " + refusal + "; raise rd.retry=1 to wait longer"},
		{"rd.timeout first", "rd.timeout=1", ConnectOptions{Deadline: time.Hour, DeadlineLimit: "rd.retry=3600"},
			" (rd.timeout=1 ran out): " + refusal + "; raise rd.timeout=1 to wait longer"},
		{"attempts", "", ConnectOptions{MaxAttempts: 2, MaxAttemptsLimit: "rd.iscsi.login_retry_max=2"},
			" (rd.iscsi.login_retry_max=2 reached): " + refusal + "; raise rd.iscsi.login_retry_max=2 to try more often"},
		{"unnamed attempts", "", ConnectOptions{MaxAttempts: 2}, ": " + refusal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.timeout != "" {
				var cancel context.CancelFunc
				ctx, cancel = limit.WithTimeout(ctx, 100*time.Millisecond, tc.timeout)
				defer cancel()
			}
			var dialed []string
			tc.o.Dial = pipeDialer(t, map[string]func(*fakeTarget, *LoginRequest, []KeyValue) []*PDU{"10.0.0.1:3260": unavailable}, &dialed)
			tc.o.InitialBackoff, tc.o.MaxBackoff = 5*time.Millisecond, 5*time.Millisecond
			_, _, err := Connect(ctx, cfg, tc.o)
			got := ""
			if err != nil {
				_, got, _ = strings.Cut(err.Error(), " login attempts")
			}
			if !strings.HasPrefix(fmt.Sprint(err), "iscsi: giving up after ") || got != tc.want {
				t.Errorf("err = %v\nwant …login attempts%s", err, tc.want)
			}
		})
	}
}

// TestConnectReportsTheTargetsAnswer: an attempt that the deadline cuts
// short says nothing of the target; the error given up with is the
// answer of the attempt before it.
func TestConnectReportsTheTargetsAnswer(t *testing.T) {
	var dialed []string
	answer := pipeDialer(t, map[string]func(*fakeTarget, *LoginRequest, []KeyValue) []*PDU{
		"10.0.0.1:3260": func(f *fakeTarget, req *LoginRequest, _ []KeyValue) []*PDU {
			r := f.resp(req, false, 0)
			r.StatusClass, r.StatusDetail = 3, 1
			return pdus(r)
		}}, &dialed)
	first := true
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if first {
			first = false
			return answer(ctx, network, addr)
		}
		<-ctx.Done() // the target no longer answers
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.ErrDeadlineExceeded}
	}
	_, _, err := Connect(context.Background(), LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y", Portal: "10.0.0.1:3260"},
		ConnectOptions{Deadline: 200 * time.Millisecond, DeadlineLimit: "rd.retry=1", Dial: dial, InitialBackoff: 5 * time.Millisecond})
	if !strings.Contains(fmt.Sprint(err), "(rd.retry=1 ran out): iscsi: login to 10.0.0.1:3260 iqn.x:y: target reports 0x0301 service unavailable") {
		t.Errorf("err = %v", err)
	}
}

// TestConfigErrorHint: a configuration refused before any traffic
// carries one hint, in the LoginError's field, not in its message too.
func TestConfigErrorHint(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	_, err := Login(context.Background(), c1, LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y", Portal: "10.0.0.1:3260",
		Credentials: Credentials{Username: "u"}})
	le, ok := errors.AsType[*LoginError](err)
	if want := "iscsi: login to 10.0.0.1:3260 iqn.x:y: invalid configuration: iscsi: CHAP needs both a username and a password — check rd.iscsi.username/password"; !ok ||
		err.Error() != want || le.Hint != hintCredentials {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
