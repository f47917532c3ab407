// Package osnet writes the runtime configuration a real OS's network
// stacks read, so that after switch_root they leave the root's path — the
// interfaces /init configured, the bonds' slaves and the VLANs' parents —
// as /init left it.
//
// Each stack has its own files under /run, which moves into the real root
// and lasts one boot:
//
//   - udev: a .link file per interface in /run/systemd/network that keeps
//     the name /init left (a physical NIC matched by its permanent MAC:
//     bond slaves share one current MAC) and adds no alternative names.
//     udev cannot rename a NIC that is up (systemd 252) or renames it under
//     the bond (newer), and an alternative name like ens2 makes ifupdown's
//     allow-hotplug stanza for the install NIC act on a bond slave.
//   - systemd-networkd: a .network file per interface, sorted before the
//     OS's own, with KeepConfiguration=yes (never flush the addresses or
//     routes, also at restart and stop), the addresses and gateway /init
//     set, and KeepMaster=yes on the slaves (a link a .network matches
//     without it is released from its bond; Bond= re-enslaves it, taking
//     it down first).
//   - NetworkManager: a conf.d snippet marking the interfaces unmanaged.
//   - ifupdown: /run/network/ifstate.<if> (0.8's per-interface state), so
//     ifup thinks they are up and ifdown -a leaves them (it acts only on
//     interfaces /etc/network/interfaces defines).
//   - initramfs-tools: /run/net-<if>.conf (klibc ipconfig's format, read
//     by cloud-init and Debian's scripts).
//
// /init's hints, written whatever osconfig says, add ifupdown 0.7's
// /run/network/ifstate and /run/initramfs/open-iscsi.interface.
//
// Files renders them from a Config; Inspect (Linux) reads a Config from
// the kernel. The files hold no secret.
package osnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Kind is what an interface is.
type Kind string

// The kinds of interface on a root's path.
const (
	Ether Kind = ""     // a physical NIC
	Bond  Kind = "bond" // a bond /init built
	VLAN  Kind = "vlan" // a VLAN /init added
)

// Link is one interface of the root's path.
type Link struct {
	Name string
	Kind Kind
	// PermanentMAC is a NIC's burnt-in address (IFLA_PERM_ADDRESS), which
	// tells apart bond slaves that carry the bond's MAC; nil for a
	// virtual interface or a driver that reports none.
	PermanentMAC net.HardwareAddr
	// MAC is the current address.
	MAC net.HardwareAddr
	// Master is the bond the link is a slave of.
	Master string
	// Parent is a VLAN's lower interface; VLANID its tag.
	Parent string
	VLANID int
	// Addresses are the global addresses /init set (none on a slave).
	Addresses []netip.Prefix
	// Gateways are the default routes' gateways through the link.
	Gateways []netip.Addr
	// DHCP4, DHCP6: the address came from a lease the OS's client must
	// renew; Autoconf6: from router advertisements.
	DHCP4, DHCP6, Autoconf6 bool
}

// Config is the root's path as /init leaves it.
type Config struct {
	// Links in the order /init configured them: the interfaces carrying
	// addresses first (the first one reaches the root), then their lower
	// interfaces.
	Links []Link
	// Nameservers and Domain are the resolver settings /init found.
	Nameservers []netip.Addr
	Domain      string
	// Hostname is the host name /init set, if any.
	Hostname string
	// RootServer is the first target portal's address.
	RootServer netip.Addr
}

// File is one file to write: an absolute path, its contents, mode 0644.
type File struct {
	Path string
	Data []byte
}

// Prefix sorts netroot's systemd files before the OS's own (udev and
// networkd use the first file that matches, by file name across
// /etc, /run and /usr/lib).
const Prefix = "05-netroot-"

// Paths of the files.
const (
	SystemdDir  = "/run/systemd/network"
	NMConfFile  = "/run/NetworkManager/conf.d/90-netroot.conf"
	IfupdownDir = "/run/network"
)

// ErrInvalid is returned for a Config that cannot be written safely.
var ErrInvalid = errors.New("osnet: invalid configuration")

// Validate checks what ends up in file names and file contents: names the
// kernel accepts for interfaces, no duplicates, masters and parents that
// are in the Config.
func (c Config) Validate() error {
	seen := map[string]bool{}
	for _, l := range c.Links {
		if err := validName(l.Name); err != nil {
			return err
		}
		if seen[l.Name] {
			return fmt.Errorf("%w: interface %q listed twice", ErrInvalid, l.Name)
		}
		seen[l.Name] = true
	}
	for _, l := range c.Links {
		if l.Master != "" && !seen[l.Master] {
			return fmt.Errorf("%w: %s is a slave of %q, which is not on the path", ErrInvalid, l.Name, l.Master)
		}
		if l.Kind == VLAN && l.Parent != "" && !seen[l.Parent] {
			return fmt.Errorf("%w: VLAN %s's parent %q is not on the path", ErrInvalid, l.Name, l.Parent)
		}
	}
	return nil
}

// unsafeName reports a host or domain name that cannot go into the files
// as is (quotes, blanks, control characters); it is left out.
func unsafeName(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("'\"\\$`;", r)
	})
}

// validName is the kernel's rule for interface names (dev_valid_name):
// 1–15 bytes, not . or .., no / or : or white space.
func validName(n string) error {
	if n == "" || len(n) > 15 || n == "." || n == ".." {
		return fmt.Errorf("%w: interface name %q", ErrInvalid, n)
	}
	for _, r := range n {
		if r == '/' || r == ':' || r <= ' ' || r == 0x7f || r > 0x7e || r == '\'' || r == '"' || r == '\\' || r == '*' || r == '?' || r == '[' {
			return fmt.Errorf("%w: interface name %q", ErrInvalid, n)
		}
	}
	return nil
}

// Files renders every stack's files for c, sorted by path.
func Files(c Config) ([]File, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if unsafeName(c.Hostname) {
		c.Hostname = ""
	}
	if unsafeName(c.Domain) {
		c.Domain = ""
	}
	if len(c.Links) == 0 {
		return nil, nil
	}
	var out []File
	add := func(path, data string) { out = append(out, File{Path: path, Data: []byte(data)}) }
	for _, l := range c.Links {
		add(SystemdDir+"/"+Prefix+l.Name+".link", linkFile(l))
		add(SystemdDir+"/"+Prefix+l.Name+".network", networkFile(c, l))
		add(IfupdownDir+"/ifstate."+l.Name, l.Name+"\n")
		if hasIPv4(l) {
			add("/run/net-"+l.Name+".conf", klibcConf(c, l))
		}
	}
	add(NMConfFile, nmConf(c))
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

const header = "# Written by netroot's /init: this interface carries the iSCSI root.\n"

// linkFile keeps l's name: a NIC matched by its permanent MAC (or, when it
// has none, its current MAC and name), a virtual interface by its name.
// No alternative names: ifupdown and others act on them as on names.
func linkFile(l Link) string {
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("[Match]\n")
	switch {
	case l.Kind == Ether && len(l.PermanentMAC) > 0:
		fmt.Fprintf(&b, "PermanentMACAddress=%s\n", l.PermanentMAC)
	case l.Kind == Ether && len(l.MAC) > 0:
		fmt.Fprintf(&b, "MACAddress=%s\nOriginalName=%s\n", l.MAC, l.Name)
	default:
		fmt.Fprintf(&b, "OriginalName=%s\n", l.Name)
	}
	b.WriteString("\n[Link]\n")
	fmt.Fprintf(&b, "Name=%s\n", l.Name)
	b.WriteString("NamePolicy=\nAlternativeNamesPolicy=\n")
	// A bond's or VLAN's MAC is its slave's or parent's: keep it.
	b.WriteString("MACAddressPolicy=none\n")
	return b.String()
}

// networkFile is l's .network: keep everything /init configured.
func networkFile(c Config, l Link) string {
	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, "[Match]\nName=%s\n\n[Network]\n", l.Name)
	// Never flush the addresses, routes or leases: not at start, not at
	// restart, not at stop.
	b.WriteString("KeepConfiguration=yes\n")
	b.WriteString("ConfigureWithoutCarrier=yes\nIgnoreCarrierLoss=yes\n")
	if l.Master != "" {
		// Bond= would enslave it again (networkd takes a link down to
		// enslave it: a root outage); no Bond= at all releases it.
		fmt.Fprintf(&b, "# A slave of %s.\nKeepMaster=yes\n", l.Master)
	}
	for _, v := range c.Links {
		if v.Kind == VLAN && v.Parent == l.Name {
			// VLAN= needs a .netdev; the VLAN exists already and keeps its
			// parent without one.
			fmt.Fprintf(&b, "# VLAN %s (id %d) rides on this interface.\n", v.Name, v.VLANID)
		}
	}
	dhcp := "no"
	switch {
	case l.DHCP4 && l.DHCP6:
		dhcp = "yes"
	case l.DHCP4:
		dhcp = "ipv4"
	case l.DHCP6:
		dhcp = "ipv6"
	}
	fmt.Fprintf(&b, "DHCP=%s\n", dhcp)
	if !l.Autoconf6 && !l.DHCP6 {
		b.WriteString("IPv6AcceptRA=no\n")
	}
	if l.Master != "" {
		return b.String()
	}
	for _, a := range l.Addresses {
		if (a.Addr().Is4() && l.DHCP4) || (a.Addr().Is6() && (l.DHCP6 || l.Autoconf6)) {
			continue // the lease's: the OS's client renews it
		}
		fmt.Fprintf(&b, "Address=%s\n", a)
	}
	for _, g := range l.Gateways {
		if (g.Is4() && l.DHCP4) || (g.Is6() && (l.DHCP6 || l.Autoconf6)) {
			continue
		}
		fmt.Fprintf(&b, "Gateway=%s\n", g)
	}
	if l.Name == c.Links[0].Name {
		for _, n := range c.Nameservers {
			fmt.Fprintf(&b, "DNS=%s\n", n)
		}
		if c.Domain != "" {
			fmt.Fprintf(&b, "Domains=%s\n", c.Domain)
		}
	}
	if l.DHCP4 {
		// Keep the lease's address when the server does not answer at a
		// restart (the root goes through it).
		b.WriteString("\n[DHCPv4]\nSendRelease=no\n")
	}
	return b.String()
}

// nmConf marks every root interface unmanaged: NetworkManager neither
// takes them over with its default wired profile nor deactivates them.
func nmConf(c Config) string {
	var names []string
	for _, l := range c.Links {
		names = append(names, "interface-name:"+l.Name)
	}
	return header + "[device-netroot-root]\nmatch-device=" + strings.Join(names, ";") + "\nmanaged=0\n"
}

func hasIPv4(l Link) bool {
	return slices.ContainsFunc(l.Addresses, func(a netip.Prefix) bool { return a.Addr().Is4() })
}

// klibcConf is /run/net-<if>.conf as klibc's ipconfig writes it for
// initramfs-tools (shell variables, single-quoted).
func klibcConf(c Config, l Link) string {
	var a netip.Prefix
	for _, p := range l.Addresses {
		if p.Addr().Is4() {
			a = p
			break
		}
	}
	mask := net.CIDRMask(a.Bits(), 32)
	ip4 := a.Addr().As4()
	var bcast [4]byte
	for i := range bcast {
		bcast[i] = ip4[i] | ^mask[i]
	}
	gw := "0.0.0.0"
	for _, g := range l.Gateways {
		if g.Is4() {
			gw = g.String()
			break
		}
	}
	var dns []string
	for _, n := range c.Nameservers {
		if n.Is4() {
			dns = append(dns, n.String())
		}
	}
	for len(dns) < 2 {
		dns = append(dns, "0.0.0.0")
	}
	proto := "none"
	if l.DHCP4 {
		proto = "dhcp"
	}
	root := ""
	if c.RootServer.IsValid() {
		root = c.RootServer.String()
	}
	var b strings.Builder
	for _, kv := range [][2]string{
		{"DEVICE", l.Name},
		{"PROTO", proto},
		{"IPV4ADDR", a.Addr().String()},
		{"IPV4BROADCAST", netip.AddrFrom4(bcast).String()},
		{"IPV4NETMASK", net.IP(mask).String()},
		{"IPV4GATEWAY", gw},
		{"IPV4DNS0", dns[0]},
		{"IPV4DNS1", dns[1]},
		{"HOSTNAME", c.Hostname},
		{"DNSDOMAIN", c.Domain},
		{"NISDOMAIN", ""},
		{"ROOTSERVER", root},
		{"ROOTPATH", ""},
		{"filename", ""},
	} {
		fmt.Fprintf(&b, "%s='%s'\n", kv[0], kv[1])
	}
	return b.String()
}
