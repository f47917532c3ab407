package dhcp6

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeConf points ipv6Conf at a directory with iface's settings.
func fakeConf(t *testing.T, iface string, vals map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	old := ipv6Conf
	ipv6Conf = dir
	t.Cleanup(func() { ipv6Conf = old })
	if err := os.MkdirAll(filepath.Join(dir, iface), 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range vals {
		if err := os.WriteFile(filepath.Join(dir, iface, k), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestEnableRA(t *testing.T) {
	dir := fakeConf(t, "bond0.100", map[string]string{"disable_ipv6": "1", "forwarding": "1", "accept_ra": "0", "accept_redirects": "1", "autoconf": "0"})
	changed, err := EnableRA("bond0.100")
	if err != nil || !changed {
		t.Fatalf("EnableRA = %v, %v; want accept_ra changed", changed, err)
	}
	for k, want := range map[string]string{"disable_ipv6": "0", "forwarding": "0", "accept_ra": "1", "accept_redirects": "1", "autoconf": "1"} {
		b, _ := os.ReadFile(filepath.Join(dir, "bond0.100", k))
		if strings.TrimSpace(string(b)) != want {
			t.Errorf("%s = %q, want %s", k, b, want)
		}
	}
	if changed, err := EnableRA("bond0.100"); err != nil || changed {
		t.Errorf("second EnableRA = %v, %v; want no change", changed, err)
	}
	if s := confSummary("bond0.100"); !strings.Contains(s, "accept_ra=1") || !strings.Contains(s, "addr_gen_mode=?") {
		t.Errorf("confSummary = %q", s)
	}
	for _, bad := range []string{"", ".", "..", "../all", "a/b"} {
		if err := EnableIPv6(bad); err == nil {
			t.Errorf("EnableIPv6(%q): want an error", bad)
		}
	}
	if err := EnableIPv6("eth9"); err == nil || errors.Is(err, ErrNoIPv6) {
		t.Errorf("EnableIPv6 of a missing interface: %v, want a plain not-found error", err)
	}
	ipv6Conf = filepath.Join(dir, "absent")
	if err := EnableIPv6("eth0"); !errors.Is(err, ErrNoIPv6) {
		t.Errorf("EnableIPv6 without IPv6: %v, want ErrNoIPv6", err)
	}
}
