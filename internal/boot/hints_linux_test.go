package boot

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/iscsi"
)

// TestUnembedHint: a login or DHCP failure renders its hint once, last.
func TestUnembedHint(t *testing.T) {
	login := &iscsi.LoginError{Portal: "10.77.0.1:3260", Target: targetIQN, StatusClass: 2, StatusDetail: 1,
		Reason: "authentication failure", Hint: "check rd.iscsi.username/password"}
	mac, _ := net.ParseMAC("52:54:00:77:00:10")
	noLease := &dhcp.NoLeaseError{Interface: "bond0", MAC: mac, Attempts: 3, Elapsed: 6 * time.Second, Last: errors.New("no answer")}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"login", login, "login: iscsi: login to 10.77.0.1:3260 " + targetIQN + ": target reports 0x0201 authentication failure — check rd.iscsi.username/password"},
		{"login, wrapped", fmt.Errorf("iscsi: giving up after 2 login attempts: %w", login),
			"login: iscsi: giving up after 2 login attempts: iscsi: login to 10.77.0.1:3260 " + targetIQN + ": target reports 0x0201 authentication failure — check rd.iscsi.username/password"},
		{"no lease", fmt.Errorf("dhcp: %w", noLease), "ip: dhcp: no DHCP lease on bond0 (52:54:00:77:00:10) after 3 attempt(s) in 6s: no answer — " + noLease.Hint()},
		{"other", errors.New("refused"), "login: refused — default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step := strings.SplitN(tc.want, ":", 2)[0]
			got := render(fail(step, unembedHint(tc.err), "default"))
			if got != tc.want {
				t.Errorf("render =\n%q, want\n%q", got, tc.want)
			}
			if strings.Count(got, " — ") != 1 {
				t.Errorf("%d hints in %q", strings.Count(got, " — "), got)
			}
			if !errors.Is(unembedHint(tc.err), tc.err) {
				t.Errorf("unembedHint loses the cause")
			}
		})
	}
	if unembedHint(nil) != nil || hint.Of(unembedHint(nil)) != "" {
		t.Errorf("unembedHint(nil) is not nil")
	}
}
