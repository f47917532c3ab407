package dhcp6

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ipv6Conf is the kernel's per-interface IPv6 settings (sysctl
// net.ipv6.conf.<if>.*); a variable for tests.
var ipv6Conf = "/proc/sys/net/ipv6/conf"

// ErrNoIPv6 is returned when the kernel has no IPv6 (ipv6.disable=1, or
// no ipv6 module).
var ErrNoIPv6 = errors.New("the kernel has no IPv6 (is ipv6.disable=1 on the command line?)")

func confPath(iface, key string) (string, error) {
	if iface == "" || iface == "." || iface == ".." || strings.ContainsRune(iface, '/') {
		return "", fmt.Errorf("%q is not an interface name", iface)
	}
	return filepath.Join(ipv6Conf, iface, key), nil
}

// readConf returns net.ipv6.conf.<iface>.<key>.
func readConf(iface, key string) (string, error) {
	p, err := confPath(iface, key)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(ipv6Conf); serr != nil {
				return "", ErrNoIPv6
			}
		}
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// setConf writes net.ipv6.conf.<iface>.<key> when it differs, and reports
// whether it changed.
func setConf(iface, key, value string) (bool, error) {
	cur, err := readConf(iface, key)
	if err != nil {
		return false, fmt.Errorf("reading net.ipv6.conf.%s.%s: %w", iface, key, err)
	}
	if cur == value {
		return false, nil
	}
	p, _ := confPath(iface, key)
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return false, fmt.Errorf("setting net.ipv6.conf.%s.%s=%s: %w", iface, key, value, err)
	}
	return true, nil
}

// EnableIPv6 turns IPv6 on for the interface (disable_ipv6=0), which
// gives it a link-local address once it is up.
func EnableIPv6(iface string) error {
	_, err := setConf(iface, "disable_ipv6", "0")
	return err
}

// raSettings are what dracut's do_ipv6auto sets (forwarding off, router
// advertisements and redirects accepted) plus what the kernel needs for
// SLAAC that dracut leaves at its default: IPv6 on, autoconf on.
var raSettings = [][2]string{
	{"disable_ipv6", "0"},
	{"forwarding", "0"},
	{"accept_ra", "1"},
	{"accept_redirects", "1"},
	{"autoconf", "1"},
}

// EnableRA prepares the interface (a NIC, a bond or a VLAN: each has its
// own settings) to take its routes and, with autoconf, SLAAC addresses
// from router advertisements. It reports whether accept_ra changed:
// the kernel solicits routers only when the link comes up, so on a link
// that was already up the first advertisement may be a periodic one.
func EnableRA(iface string) (raChanged bool, err error) {
	for _, kv := range raSettings {
		changed, err := setConf(iface, kv[0], kv[1])
		if err != nil {
			return raChanged, err
		}
		if kv[0] == "accept_ra" {
			raChanged = changed
		}
	}
	return raChanged, nil
}

// confSummary describes the settings that decide whether an interface
// gets IPv6 addresses, for error hints.
func confSummary(iface string) string {
	var out []string
	for _, k := range []string{"disable_ipv6", "addr_gen_mode", "accept_ra", "autoconf", "forwarding"} {
		v, err := readConf(iface, k)
		if err != nil {
			v = "?"
		}
		out = append(out, k+"="+v)
	}
	return strings.Join(out, " ")
}
