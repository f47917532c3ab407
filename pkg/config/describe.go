package config

import (
	"fmt"
	"sort"
	"strings"
)

// fsModules maps rootfstype= to the kernel module providing it, where the
// two differ or the type has a module at all.
var fsModules = map[string]string{
	"ext2": "ext4", "ext3": "ext4", "ext4": "ext4", "xfs": "xfs", "btrfs": "btrfs",
	"vfat": "vfat", "msdos": "msdos", "f2fs": "f2fs", "jfs": "jfs", "reiserfs": "reiserfs",
	"nilfs2": "nilfs2", "squashfs": "squashfs", "erofs": "erofs", "iso9660": "isofs",
	"udf": "udf", "exfat": "exfat", "ntfs3": "ntfs3", "ocfs2": "ocfs2", "gfs2": "gfs2",
	"bcachefs": "bcachefs", "overlay": "overlay", "fuse": "fuse",
}

// NeededModules returns the kernel modules the plan needs besides the NIC
// drivers, in load order, each once: rd.driver.pre modules first, then
// "bonding" for a bond, "8021q" for a VLAN, the iSCSI stack ("iscsi_tcp",
// "sd_mod" and "crc32c": iscsi_tcp allocates a crc32c hash for every
// connection, digests or not, and fails with ENOMEM without one), and the module of rootfstype= (ext2/ext3 → ext4, iso9660 →
// isofs …). With no rootfstype= it names no filesystem module: the caller
// detects the type from the superblock. Blacklisted modules are left out.
func (p *Plan) NeededModules() []string {
	var out []string
	add := func(m string) {
		for _, b := range p.Modules.Blacklist {
			if b == m {
				return
			}
		}
		out = appendNew(out, m)
	}
	for _, m := range p.Modules.Pre {
		add(m)
	}
	if len(p.Net.Bonds) > 0 {
		add("bonding")
	}
	if len(p.Net.VLANs) > 0 {
		add("8021q")
	}
	if len(p.ISCSI.Targets) > 0 || p.ISCSI.FromDHCP {
		add("iscsi_tcp")
		add("sd_mod")
		add("crc32c")
	}
	if m, ok := fsModules[p.Root.FSType]; ok {
		add(m)
	} else if p.Root.FSType != "" {
		add(foldModule(p.Root.FSType))
	}
	return out
}

// Describe returns a human-readable summary of the plan, for
// "netroot check". Secrets appear as ***.
func (p *Plan) Describe() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	n := p.Net

	w("network:")
	if n.NeedNet {
		w(" needed\n")
	} else {
		w(" not needed\n")
	}
	if n.BootIF != nil {
		w("  boot interface (BOOTIF): %s\n", n.BootIF)
	}
	if n.BootDev != "" {
		w("  bootdev: %s\n", n.BootDev)
	}
	for _, r := range n.Renames {
		w("  name %s for the NIC %s\n", r.Name, r.MAC)
	}
	for _, bd := range n.Bonds {
		var opts []string
		for _, o := range bd.Options {
			opts = append(opts, o.Name+"="+o.Value)
		}
		w("  bond %s: slaves %s", bd.Name, strings.Join(bd.Slaves, ","))
		if len(opts) > 0 {
			w(", options %s", strings.Join(opts, " "))
		}
		if bd.MTU != 0 {
			w(", mtu %d", bd.MTU)
		}
		w("\n")
	}
	for _, v := range n.VLANs {
		w("  vlan %s: id %d on %s\n", v.Name, v.ID, v.Parent)
	}
	for _, c := range n.IP {
		iface := c.Interface
		if iface == "" {
			iface = "any interface"
			if n.BootIF != nil {
				iface = "the BOOTIF interface"
			}
		}
		methods := []string{string(c.Method)}
		for _, m := range c.MoreMethods {
			methods = append(methods, string(m))
		}
		w("  address of %s: ", iface)
		if c.Method == IPStatic {
			w("static %s", c.Address)
		} else {
			w("%s", strings.Join(methods, ","))
		}
		if c.Implicit {
			w(" (implied: the network root needs the network and no ip= is given)")
		}
		if c.Peer.IsValid() {
			w(", peer %s", c.Peer)
		}
		if c.Gateway.IsValid() {
			w(", gateway %s", c.Gateway)
		}
		if c.Hostname != "" {
			w(", hostname %s", c.Hostname)
		}
		if c.MTU != 0 {
			w(", mtu %d", c.MTU)
		}
		if c.MAC != nil {
			w(", mac %s", c.MAC)
		}
		if len(c.DNS) > 0 {
			w(", dns %s", joinAddrs(c.DNS))
		}
		w("\n")
	}
	for _, r := range n.Routes {
		w("  route %s", r.Destination)
		if r.Gateway.IsValid() {
			w(" via %s", r.Gateway)
		}
		if r.Interface != "" {
			w(" dev %s", r.Interface)
		}
		w("\n")
	}
	if len(n.Nameservers) > 0 {
		w("  nameservers: %s\n", joinAddrs(n.Nameservers))
	}
	if !n.PeerDNS {
		w("  DNS servers from DHCP: ignored (rd.peerdns=0)\n")
	}

	is := p.ISCSI
	if len(is.Targets) > 0 || is.FromDHCP || is.Initiator != "" {
		w("iscsi:\n")
		if is.Initiator != "" {
			w("  initiator: %s\n", is.Initiator)
		} else {
			w("  initiator: derived from the boot MAC (%s<mac>)\n", DefaultInitiatorPrefix)
		}
		if is.FromDHCP {
			w("  target: from the DHCP root-path (option 17)\n")
		}
		for _, t := range is.Targets {
			w("  target %s\n", t.Name)
			w("    portal %s, lun %d", t.Portal(), t.LUN)
			if t.Group != 1 {
				w(", portal group %d", t.Group)
			}
			if t.IfaceName != "" {
				w(", iface %s", t.IfaceName)
			}
			if t.NetDev != "" {
				w(", netdev %s", t.NetDev)
			}
			w("\n    auth %s", t.Auth.Method())
			if t.Auth.Username != "" {
				w(" user %s password %s", t.Auth.Username, t.Auth.Password)
			}
			if t.Auth.InUsername != "" {
				w(", target user %s password %s", t.Auth.InUsername, t.Auth.InPassword)
			}
			w("\n")
		}
		for _, kv := range is.Params {
			w("  param %s=%s\n", kv.Key, redactParam(kv.Key, kv.Value))
		}
		retries := "until rd.retry"
		if is.LoginRetryMax > 0 {
			retries = fmt.Sprintf("at most %d attempts", is.LoginRetryMax)
		}
		w("  login retries: %s, wait for all interfaces: %t, test route: %t\n", retries, is.WaitNet, is.TestRoute)
	}

	r := p.Root
	w("root: %s", r.Spec())
	if r.Kind == RootISCSI {
		w(" (the whole disk of the first iSCSI LUN)")
	}
	fs := r.FSType
	if fs == "" {
		fs = "auto"
	}
	w(", type %s", fs)
	if r.Flags != "" {
		w(", flags %s", r.Flags)
	}
	if r.ReadWrite {
		w(", rw")
	} else {
		w(", ro")
	}
	w("\n  init: %s", r.Init)
	if len(r.InitArgs) > 0 {
		w(" %s", scrubSecrets(strings.Join(r.InitArgs, " ")))
	}
	w("\n")

	bt := p.Boot
	w("boot: retry %s", bt.Retry)
	if bt.Timeout > 0 {
		w(", timeout %s", bt.Timeout)
	} else {
		w(", no timeout")
	}
	w(", shell on failure: %t, emergency: %s", bt.Shell, bt.Emergency)
	if bt.Debug {
		w(", debug")
	}
	if bt.Quiet {
		w(", quiet")
	}
	w("\n")
	for _, br := range bt.Breaks {
		if br == "" {
			br = "before switch_root"
		}
		w("  break: %s\n", br)
	}

	m := p.Modules
	if mods := p.NeededModules(); len(mods) > 0 {
		w("modules: %s\n", strings.Join(mods, " "))
	}
	if len(m.Post) > 0 {
		w("  load after the others: %s\n", strings.Join(m.Post, " "))
	}
	if len(m.Blacklist) > 0 {
		w("  blacklisted: %s\n", strings.Join(m.Blacklist, " "))
	}
	names := make([]string, 0, len(m.Params))
	for k := range m.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		w("  %s: %s\n", k, strings.Join(m.Params[k], " "))
	}
	for _, ig := range p.Ignored {
		w("%s\n", ig)
	}
	return b.String()
}

// joinAddrs joins addresses with ", ".
func joinAddrs[T fmt.Stringer](as []T) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// redactParam hides the value of iSCSI settings holding a password.
func redactParam(key, value string) string {
	if strings.Contains(strings.ToLower(key), "password") && value != "" {
		return "***"
	}
	return value
}
