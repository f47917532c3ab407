package boot

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/osnet"
	"github.com/netroot/netroot/pkg/shutdown"
)

// fakeOS is the kernel's view of the scenario's path.
type fakeOS struct {
	m          *machine
	rootServer netip.Addr
	bindErr    error // BindShutdown's
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

// BindShutdown records whether anything was in /run/initramfs already:
// the mount would hide it.
func (f *fakeOS) BindShutdown() error {
	if names, _ := f.m.files.Glob("/run/initramfs/*"); len(names) > 0 {
		f.m.record("bind shutdown over %v", names)
	} else {
		f.m.record("bind shutdown")
	}
	return f.bindErr
}

func (f *fakeOS) CopyShutdown() error { f.m.record("copy shutdown"); return nil }

func TestOSConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		arg     string
		bindErr error
		want    string // the shutdown role's installation: bind, copy or none
	}{
		{"default", "", nil, "bind"},
		{"not on the initramfs", "", errors.New("linking the binary into /.netroot-shutdown: invalid cross-device link"), "copy"},
		{"off", " rd.netroot.osconfig=0", nil, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			fo := &fakeOS{m: m, bindErr: tc.bindErr}
			m.envHook = func(e Env) Env { e.OS = fo; return e }
			if _, err := m.boot(scenario+tc.arg, Options{}); err != nil {
				t.Fatalf("Run: %v\n%s", err, m.screen)
			}
			network, err := m.files.ReadFile("/run/systemd/network/05-netroot-bond0.network")
			bound, copied := m.called("bind shutdown"), m.called("copy shutdown")
			if tc.want == "none" {
				if err == nil || len(bound)+len(copied) > 0 || strings.Contains(m.screen.String(), "osconfig:") {
					t.Errorf("rd.netroot.osconfig=0 still wrote files or installed the shutdown role (%q %q):\n%s", bound, copied, m.screen)
				}
				if m.switched == nil || len(m.switched.Keep) > 0 {
					t.Errorf("switch_root keeps %v of the initramfs", m.switched)
				}
				return
			}
			if err != nil || !strings.Contains(string(network), "KeepConfiguration=yes") {
				t.Fatalf("network file %q (%v)", network, err)
			}
			if fo.rootServer != netip.MustParseAddr("10.77.0.1") {
				t.Errorf("root server %v", fo.rootServer)
			}
			// Bound first, over an empty /run/initramfs; the hint written
			// there afterwards shows through the mount.
			if len(bound) != 1 || bound[0] != "bind shutdown" || !m.before("bind shutdown", "switch_root") {
				t.Errorf("bind: %q (calls %q)", bound, m.called(""))
			}
			if iface, err := m.files.ReadFile("/run/initramfs/open-iscsi.interface"); err != nil || strings.TrimSpace(string(iface)) != "bond0" {
				t.Errorf("open-iscsi.interface %q %v", iface, err)
			}
			line := "osconfig: 11 files for bond0 eth0 eth1; shutdown role in /run/initramfs ("
			keep := []string{shutdown.InitramfsDir}
			if tc.want == "copy" {
				line = "osconfig: 11 files for bond0 eth0 eth1; shutdown role copied to /run/initramfs (not bound: linking the binary"
				keep = nil
				if len(copied) != 1 || !m.before("copy shutdown", "switch_root") {
					t.Errorf("copy: %q (calls %q)", copied, m.called(""))
				}
			} else if len(copied) > 0 {
				t.Errorf("copied although bound: %q", copied)
			}
			if !stepLine("osconfig").MatchString(m.screen.String()) || !strings.Contains(m.screen.String(), line) {
				t.Errorf("no osconfig step line %q:\n%s", line, m.screen)
			}
			if m.switched == nil || !slices.Equal(m.switched.Keep, keep) {
				t.Errorf("switch_root keeps %v of the initramfs, want %q", m.switched, keep)
			}
			if nm, err := m.files.ReadFile(osnet.NMConfFile); err != nil || !strings.Contains(string(nm), "managed=0") {
				t.Errorf("NetworkManager: %q %v", nm, err)
			}
		})
	}
}
