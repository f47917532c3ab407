package boot

import (
	"encoding/json"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/dhcp6"
	"github.com/netroot/netroot/pkg/iscsi"
)

const target6 = "iscsi:[fd77::1]::3260:1:" + targetIQN

// lease6 is a DHCPv6 answer.
func lease6(bootFile string) *dhcp6.Lease {
	return &dhcp6.Lease{Address: netip.MustParsePrefix("fd77::1a7/128"), DNS: []netip.Addr{netip.MustParseAddr("fd77::53")},
		Search: []string{"example.org"}, BootFileURL: bootFile, Server: netip.MustParseAddr("fe80::1"), ValidLifetime: 3600}
}

func TestBootIPv6(t *testing.T) {
	slaac := netip.MustParsePrefix("fd77::5054:ff:fe77:10/64")
	for _, tc := range []struct {
		name, cmdline string
		v6            fakeIPv6
		calls         []string // in order, of those starting dhcp6, slaac, either6, link6, route6, apply lease6, connect
		line          string
	}{
		{"dhcp6 on a bond", "ip=bond0:dhcp6 " + bondAB + " netroot=" + target6 + " " + rootArgs, fakeIPv6{lease: lease6("")},
			[]string{"dhcp6 bond0", "apply lease6 bond0 fd77::1a7/128", "route6 bond0 fd77::1", "connect [fd77::1]:3260 " + targetIQN},
			"netroot: ip: bond0 fd77::1a7/128"},
		{"auto6 on a bond", "ip=bond0:auto6 " + bondAB + " netroot=" + target6 + " " + rootArgs, fakeIPv6{slaac: slaac},
			[]string{"slaac bond0 reach=fd77::1", "connect [fd77::1]:3260 " + targetIQN},
			"netroot: ip: bond0 fd77::5054:ff:fe77:10/64 (SLAAC)"},
		{"either6: SLAAC first", "vlan=bond0.100:bond0 ip=bond0.100:either6 " + bondAB + " netroot=" + target6 + " " + rootArgs, fakeIPv6{slaac: slaac},
			[]string{"either6 bond0.100", "connect [fd77::1]:3260 " + targetIQN}, "(SLAAC, before DHCPv6)"},
		{"either6: DHCPv6", "ip=eth0:either6 netroot=" + target6 + " " + rootArgs, fakeIPv6{lease: lease6("")},
			[]string{"either6 eth0", "dhcp6 eth0", "apply lease6 eth0 fd77::1a7/128", "route6 eth0 fd77::1", "connect [fd77::1]:3260 " + targetIQN}, "(DHCPv6), route to fd77::1"},
		{"dhcp and dhcp6", "ip=bond0:dhcp,dhcp6 " + bondAB + " netroot=" + target + " " + rootArgs, fakeIPv6{lease: lease6("")},
			[]string{"dhcp6 bond0", "apply lease6 bond0 fd77::1a7/128", "connect 10.77.0.1:3260 " + targetIQN}, "netroot: ip: bond0 10.77.0.99/24"},
		{"link6", "ip=eth1:link6 ip=eth0:dhcp netroot=" + target + " " + rootArgs, fakeIPv6{},
			[]string{"link6 eth1", "connect 10.77.0.1:3260 " + targetIQN}, "eth1 fe80::5054:ff:fe77:110 (link-local only)"},
		{"netroot=dhcp6", "netroot=dhcp6 rd.iscsi.initiator=iqn.2010-01.org.example:client root=LABEL=ISCSI_ROOT", fakeIPv6{lease: lease6(target6)},
			[]string{"dhcp6 eth", "apply lease6", "route6 eth", "connect [fd77::1]:3260 " + targetIQN},
			"dhcp6: netroot=dhcp6: boot file URL from fe80::1: target [fd77::1]:3260 " + targetIQN + " LUN 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			m.withIPv6(&tc.v6)
			m.leases = map[string]*dhcp.Lease{"bond0": {Address: netip.MustParsePrefix("10.77.0.99/24")}, "eth0": {Address: netip.MustParsePrefix("10.77.0.98/24")}}
			if _, err := m.boot(tc.cmdline, Options{}); err != nil {
				t.Fatalf("Run: %v\n%s", err, m.screen)
			}
			var got []string
			for _, c := range m.called("") {
				if slices.ContainsFunc([]string{"dhcp6", "slaac", "either6", "link6", "route6", "apply lease6", "connect"}, func(p string) bool { return strings.HasPrefix(c, p) }) {
					got = append(got, c)
				}
			}
			// The calls expected come in order (a race on several
			// interfaces may add others).
			next := 0
			for _, c := range got {
				if next < len(tc.calls) && strings.HasPrefix(c, tc.calls[next]) {
					next++
				}
			}
			if next != len(tc.calls) {
				t.Fatalf("calls %q, want %q in order", got, tc.calls)
			}
			if !strings.Contains(m.screen.String(), tc.line) {
				t.Errorf("no %q on the console:\n%s", tc.line, m.screen)
			}
			if tc.v6.lease != nil {
				// The files are the applied lease's: with several NICs
				// racing, the winner, not the first one asked.
				ifc := strings.Fields(got[0])[1]
				for _, c := range got {
					if f := strings.Fields(c); strings.HasPrefix(c, "apply lease6 ") && len(f) > 2 {
						ifc = f[2]
						break
					}
				}
				j, err1 := m.files.ReadFile("/run/netroot/dhcp6-" + ifc + ".json")
				env, err2 := m.files.ReadFile("/run/netroot/dhcp6-" + ifc + ".env")
				if (err1 != nil || err2 != nil || !strings.Contains(string(env), "new_ip6_address='fd77::1a7'")) && !strings.Contains(tc.line, "SLAAC") {
					t.Errorf("lease files: %v %v\n%s\n%s", err1, err2, j, env)
				}
				resolv, _ := m.files.ReadFile("/run/netroot/resolv.conf")
				if !strings.Contains(string(resolv), "nameserver fd77::53") && !strings.Contains(tc.line, "SLAAC") {
					t.Errorf("resolv.conf:\n%s", resolv)
				}
			}
		})
	}
}

func TestBootIPv6Failures(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline string
		v6            *fakeIPv6
		want          string
	}{
		{"no IPv6", "ip=eth0:dhcp6 netroot=" + target6 + " rd.shell=0 " + rootArgs, nil, "FATAL ip: ip=eth0:dhcp6: this machine has no IPv6 support"},
		{"no boot file URL", "netroot=dhcp6 rd.shell=0 " + rootArgs, &fakeIPv6{lease: lease6("")},
			"FATAL dhcp6: netroot=dhcp6, but no DHCPv6 answer carried a boot file URL (option 59) — have the DHCPv6 server send option 59"},
		{"a boot file URL that is not iSCSI", "netroot=dhcp6 rd.shell=0 " + rootArgs, &fakeIPv6{lease: lease6("http://u:hunter2@[fd77::1]/boot.ipxe")},
			"netroot boots only iscsi:… roots"},
		{"a boot file URL naming a secret file", "netroot=dhcp6 rd.shell=0 " + rootArgs, &fakeIPv6{lease: lease6("iscsi:u:@/etc/shadow@[fd77::1]::3260:1:" + targetIQN)},
			"netroot=dhcp6: the boot file URL from fe80::1 on eth"},
		{"no router advertisement", "ip=eth0:auto6 rd.retry=1 netroot=" + target6 + " rd.shell=0 " + rootArgs, &fakeIPv6{}, "FATAL ip: ip=eth0:auto6: eth0: no router advertisement"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			if tc.v6 != nil {
				m.withIPv6(tc.v6)
			}
			_, err := m.boot(tc.cmdline, Options{})
			screen := m.screen.String()
			if err == nil || !strings.Contains(screen, tc.want) || strings.Count(screen, "FATAL") != 1 || strings.Contains(screen, "hunter2") {
				t.Errorf("Run = %v; want one FATAL with %q:\n%s", err, tc.want, screen)
			}
			if len(m.called("connect")) != 0 {
				t.Errorf("logged in: %q", m.called("connect"))
			}
		})
	}
}

// TestReach6: the route wait is for the first IPv6 portal, when one ip=
// entry configures IPv6.
func TestReach6(t *testing.T) {
	for _, tc := range []struct{ cmdline, want string }{
		{"ip=eth0:dhcp6 netroot=" + target + " netroot=" + target6 + " root=LABEL=r", "fd77::1"},
		{"ip=eth0:dhcp6 ip=eth1:auto6 netroot=" + target6 + " root=LABEL=r", "invalid IP"},
		{"ip=eth0:dhcp6 netroot=" + target + " root=LABEL=r", "invalid IP"},
	} {
		p := parse(t, tc.cmdline)
		if got := reach6(p, p.ISCSI.Targets); got.String() != tc.want {
			t.Errorf("%s: reach6 = %s, want %s", tc.cmdline, got, tc.want)
		}
	}
}

// TestBootIPv6BootFileSecrets: a boot file URL's CHAP secrets (option 59,
// netroot=dhcp6) reach the login and nothing a user can read: not the
// console, the kernel log, the timeline nor the files under /run.
func TestBootIPv6BootFileSecrets(t *testing.T) {
	url := "iscsi:user:hunter2:tuser:tsecret2@[fd77::1]::3260:1:" + targetIQN
	m := newMachine(t)
	m.withIPv6(&fakeIPv6{lease: lease6(url)})
	var creds iscsi.Credentials
	m.connect = func(cfg iscsi.LoginConfig) error { creds = cfg.Credentials; return nil }
	b, err := m.boot("netroot=dhcp6 "+rootArgs, Options{})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	if creds.Password != "hunter2" || creds.InPassword != "tsecret2" {
		t.Errorf("login credentials %v, not the boot file URL's", creds)
	}
	timeline, err := json.Marshal(b.log.Timeline())
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{"console": m.screen.String(), "kernel log": m.screen.kernelLog(), "timeline": string(timeline)}
	err = filepath.WalkDir(m.files.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		outputs[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(outputs["console"], "boot file iscsi:user:***:tuser:***@[fd77::1]") {
		t.Errorf("the step's line lacks the redacted boot file URL:\n%s", outputs["console"])
	}
	for name, out := range outputs {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "tsecret2") {
			t.Errorf("a CHAP secret in %s:\n%s", name, out)
		}
	}
}
