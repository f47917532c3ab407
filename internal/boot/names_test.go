package boot

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/config"
)

// nameBoot runs the names step of cmdline over nics, with a wait bounded
// by timeout.
func nameBoot(t *testing.T, cmdline string, nics *fakeNICs, timeout time.Duration) (*machine, error) {
	t.Helper()
	m := newMachine(t)
	p, err := config.Parse(config.Source{Name: procCmdline, Text: cmdline})
	if err != nil {
		t.Fatal(err)
	}
	b := New(m.env(), m.logger(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return m, b.nameNICs(ctx, p, nics)
}

func TestNamesAsTheCommandLineSays(t *testing.T) {
	const rest = " ip=bond0:dhcp rd.iscsi.initiator=iqn.2010-01.org.example:client root=LABEL=r"
	for _, tc := range []struct {
		name, layout, cmdline string
		later                 []string
		renames               []string // "from to", in order
		line                  string   // the step's line, "" for no step
	}{
		{"slot names", "virtio-root", "bond=bond0:ens2,ens3" + rest, nil,
			[]string{"eth0 ens2", "eth1 ens3"}, "names: eth0 → ens2 (slot), eth1 → ens3 (slot); scheme v257; other NICs keep the kernel's names"},
		{"only the NICs named", "virtio-root", "ip=10.0.0.2::10.0.0.1:24::ens3:none root=LABEL=r", nil,
			[]string{"eth1 ens3"}, "names: eth1 → ens3 (slot); scheme v257; other NICs keep the kernel's names"},
		{"a NIC whose driver is still probing", "virtio-root", "bond=bond0:ens2,ens3" + rest, []string{"eth1"},
			[]string{"eth0 ens2", "eth1 ens3"}, "names: eth0 → ens2 (slot), eth1 → ens3 (slot)"},
		{"both still probing", "virtio-root", "bond=bond0:ens2,ens3" + rest, []string{"eth0", "eth1"},
			[]string{"eth0 ens2", "eth1 ens3"}, "names: eth0 → ens2 (slot), eth1 → ens3 (slot)"},
		{"kernel names: nothing to do", "virtio-root", "bond=bond0:eth0,eth1" + rest, nil, nil, ""},
		{"no NIC named: nothing to do", "virtio-root", "ip=dhcp root=LABEL=r", nil, nil, ""},
		{"net.ifnames=0", "virtio-root", "net.ifnames=0 bond=bond0:eth0,eth1" + rest, nil, nil, ""},
		{"net.ifnames=1 renames every NIC", "virtio-root", "net.ifnames=1 ip=dhcp root=LABEL=r", nil,
			[]string{"eth0 ens2", "eth1 ens3"}, "names: eth0 → ens2 (slot), eth1 → ens3 (slot); scheme v257 (\n"},
		// The scheme is the one the command line's names come from: the
		// second NIC behind the bridge is ens2 in v257 (its ACPI _SUN),
		// enp1s2 before (Debian 12's v252 too): the newest such is v255.
		{"v252's names", "virtio-bridge", "bond=bond0:ens1,enp1s2" + rest, nil,
			[]string{"eth0 ens1", "eth1 enp1s2"}, "names: eth0 → ens1 (slot), eth1 → enp1s2 (path); scheme v255"},
		{"v257's names", "virtio-bridge", "bond=bond0:ens1,ens2" + rest, nil,
			[]string{"eth0 ens1", "eth1 ens2"}, "scheme v257;"},
		{"net.naming-scheme", "virtio-bridge", "net.naming-scheme=v252 bond=bond0:ens1,enp1s2" + rest, nil,
			[]string{"eth0 ens1", "eth1 enp1s2"}, "scheme v252;"},
		{"onboard", "virtio-acpi-index", "bond=bond0:eno3,ens3" + rest, nil,
			[]string{"eth0 eno3", "eth1 ens3"}, "eth0 → eno3 (onboard)"},
		{"q35 path names", "q35-e1000e", "bond=bond0:enp1s0,enp0s2" + rest, nil,
			[]string{"eth0 enp0s2", "eth1 enp1s0"}, "names: eth0 → enp0s2 (path), eth1 → enp1s0 (path)"},
		// Debian names USB NICs by MAC (73-usb-net-by-mac.link).
		{"Debian's USB rule", "usb-net", "ip=enx525400770170:dhcp root=LABEL=r", nil,
			[]string{"usb0 enx525400770170"}, "usb0 → enx525400770170 (mac); scheme v257 with Debian's USB rule;"},
		{"upstream's USB names", "usb-net", "ip=ens6u1:dhcp root=LABEL=r", nil,
			[]string{"usb0 ens6u1"}, "usb0 → ens6u1 (slot); scheme v257;"},
		// With net.ifnames=1 too, the scheme waits for a NIC that carries
		// the name asked (USB NICs enumerate late); one that appears after
		// the step keeps the kernel's name for the real root's udev.
		{"net.ifnames=1, Debian's USB rule, NICs still enumerating", "usb-net", "net.ifnames=1 ip=enx525400770170:dhcp root=LABEL=r", []string{"usb0", "usb1"},
			[]string{"usb0 enx525400770170"}, "names: usb0 → enx525400770170 (mac); scheme v257 with Debian's USB rule (\n"},
		// dracut's TEST-30-ISCSI names its NIC enp0s1 (q35); on the pc
		// machine the path name is udev's alternative name beside ens2,
		// which dracut's lookups accept: the NIC takes the name asked.
		{"an alternative name", "virtio-root", "ip=10.0.0.2::10.0.0.1:255.255.255.0:iscsi-1:enp0s2:off root=LABEL=r", nil,
			[]string{"eth0 enp0s2"}, "names: eth0 → enp0s2 (path, udev's alternative name; its name is ens2); scheme v257"},
		{"path names throughout", "virtio-bridge", "bond=bond0:enp1s1,enp1s2" + rest, nil,
			[]string{"eth0 enp1s1", "eth1 enp1s2"}, "eth0 → enp1s1 (path, udev's alternative name; its name is ens1), eth1 → enp1s2 (path, udev's alternative name; its name is ens2); scheme v257"},
		// ifname= names a NIC first; the other gets its predictable name.
		{"ifname= wins", "virtio-root", "ifname=lan0:52:54:00:77:01:10 net.ifnames=1 bond=bond0:lan0,ens3" + rest, nil,
			[]string{"eth1 ens3"}, "eth1 → ens3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nics := layoutNICs(t, tc.layout, tc.later...)
			if strings.Contains(tc.cmdline, "ifname=lan0") {
				// The links step's ifname= renames come first.
				if err := nics.RenameLink("eth0", "lan0"); err != nil {
					t.Fatal(err)
				}
				nics.renames = nil
			}
			m, err := nameBoot(t, tc.cmdline, nics, 5*time.Second)
			if err != nil {
				t.Fatalf("names: %v\n%s", err, m.screen)
			}
			if !slices.Equal(nics.renames, tc.renames) {
				t.Errorf("renames %q, want %q", nics.renames, tc.renames)
			}
			screen := m.screen.String()
			switch {
			case tc.line == "" && (strings.Contains(screen, "names:") || nics.reads != 0):
				t.Errorf("a names step (or a sysfs read) where none was needed:\n%s", screen)
			case tc.line != "" && !strings.Contains(screen, strings.TrimSuffix(tc.line, "\n")):
				t.Errorf("no %q on the console:\n%s", tc.line, screen)
			case strings.HasSuffix(tc.line, "\n") && strings.Contains(screen, "other NICs keep"):
				t.Errorf("net.ifnames=1 says other NICs keep their names:\n%s", screen)
			}
		})
	}
}

func TestNamesNoNICHasTheName(t *testing.T) {
	for _, tc := range []struct {
		name, layout, cmdline string
		want                  []string
	}{
		{"a typo", "virtio-root", "bond=bond0:ens2,ens4 root=LABEL=r",
			[]string{"no NIC is named ens4 under naming scheme v238–v257", "eth1 52:54:00:77:01:11 (ens3, enp0s3, enx525400770111)"}},
		{"with the scheme given", "virtio-bridge", "net.naming-scheme=v252 bond=bond0:ens1,enp1s9 root=LABEL=r",
			[]string{"no NIC is named enp1s9 under naming scheme v252", "enp1s2, enx525400770121"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nics := layoutNICs(t, tc.layout)
			m, err := nameBoot(t, tc.cmdline, nics, 200*time.Millisecond)
			if err == nil {
				t.Fatalf("names succeeded:\n%s", m.screen)
			}
			msg := render(err)
			for _, w := range append(tc.want, "names: ", "— compare with the names on the real OS") {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

// TestBootPredictableNames boots a bond over NICs named the systemd way:
// the names step renames them before the links step looks for them.
func TestBootPredictableNames(t *testing.T) {
	m := newMachine(t)
	nics := layoutNICs(t, "virtio-root", "eth1")
	m.withNICs(nics)
	cmdline := strings.Replace(scenario, "bond0:eth0,eth1", "bond0:ens2,ens3", 1) + " BOOTIF=01-52-54-00-77-01-11"
	if _, err := m.boot(cmdline, Options{}); err != nil {
		t.Fatalf("Run: %v\n%s", err, m.screen)
	}
	for _, w := range []string{"enslave bond0 ens2,ens3 primary=ens3", "wait links ens2 ens3"} {
		if len(m.called(w)) != 1 {
			t.Errorf("no %q in %q", w, m.called(""))
		}
	}
	if !stepLine("names").MatchString(m.screen.String()) || !strings.Contains(m.screen.String(), "PXE interface ens3 (52:54:00:77:01:11)") {
		t.Errorf("console:\n%s", m.screen)
	}
}
