package boot

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/iscsi"
)

// TestInitiatorOrder: rd.iscsi.initiator=, else the initramfs's
// /etc/iscsi/initiatorname.iscsi, else one derived from the boot MAC
// (the iBFT's comes before the file: TestBootIBFT); the name used is
// logged and left in /run/initiatorname.iscsi.
func TestInitiatorOrder(t *testing.T) {
	noName := strings.Replace(scenario, "rd.iscsi.initiator=iqn.2010-01.org.example:client ", "", 1)
	bootif, _ := net.ParseMAC("52:54:00:77:00:11")
	eth0, _ := net.ParseMAC("52:54:00:77:00:10")
	for _, tc := range []struct {
		name, cmdline, file string
		want, from          string
		warn                string
	}{
		{"rd.iscsi.initiator", scenario, "InitiatorName=iqn.2010-01.org.example:baked\n", "iqn.2010-01.org.example:client", "(rd.iscsi.initiator)", ""},
		{"the baked file", noName, "## DO NOT EDIT\nInitiatorName=iqn.2010-01.org.example:baked\n", "iqn.2010-01.org.example:baked",
			"(/etc/iscsi/initiatorname.iscsi in the initramfs)", ""},
		{"a file never generated", noName, "GenerateName=yes\n", config.DefaultInitiator(eth0), "(derived from the boot MAC",
			"login: /etc/iscsi/initiatorname.iscsi in the initramfs: missing parameter: GenerateName=yes: no name was generated yet"},
		{"derived from BOOTIF", noName + " BOOTIF=01-52-54-00-77-00-11", "", config.DefaultInitiator(bootif), "(derived from the boot MAC", ""},
		{"derived from the first NIC", noName, "", config.DefaultInitiator(eth0), "(derived from the boot MAC", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			if tc.file != "" {
				if err := m.files.WriteFile(config.InitiatorNameFile, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			var used []string
			m.connect = func(cfg iscsi.LoginConfig) error {
				mu.Lock()
				defer mu.Unlock()
				used = append(used, cfg.InitiatorName)
				return nil
			}
			if _, err := m.boot(tc.cmdline, Options{}); err != nil {
				t.Fatalf("Run: %v\n%s", err, m.screen)
			}
			if len(used) != 1 || used[0] != tc.want {
				t.Errorf("logged in as %q, want %q", used, tc.want)
			}
			screen := m.screen.String()
			if line := "netroot: login: initiator " + tc.want + " " + tc.from; !strings.Contains(screen, line) {
				t.Errorf("no %q on the console:\n%s", line, screen)
			}
			if tc.warn != "" && !strings.Contains(screen, tc.warn) {
				t.Errorf("no warning %q:\n%s", tc.warn, screen)
			}
			if got, _ := m.files.ReadFile(initiatorFile); string(got) != "InitiatorName="+tc.want+"\n" {
				t.Errorf("%s = %q", initiatorFile, got)
			}
		})
	}
	// Without a name and with no MAC anywhere, the login cannot start.
	m := newMachine(t)
	p := parse(t, "ip=eth9:dhcp netroot="+target+" root=LABEL=r")
	b := New(m.env(), m.logger(), Options{})
	if _, err := b.initiator(p, netResult{}, m, m.files); err == nil || !strings.Contains(render(err), "no initiator name") {
		t.Errorf("initiator without a name or MAC: %v", err)
	}
}
