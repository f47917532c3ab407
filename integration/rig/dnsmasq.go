package rig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DHCPConfig describes a DHCP-only dnsmasq (no DNS, no TFTP) serving the
// boot's bridge, for the DHCP boot tests.
type DHCPConfig struct {
	// Interface to serve on; the namespace's bridge when empty.
	Interface string
	// Range is dnsmasq's dhcp-range value; "10.77.0.150,10.77.0.199,255.255.255.0,1h"
	// when empty, unless DHCPv6Range is set (then there is no DHCPv4).
	Range string
	// DHCPv6Range, when set, is a second dhcp-range for DHCPv6 and
	// router advertisements, e.g. "fd77::100,fd77::1ff,64,1h" (addresses by
	// DHCPv6; RAs with the M flag and the on-link prefix) or
	// "fd77::,ra-only,64" (SLAAC only); the interface needs an address in
	// it (Net.Addr6).
	DHCPv6Range string
	// RA sends router advertisements (--enable-ra) for DHCPv6Range's
	// prefix, with this host as the default router.
	RA bool
	// V6Options are DHCPv6 options, e.g. "23,[fd77::1]" or
	// "59,iscsi:[fd77::1]::3260:1:iqn…" (given as option6:<value>).
	V6Options []string
	// Hosts are dhcp-host values, e.g. "52:54:00:77:00:11,10.77.0.77".
	Hosts []string
	// Options are dhcp-option values, e.g. `17,"iscsi:10.77.0.1::3260:1:iqn…"`
	// or "26,1400"; dnsmasq sends an option only to a client asking for it.
	Options []string
	// Extra are further dnsmasq arguments.
	Extra []string
}

// DHCPServer is a running dnsmasq.
type DHCPServer struct {
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	logf    *os.File
}

// dhcpArgs returns dnsmasq's arguments for c on iface, with its files in dir.
func dhcpArgs(c DHCPConfig, iface, dir string) []string {
	rng := c.Range
	if rng == "" && c.DHCPv6Range == "" {
		rng = "10.77.0.150,10.77.0.199,255.255.255.0,1h"
	}
	args := []string{
		"--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=" + iface, "--bind-interfaces",
	}
	if rng != "" {
		args = append(args, "--dhcp-range="+rng)
	}
	if c.DHCPv6Range != "" {
		args = append(args, "--dhcp-range="+c.DHCPv6Range)
	}
	if c.RA {
		args = append(args, "--enable-ra")
	}
	args = append(args, "--dhcp-authoritative",
		"--dhcp-leasefile="+filepath.Join(dir, "dhcp.leases"),
		"--pid-file="+filepath.Join(dir, "dhcp.pid"),
		"--log-dhcp", "--log-facility=-", "--user=root", "--group=root")
	for _, h := range c.Hosts {
		args = append(args, "--dhcp-host="+h)
	}
	for _, o := range c.Options {
		args = append(args, "--dhcp-option="+o)
	}
	for _, o := range c.V6Options {
		args = append(args, "--dhcp-option=option6:"+o)
	}
	return append(args, c.Extra...)
}

// readyLines are the log lines dnsmasq prints once it serves c.
func readyLines(c DHCPConfig) []string {
	var lines []string
	if c.Range != "" || c.DHCPv6Range == "" {
		lines = append(lines, "DHCP, IP range")
	}
	if r := c.DHCPv6Range; r != "" {
		if strings.Contains(r, "ra-only") || strings.Contains(r, "ra-names") || strings.Contains(r, "ra-advrouter") {
			lines = append(lines, "router advertisement on")
		} else {
			lines = append(lines, "DHCPv6")
		}
	}
	return lines
}

// StartDHCPServer runs dnsmasq in the foreground inside n and waits until
// it serves DHCP. Its log goes to dir/dhcp.log.
func StartDHCPServer(ctx context.Context, n *Net, c DHCPConfig, dir string) (*DHCPServer, error) {
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		return nil, fmt.Errorf("rig: DHCP tests need dnsmasq (Debian dnsmasq-base; run `make deps`): %w", err)
	}
	iface := c.Interface
	if iface == "" {
		iface = n.Bridge
	}
	s := &DHCPServer{done: make(chan struct{}), logPath: filepath.Join(dir, "dhcp.log")}
	f, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	s.logf = f
	// Not CommandContext: the server must outlive the setup context.
	s.cmd = exec.Command("ip", append([]string{"netns", "exec", n.NS, "dnsmasq"}, dhcpArgs(c, iface, dir)...)...)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if err := s.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("rig: starting dnsmasq: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	ready := func() bool {
		log := s.Log()
		for _, l := range readyLines(c) {
			if !strings.Contains(log, l) {
				return false
			}
		}
		return true
	}
	for !ready() {
		select {
		case <-s.done:
			return nil, fmt.Errorf("rig: dnsmasq exited at start: %s", s.Log())
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("rig: dnsmasq did not start: %w: %s", ctx.Err(), s.Log())
		case <-tick.C:
		}
	}
	return s, nil
}

// Log returns what dnsmasq logged so far.
func (s *DHCPServer) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// Stop kills dnsmasq and waits for it.
func (s *DHCPServer) Stop() {
	select {
	case <-s.done:
	default:
		s.cmd.Process.Kill()
		<-s.done
	}
	s.logf.Close()
}
