package dhcp6

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
)

// JSON renders the lease as indented JSON (for
// /run/netroot/dhcp6-<iface>.json), an iSCSI boot file URL's CHAP
// passwords replaced by *** (RedactedBootFileURL).
func (l *Lease) JSON() ([]byte, error) {
	c := *l
	c.BootFileURL = l.RedactedBootFileURL()
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// EnvFile renders the lease as shell variable assignments with the names
// ISC dhclient -6 gives dhclient-script, which dracut's network-legacy
// module reads (new_ip6_address, new_ip6_prefixlen,
// new_dhcp6_name_servers, new_dhcp6_domain_search, new_max_life,
// new_preferred_life…), plus new_dhcp6_bootfile_url. Every value is
// single-quoted, so the file is safe to source whatever the server sent;
// the boot file URL is redacted as in JSON.
func (l *Lease) EnvFile() string {
	var e dhcp.Env
	kv := e.Set
	kv("interface", l.Interface)
	if l.Address.IsValid() { // a lease from FromReply always has one
		kv("new_ip6_address", l.Address.Addr().String())
		kv("new_ip6_prefixlen", strconv.Itoa(l.Address.Bits()))
	}
	kv("new_max_life", strconv.FormatInt(int64(l.ValidLifetime), 10))
	kv("new_preferred_life", strconv.FormatInt(int64(l.PreferredLifetime), 10))
	kv("new_iaid", strings.ReplaceAll(l.IAID.String(), ":", ""))
	kv("new_dhcp6_client_id", l.ClientDUID.String())
	kv("new_dhcp6_server_id", l.ServerDUID.String())
	kv("new_dhcp6_name_servers", dhcp.JoinAddrs(l.DNS))
	kv("new_dhcp6_domain_search", strings.Join(l.Search, " "))
	kv("new_dhcp6_bootfile_url", l.RedactedBootFileURL())
	kv("new_host_name", l.Hostname)
	return e.String()
}

// RedactedBootFileURL is BootFileURL with the passwords of an iSCSI root
// path's credentials replaced by *** (config.RedactRootPath): the files
// under /run are readable by everyone.
func (l *Lease) RedactedBootFileURL() string { return config.RedactRootPath(l.BootFileURL) }
