package boot

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/osnet"
)

// fakeOS is the kernel's view of the scenario's path.
type fakeOS struct {
	m          *machine
	rootServer netip.Addr
}

func (f *fakeOS) RootPath(rs netip.Addr) ([]osnet.Link, error) {
	f.rootServer = rs
	mac, _ := net.ParseMAC("52:54:00:77:00:10")
	mac1, _ := net.ParseMAC("52:54:00:77:00:11")
	return []osnet.Link{
		{Name: "bond0", Kind: osnet.Bond, MAC: mac, Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.10/24")}, Gateways: []netip.Addr{netip.MustParseAddr("10.77.0.1")}},
		{Name: "eth0", MAC: mac, PermanentMAC: mac, Master: "bond0"},
		{Name: "eth1", MAC: mac, PermanentMAC: mac1, Master: "bond0"},
	}, nil
}

func (f *fakeOS) InstallShutdown() error { f.m.record("install shutdown"); return nil }

func TestOSConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		arg  string
		want bool
	}{
		{"default", "", true},
		{"off", " rd.netroot.osconfig=0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			fo := &fakeOS{m: m}
			m.envHook = func(e Env) Env { e.OS = fo; return e }
			if _, err := m.boot(scenario+tc.arg, Options{}); err != nil {
				t.Fatalf("Run: %v\n%s", err, m.screen)
			}
			network, err := m.files.ReadFile("/run/systemd/network/05-netroot-bond0.network")
			installed := len(m.called("install shutdown")) == 1
			if !tc.want {
				if err == nil || installed || strings.Contains(m.screen.String(), "osconfig:") {
					t.Errorf("rd.netroot.osconfig=0 still wrote files or installed the shutdown role:\n%s", m.screen)
				}
				return
			}
			if err != nil || !strings.Contains(string(network), "KeepConfiguration=yes") || !installed {
				t.Fatalf("network file %q (%v), shutdown installed %v", network, err, installed)
			}
			if fo.rootServer != netip.MustParseAddr("10.77.0.1") {
				t.Errorf("root server %v", fo.rootServer)
			}
			if !m.before("install shutdown", "switch_root") {
				t.Errorf("shutdown role installed after switch_root: %q", m.called(""))
			}
			if !stepLine("osconfig").MatchString(m.screen.String()) ||
				!strings.Contains(m.screen.String(), "osconfig: 11 files for bond0 eth0 eth1; shutdown role in /run/initramfs") {
				t.Errorf("no osconfig step line:\n%s", m.screen)
			}
			if nm, err := m.files.ReadFile(osnet.NMConfFile); err != nil || !strings.Contains(string(nm), "managed=0") {
				t.Errorf("NetworkManager: %q %v", nm, err)
			}
		})
	}
}
