package keeper

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// After switch_root the keeper's root is the emptied initramfs: the
// resolver files it started with are gone, so a portal given as a host
// name is looked up with the real root's /etc/hosts and /etc/resolv.conf
// (read through PID 1's root), and failing that the address it had at
// boot is dialled.

// resolvConf is what the keeper uses of a resolv.conf.
type resolvConf struct {
	servers []string // "ip:53"
	search  []string
	ndots   int
}

// parseResolvConf reads nameserver, search/domain and options ndots.
func parseResolvConf(b []byte) resolvConf {
	c := resolvConf{ndots: 1}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil && len(c.servers) < 3 {
				c.servers = append(c.servers, net.JoinHostPort(a.String(), "53"))
			}
		case "search", "domain":
			c.search = nil
			for _, d := range f[1:] {
				if d = strings.Trim(d, "."); d != "" && len(c.search) < 6 {
					c.search = append(c.search, d)
				}
			}
		case "options":
			for _, o := range f[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok {
					if n, err := strconv.Atoi(v); err == nil && n >= 0 {
						c.ndots = min(n, 15)
					}
				}
			}
		}
	}
	return c
}

// queryNames are the fully qualified names to ask for host, in order,
// as the C library builds them from search and ndots.
func queryNames(host string, c resolvConf) []string {
	if strings.HasSuffix(host, ".") {
		return []string{host}
	}
	var searched []string
	for _, d := range c.search {
		searched = append(searched, host+"."+d+".")
	}
	if strings.Count(host, ".") >= c.ndots {
		return append([]string{host + "."}, searched...)
	}
	return append(searched, host+".")
}

// lookupHosts returns host's addresses in an /etc/hosts text.
func lookupHosts(b []byte, host string) []netip.Addr {
	host = strings.TrimSuffix(host, ".")
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			if strings.EqualFold(strings.TrimSuffix(name, "."), host) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}
