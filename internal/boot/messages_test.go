package boot

import (
	"strings"
	"testing"
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
