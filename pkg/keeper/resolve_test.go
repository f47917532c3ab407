package keeper

import (
	"fmt"
	"testing"
)

func TestParseResolvConf(t *testing.T) {
	c := parseResolvConf([]byte("# systemd-resolved\nnameserver 127.0.0.53\nnameserver fd00::1\nnameserver bogus\noptions edns0 ndots:2 trust-ad\nsearch lab.example. example\n"))
	if fmt.Sprint(c.servers) != "[127.0.0.53:53 [fd00::1]:53]" || fmt.Sprint(c.search) != "[lab.example example]" || c.ndots != 2 {
		t.Errorf("%+v", c)
	}
	for _, tc := range []struct {
		host, want string
	}{
		{"nas", "[nas.lab.example. nas.example. nas.]"},
		{"nas.lab", "[nas.lab.lab.example. nas.lab.example. nas.lab.]"},
		{"a.b.c", "[a.b.c. a.b.c.lab.example. a.b.c.example.]"},
		{"nas.example.", "[nas.example.]"},
	} {
		if got := fmt.Sprint(queryNames(tc.host, c)); got != tc.want {
			t.Errorf("queryNames(%q) = %s, want %s", tc.host, got, tc.want)
		}
	}
	if d := parseResolvConf(nil); d.ndots != 1 || len(d.servers) != 0 {
		t.Errorf("empty: %+v", d)
	}
}

func TestLookupHosts(t *testing.T) {
	hosts := []byte("127.0.0.1 localhost\n10.77.0.1\tnas nas.lab.example # the target\n# 10.0.0.9 nas\nfd00::1 NAS\n")
	if got := fmt.Sprint(lookupHosts(hosts, "nas")); got != "[10.77.0.1 fd00::1]" {
		t.Errorf("nas: %s", got)
	}
	if got := lookupHosts(hosts, "other"); len(got) != 0 {
		t.Errorf("other: %v", got)
	}
}

func FuzzParseResolvConf(f *testing.F) {
	f.Add([]byte("nameserver 10.0.0.1\nsearch a b\noptions ndots:3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := parseResolvConf(b)
		if len(c.servers) > 3 || len(c.search) > 6 || c.ndots < 0 || c.ndots > 15 {
			t.Fatalf("%+v", c)
		}
		queryNames("host", c)
		lookupHosts(b, "host")
	})
}
