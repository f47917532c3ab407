package dhcp

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netroot/netroot/pkg/config"
)

// JSON renders the lease as indented JSON (for /run/netroot/dhcp-<iface>.json).
// A root-path's CHAP passwords are replaced by *** (RedactedRootPath): the
// file outlives the initramfs, readable by any user of the real root.
func (l *Lease) JSON() ([]byte, error) {
	c := *l
	c.RootPath = l.RedactedRootPath()
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// EnvFile renders the lease as shell variable assignments with
// dhclient-script's names, as dracut's network modules leave them for the
// real root (new_ip_address, new_subnet_mask, new_routers,
// new_domain_name_servers, new_root_path …), plus new_prefix and
// new_interface_mtu. Every value is single-quoted, so the file is safe to
// source whatever the server sent; the root-path's CHAP passwords are
// replaced by *** (RedactedRootPath).
func (l *Lease) EnvFile() string {
	var e Env
	kv := e.Set
	opt := func(a netip.Addr) string {
		if a.IsValid() {
			return a.String()
		}
		return ""
	}
	num := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	kv("interface", l.Interface)
	if l.Address.IsValid() { // a lease from FromACK always has one
		kv("new_ip_address", l.Address.Addr().String())
		kv("new_prefix", strconv.Itoa(l.Address.Bits()))
		kv("new_subnet_mask", net.IP(net.CIDRMask(l.Address.Bits(), 32)).String())
	}
	kv("new_broadcast_address", opt(l.Broadcast))
	kv("new_routers", opt(l.Router))
	var routes []string
	for _, r := range l.Routes {
		routes = append(routes, r.Destination.String()+" "+r.Gateway.String())
	}
	kv("new_classless_static_routes", strings.Join(routes, " "))
	kv("new_domain_name_servers", JoinAddrs(l.DNS))
	kv("new_domain_name", l.Domain)
	kv("new_domain_search", strings.Join(l.Search, " "))
	kv("new_host_name", l.Hostname)
	kv("new_interface_mtu", num(int64(l.MTU)))
	kv("new_root_path", l.RedactedRootPath())
	kv("new_dhcp_server_identifier", opt(l.Server))
	kv("new_next_server", opt(l.NextServer))
	kv("new_filename", l.BootFile)
	kv("new_dhcp_lease_time", num(int64(l.LeaseTime)))
	kv("new_dhcp_renewal_time", num(int64(l.RenewalTime)))
	kv("new_dhcp_rebinding_time", num(int64(l.RebindingTime)))
	return e.String()
}

// RedactedRootPath is RootPath with the passwords of an iSCSI root path's
// credentials (iscsi:<user>:<password>[:<in user>:<in password>]@…)
// replaced by ***, as written to files. RootPath itself keeps them, in
// memory, for the login.
func (l *Lease) RedactedRootPath() string { return config.RedactRootPath(l.RootPath) }

// Env collects the shell variable assignments of a lease file, one per
// line, each value single-quoted (ShellQuote) so that the file is safe to
// source whatever the server sent. The zero Env is empty and ready.
type Env struct{ b strings.Builder }

// Set appends k=v, v quoted; an empty v is left out, as dhclient-script
// leaves unset what the server did not send.
func (e *Env) Set(k, v string) {
	if v != "" {
		e.b.WriteString(k + "=" + ShellQuote(v) + "\n")
	}
}

// String returns the assignments set so far.
func (e *Env) String() string { return e.b.String() }

// JoinAddrs joins addresses with spaces, as dhclient-script's list
// variables (new_domain_name_servers …) hold them.
func JoinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

// ShellQuote single-quotes s for a POSIX shell (the lease files are
// sourced by shell scripts).
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ResolvConf renders a resolv.conf(5) with the given name servers and
// search domains; source names where they came from, for the comment.
// It returns "" when there is nothing to write.
func ResolvConf(source string, servers []netip.Addr, search []string) string {
	var b strings.Builder
	seen := map[netip.Addr]bool{}
	var ns []netip.Addr
	for _, s := range servers {
		if s.IsValid() && !seen[s] {
			seen[s] = true
			ns = append(ns, s)
		}
	}
	var dom []string
	seenDom := map[string]bool{}
	for _, d := range search {
		if ValidHostname(d) && !seenDom[d] {
			seenDom[d] = true
			dom = append(dom, d)
		}
	}
	if len(ns) == 0 && len(dom) == 0 {
		return ""
	}
	fmt.Fprintf(&b, "# written by netroot's /init from %s\n", strings.ReplaceAll(source, "\n", " "))
	if len(dom) > 0 {
		b.WriteString("search " + strings.Join(dom, " ") + "\n")
	}
	for _, s := range ns {
		b.WriteString("nameserver " + s.String() + "\n")
	}
	return b.String()
}
