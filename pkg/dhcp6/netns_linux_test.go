package dhcp6

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/limit"
	"github.com/netroot/netroot/pkg/netconf"
)

// The namespace tests run the client in a child: this test binary
// re-executed under `ip netns exec` (so every thread, /proc/sys/net and
// /sys/class/net are the client namespace's), told what to do by
// childEnv. The server side (dnsmasq, or a fake server) lives in a second
// namespace joined to the first by a veth pair.

const childEnv = "NETROOT_DHCP6_CHILD"

// childJob is what the child runs.
type childJob struct {
	Mode      string        // dhcp6, dhcp6-norc (no Rapid Commit), auto6, either6
	Interface string        // the client's veth end
	Timeout   time.Duration // the context deadline (rd.retry)
	Reach     netip.Addr    // the "portal": WaitRoute / SLAACOptions.Reach
	// Login, when set, is an iSCSI portal ("[fd77::1]:3260") to log in to
	// target IQN after the address is configured.
	Login, IQN string
}

// childResult is what the child reports, as the last line of its output.
type childResult struct {
	Lease    *Lease
	SLAAC    *SLAACResult
	Err      string
	ErrKind  string // NoLeaseError, WaitError, other
	Logs     []string
	Duration time.Duration
	// LoginFrom is the local address of the iSCSI connection.
	LoginFrom string
}

const resultPrefix = "DHCP6-CHILD-RESULT "

func TestMain(m *testing.M) {
	if job := os.Getenv(childEnv); job != "" {
		os.Exit(runChild(job))
	}
	os.Exit(m.Run())
}

func runChild(spec string) int {
	var job childJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		fmt.Println("bad job:", err)
		return 2
	}
	var (
		res childResult
		mu  sync.Mutex
	)
	logf := func(format string, args ...any) {
		mu.Lock()
		res.Logs = append(res.Logs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// The clock starts before the deadline is set: a run that ends at
	// the deadline then never measures under it.
	start := time.Now()
	ctx, cancel := limit.WithTimeout(context.Background(), job.Timeout, fmt.Sprintf("rd.retry=%d", int(job.Timeout.Seconds())))
	defer cancel()
	var err error
	switch job.Mode {
	case "dhcp6", "dhcp6-norc":
		res.Lease, err = Acquire(ctx, Options{Interface: job.Interface, Hostname: "node7", NoRapidCommit: job.Mode == "dhcp6-norc", Logf: logf})
		logf("lease at %s", time.Since(start).Round(time.Millisecond))
		if err == nil {
			err = Apply(ctx, res.Lease, ApplyOptions{})
			logf("applied (DAD over) at %s", time.Since(start).Round(time.Millisecond))
		}
		if err == nil && job.Reach.IsValid() {
			err = WaitRoute(ctx, job.Interface, job.Reach)
			logf("route to %s at %s", job.Reach, time.Since(start).Round(time.Millisecond))
		}
	case "linklocal":
		// The link up and its link-local address past DAD, as Acquire
		// waits for it: a set-up step of tests that time what follows.
		if err = netconf.LinkUp(job.Interface); err == nil {
			_, err = WaitLinkLocal(ctx, job.Interface)
		}
	case "auto6":
		res.SLAAC, err = WaitSLAAC(ctx, SLAACOptions{Interface: job.Interface, Reach: job.Reach, Logf: logf})
	case "either6":
		var r *EitherResult
		r, err = Either(ctx, Options{Interface: job.Interface, Logf: logf}, SLAACOptions{Reach: job.Reach, Logf: logf})
		if err == nil {
			res.Lease, res.SLAAC = r.Lease, r.SLAAC
		}
	default:
		err = fmt.Errorf("unknown mode %q", job.Mode)
	}
	if err == nil && job.Login != "" {
		var conn net.Conn
		_, conn, err = iscsi.Connect(ctx, iscsi.LoginConfig{InitiatorName: "iqn.2010-01.org.example:dhcp6-test", TargetName: job.IQN, Portal: job.Login},
			iscsi.ConnectOptions{MaxAttempts: 3, AttemptTimeout: 10 * time.Second, Logf: logf})
		if err == nil {
			res.LoginFrom = conn.LocalAddr().String()
			logf("logged in to %s from %s at %s", job.Login, res.LoginFrom, time.Since(start).Round(time.Millisecond))
			conn.Close()
		}
	}
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = err.Error()
		var nl *NoLeaseError
		var we *WaitError
		switch {
		case errors.As(err, &nl):
			res.ErrKind = "NoLeaseError"
		case errors.As(err, &we):
			res.ErrKind = "WaitError"
		default:
			res.ErrKind = "other"
		}
	}
	b, _ := json.Marshal(res)
	fmt.Println(resultPrefix + string(b))
	return 0
}

// link is a client namespace and a server namespace joined by a veth
// pair; the server end has fd77::1/64.
type link struct {
	srvNS, cliNS string
	srvIf, cliIf string
}

var linkSeq atomic.Int32

// needNetns skips the test unless it can make namespaces and run
// dnsmasq; under CI (make test installs dnsmasq-base) it fails instead.
func needNetns(t *testing.T) {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "dnsmasq"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip("needs %s (make deps installs dnsmasq-base and iproute2): %v", tool, err)
		}
	}
}

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newLink(t *testing.T) *link {
	t.Helper()
	needNetns(t)
	n := linkSeq.Add(1)
	l := &link{
		srvNS: fmt.Sprintf("d6s%d-%d", os.Getpid(), n), cliNS: fmt.Sprintf("d6c%d-%d", os.Getpid(), n),
		srvIf: fmt.Sprintf("d6s%d", n), cliIf: fmt.Sprintf("d6c%d", n),
	}
	ipCmd(t, "netns", "add", l.srvNS)
	t.Cleanup(func() { delNS(l.srvNS) })
	ipCmd(t, "netns", "add", l.cliNS)
	t.Cleanup(func() { delNS(l.cliNS) })
	ipCmd(t, "link", "add", l.srvIf, "netns", l.srvNS, "type", "veth", "peer", "name", l.cliIf, "netns", l.cliNS)
	ipCmd(t, "-n", l.srvNS, "link", "set", "lo", "up")
	ipCmd(t, "-n", l.cliNS, "link", "set", "lo", "up")
	ipCmd(t, "-n", l.srvNS, "addr", "add", "fd77::1/64", "dev", l.srvIf, "nodad")
	// The "router" needs a usable link-local address at once: an RA sent
	// while it is tentative has a global source, which hosts drop.
	ipCmd(t, "netns", "exec", l.srvNS, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/"+l.srvIf+"/accept_dad")
	ipCmd(t, "-n", l.srvNS, "link", "set", l.srvIf, "up")
	// The client end stays down: the code under test brings it up.
	return l
}

// delNS kills what still runs in a namespace and deletes it.
func delNS(ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, pid := range strings.Fields(string(out)) {
			exec.Command("kill", "-9", pid).Run()
		}
	}
	exec.Command("ip", "netns", "del", ns).Run()
}

// dnsmasq serves c on the server end.
func (l *link) dnsmasq(t *testing.T, c rig.DHCPConfig) *rig.DHCPServer {
	t.Helper()
	c.Interface = l.srvIf
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := rig.StartDHCPServer(ctx, &rig.Net{NS: l.srvNS, Bridge: l.srvIf}, c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() || os.Getenv("DHCP6_DEBUG") != "" {
			t.Logf("dnsmasq log:\n%s", s.Log())
		}
	})
	return s
}

// run runs job on the client's veth end and returns its result.
func (l *link) run(t *testing.T, job childJob) childResult {
	t.Helper()
	job.Interface = l.cliIf
	return l.runOn(t, job)
}

// runOn runs job (on job.Interface) in the client namespace.
func (l *link) runOn(t *testing.T, job childJob) childResult {
	t.Helper()
	spec, _ := json.Marshal(job)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", l.cliNS, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v\n%s", job.Mode, err, out.String())
	}
	i := strings.LastIndex(out.String(), resultPrefix)
	if i < 0 {
		t.Fatalf("child %s printed no result:\n%s", job.Mode, out.String())
	}
	var res childResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String()[i+len(resultPrefix):])), &res); err != nil {
		t.Fatalf("child result: %v\n%s", err, out.String())
	}
	for _, line := range res.Logs {
		t.Logf("child: %s", line)
	}
	if res.Err != "" {
		t.Logf("child error (%s, after %s): %s", res.ErrKind, res.Duration.Round(time.Millisecond), res.Err)
	}
	return res
}

// upWithLinkLocal brings the client end up and waits until its
// link-local address has passed DAD, for tests whose timing must not
// include the kernel's randomised DAD delay.
func (l *link) upWithLinkLocal(t *testing.T) {
	t.Helper()
	if res := l.run(t, childJob{Mode: "linklocal", Timeout: 10 * time.Second}); res.Err != "" {
		t.Fatalf("no usable link-local address: %s\n%s", res.Err, l.cliAddrs(t))
	}
}

// cliAddrs returns `ip -6 addr` of the client end.
func (l *link) cliAddrs(t *testing.T) string {
	return ipCmd(t, "-n", l.cliNS, "-6", "addr", "show", "dev", l.cliIf)
}

var (
	portal      = netip.MustParseAddr("fd77::1")
	rootPath    = "iscsi:[fd77::1]::3260:1:iqn.2010-01.org.example:root"
	dhcp6Config = rig.DHCPConfig{
		DHCPv6Range: "fd77::100,fd77::1ff,64,1h",
		RA:          true,
		V6Options:   []string{"23,[fd77::1]", "24,example.org", "59," + rootPath},
	}
)

func TestNetnsDHCP6(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	l.dnsmasq(t, dhcp6Config)
	res := l.run(t, childJob{Mode: "dhcp6", Timeout: 30 * time.Second, Reach: portal})
	if res.Err != "" {
		t.Fatalf("dhcp6: %s", res.Err)
	}
	lease := res.Lease
	t.Logf("lease: %s (in %s)", lease, res.Duration.Round(time.Millisecond))
	lo, hi := netip.MustParseAddr("fd77::100"), netip.MustParseAddr("fd77::1ff")
	if a := lease.Address.Addr(); lease.Address.Bits() != 128 || a.Less(lo) || hi.Less(a) {
		t.Errorf("address %s, want a /128 in fd77::100-fd77::1ff", lease.Address)
	}
	if len(lease.DNS) != 1 || lease.DNS[0] != portal {
		t.Errorf("DNS %v, want [fd77::1]", lease.DNS)
	}
	if len(lease.Search) != 1 || lease.Search[0] != "example.org" {
		t.Errorf("search %v, want [example.org]", lease.Search)
	}
	if lease.BootFileURL != rootPath {
		t.Errorf("boot file URL %q, want %q", lease.BootFileURL, rootPath)
	}
	if len(lease.ServerDUID) == 0 || lease.ValidLifetime != 3600 {
		t.Errorf("server DUID %s, valid lifetime %d; want a DUID and 3600", lease.ServerDUID, lease.ValidLifetime)
	}
	if len(lease.Ignored) > 0 {
		t.Errorf("dnsmasq's answer had ignored options: %q", lease.Ignored)
	}
	// Applied: the /128 is on the interface, usable, without a lifetime.
	addrs := l.cliAddrs(t)
	if !strings.Contains(addrs, lease.Address.String()+" scope global") || strings.Contains(addrs, "tentative") {
		t.Errorf("client addresses lack a usable %s:\n%s", lease.Address, addrs)
	}
	if !strings.Contains(addrs, "valid_lft forever") {
		t.Errorf("the leased address has a lifetime:\n%s", addrs)
	}
	// The portal is reached on-link (the RA's prefix), from the leased address.
	route := ipCmd(t, "-n", l.cliNS, "-6", "route", "get", "fd77::1")
	if !strings.Contains(route, "dev "+l.cliIf) || !strings.Contains(route, "src "+lease.Address.Addr().String()) {
		t.Errorf("route to the portal: %s", route)
	}
}

// TestNetnsDHCP6FourMessages runs Solicit/Advertise/Request/Reply (no
// Rapid Commit), collecting Advertise messages for the first wait.
func TestNetnsDHCP6FourMessages(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	srv := l.dnsmasq(t, dhcp6Config)
	res := l.run(t, childJob{Mode: "dhcp6-norc", Timeout: 30 * time.Second, Reach: portal})
	if res.Err != "" {
		t.Fatalf("dhcp6: %s", res.Err)
	}
	if res.Lease.RapidCommit || res.Lease.BootFileURL != rootPath || !netip.MustParsePrefix("fd77::/64").Contains(res.Lease.Address.Addr()) {
		t.Errorf("lease %s (rapid commit %v), want one from Request/Reply with the boot file URL", res.Lease, res.Lease.RapidCommit)
	}
	log := srv.Log()
	for _, want := range []string{"DHCPADVERTISE", "DHCPREQUEST", "DHCPREPLY"} {
		if !strings.Contains(log, want) {
			t.Errorf("dnsmasq logged no %s", want)
		}
	}
}

func TestNetnsAuto6(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	l.dnsmasq(t, rig.DHCPConfig{DHCPv6Range: "fd77::,ra-only,64", RA: true})
	res := l.run(t, childJob{Mode: "auto6", Timeout: 30 * time.Second})
	if res.Err != "" {
		t.Fatalf("auto6: %s", res.Err)
	}
	t.Logf("slaac: %s (in %s)", res.SLAAC, res.Duration.Round(time.Millisecond))
	if len(res.SLAAC.Addresses) == 0 || !netip.MustParsePrefix("fd77::/64").Contains(res.SLAAC.Addresses[0].Addr()) || res.SLAAC.Addresses[0].Bits() != 64 {
		t.Errorf("SLAAC addresses %v, want one in fd77::/64", res.SLAAC.Addresses)
	}
	if !res.SLAAC.Router.IsLinkLocalUnicast() {
		t.Errorf("router %v, want the server's link-local address", res.SLAAC.Router)
	}
	// The sysctls the kernel needs for it were set.
	for key, want := range map[string]string{"accept_ra": "1", "autoconf": "1", "forwarding": "0", "disable_ipv6": "0"} {
		out, err := exec.Command("ip", "netns", "exec", l.cliNS, "cat", filepath.Join("/proc/sys/net/ipv6/conf", l.cliIf, key)).Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("net.ipv6.conf.%s.%s = %q (%v), want %s", l.cliIf, key, out, err, want)
		}
	}
}

func TestNetnsAuto6IPv6Disabled(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	l.dnsmasq(t, rig.DHCPConfig{DHCPv6Range: "fd77::,ra-only,64", RA: true})
	ipCmd(t, "netns", "exec", l.cliNS, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/"+l.cliIf+"/disable_ipv6")
	res := l.run(t, childJob{Mode: "auto6", Timeout: 30 * time.Second, Reach: portal})
	if res.Err != "" {
		t.Fatalf("auto6 with IPv6 disabled on the interface: %s", res.Err)
	}
	if len(res.SLAAC.Addresses) == 0 {
		t.Errorf("no SLAAC address: %+v", res.SLAAC)
	}
}

// TestNetnsAuto6LinkAlreadyUp: the link came up while accept_ra was 0,
// so the kernel solicited no router; WaitSLAAC sends the solicitation.
func TestNetnsAuto6LinkAlreadyUp(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	srv := l.dnsmasq(t, rig.DHCPConfig{DHCPv6Range: "fd77::,ra-only,64", RA: true})
	ipCmd(t, "netns", "exec", l.cliNS, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/"+l.cliIf+"/accept_ra")
	l.upWithLinkLocal(t)
	solicits := strings.Count(srv.Log(), "RTR-SOLICIT")
	res := l.run(t, childJob{Mode: "auto6", Timeout: 20 * time.Second, Reach: portal})
	if res.Err != "" {
		t.Fatalf("auto6: %s", res.Err)
	}
	if !strings.Contains(strings.Join(res.Logs, "\n"), "sent a router solicitation") {
		t.Errorf("WaitSLAAC sent no router solicitation: %q", res.Logs)
	}
	if strings.Count(srv.Log(), "RTR-SOLICIT") <= solicits {
		t.Errorf("dnsmasq saw no router solicitation from the client")
	}
	if res.Duration > 5*time.Second {
		t.Errorf("SLAAC took %s: the solicitation should bring the advertisement at once", res.Duration)
	}
}

func TestNetnsEither6(t *testing.T) {
	t.Parallel()
	t.Run("slaac", func(t *testing.T) {
		l := newLink(t)
		l.dnsmasq(t, rig.DHCPConfig{DHCPv6Range: "fd77::,ra-only,64", RA: true})
		res := l.run(t, childJob{Mode: "either6", Timeout: 30 * time.Second})
		if res.Err != "" || res.SLAAC == nil || res.Lease != nil {
			t.Fatalf("either6 on an RA-only link: SLAAC %v, lease %v, error %q; want SLAAC", res.SLAAC, res.Lease, res.Err)
		}
	})
	t.Run("dhcp6", func(t *testing.T) {
		// Addresses only by DHCPv6: the RA has the M flag and no
		// autonomous prefix, so SLAAC never completes.
		l := newLink(t)
		l.dnsmasq(t, dhcp6Config)
		res := l.run(t, childJob{Mode: "either6", Timeout: 30 * time.Second})
		if res.Err != "" || res.Lease == nil || res.SLAAC != nil {
			t.Fatalf("either6 on a DHCPv6 link: SLAAC %v, lease %v, error %q; want a lease", res.SLAAC, res.Lease, res.Err)
		}
		if res.Lease.BootFileURL != rootPath {
			t.Errorf("boot file URL %q", res.Lease.BootFileURL)
		}
	})
}

// TestNetnsNoServer: with nobody answering, each method ends at its
// deadline with an error naming the interface and what it waited for.
func TestNetnsNoServer(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	// Up beforehand, so the 3 s are the Solicit schedule's alone: DAD's
	// random delay and probe would otherwise take up to 2 s of them.
	l.upWithLinkLocal(t)
	for _, tc := range []struct {
		mode, kind string
		want       []string
	}{
		{"dhcp6", "NoLeaseError", []string{l.cliIf + ": no DHCPv6 lease", "Solicit", "rd.retry=3 bounds the wait"}},
		{"auto6", "WaitError", []string{l.cliIf + ": no usable global address from a router advertisement", "default route", "accept_ra=1"}},
		{"either6", "NoLeaseError", []string{"neither SLAAC nor DHCPv6", "no DHCPv6 lease", "router advertisement"}},
	} {
		res := l.run(t, childJob{Mode: tc.mode, Timeout: 3 * time.Second})
		if res.ErrKind != tc.kind {
			t.Errorf("%s: error kind %q (%s), want %s", tc.mode, res.ErrKind, res.Err, tc.kind)
		}
		for _, w := range tc.want {
			if !strings.Contains(res.Err, w) {
				t.Errorf("%s: error %q lacks %q", tc.mode, res.Err, w)
			}
		}
		// RFC 8415's schedule sends 2 or 3 Solicits in 3 s (at 0, ~1, ~3 s).
		if m := regexp.MustCompile(`after (\d+) Solicit`).FindStringSubmatch(res.Err); m != nil {
			if n, _ := strconv.Atoi(m[1]); n < 2 || n > 4 {
				t.Errorf("%s: %d Solicits in 3 s, want 2-4", tc.mode, n)
			}
		}
		if res.Duration < 3*time.Second || res.Duration > 7*time.Second {
			t.Errorf("%s: gave up after %s, want the 3s deadline", tc.mode, res.Duration)
		}
	}
}

// TestNetnsDottedName runs DHCPv6 and either6 on an interface whose
// name has a dot, as a VLAN's has (eth0.100: its settings are under
// conf/eth0.100/). The host kernel has no 8021q, so the interface is a
// veth end named like a VLAN; the QEMU tests boot real VLANs.
func TestNetnsDottedName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode string
		cfg  rig.DHCPConfig
	}{
		{"dhcp6", dhcp6Config},
		{"either6", rig.DHCPConfig{DHCPv6Range: "fd77::,ra-only,64", RA: true}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			l := newLink(t)
			dotted := l.cliIf + ".100"
			ipCmd(t, "-n", l.cliNS, "link", "set", l.cliIf, "name", dotted)
			l.cliIf = dotted
			l.dnsmasq(t, tc.cfg)
			res := l.run(t, childJob{Mode: tc.mode, Timeout: 30 * time.Second, Reach: portal})
			if res.Err != "" {
				t.Fatalf("%s on %s: %s", tc.mode, dotted, res.Err)
			}
			switch {
			case tc.mode == "dhcp6" && (res.Lease == nil || res.Lease.Interface != dotted || res.Lease.BootFileURL != rootPath):
				t.Errorf("lease %+v", res.Lease)
			case tc.mode == "either6" && (res.SLAAC == nil || len(res.SLAAC.Addresses) == 0):
				t.Errorf("either6: SLAAC %+v lease %+v", res.SLAAC, res.Lease)
			}
		})
	}
}
