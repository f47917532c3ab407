package iscsi

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// discoveryFake plays a target on the far end of a net.Pipe: logins go to
// login (as for fakeTarget), Text Requests to text, a Logout Request is
// answered unless noLogout.
type discoveryFake struct {
	t        *testing.T
	login    *fakeTarget
	text     func(d *discoveryFake, req *TextRequest) []*PDU
	texts    []*TextRequest
	logouts  int
	noLogout bool
	hangUp   bool // close the connection after a Text Request
	statSN   uint32
}

func (d *discoveryFake) textResp(req *TextRequest, final, cont bool, ttt uint32, data []byte) *PDU {
	d.statSN++
	p := &PDU{Data: data}
	p.Header[0] = byte(OpTextResponse)
	if final {
		p.Header[1] |= finalBit
	}
	if cont {
		p.Header[1] |= continueBit
	}
	binary.BigEndian.PutUint32(p.Header[16:], req.ITT)
	binary.BigEndian.PutUint32(p.Header[20:], ttt)
	binary.BigEndian.PutUint32(p.Header[24:], d.statSN)
	binary.BigEndian.PutUint32(p.Header[28:], req.CmdSN)
	binary.BigEndian.PutUint32(p.Header[32:], req.CmdSN+1)
	return p
}

func (d *discoveryFake) serve(conn net.Conn) {
	defer conn.Close()
	for {
		p, err := ReadPDU(conn, 1<<20)
		if err != nil {
			return
		}
		var out []*PDU
		switch p.Opcode() {
		case OpLoginRequest:
			req, _ := ParseLoginRequest(p)
			if req.Continue {
				d.t.Errorf("split login request in a discovery session")
				return
			}
			kvs, err := ParseText(req.Data)
			if err != nil {
				d.t.Errorf("fake target: bad text: %v", err)
				return
			}
			f := d.login
			f.reqs = append(f.reqs, req)
			f.texts = append(f.texts, kvs)
			out = f.handler(f, req, kvs)
		case OpTextRequest:
			req := &TextRequest{Final: p.Flags()&finalBit != 0, Continue: p.Flags()&continueBit != 0, ITT: p.ITT(),
				TTT: p.u32(20), CmdSN: p.u32(24), ExpStatSN: p.u32(28), Data: p.Data}
			if !p.Immediate() {
				d.t.Errorf("Text Request without the I bit")
			}
			d.texts = append(d.texts, req)
			out = d.text(d, req)
			if d.hangUp {
				return
			}
		case OpLogoutRequest:
			d.logouts++
			if p.Flags() != finalBit || !p.Immediate() {
				d.t.Errorf("logout flags %#x immediate %v", p.Flags(), p.Immediate())
			}
			if d.noLogout {
				return
			}
			r := &PDU{}
			r.Header[0] = byte(OpLogoutResponse)
			r.Header[1] = finalBit
			binary.BigEndian.PutUint32(r.Header[16:], p.ITT())
			out = []*PDU{r}
		default:
			d.t.Errorf("fake target got %v", p.Opcode())
			return
		}
		for _, o := range out {
			if WritePDU(conn, o) != nil {
				return
			}
		}
	}
}

// plainLogin is a target that lets a discovery session in at once.
func plainLogin(t *testing.T) func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
	return func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
		if len(f.reqs) == 1 {
			if v, _ := lookup(kvs, "SessionType"); v != "Discovery" {
				t.Errorf("SessionType=%q", v)
			}
			if _, ok := lookup(kvs, "TargetName"); ok {
				t.Error("a discovery login sent a TargetName")
			}
			if v, _ := lookup(kvs, "InitiatorName"); v != testInitiator {
				t.Errorf("InitiatorName=%q", v)
			}
		}
		// Keys a discovery session does not use are Irrelevant.
		return pdus(f.resp(req, true, StageFullFeature, KeyValue{"InitialR2T", "Irrelevant"}, KeyValue{"MaxRecvDataSegmentLength", "8192"}))
	}
}

func runDiscovery(t *testing.T, cfg DiscoveryConfig, d *discoveryFake) ([]DiscoveredTarget, error) {
	t.Helper()
	c1, c2 := net.Pipe()
	d.t = t
	if d.login.t == nil {
		d.login.t = t
	}
	done := make(chan struct{})
	go func() { d.serve(c2); close(done) }()
	if cfg.InitiatorName == "" {
		cfg.InitiatorName = testInitiator
	}
	if cfg.Portal == "" {
		cfg.Portal = "10.0.0.1:3260"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	targets, err := Discover(ctx, c1, cfg)
	c1.Close()
	<-done
	return targets, err
}

// answer is a SendTargets answer of two targets, one of them on two
// portals (one IPv6), one without an address.
var answer = EncodeText([]KeyValue{
	{"TargetName", "iqn.2024-01.org.example:root"},
	{"TargetAddress", "10.0.1.1:3260,1"},
	{"TargetAddress", "[fd00::1]:3261,2"},
	{"TargetName", "iqn.2024-01.org.example:other"},
})

func TestDiscover(t *testing.T) {
	var parts [][]byte
	d := &discoveryFake{login: &fakeTarget{handler: plainLogin(t)}}
	d.text = func(d *discoveryFake, req *TextRequest) []*PDU {
		switch len(d.texts) {
		case 1:
			if kvs, err := ParseText(req.Data); err != nil || len(kvs) != 1 || kvs[0] != (KeyValue{"SendTargets", "All"}) {
				t.Errorf("first Text Request: %q", req.Data)
			}
			if !req.Final || req.TTT != reservedTag || req.ITT == d.login.reqs[0].ITT {
				t.Errorf("first Text Request F=%v TTT=%#x ITT=%#x", req.Final, req.TTT, req.ITT)
			}
			// A key=value cut in two (C bit), then more pairs (F clear).
			parts = [][]byte{answer[:20], answer[20:45], answer[45:]}
			return []*PDU{d.textResp(req, false, true, 0x77, parts[0])}
		case 2, 3:
			if len(req.Data) != 0 || req.TTT != 0x77 || !req.Final {
				t.Errorf("continuation %d: data %q TTT %#x F %v", len(d.texts), req.Data, req.TTT, req.Final)
			}
			if len(d.texts) == 2 {
				return []*PDU{d.textResp(req, false, false, 0x77, parts[1])}
			}
			return []*PDU{d.textResp(req, true, false, reservedTag, parts[2])}
		}
		t.Errorf("unexpected Text Request %d", len(d.texts))
		return nil
	}
	targets, err := runDiscovery(t, DiscoveryConfig{}, d)
	if err != nil {
		t.Fatal(err)
	}
	want := []DiscoveredTarget{
		{Name: "iqn.2024-01.org.example:root", Portals: []TargetPortal{{"10.0.1.1:3260", 1, true}, {"[fd00::1]:3261", 2, true}}},
		{Name: "iqn.2024-01.org.example:other", Portals: []TargetPortal{{Addr: "10.0.0.1:3260"}}},
	}
	if !reflect.DeepEqual(targets, want) {
		t.Errorf("targets %+v\nwant %+v", targets, want)
	}
	if d.logouts != 1 || len(d.texts) != 3 {
		t.Errorf("%d logouts, %d text requests", d.logouts, len(d.texts))
	}
	if s := targets[0].Portals[1].String(); s != "[fd00::1]:3261,2" {
		t.Errorf("String = %q", s)
	}
}

func TestDiscoverCHAP(t *testing.T) {
	chal := bytes.Repeat([]byte{0x5a}, 16)
	creds := Credentials{Username: "disc", Password: "disc-secret-1234", InUsername: "tgt", InPassword: "tgt-secret-98765"}
	chap := chapTarget(t, CHAPSHA256, "disc", creds.Password, "tgt", creds.InPassword, chal, false)
	d := &discoveryFake{login: &fakeTarget{handler: func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
		if len(f.reqs) == 1 {
			if v, _ := lookup(kvs, "SessionType"); v != "Discovery" {
				t.Errorf("SessionType=%q", v)
			}
		}
		return chap(f, req, kvs)
	}}}
	d.text = func(d *discoveryFake, req *TextRequest) []*PDU {
		return []*PDU{d.textResp(req, true, false, reservedTag, answer)}
	}
	targets, err := runDiscovery(t, DiscoveryConfig{Credentials: creds}, d)
	if err != nil || len(targets) != 2 {
		t.Fatalf("%+v, %v", targets, err)
	}
	// A wrong target secret fails mutual CHAP, without the secret in the
	// message.
	d = &discoveryFake{login: &fakeTarget{handler: chapTarget(t, CHAPSHA256, "disc", creds.Password, "tgt", "wrong-secret-000000", chal, false)}}
	d.text = func(d *discoveryFake, req *TextRequest) []*PDU { return nil }
	_, err = runDiscovery(t, DiscoveryConfig{Credentials: creds}, d)
	var le *LoginError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "mutual CHAP") || strings.Contains(err.Error(), creds.InPassword) {
		t.Errorf("err = %v", err)
	}
}

func TestDiscoverFailures(t *testing.T) {
	reject := func(d *discoveryFake, req *TextRequest) []*PDU {
		p := &PDU{}
		p.Header[0] = byte(OpReject)
		p.Header[1] = finalBit
		p.Header[2] = 0x04 // protocol error
		return []*PDU{p}
	}
	for _, tc := range []struct {
		name  string
		login func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU
		text  func(d *discoveryFake, req *TextRequest) []*PDU
		want  string
	}{
		{"auth required", func(f *fakeTarget, req *LoginRequest, kvs []KeyValue) []*PDU {
			r := f.resp(req, false, 0)
			r.StatusClass, r.StatusDetail = 2, 1
			return pdus(r)
		}, nil, "authentication failure"},
		{"reject", nil, reject, "rejected"},
		{"wrong ITT", nil, func(d *discoveryFake, req *TextRequest) []*PDU {
			req.ITT++
			return []*PDU{d.textResp(req, true, false, reservedTag, answer)}
		}, "ITT"},
		{"more without a tag", nil, func(d *discoveryFake, req *TextRequest) []*PDU {
			return []*PDU{d.textResp(req, false, false, reservedTag, answer[:10])}
		}, "transfer tag"},
		{"hang up", nil, func(d *discoveryFake, req *TextRequest) []*PDU { return nil }, "read Text Response"},
		{"garbage", nil, func(d *discoveryFake, req *TextRequest) []*PDU {
			return []*PDU{d.textResp(req, true, false, reservedTag, []byte("TargetName=iqn.x\x00junk\x00"))}
		}, "no '='"},
		{"bad address", nil, func(d *discoveryFake, req *TextRequest) []*PDU {
			return []*PDU{d.textResp(req, true, false, reservedTag, EncodeText([]KeyValue{{"TargetName", "iqn.x"}, {"TargetAddress", "fd00::1:3260,1"}}))}
		}, "brackets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			login := tc.login
			if login == nil {
				login = plainLogin(t)
			}
			d := &discoveryFake{login: &fakeTarget{handler: login}, text: tc.text}
			if d.text == nil {
				d.text = func(d *discoveryFake, req *TextRequest) []*PDU { return nil }
			}
			if tc.name == "hang up" {
				d.hangUp = true
			}
			_, err := runDiscovery(t, DiscoveryConfig{}, d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			t.Log(err)
		})
	}
	// No logout answer: the targets are in all the same.
	d := &discoveryFake{login: &fakeTarget{handler: plainLogin(t)}, noLogout: true,
		text: func(d *discoveryFake, req *TextRequest) []*PDU {
			return []*PDU{d.textResp(req, true, false, reservedTag, answer)}
		}}
	if targets, err := runDiscovery(t, DiscoveryConfig{}, d); err != nil || len(targets) != 2 {
		t.Errorf("without a logout answer: %+v, %v", targets, err)
	}
	if _, err := Discover(context.Background(), nil, DiscoveryConfig{}); err == nil {
		t.Error("no initiator name accepted")
	}
}

func TestDiscoverPortalRetries(t *testing.T) {
	attempts, waits := 0, 0
	text := func(d *discoveryFake, req *TextRequest) []*PDU {
		return []*PDU{d.textResp(req, true, false, reservedTag, answer)}
	}
	opts := ConnectOptions{
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			attempts++
			if attempts == 1 {
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
			}
			c1, c2 := net.Pipe()
			d := &discoveryFake{t: t, login: &fakeTarget{t: t, handler: plainLogin(t)}, text: text}
			go d.serve(c2)
			return c1, nil
		},
		Wait:   func(ctx context.Context, d time.Duration) error { waits++; return nil },
		Jitter: func() float64 { return 0 },
	}
	targets, err := DiscoverPortal(context.Background(), DiscoveryConfig{InitiatorName: testInitiator, Portal: "10.0.0.1:3260"}, opts)
	if err != nil || len(targets) != 2 || attempts != 2 || waits != 1 {
		t.Fatalf("targets %+v err %v attempts %d waits %d", targets, err, attempts, waits)
	}
}

func TestParseSendTargets(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []DiscoveredTarget
	}{
		{"empty", "", nil},
		{"names and portals", "TargetName=iqn.a\x00TargetAddress=10.0.0.1:3260,1\x00TargetAddress=10.0.1.1,2\x00TargetName=iqn.b\x00TargetAddress=host.example:3261,7\x00",
			[]DiscoveredTarget{{"iqn.a", []TargetPortal{{"10.0.0.1:3260", 1, true}, {"10.0.1.1:3260", 2, true}}},
				{"iqn.b", []TargetPortal{{"host.example:3261", 7, true}}}}},
		{"IPv6 without a port or a tag", "TargetName=iqn.a\x00TargetAddress=[fe80::1%eth0]\x00",
			[]DiscoveredTarget{{"iqn.a", []TargetPortal{{Addr: "[fe80::1%eth0]:3260"}}}}},
		{"a name twice merges, a portal twice once", "TargetName=iqn.a\x00TargetAddress=10.0.0.1,1\x00TargetName=iqn.a\x00TargetAddress=10.0.0.1,1\x00TargetAddress=10.0.0.2,1\x00",
			[]DiscoveredTarget{{"iqn.a", []TargetPortal{{"10.0.0.1:3260", 1, true}, {"10.0.0.2:3260", 1, true}}}}},
		{"no address: the portal asked", "TargetName=eui.02004567A425678D\x00X-Vendor=1\x00",
			[]DiscoveredTarget{{"eui.02004567A425678D", []TargetPortal{{Addr: "192.0.2.1:3260"}}}}},
	} {
		got, err := ParseSendTargets([]byte(tc.in), "192.0.2.1:3260")
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, %v\nwant %+v", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"TargetName=iqn.a",                                 // no NUL
		"TargetAddress=10.0.0.1\x00",                       // before a name
		"TargetName=\x00",                                  // empty name
		"TargetName=iqn a\x00",                             // blank in a name
		"TargetName=" + strings.Repeat("x", 224) + "\x00",  // too long
		"TargetName=iqn.a\x00TargetAddress=10.0.0.1,x\x00", // bad tag
		"TargetName=iqn.a\x00TargetAddress=10.0.0.1,70000\x00",
		"TargetName=iqn.a\x00TargetAddress=10.0.0.1:0,1\x00", // bad port
		"TargetName=iqn.a\x00TargetAddress=[fd00::1\x00",
		"TargetName=iqn.a\x00novalue\x00",
	} {
		if got, err := ParseSendTargets([]byte(bad), ""); err == nil {
			t.Errorf("%q parsed: %+v", bad, got)
		}
	}
}

func FuzzParseSendTargets(f *testing.F) {
	f.Add(answer)
	f.Add([]byte("TargetName=iqn.a\x00TargetAddress=[fe80::1]:3260,1\x00"))
	f.Add([]byte("TargetName=iqn.a\x00TargetAddress=a,b,c\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		targets, err := ParseSendTargets(data, "192.0.2.1:3260")
		if err != nil {
			return
		}
		all := 0
		for _, tg := range targets {
			if tg.Name == "" || len(tg.Portals) == 0 || len(tg.Portals) > MaxTargetPortals {
				t.Fatalf("target %+v", tg)
			}
			if all += len(tg.Portals); len(targets) > MaxDiscoveredTargets || all > MaxDiscoveredPortals {
				t.Fatalf("%d targets, %d portals so far", len(targets), all)
			}
			for _, p := range tg.Portals {
				if _, _, err := net.SplitHostPort(p.Addr); err != nil {
					t.Fatalf("portal %q is not host:port: %v", p.Addr, err)
				}
			}
		}
	})
}

// sendTargetsAnswer is an answer listing targets iqn.t:0, iqn.t:1, …,
// each with portals distinct addresses.
func sendTargetsAnswer(targets, portals int) []byte {
	var b []byte
	n := 0
	for i := range targets {
		b = fmt.Appendf(b, "TargetName=iqn.t:%d\x00", i)
		for range portals {
			b = fmt.Appendf(b, "TargetAddress=10.%d.%d.%d:%d,1\x00", n>>16&255, n>>8&255, n&255, 1+n%60000)
			n++
		}
	}
	return b
}

// TestParseSendTargetsLimits: an answer listing more targets, more
// portals for one target or more portals in all than the caps is
// refused with the count and the cap; up to them it parses.
func TestParseSendTargetsLimits(t *testing.T) {
	// The largest answer Discover takes, one name after another: 65,791
	// targets, each reached through the portal asked.
	var bomb []byte
	names := 0
	for ; len(bomb) < maxDiscoveryText-40; names++ {
		bomb = fmt.Appendf(bomb, "TargetName=%x\x00", names)
	}
	// One target, as many distinct portals as fit.
	portalBomb := []byte("TargetName=iqn.t:a\x00")
	portals := 0
	for ; len(portalBomb) < maxDiscoveryText-64; portals++ {
		portalBomb = fmt.Appendf(portalBomb, "TargetAddress=10.%d.%d.%d:%d\x00", portals>>16&255, portals>>8&255, portals&255, 1+portals%60000)
	}
	for _, tc := range []struct {
		name   string
		answer []byte
		// count and limit of the error; 0: the answer parses
		count, limit int
		what         string
	}{
		{"targets at the cap", sendTargetsAnswer(256, 1), 0, 0, ""},
		{"one target over", sendTargetsAnswer(257, 0), 257, 256, "targets"},
		{"a name bomb", bomb, names, 256, "targets"},
		{"portals at the cap", sendTargetsAnswer(1, 32), 0, 0, ""},
		{"one portal over", sendTargetsAnswer(1, 33), 33, 32, "portals for iqn.t:0"},
		{"a portal bomb", portalBomb, portals, 32, "portals for iqn.t:a"},
		{"portals in all at the cap", sendTargetsAnswer(8, 32), 0, 0, ""},
		{"portals in all over", sendTargetsAnswer(9, 32), 288, 256, "portals in all"},
		{"a portal listed again counts once", bytes.Repeat([]byte("TargetName=iqn.t:a\x00TargetAddress=10.0.0.1:3260,1\x00"), 300), 0, 0, ""},
	} {
		got, err := ParseSendTargets(tc.answer, "192.0.2.1:3260")
		if tc.count == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		want := fmt.Sprintf("lists %d %s, more than %d", tc.count, tc.what, tc.limit)
		le, ok := errors.AsType[*SendTargetsLimitError](err)
		if !ok || le.Count != tc.count || le.Limit != tc.limit || !strings.Contains(err.Error(), want) {
			total := 0
			for _, d := range got {
				total += len(d.Portals)
			}
			t.Errorf("%s: %d targets, %d portals in all, error %v; want %q", tc.name, len(got), total, err, want)
		}
	}
}

// TestDiscoverPortalNamesTheLimit: a discovery given up when a limit ran
// out says which, as the command line writes it, as a login does
// (TestConnectNamesTheLimit); the error is the attempt's before one the
// deadline cut short.
func TestDiscoverPortalNamesTheLimit(t *testing.T) {
	refused := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	cfg := DiscoveryConfig{InitiatorName: testInitiator, Portal: "10.0.0.1:3260"}
	for _, tc := range []struct {
		name string
		o    ConnectOptions
		want string
	}{
		{"rd.retry", ConnectOptions{Deadline: 100 * time.Millisecond, DeadlineLimit: "rd.retry=1"}, "discovery attempts (rd.retry=1 ran out): "},
		{"attempts", ConnectOptions{MaxAttempts: 2, MaxAttemptsLimit: "rd.iscsi.login_retry_max=2"}, "2 discovery attempts (rd.iscsi.login_retry_max=2 reached): "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Dial = refused
			tc.o.InitialBackoff, tc.o.MaxBackoff = 5*time.Millisecond, 5*time.Millisecond
			_, err := DiscoverPortal(context.Background(), cfg, tc.o)
			if !strings.HasPrefix(fmt.Sprint(err), "iscsi: giving up after ") || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "connection refused") {
				t.Errorf("err = %v\nwant …%s…connection refused", err, tc.want)
			}
		})
	}
}
