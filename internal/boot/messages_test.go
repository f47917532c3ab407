package boot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/dhcp6"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/limit"
	"github.com/netroot/netroot/pkg/modload"
)

// The console's account of a failed boot: exactly the lines from the
// FATAL one on, each "step: cause — one hint".

// fatalLines are the console's lines from the FATAL one to the emergency
// handling (the shell's attempt, rd.emergency, rd.shell=0).
func fatalLines(screen string) []string {
	i := strings.Index(screen, "netroot: FATAL")
	if i < 0 {
		return nil
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(screen[i:], "\n"), "\n") {
		if strings.HasPrefix(l, "netroot: no emergency shell") || strings.HasPrefix(l, "netroot: emergency shell") ||
			strings.HasPrefix(l, "netroot: rd.emergency=") || strings.HasPrefix(l, "netroot: rd.shell=0") {
			break
		}
		out = append(out, l)
	}
	return out
}

// wantFatal boots cmdline on m and checks the FATAL lines.
func wantFatal(t *testing.T, m *machine, cmdline string, want ...string) {
	t.Helper()
	if _, err := m.boot(cmdline, Options{}); err == nil {
		t.Fatalf("the boot succeeded:\n%s", m.screen)
	}
	got := fatalLines(m.screen.String())
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("FATAL lines:\n%s\nwant:\n%s\nconsole:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), m.screen)
	}
}

// TestBootIFMissing: with no NIC named by the plan, BOOTIF's NIC is the
// one to boot from (as in dracut, which brings up only it): when it never
// appears the links step fails, naming the MAC and the NICs present,
// instead of DHCP starting on the others with rd.retry spent.
func TestBootIFMissing(t *testing.T) {
	m := newMachine(t)
	wantFatal(t, m, "ip=dhcp rd.retry=1 BOOTIF=01-52-54-00-77-00-99 netroot="+target+" "+rootArgs,
		"netroot: FATAL links: BOOTIF=52:54:00:77:00:99: no interface has that MAC (present: eth0 52:54:00:77:00:10, eth1 52:54:00:77:00:11)"+
			" — is the PXE NIC's driver in the initramfs (netroot build -drivers)?")
	if got := m.called("dhcp"); len(got) != 0 {
		t.Errorf("DHCP ran: %q", got)
	}
}

// failingDHCP is a machine on which DHCP gets no answer on any NIC: eth1
// gives up first, then eth0.
type failingDHCP struct {
	*machine
	eth1Done chan struct{}
}

func (d failingDHCP) AcquireDHCP(ctx context.Context, o dhcp.Options) (*dhcp.Lease, error) {
	if o.Interface == "eth0" {
		<-d.eth1Done
	} else {
		defer close(d.eth1Done)
	}
	mac, _ := d.HardwareAddr(o.Interface)
	return nil, unembedHint(fmt.Errorf("dhcp: %w", &dhcp.NoLeaseError{Interface: o.Interface, MAC: mac, Attempts: 3, Elapsed: 6 * time.Second, Last: errors.New("no answer")}))
}

// TestSeveralFailures: when several NICs, paths or parameters fail
// together, each failure is a line of its own naming the step, with its
// own hint; only the first says FATAL.
func TestSeveralFailures(t *testing.T) {
	t.Run("two NICs' DHCP", func(t *testing.T) {
		m := newMachine(t)
		m.envHook = func(e Env) Env {
			e.Addrs = failingDHCP{m, make(chan struct{})}
			return e
		}
		// eth1 fails first: the lines follow the interfaces' order all
		// the same.
		wantFatal(t, m, "ip=dhcp netroot="+target+" "+rootArgs,
			"netroot: FATAL ip: dhcp: no DHCP lease on eth0 (52:54:00:77:00:10) after 3 attempt(s) in 6s: no answer"+
				" — is a DHCP server on this network answering 52:54:00:77:00:10 (a reservation for this MAC, the switch port's VLAN)?",
			"netroot: ip: dhcp: no DHCP lease on eth1 (52:54:00:77:00:11) after 3 attempt(s) in 6s: no answer"+
				" — is a DHCP server on this network answering 52:54:00:77:00:11 (a reservation for this MAC, the switch port's VLAN)?")
	})
	t.Run("two portals", func(t *testing.T) {
		// The path that fails first is the second: the lines follow the
		// paths' order all the same.
		m := newMachine(t)
		refused := make(chan struct{})
		m.connect = func(cfg iscsi.LoginConfig) error {
			if cfg.Portal == "10.77.0.1:3260" {
				<-refused
				return unembedHint(&iscsi.LoginError{Portal: cfg.Portal, Target: cfg.TargetName, Reason: "connection failed",
					Err: errors.New("dial tcp 10.77.0.1:3260: connect: connection refused"), Hint: "check the network and the portal address"})
			}
			defer close(refused)
			return unembedHint(&iscsi.LoginError{Portal: cfg.Portal, Target: cfg.TargetName, StatusClass: 2, StatusDetail: 1,
				Reason: "authentication failure", Hint: "target requires authentication: set rd.iscsi.username/password"})
		}
		wantFatal(t, m, twoPortals,
			"netroot: FATAL login: iscsi: login to 10.77.0.1:3260 "+targetIQN+": connection failed: dial tcp 10.77.0.1:3260: connect: connection refused"+
				" — check the network and the portal address",
			"netroot: login: iscsi: login to 10.77.0.2:3260 "+targetIQN+": target reports 0x0201 authentication failure"+
				" — target requires authentication: set rd.iscsi.username/password")
	})
	t.Run("two parameters", func(t *testing.T) {
		wantFatal(t, newMachine(t), scenario+" rd.retry=abc rd.timeout=x",
			`netroot: FATAL config: /proc/cmdline: rd.retry=abc: syntax error: "abc" is not a decimal number (expected rd.retry=<seconds>)`+
				" — fix the kernel command line (check it on the admin host with `netroot check`)",
			`netroot: config: /proc/cmdline: rd.timeout=x: syntax error: "x" is not a decimal number (expected rd.timeout=<seconds>)`+
				" — fix the kernel command line (check it on the admin host with `netroot check`)")
	})
}

// TestRenderParts: the parts of a failure are found through the errors
// wrapping them, whose text and hint each part keeps; an error with
// several causes on one line stays one line.
func TestRenderParts(t *testing.T) {
	a, b := errors.New("a failed"), hint.Wrap(errors.New("b failed"), "check b")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"one", fail("x", a, "default"), "x: a failed — default"},
		{"joined", fail("x", errors.Join(a, b), "default"), "x: a failed — default\nx: b failed — check b"},
		{"wrapped join", fail("x", fmt.Errorf("both: %w", errors.Join(a, b)), "default"), "x: both: a failed — default\nx: both: b failed — check b"},
		{"hinted join", fail("x", hint.Wrap(errors.Join(a, b), "check both"), "default"), "x: a failed — check both\nx: b failed — check b"},
		{"nested joins", fail("x", errors.Join(a, errors.Join(b, a)), ""), "x: a failed\nx: b failed — check b\nx: a failed"},
		{"steps joined", errors.Join(fail("x", a, ""), fail("y", errors.Join(a, b), "")), "x: a failed\ny: a failed\ny: b failed — check b"},
		{"a step among the parts", fail("x", errors.Join(a, fail("y", b, "")), "default"), "x: a failed — default\ny: b failed — check b"},
		{"one line, several causes", fail("x", fmt.Errorf("%w; %w", a, b), "default"), "x: a failed; b failed — check b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(tc.err); got != tc.want {
				t.Errorf("render =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// scriptedISCSI logs in with iscsi.Connect, as linuxISCSI does, to a
// target that answers every login with the status answer gives the
// portal (a dial error instead when it returns one).
type scriptedISCSI struct {
	*machine
	answer func(portal string) (class, detail uint8, kvs []iscsi.KeyValue, dial error)
}

func (s scriptedISCSI) Connect(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) (*iscsi.Session, net.Conn, error) {
	o.Dial = scriptedDial(s.answer)
	o.InitialBackoff, o.MaxBackoff = 10*time.Millisecond, 10*time.Millisecond
	sess, conn, err := iscsi.Connect(ctx, cfg, o)
	return sess, conn, unembedHint(err)
}

// scriptedDial connects to a target that answers every login with the
// status answer gives the portal (a dial error instead when it returns
// one).
func scriptedDial(answer func(portal string) (class, detail uint8, kvs []iscsi.KeyValue, dial error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		class, detail, kvs, err := answer(addr)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		c, target := net.Pipe()
		go func() {
			defer target.Close()
			p, err := iscsi.ReadPDU(target, 1<<20)
			if err != nil {
				return
			}
			req, err := iscsi.ParseLoginRequest(p)
			if err != nil {
				return
			}
			resp := &iscsi.LoginResponse{CSG: req.CSG, ISID: req.ISID, ITT: req.ITT, StatSN: 1, ExpCmdSN: req.CmdSN, MaxCmdSN: req.CmdSN + 1,
				StatusClass: class, StatusDetail: detail, Data: iscsi.EncodeText(kvs)}
			iscsi.WritePDU(target, resp.PDU())
			iscsi.ReadPDU(target, 1<<20) // until the initiator closes
		}()
		return c, nil
	}
}

// targetAnswer is the LoginError of a login the target answers with
// class and detail, as Login makes it.
func targetAnswer(t *testing.T, class, detail uint8) *iscsi.LoginError {
	t.Helper()
	_, _, err := iscsi.Connect(context.Background(), iscsi.LoginConfig{InitiatorName: "iqn.2010-01.org.example:client", TargetName: targetIQN, Portal: "10.77.0.1:3260"},
		iscsi.ConnectOptions{MaxAttempts: 1, Dial: scriptedDial(func(string) (uint8, uint8, []iscsi.KeyValue, error) { return class, detail, nil, nil })})
	le, ok := errors.AsType[*iscsi.LoginError](err)
	if !ok {
		t.Fatalf("Connect: %v", err)
	}
	return le
}

// answering makes m's target answer every login with class and detail.
func answering(m *machine, class, detail uint8, kvs ...iscsi.KeyValue) {
	m.envHook = func(e Env) Env {
		e.ISCSI = scriptedISCSI{m, func(string) (uint8, uint8, []iscsi.KeyValue, error) { return class, detail, kvs, nil }}
		return e
	}
}

// attempts drops the number of login attempts, which depends on timing.
var attempts = regexp.MustCompile(`giving up after [0-9]+ login attempts`)

// TestLimitNamed: a wait given up when a limit ran out names the limit
// that did, as the command line writes it, with the advice to raise it.
func TestLimitNamed(t *testing.T) {
	const unavailable = "iscsi: login to 10.77.0.1:3260 " + targetIQN + ": target reports 0x0301 service unavailable" +
		" — the target's own trouble: its log says why (LIO: the kernel log; tgt: tgtd's output)"
	for _, tc := range []struct{ name, args, want string }{
		{"rd.retry", " rd.retry=1", "(rd.retry=1 ran out): " + unavailable + "; raise rd.retry=1 to wait longer"},
		{"rd.timeout", " rd.timeout=1", "(rd.timeout=1 ran out): " + unavailable + "; raise rd.timeout=1 to wait longer"},
		{"rd.iscsi.login_retry_max", " rd.iscsi.login_retry_max=2",
			"(rd.iscsi.login_retry_max=2 reached): " + unavailable + "; raise rd.iscsi.login_retry_max=2 to try more often"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			answering(m, 3, 1)
			m.boot(scenario+tc.args, Options{})
			got := attempts.ReplaceAllString(strings.Join(fatalLines(m.screen.String()), "\n"), "giving up after N login attempts")
			if want := "netroot: FATAL login: iscsi: giving up after N login attempts " + tc.want; got != want {
				t.Errorf("FATAL lines:\n%s\nwant:\n%s", got, want)
			}
		})
	}
	t.Run("DHCP", func(t *testing.T) {
		m := newMachine(t)
		m.envHook = func(e Env) Env {
			e.Addrs = silentDHCP{m}
			return e
		}
		wantFatal(t, m, "ip=eth0:dhcp rd.retry=1 netroot="+target+" "+rootArgs,
			"netroot: FATAL ip: dhcp: no DHCP lease on eth0 (52:54:00:77:00:10) after 1 attempt(s) in 1s: no answer"+
				" — is a DHCP server on this network answering 52:54:00:77:00:10 (a reservation for this MAC, the switch port's VLAN)? rd.retry=1 bounds the wait")
	})
}

// silentDHCP is a network where no DHCP server answers: each AcquireDHCP
// waits for its context's end, as dhcp.Acquire does.
type silentDHCP struct{ *machine }

func (d silentDHCP) AcquireDHCP(ctx context.Context, o dhcp.Options) (*dhcp.Lease, error) {
	<-ctx.Done()
	mac, _ := d.HardwareAddr(o.Interface)
	return nil, unembedHint(fmt.Errorf("dhcp: %w", &dhcp.NoLeaseError{Interface: o.Interface, MAC: mac, Attempts: 1, Elapsed: time.Second,
		Last: errors.New("no answer"), Limit: limit.Ended(ctx)}))
}

// TestShellCannotRun: an emergency shell that is there but cannot run
// says so, with its own hint, not the one for a missing shell.
func TestShellCannotRun(t *testing.T) {
	m := newMachine(t)
	m.waitLinks = failLinks
	m.shell = func() error {
		return &shellError{shell: "/bin/sh", loader: "/lib64/ld-linux-x86-64.so.2", err: errors.New("fork/exec /bin/sh: no such file or directory")}
	}
	m.boot(scenario, Options{})
	want := "netroot: no emergency shell: /bin/sh exists but cannot run (dynamically linked? its loader /lib64/ld-linux-x86-64.so.2 is missing)" +
		" — use a static busybox (Debian's busybox-static): netroot build -add /bin/busybox:/bin/sh\n"
	if !strings.Contains(m.screen.String(), want) {
		t.Errorf("no %q on the console:\n%s", want, m.screen)
	}
}

// TestOneHint: each line has one hint, the most specific: a cause that
// carries its own is not given the step's as well, nor keeps its own
// inside its message.
func TestOneHint(t *testing.T) {
	t.Run("empty CHAP secret file", func(t *testing.T) {
		m := newMachine(t)
		m.files.WriteFile("/etc/iscsi/chap.secret", []byte("\n"), 0o600)
		wantFatal(t, m, scenario+" rd.iscsi.username=u rd.iscsi.password=@/etc/iscsi/chap.secret",
			"netroot: FATAL login: reading the CHAP password: /etc/iscsi/chap.secret is empty — write the target's CHAP secret into the file netroot build -add's there")
	})
	t.Run("duplicate address", func(t *testing.T) {
		dad := fmt.Errorf("ip=bond0:dhcp6: %w", fmt.Errorf("dhcp6: %w", &dhcp6.DADError{Interface: "bond0", Address: netip.MustParseAddr("fd77::10")}))
		got := render(fail("ip", unembedHint(dad), "check ip= and the network's router advertisements / DHCPv6 server"))
		if want := "ip: ip=bond0:dhcp6: dhcp6: bond0: duplicate address detection failed for fd77::10: another host on the link uses it" +
			" — look for a clone of this machine's MAC or a static assignment of the address"; got != want {
			t.Errorf("render =\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("unclosed quote", func(t *testing.T) {
		wantFatal(t, newMachine(t), scenario+` rd.iscsi.param="node.session.timeo.replacement_timeout=5`,
			"netroot: FATAL config: /proc/cmdline: rd.iscsi.param=node.session.timeo.replacement_timeout=5…: syntax error:"+
				" a double quote opened here is never closed, so everything after it became part of this parameter — close the quote")
	})
	t.Run("module", func(t *testing.T) {
		le := &modload.LoadError{Module: "bonding", Path: "/lib/modules/6.1.0-test/bonding.ko", Err: syscall.ENOEXEC, HintText: "not a module for this kernel"}
		got := render(fail("modules", le, "rebuild the initramfs with this kernel's modules (netroot build -modules DIR)"))
		if want := "modules: loading module bonding (/lib/modules/6.1.0-test/bonding.ko): exec format error — not a module for this kernel"; got != want {
			t.Errorf("render =\n%s\nwant\n%s", got, want)
		}
		// Drivers that fail for some devices: a warning each, with its hint.
		m := newMachine(t)
		m.devices = func(context.Context) ([]string, error) {
			return nil, errors.Join(le, &modload.LoadError{Module: "e1000e", Err: syscall.ENODEV, HintText: "the hardware is absent"})
		}
		if _, err := m.boot(scenario, Options{}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"\nnetroot: modules: loading module bonding (/lib/modules/6.1.0-test/bonding.ko): exec format error — not a module for this kernel\n",
			"\nnetroot: modules: loading module e1000e: no such device — the hardware is absent\n",
		} {
			if !strings.Contains(m.screen.String(), want) {
				t.Errorf("no %q on the console:\n%s", want, m.screen)
			}
		}
	})
	for _, tc := range []struct {
		name string
		last error
		want string
	}{
		{"connection lost, the login refused", targetAnswer(t, 2, 1),
			": target reports 0x0201 authentication failure — target requires authentication: set rd.iscsi.username/password"},
		{"connection lost, the target busy", targetAnswer(t, 3, 1),
			": target reports 0x0301 service unavailable — the target's own trouble: its log says why (LIO: the kernel log; tgt: tgtd's output); raise rd.retry=2 to wait longer"},
		{"connection lost, the target gone", &iscsi.LoginError{Portal: "10.77.0.1:3260", Target: targetIQN, Reason: "connection failed",
			Err: errors.New("dial tcp 10.77.0.1:3260: connect: connection refused"), Hint: "check the network and the portal address"},
			": connection failed: dial tcp 10.77.0.1:3260: connect: connection refused" +
				" — the target dropped the connection or went away: its log says why (LIO: the kernel log; tgt: tgtd's output);" +
				" check that it is up and reachable at 10.77.0.1:3260 (raise rd.retry=2 to wait longer)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlaky(t)
			f.failOnScan = true
			f.recover = func(ctx context.Context, s keeper.Session) (keeper.Recovered, error) {
				return keeper.Recovered{Session: s, Attempts: 3}, fmt.Errorf("3 attempt(s), the last: %w", tc.last)
			}
			f.boot(scenario + " rd.retry=2 rd.shell=0")
			got := strings.Join(fatalLines(f.screen.String()), "\n")
			want := "netroot: FATAL disk: session 1 (" + targetIQN + " at 10.77.0.1:3260): connection 0 failed (TCP_CONN_CLOSE) after the login," +
				" and logging in again did not succeed within rd.retry=2: 3 attempt(s), the last: iscsi: login to 10.77.0.1:3260 " + targetIQN + tc.want
			if got != want {
				t.Errorf("FATAL lines:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestTargetAnswered: a target that answered the login with a refusal
// is up and reachable: the hint points at its configuration and its log,
// as RFC 7143 says what the status means, not at the network.
func TestTargetAnswered(t *testing.T) {
	const login = "netroot: FATAL login: iscsi: login to 10.77.0.1:3260 " + targetIQN + ": target reports "
	const why = "its log says why (LIO: the kernel log; tgt: tgtd's output)"
	for _, tc := range []struct {
		name          string
		class, detail uint8
		kvs           []iscsi.KeyValue
		want          string
	}{
		{"0x0205", 2, 5, nil, login + "0x0205 unsupported version — the target speaks no iSCSI version this initiator offers (RFC 7143's): check its configuration; " + why},
		{"0x0207", 2, 7, nil, login + "0x0207 missing parameter — the target requires a key this login request lacks: its log says which (LIO: the kernel log; tgt: tgtd's output)"},
		{"0x0208", 2, 8, nil, login + "0x0208 can't include in session — the target would not add this connection to the session (its MaxConnections, or no session spanning to this address): " + why},
		{"0x0209", 2, 9, nil, login + "0x0209 session type not supported — the target offers no Normal session to this initiator: check its configuration; " + why},
		{"0x020b", 2, 0xb, nil, login + "0x020b invalid request during login — the target refused a request of the login as out of place: " + why},
		{"0x020c", 2, 0xc, nil, login + "0x020c initiator error (detail 0x0c) — the target refused the login with a status RFC 7143 does not define: " + why},
		{"0x0400", 4, 0, nil, login + "0x0400 unknown status class 0x04 — the target refused the login with a status RFC 7143 does not define: " + why},
		{"0x0102 without TargetAddress", 1, 2, nil, login + "0x0102 target moved permanently: redirect without a valid TargetAddress" +
			" — the target redirected the login without a valid TargetAddress: check the redirection in its configuration; " + why},
		{"a second redirect", 1, 1, []iscsi.KeyValue{{Key: "TargetAddress", Value: "10.77.0.9:3260,1"}},
			"netroot: FATAL login: iscsi: not following a second redirect: iscsi: login to 10.77.0.9:3260 " + targetIQN + ": target reports 0x0101 target moved temporarily to 10.77.0.9:3260" +
				" — the target at 10.77.0.9:3260 redirected the login again: check the redirections the targets are configured with (a loop?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			answering(m, tc.class, tc.detail, tc.kvs...)
			wantFatal(t, m, scenario, tc.want)
		})
	}
}
