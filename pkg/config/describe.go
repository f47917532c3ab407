package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/netname"
)

// NeededModules returns the kernel modules the plan needs besides the NIC
// drivers, in load order, each once: rd.driver.pre modules first, then
// "bonding" for a bond, "8021q" for a VLAN (or the iBFT's network, which
// may have one), "iscsi_ibft" for the iBFT, the iSCSI stack ("iscsi_tcp",
// "sd_mod" and "crc32c": iscsi_tcp allocates a crc32c hash for every
// connection, digests or not, and fails with ENOMEM without one), the
// module of rootfstype= (blockdev.FSModule: ext2/ext3 → ext4 …), and
// rd.driver.post modules last. With no rootfstype= it names no filesystem
// module: the caller detects the type from the superblock. Blacklisted
// modules are left out (Parse refuses a plan that blacklists one of them).
func (p *Plan) NeededModules() []string {
	var out []string
	for _, m := range p.neededModules() {
		if !slices.Contains(p.Modules.Blacklist, m.name) {
			out = append(out, m.name)
		}
	}
	return out
}

// PostModules are the modules only rd.driver.post= asks for (none of the
// plan's steps needs them), not blacklisted: dracut loads them once udev
// settled, after the automatic loading, and a failure to load one does
// not stop its boot.
func (p *Plan) PostModules() []string {
	var out []string
	for _, m := range p.neededModules() {
		if m.by == "rd.driver.post=" && !slices.Contains(p.Modules.Blacklist, m.name) {
			out = append(out, m.name)
		}
	}
	return out
}

// RunsNetwork reports whether /init's network step runs: the plan
// configures addresses or bonds, logs in to targets, or needs the
// network otherwise (netroot=dhcp, the iBFT, rd.neednet).
func (p *Plan) RunsNetwork() bool {
	n := p.Net
	return len(n.IP) > 0 || len(n.Bonds) > 0 || len(p.ISCSI.Targets) > 0 || n.NeedNet
}

// neededModule is a module the plan needs and what needs it, for errors;
// maybe: only if the machine turns out to need it (the iBFT's VLANs).
type neededModule struct {
	name, by string
	maybe    bool
}

// neededModules is NeededModules with the blacklisted modules kept, each
// with the parameter that needs it.
func (p *Plan) neededModules() []neededModule {
	var out []neededModule
	add := func(m, by string) {
		if !slices.ContainsFunc(out, func(n neededModule) bool { return n.name == m }) {
			out = append(out, neededModule{name: m, by: by})
		}
	}
	for _, m := range p.Modules.Pre {
		add(m, "rd.driver.pre=")
	}
	if len(p.Net.Bonds) > 0 {
		add("bonding", "bond=")
	}
	switch {
	case len(p.Net.VLANs) > 0:
		add("8021q", "vlan=")
	case p.Net.IBFT:
		add("8021q", "the iBFT's network (ip=ibft, rd.iscsi.ibft, rd.iscsi.firmware), whose NICs may be on a VLAN")
		out[len(out)-1].maybe = true
	}
	if p.ISCSI.Firmware || p.Net.IBFT {
		add("iscsi_ibft", "the iBFT (rd.iscsi.firmware, rd.iscsi.ibft, ip=ibft), which it reads")
	}
	if is := p.ISCSI; len(is.Targets) > 0 || is.FromDHCP || is.FromDHCP6 || is.Firmware {
		for _, m := range []string{"iscsi_tcp", "sd_mod", "crc32c"} {
			add(m, "the iSCSI root (its sessions and disks)")
		}
		if p.ISCSI.Multipath {
			for _, m := range MultipathModules {
				add(m, "rd.netroot.multipath (the multipath map)")
			}
		}
	}
	if m := blockdev.FSModule(p.Root.FSType); m != "" {
		add(m, "rootfstype="+p.Root.FSType)
	}
	for _, m := range p.Modules.Post {
		add(m, "rd.driver.post=")
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
	switch n.Names.Ifnames {
	case IfnamesOff:
		w("  interface names: the kernel's (net.ifnames=0)\n")
	case IfnamesOn:
		w("  interface names: every NIC renamed to its predictable name (net.ifnames=1), scheme %s\n", orDefaultScheme(n.Names.Scheme))
	default:
		if ns := predictableNames(n); len(ns) > 0 {
			w("  interface names: %s renamed to their predictable names, scheme %s; other NICs keep the kernel's\n",
				strings.Join(ns, ", "), orDefaultScheme(n.Names.Scheme))
		}
	}
	if n.IBFT {
		w("  addresses and VLANs of the NICs the firmware's iBFT names (by MAC; a bond slave configures its bond)\n")
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
		switch {
		case c.Implicit && c.Interface != "":
			w(" (implied: bootdev= names it and no ip= does; dracut runs DHCP on it too)")
		case c.Implicit:
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
	if len(is.Targets) > 0 || is.FromDHCP || is.FromDHCP6 || is.Firmware || is.Initiator != "" {
		w("iscsi:\n")
		switch {
		case is.Initiator != "":
			w("  initiator: %s\n", is.Initiator)
		case is.Firmware:
			w("  initiator: the iBFT's, else /etc/iscsi/initiatorname.iscsi in the initramfs, else derived from the boot MAC (%s<mac>)\n", DefaultInitiatorPrefix)
		default:
			w("  initiator: /etc/iscsi/initiatorname.iscsi in the initramfs, else derived from the boot MAC (%s<mac>)\n", DefaultInitiatorPrefix)
		}
		if is.FromDHCP {
			w("  target: from the DHCP root-path (option 17)\n")
		}
		if is.FromDHCP6 {
			w("  target: from the DHCPv6 boot file URL (option 59)\n")
		}
		if is.Firmware {
			w("  targets from the firmware's iBFT (iscsi_ibft): every valid target, with its CHAP credentials and LUN\n")
		}
		for _, tp := range p.Paths() {
			describePaths(w, p, tp, is.Multipath)
		}
		if is.Multipath {
			w("  multipath: every path of a target is kept; the root is mounted on a device-mapper multipath map over them (named by its WWID, as multipathd names it)\n")
		}
		describeSession(w, is.Session)
		retries := "until rd.retry"
		if is.LoginRetryMax > 0 {
			retries = fmt.Sprintf("at most %d attempts", is.LoginRetryMax)
		}
		w("  login retries: %s\n", retries)
		switch is.WaitNet {
		case WaitNetOff:
			w("  logins: once one ip= interface is up; the others' leases are configured when they come, their carrier not waited for (rd.iscsi.waitnet=0)\n")
		case WaitNetAll:
			w("  logins: once every ip= interface is up (rd.iscsi.waitnet=1)\n")
		}
	}

	r := p.Root
	switch {
	case r.Kind == RootISCSI && r.Value == "":
		w("root: the whole disk of the DHCP root-path's LUN")
	case r.Kind == RootISCSI:
		w("root: %s (the whole disk of the first iSCSI LUN)", r.Spec())
	default:
		w("root: %s", r.Spec())
	}
	fs := r.FSType
	if fs == "" {
		fs = "auto"
	}
	w(", type %s", fs)
	if r.Flags != "" {
		w(", flags %s", r.Flags)
		if o, err := blockdev.ParseMountOptions(r.Flags); err == nil {
			var parts []string
			if o.Flags != 0 {
				parts = append(parts, "mount flags "+o.Flags.String())
			}
			if o.Data != "" {
				parts = append(parts, "filesystem data "+o.Data)
			}
			if len(o.Dropped) > 0 {
				parts = append(parts, "not the kernel's: "+strings.Join(o.Dropped, ","))
			}
			if len(parts) > 0 {
				w(" (%s)", strings.Join(parts, "; "))
			}
		}
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
		w("  loaded last (rd.driver.post): %s\n", strings.Join(m.Post, " "))
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
	return b.String()
}

// describePaths describes one LUN and its paths: how /init logs in to
// them.
func describePaths(w func(string, ...any), p *Plan, tp TargetPaths, multipath bool) {
	if tp.Name == "" {
		t := tp.Paths[0]
		w("  targets: asked of portal %s (SendTargets discovery), lun %d: every target it offers, through every portal it lists\n", t.Portal(), tp.LUN)
		describeAuth(w, t)
		return
	}
	w("  target %s\n", tp.Name)
	for _, t := range tp.Paths {
		if p.ScansAllLUNs(t) {
			w("    portal %s, every LUN (the <LUN> field is empty: the whole target, as dracut)", t.Portal())
		} else {
			w("    portal %s, lun %d", t.Portal(), t.LUN)
		}
		if t.Group != 1 {
			w(", portal group %d", t.Group)
		}
		if t.IfaceName != "" {
			w(", iface %s", t.IfaceName)
		}
		if t.NetDev != "" {
			w(", netdev %s", t.NetDev)
		}
		w("\n")
		describeAuth(w, t)
	}
	if n := len(tp.Paths); n > 1 {
		if multipath {
			w("    %d paths: logged in on all at once, each kept as a path of the multipath map\n", n)
		} else {
			w("    %d paths: logged in on all at once; the first to answer is kept, the others are given up; the session keeper recovers through any of them\n", n)
		}
	}
}

// describeAuth describes a path's credentials (secrets as ***).
func describeAuth(w func(string, ...any), t Target) {
	w("    auth %s", t.Auth.Method())
	if t.Auth.Username != "" {
		w(" user %s password %s", t.Auth.Username, t.Auth.Password)
	}
	if t.Auth.InUsername != "" {
		w(", target user %s password %s", t.Auth.InUsername, t.Auth.InPassword)
	}
	w("\n")
}

// joinAddrs joins addresses with ", ".
func joinAddrs[T fmt.Stringer](as []T) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// describeSession describes what rd.iscsi.param= asks of the sessions.
func describeSession(w func(string, ...any), s Session) {
	if len(s.LoginKeys) > 0 {
		kv := make([]string, len(s.LoginKeys))
		for i, k := range s.LoginKeys {
			kv[i] = k.Key + "=" + k.Value
		}
		w("  login keys offered: %s\n", strings.Join(kv, " "))
	}
	if s.CHAPAlgorithms != nil {
		names := make([]string, len(s.CHAPAlgorithms))
		for i, a := range s.CHAPAlgorithms {
			names[i] = a.String()
		}
		w("  CHAP algorithms offered: %s\n", strings.Join(names, ", "))
	}
	var k []string
	num := func(name string, v *int, unit string) {
		if v != nil {
			k = append(k, fmt.Sprintf("%s %d%s", name, *v, unit))
		}
	}
	if s.ReplacementTimeout != nil && *s.ReplacementTimeout < 0 {
		k = append(k, "replacement timeout: never (I/O waits for the session)")
	} else {
		num("replacement timeout", s.ReplacementTimeout, "s")
	}
	num("NOP-Out interval", s.NoopOutInterval, "s")
	num("NOP-Out timeout", s.NoopOutTimeout, "s")
	num("cmds_max", s.CmdsMax, "")
	num("queue depth", s.QueueDepth, "")
	num("login timeout", s.LoginTimeout, "s")
	if len(k) > 0 {
		w("  session: %s\n", strings.Join(k, ", "))
	}
}

// orDefaultScheme names the naming scheme /init uses.
func orDefaultScheme(s string) string {
	if s == "" {
		return "the newest that gives the names the command line uses"
	}
	return s
}

// predictableNames are the NICs the command line names the systemd way
// (ens2, enp0s31f6) and ifname= does not name.
func predictableNames(n Net) []string {
	var out []string
	for _, name := range n.nicNames() {
		if netname.LooksPredictable(name) && !slices.ContainsFunc(n.Renames, func(r Rename) bool { return r.Name == name }) {
			out = append(out, name)
		}
	}
	return out
}
