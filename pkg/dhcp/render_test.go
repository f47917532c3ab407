package dhcp

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func sampleLease() *Lease {
	a := netip.MustParseAddr
	return &Lease{
		Interface: "bond0", MAC: "52:54:00:77:00:11",
		Address: netip.MustParsePrefix("10.77.0.50/24"), Router: a("10.77.0.1"),
		Routes: []Route{{Destination: netip.MustParsePrefix("192.168.0.0/16"), Gateway: a("10.77.0.3")}},
		DNS:    []netip.Addr{a("10.77.0.1"), a("10.77.0.2")}, Domain: "example.org", Search: []string{"example.org", "lab"},
		Hostname: "node7", MTU: 9000, RootPath: "iscsi:10.77.0.1::3260:1:iqn.2010-01.org.example:it's",
		Server: a("10.77.0.1"), LeaseTime: 3600,
	}
}

func TestEnvFile(t *testing.T) {
	got := sampleLease().EnvFile()
	want := `interface='bond0'
new_ip_address='10.77.0.50'
new_prefix='24'
new_subnet_mask='255.255.255.0'
new_routers='10.77.0.1'
new_classless_static_routes='192.168.0.0/16 10.77.0.3'
new_domain_name_servers='10.77.0.1 10.77.0.2'
new_domain_name='example.org'
new_domain_search='example.org lab'
new_host_name='node7'
new_interface_mtu='9000'
new_root_path='iscsi:10.77.0.1::3260:1:iqn.2010-01.org.example:it'\''s'
new_dhcp_server_identifier='10.77.0.1'
new_dhcp_lease_time='3600'
`
	if got != want {
		t.Errorf("EnvFile:\n%s\nwant:\n%s", got, want)
	}
	// No address (not a lease FromACK returns): no address lines, rather
	// than "invalid IP".
	if got := (&Lease{Interface: "eth0"}).EnvFile(); got != "interface='eth0'\n" {
		t.Errorf("EnvFile of a lease without an address:\n%s", got)
	}
}

// TestEnvFileSourced sources the file with /bin/sh when there is one:
// the values must come back byte for byte.
func TestEnvFileSourced(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	l := sampleLease()
	l.RootPath = `iscsi:$(touch /tmp/pwned)'"` + "`x`" + `\:1:iqn.x`
	f := filepath.Join(t.TempDir(), "net.env")
	if err := os.WriteFile(f, []byte(l.EnvFile()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sh, "-c", `. "$0"; printf %s "$new_root_path"`, f).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != l.RootPath {
		t.Errorf("sourced root path = %q, want %q", out, l.RootPath)
	}
}

func TestResolvConf(t *testing.T) {
	a := netip.MustParseAddr
	got := ResolvConf("DHCP on bond0", []netip.Addr{a("10.77.0.1"), a("10.77.0.1"), a("2001:db8::53"), {}}, []string{"example.org", "bad domain", "example.org"})
	want := "# written by netroot's /init from DHCP on bond0\nsearch example.org\nnameserver 10.77.0.1\nnameserver 2001:db8::53\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := ResolvConf("x", nil, nil); got != "" {
		t.Errorf("empty: %q", got)
	}
}

func TestJSON(t *testing.T) {
	b, err := sampleLease().JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Lease
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Address != sampleLease().Address || back.RootPath != sampleLease().RootPath || back.LeaseTime != 3600 {
		t.Errorf("round trip: %+v", back)
	}
	for _, key := range []string{`"address": "10.77.0.50/24"`, `"router": "10.77.0.1"`, `"lease_time": 3600`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s:\n%s", key, b)
		}
	}
	if strings.Contains(string(b), `"broadcast"`) {
		t.Errorf("zero broadcast written:\n%s", b)
	}
}

var envLine = regexp.MustCompile(`^[a-z_]+='([^'\x00-\x1f]|'\\'')*'$`)

// TestNoCredentialsInFiles: a root-path carrying CHAP credentials keeps
// them in the lease (the login needs them) but not in the JSON or env
// file, which stay under /run, readable, in the real root.
func TestNoCredentialsInFiles(t *testing.T) {
	for _, rp := range []string{
		"iscsi:alice:Zq9SECRETx@10.77.0.1::3260:1:iqn.2010-01.org.example:root",
		"iscsi:alice:Zq9SECRETx:target:Zq9SECRETy@10.77.0.1::3260:1:iqn.2010-01.org.example:root",
		"alice:Zq9SECRETx@10.77.0.1::3260:1:iqn.2010-01.org.example:root",
	} {
		l := sampleLease()
		l.RootPath = rp
		j, err := l.JSON()
		if err != nil {
			t.Fatal(err)
		}
		env := l.EnvFile()
		for _, out := range []string{string(j), env, l.RedactedRootPath()} {
			if strings.Contains(out, "SECRET") {
				t.Errorf("root-path %q: a password is written:\n%s", rp, out)
			}
		}
		if !strings.Contains(string(j), `"root_path": "`) || !strings.Contains(env, "new_root_path='") || !strings.Contains(env, "***@10.77.0.1") {
			t.Errorf("root-path %q: the redacted path is missing:\n%s\n%s", rp, j, env)
		}
		if l.RootPath != rp {
			t.Errorf("the lease lost the real root-path: %q", l.RootPath)
		}
	}
	// Without credentials the path is written as it is.
	l := sampleLease()
	if l.RedactedRootPath() != l.RootPath {
		t.Errorf("%q redacted to %q", l.RootPath, l.RedactedRootPath())
	}
}
