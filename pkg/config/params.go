package config

import (
	"sort"
	"strings"
)

// Verdict is what netroot does with a parameter of dracut's (or its own).
type Verdict string

// The verdicts of the parameter table.
const (
	// Acted: parsed into the plan, and /init acts on it. Some of its
	// values may still be refused (Parameter.Doc says which).
	Acted Verdict = "acted on"
	// NoOp: it only turns off something netroot never does, so netroot
	// already behaves as asked.
	NoOp Verdict = "no-op"
	// OffOnly: accepted when it turns the feature off (0, no, off, none),
	// an error otherwise: netroot lacks the feature.
	OffOnly Verdict = "error unless off"
	// Warned: accepted with a warning saying what netroot does instead.
	Warned Verdict = "warning"
	// Refused: an error; /init could not boot as asked.
	Refused Verdict = "error"
)

// Parameter is one entry of the table of every parameter netroot knows:
// dracut.cmdline(7)'s base, network and iSCSI parameters, the other
// dracut modules' (whose features netroot lacks), and netroot's own.
// Module parameters (module.param=value) and the kernel's own parameters
// are not in it: they go to Plan.Modules.Params or are left to the
// kernel.
type Parameter struct {
	// Name is the parameter's name; a trailing ".*" stands for a family
	// (rd.luks.*: rd.luks.uuid, rd.luks.key …).
	Name string
	// Repeat is true for parameters that accumulate (dracut's getargs):
	// every occurrence counts. The others are single-valued: the last
	// occurrence wins.
	Repeat  bool
	Verdict Verdict
	// Doc says what netroot does with it, for the reference table and
	// the messages of check (for Warned, OffOnly and Refused).
	Doc string
}

// The messages shared by families of parameters.
const (
	whyS390     = "s390 device configuration is not supported"
	whyTimeout  = "netroot bounds every network wait by rd.retry= instead"
	whyCosmetic = "not supported; ignored"
)

// parameters is the table of every parameter netroot knows. Parse
// dispatches on it; docs/parameters.md lists the same names with the same
// verdicts (a test keeps them in step).
var parameters = []Parameter{
	// The root.
	{Name: "root", Verdict: Acted, Doc: "LABEL=, UUID=, PARTLABEL=, PARTUUID=, /dev/disk/by-{label,uuid,partlabel,partuuid}/… (udev's \\xNN escapes undone in labels, as in their by-label names: LABEL=My\\x20Root is \"My Root\"), an iSCSI disk's /dev/disk/by-path/ip-<portal>-iscsi-<target>-lun-<n>[-part<n>], /dev/<name>, or iscsi:… (the whole LUN). root=dhcp (or root=/dev/root netroot=dhcp) is the whole disk of the DHCP root-path's LUN; NFS, CIFS, NBD, live, virtiofs roots are refused, and so are LVM and device-mapper names (/dev/<vg>/<lv>, /dev/mapper/…: /dev/<dir>/<name> only where the kernel names disks so, cciss/c0d0 and the like)."},
	{Name: "rootfstype", Verdict: Acted, Doc: "ext2, ext3, ext4, xfs, btrfs or vfat (auto: detected); others are refused."},
	{Name: "rootflags", Verdict: Acted, Doc: "mount(8)'s options for the root, read as dracut's mount -o reads them: the flag words (noatime, nodiratime, relatime, strictatime, lazytime, nosuid, nodev, noexec, sync, dirsync, iversion, silent, mand and their opposites) become mount(2) flags (defaults adds none, as in mount(8)), those only userspace reads (_netdev, nofail, auto, user, x-*, comment=…) are dropped, the rest is the filesystem's data; its ro or rw decides when the command line has neither ro nor rw. bind, move, remount, loop and propagation are refused."},
	{Name: "ro", Verdict: Acted, Doc: "mount the root read-only (the default)."},
	{Name: "rw", Verdict: Acted, Doc: "mount the root read-write."},
	{Name: "init", Verdict: Acted, Doc: "the program started in the real root (default /sbin/init)."},
	{Name: "rootfallback", Verdict: Warned, Doc: "no fallback root: only root= is tried."},
	{Name: "resume", Verdict: Warned, Doc: "no resume from hibernation in the initramfs; ignored."},
	// Boot behaviour.
	{Name: "rd.retry", Verdict: Acted, Doc: "seconds to keep trying to reach the root (each wait: links, logins, disks), default 180; 0 is refused when the network comes up (every wait would fail at once)."},
	{Name: "rd.timeout", Verdict: Acted, Doc: "overall deadline in seconds for finding the root, default none."},
	{Name: "rd.shell", Verdict: Acted, Doc: "drop to a shell on failure (default on)."},
	{Name: "rd.emergency", Verdict: Acted, Doc: "reboot, poweroff or halt on failure instead of a shell, at once. dracut opens its shell first when rd.shell is on (its default) or rd.break is given, and acts only when the shell exits (its systemd initramfs never): dracut.cmdline(7) asks for rd.shell=0 beside it, and without that check warns."},
	{Name: "rd.break", Repeat: true, Verdict: Acted, Doc: "stop at pre-net, pre-mount, pre-pivot (bare: before switch_root); dracut's other points get a warning."},
	{Name: "rd.debug", Verdict: Acted, Doc: "debug output from /init."},
	{Name: "rd.info", Verdict: Acted, Doc: "netroot always prints its step lines."},
	{Name: "quiet", Verdict: Acted, Doc: "the kernel's; /init still prints its step lines."},
	{Name: "rd.auto", Verdict: Warned, Doc: whyCosmetic + " (netroot assembles nothing automatically)."},
	{Name: "rd.hostonly", Verdict: Warned, Doc: whyCosmetic + "."},
	{Name: "rd.cmdline", Verdict: Warned, Doc: "rd.cmdline=ask is not supported; ignored."},
	{Name: "rd.fstab", Verdict: Warned, Doc: "netroot does not mount /etc/fstab entries in the initramfs; ignored."},
	{Name: "rd.skipfsck", Verdict: NoOp, Doc: "netroot never runs fsck."},
	{Name: "rd.ctty", Verdict: Warned, Doc: "the emergency shell runs on /dev/console; ignored."},
	{Name: "rd.noverifyssl", Verdict: Warned, Doc: "no HTTPS roots; ignored."},
	{Name: "rd.memdebug", Verdict: Warned, Doc: whyCosmetic + "."},
	{Name: "rd.udev.*", Verdict: Warned, Doc: "there is no udev in netroot's initramfs; ignored."},
	{Name: "rd.shutdown.*", Verdict: Warned, Doc: "netroot's initramfs does not run at shutdown; ignored."},
	{Name: "rd.vconsole.*", Verdict: Warned, Doc: "the console keymap and font are not set; ignored."},
	{Name: "rd.locale.*", Verdict: Warned, Doc: "no locale in the initramfs; ignored."},
	{Name: "plymouth.enable", Verdict: Warned, Doc: "no splash screen; ignored."},
	{Name: "rd.plymouth", Verdict: Warned, Doc: "no splash screen; ignored."},
	{Name: "rd.fips", Verdict: OffOnly, Doc: "FIPS self-checks of the kernel are not supported."},
	{Name: "rd.fips.*", Verdict: OffOnly, Doc: "FIPS self-checks of the kernel are not supported."},
	{Name: "boot", Verdict: Warned, Doc: "the boot partition (for rd.fips) is not mounted; ignored."},
	{Name: "masterkey", Verdict: Warned, Doc: "no kernel master key is loaded; ignored."},
	{Name: "masterkeytype", Verdict: Warned, Doc: "no kernel master key is loaded; ignored."},
	{Name: "evmkey", Verdict: Warned, Doc: "no EVM key is loaded; ignored."},
	{Name: "evmx509", Verdict: Warned, Doc: "no EVM key is loaded; ignored."},
	{Name: "ecryptfskey", Verdict: Warned, Doc: "no eCryptfs key is loaded; ignored."},
	// Kernel modules.
	{Name: "rd.driver.pre", Repeat: true, Verdict: Acted, Doc: "modules loaded first."},
	{Name: "rd.driver.blacklist", Repeat: true, Verdict: Acted, Doc: "modules never loaded; blacklisting one the plan needs (one of rd.driver.pre= or rd.driver.post=, bonding for bond=, 8021q for vlan=, iscsi_ibft for the iBFT, the iSCSI stack, the module of rootfstype=) is refused (not 8021q for the iBFT: its NICs may have no VLAN); netroot check -modules DIR also refuses blacklisting a module one of them depends on."},
	{Name: "rd.driver.post", Repeat: true, Verdict: Acted, Doc: "modules loaded in a batch of their own after the plan's and the filesystem's, before the root is mounted, as dracut's insmodpost: no device loads them before, and one that fails to load is a warning, not a stop; netroot build carries them."},
	{Name: "rd.driver.export", Verdict: Warned, Doc: "module parameters are not exported to modprobe.d; ignored."},
	// Network.
	{Name: "ip", Repeat: true, Verdict: Acted, Doc: "static addresses (IPv4 and IPv6), DHCPv4 (dhcp, on, any, single-dhcp), DHCPv6 (dhcp6), SLAAC (auto6: an address and a route from router advertisements), either6 (whichever of DHCPv6 and SLAAC answers first), link6 (the link-local address only) and ibft (the network from the firmware's iBFT), on NICs, bonds and VLANs; a list (dhcp,dhcp6) runs each; <macaddr> is set on the interface before its address or DHCP (a unicast address; the interface must be named, or be the PXE NIC of a static ip=). bootp, rarp and both are refused. A static ip= without an interface takes bootdev=, else the one bond or VLAN the command line creates, else the PXE NIC BOOTIF= names; otherwise it is refused. A static gateway must be on the link: inside the address's prefix (with a peer, the peer's; an IPv6 link-local one always is), so a /32 address needs its gateway as the peer; 0.0.0.0 (or [::]) is no gateway, as the kernel's ip= reads it."},
	{Name: "ifname", Repeat: true, Verdict: Acted, Doc: "name the NIC with that MAC; wins over the predictable names."},
	{Name: "net.ifnames", Verdict: Acted, Doc: "unset: a NIC is renamed to its predictable (systemd-udev) name only when the command line names it that way (bond=bond0:ens2,ens3), every other NIC keeps the kernel's name for the real root's udev; 1: every NIC is renamed, as dracut's udev does; 0: the kernel's names stay (ifname= still applies), and a predictable name on the command line is an error."},
	{Name: "net.naming-scheme", Verdict: Acted, Doc: "the udev naming scheme of the predictable names (v238 … v257, latest; also spelt net.naming_scheme); unset, /init takes the newest scheme that gives every NIC the command line names that name."},
	{Name: "rd.route", Repeat: true, Verdict: Acted, Doc: "static routes."},
	{Name: "bootdev", Verdict: Acted, Doc: "the interface DHCP runs on and a static ip= without an interface goes to; when the ip= parameters name other interfaces only, it gets DHCP of its own besides them, as dracut's ifup gives it."},
	{Name: "BOOTIF", Verdict: Acted, Doc: "the PXE NIC: DHCP runs on it (or its bond), a static ip= naming no interface (and no bootdev=, bond or VLAN to take it) is its, as dracut's ifup applies it, and a bond takes its MAC."},
	{Name: "rd.bootif", Verdict: Acted, Doc: "rd.bootif=0 ignores BOOTIF=."},
	{Name: "nameserver", Repeat: true, Verdict: Acted, Doc: "DNS servers for /run/netroot/resolv.conf."},
	{Name: "rd.peerdns", Verdict: Acted, Doc: "rd.peerdns=0 ignores DHCP's DNS servers."},
	{Name: "rd.neednet", Verdict: Acted, Doc: "bring the network up without a network root."},
	{Name: "biosdevname", Verdict: Acted, Doc: "netroot never renames NICs by BIOS names (biosdevname=0 is its behaviour; 1 gets a warning); see net.ifnames for systemd's names."},
	{Name: "vlan", Repeat: true, Verdict: Acted, Doc: "VLAN <name>:<parent>, its ID from the name (vlan0005, vlan5, <parent>.0005, <parent>.5); a second VLAN of one ID on one parent is refused. A VLAN may sit on another, which /init creates first wherever vlan= lists it; VLANs on each other in a cycle are refused."},
	{Name: "bond", Repeat: true, Verdict: Acted, Doc: "bond <name>:<slaves>:<options>:<mtu>; options are checked against the kernel's (names, values, the modes each applies to, their combinations). The slaves are NICs: a bond or a VLAN of the command line as a slave is refused (put the VLAN on the bond)."},
	{Name: "team", Repeat: true, Verdict: Refused, Doc: "team devices are not supported; use bond=."},
	{Name: "bridge", Repeat: true, Verdict: Refused, Doc: "bridges are not supported."},
	{Name: "netmask", Verdict: Acted, Doc: "with an anaconda-style ip=<IPv4 address> only; otherwise a warning."},
	{Name: "gateway", Verdict: Acted, Doc: "with an anaconda-style ip=<IPv4 address> only; otherwise a warning."},
	{Name: "hostname", Verdict: Acted, Doc: "with an anaconda-style ip=<IPv4 address> only; otherwise a warning."},
	{Name: "ksdevice", Verdict: Acted, Doc: "with an anaconda-style ip=<IPv4 address> only; otherwise a warning."},
	{Name: "mtu", Verdict: Acted, Doc: "with an anaconda-style ip=<IPv4 address> only; otherwise a warning."},
	{Name: "rd.net.*", Verdict: Warned, Doc: whyTimeout + "; ignored."},
	// Network roots.
	{Name: "netroot", Repeat: true, Verdict: Acted, Doc: "iscsi:… targets (IPv6 servers in brackets), dhcp (the DHCP root-path, option 17: an ip= must run DHCPv4, or no ip= is given, which implies it, or ip=ibft), dhcp6 (the DHCPv6 boot file URL, option 59) and a bare iscsi (the targets of the firmware's iBFT, as rd.iscsi.firmware=1). An empty <LUN> logs in to the whole target, as dracut does: every LUN is scanned and root= may be on any (a LUN given is scanned first and alone, the root searched on it, and the target's other LUNs by the keeper beside switch_root (by /init before it with rd.netroot.keeper=0), as open-iscsi's login scans them all: the real OS sees every LUN; rd.iscsi.param=node.session.scan=manual keeps to the one; root=iscsi:… and root=dhcp take LUN 0). Several netroot= for one target and LUN are its paths (portals): /init logs in on all at once and keeps the first that answers. An empty <targetname> asks the portal (SendTargets discovery) and logs in to every target it offers, through every portal it lists, 16 login attempts at a time; an answer listing more than 256 targets, more than 32 portals for one target or more than 256 portals in all is refused (an error naming the count; name the target instead). A <netdev_name> binds the target's connections to that interface (SO_BINDTODEVICE, as open-iscsi's iface.net_ifacename, which dracut sets from it): the discovery, the login, the kernel's session and the keeper's reconnects leave by it whatever the routes say; <iscsi_iface_name> gets a warning; <protocol> must be empty or 6. Other network roots are refused."},
	{Name: "iscsiroot", Verdict: Acted, Doc: "dracut's deprecated spelling of netroot=iscsi:<value> (its value lacks the iscsi: prefix), read so with a warning where dracut's parse-iscsiroot.sh takes it: beside root=iscsi (the whole LUN is the root, as root=iscsi:<value>) or a bare netroot=iscsi; with root=<anything else> and no netroot=iscsi, another netroot=, or rd.iscsi.firmware it is refused, as dracut dies there."},
	{Name: "nfsroot", Verdict: Refused, Doc: "NFS roots are not supported."},
	{Name: "rd.nfs.*", Verdict: Warned, Doc: "NFS roots are not supported; ignored."},
	{Name: "cifsuser", Verdict: Warned, Doc: "CIFS roots are not supported; ignored."},
	{Name: "cifspass", Verdict: Warned, Doc: "CIFS roots are not supported; ignored."},
	{Name: "fcoe", Repeat: true, Verdict: Refused, Doc: "FCoE is not supported."},
	{Name: "rd.fcoe", Verdict: OffOnly, Doc: "FCoE is not supported."},
	{Name: "rd.nvmf.*", Verdict: OffOnly, Doc: "NVMe over Fabrics is not supported (rd.nvmf.nonbft and rd.nvmf.nostatic turn it off)."},
	{Name: "rd.nonvmf", Verdict: NoOp, Doc: "netroot never sets up NVMe over Fabrics."},
	// iSCSI.
	{Name: "rd.iscsi.initiator", Verdict: Acted, Doc: "the initiator IQN; unset, as in dracut: the iBFT's (with the iBFT), else the initramfs's /etc/iscsi/initiatorname.iscsi (netroot build bakes it), else one derived from the boot MAC."},
	{Name: "rd.iscsi.target.name", Verdict: Acted, Doc: "a target given by parts (with rd.iscsi.target.ip)."},
	{Name: "rd.iscsi.target.ip", Verdict: Acted, Doc: "its portal: one IP address (IPv6 with or without brackets) or host name, as netroot='s <servername>; the port goes in rd.iscsi.target.port=, a list is refused."},
	{Name: "rd.iscsi.target.port", Verdict: Acted, Doc: "its portal port (default 3260)."},
	{Name: "rd.iscsi.target.group", Verdict: Warned, Doc: "no effect, as in dracut: the target reports its portal group at login."},
	{Name: "rd.iscsi.username", Verdict: Acted, Doc: "CHAP user for targets without credentials of their own."},
	{Name: "rd.iscsi.password", Verdict: Acted, Doc: "its secret (or @/path inside the initramfs)."},
	{Name: "rd.iscsi.in.username", Verdict: Acted, Doc: "mutual CHAP: the target's user."},
	{Name: "rd.iscsi.in.password", Verdict: Acted, Doc: "mutual CHAP: the target's secret (or @/path)."},
	{Name: "rd.iscsi.login_retry_max", Verdict: Acted, Doc: "login attempts per target (default: until rd.retry)."},
	{Name: "rd.iscsi.param", Repeat: true, Verdict: Acted, Doc: "open-iscsi settings (node.*) and RFC 7143 keys: each is applied (login keys, kernel timeouts, queue sizes, CHAP algorithms) or refused naming why; see the rd.iscsi.param table."},
	{Name: "rd.iscsi.waitnet", Verdict: Acted, Doc: "with several ip= interfaces: =1 waits for every one before the logins; =0 logs in once one is up, configuring the others' leases when they come; without it, the others get a grace (10 s for a lease, 3 s for carrier)."},
	{Name: "rd.iscsi.testroute", Verdict: Acted, Doc: "netroot logs in to every target and fails if one is unreachable (dracut skips targets without a route): a warning with several targets."},
	{Name: "rd.iscsi.firmware", Verdict: Acted, Doc: "log in to the targets of the firmware's iBFT (iscsi_ibft; every valid target, with its CHAP and LUN), with its initiator name; without ip=, the network comes from the table too (see rd.iscsi.ibft). A malformed or missing table stops the boot naming what is wrong."},
	{Name: "rd.iscsi.ibft", Verdict: Acted, Doc: "the network from the firmware's iBFT (as ip=ibft): each NIC it names (by MAC) that booted or leads to one of its targets gets its static address or DHCP, and its VLAN; a NIC that is a bond= slave configures the bond. Without netroot= targets, the table's targets are logged in to as with rd.iscsi.firmware."},
	{Name: "rd.iscsi.mp", Verdict: OffOnly, Doc: "multipath logins are not supported."},
	{Name: "rd.iscsi.transport", Verdict: Acted, Doc: "only tcp (iscsi_tcp); offload transports are refused."},
	// Other dracut modules' storage.
	{Name: "rd.lvm", Verdict: OffOnly, Doc: "LVM is not assembled."},
	{Name: "rd.lvm.*", Verdict: OffOnly, Doc: "LVM is not assembled."},
	{Name: "rd.luks", Verdict: OffOnly, Doc: "LUKS is not opened."},
	{Name: "rd.luks.*", Verdict: OffOnly, Doc: "LUKS is not opened."},
	{Name: "rd.md", Verdict: OffOnly, Doc: "MD RAID is not assembled."},
	{Name: "rd.md.*", Verdict: OffOnly, Doc: "MD RAID is not assembled."},
	{Name: "rd.dm", Verdict: OffOnly, Doc: "DM RAID is not assembled."},
	{Name: "rd.dm.*", Verdict: OffOnly, Doc: "DM RAID is not assembled."},
	{Name: "rd.multipath", Verdict: Acted, Doc: "rd.multipath=default (dracut's default multipath.conf) or another true value: a multipath root, as rd.netroot.multipath=1; 0 or off: none (the default)."},
	{Name: "rd.overlay", Verdict: OffOnly, Doc: "overlay roots are not supported."},
	{Name: "rd.overlay.*", Verdict: OffOnly, Doc: "overlay roots are not supported."},
	{Name: "rd.live.*", Verdict: Warned, Doc: "live roots are not supported (root=live: is refused); ignored."},
	{Name: "rd.writable.fsimg", Verdict: Warned, Doc: "live roots are not supported; ignored."},
	{Name: "rd.minmem", Verdict: Warned, Doc: "live roots are not supported; ignored."},
	{Name: "rd.dasd", Repeat: true, Verdict: Refused, Doc: whyS390 + "."},
	{Name: "rd.zfcp", Repeat: true, Verdict: Refused, Doc: whyS390 + "."},
	{Name: "rd.zfcp.*", Verdict: OffOnly, Doc: whyS390 + "."},
	{Name: "rd.znet", Repeat: true, Verdict: Refused, Doc: whyS390 + "."},
	{Name: "rd.znet_ifname", Repeat: true, Verdict: Refused, Doc: whyS390 + "."},
	{Name: "rd.cio_accept", Verdict: Refused, Doc: whyS390 + "."},
	{Name: "rd.zipl", Verdict: Refused, Doc: whyS390 + "."},
	// netroot's own.
	{Name: "rd.netroot.keeper", Verdict: Acted, Doc: "keep a session keeper after switch_root (default on)."},
	{Name: "rd.netroot.async_probe", Verdict: Acted, Doc: "load drivers with async_probe (default off)."},
	{Name: "rd.netroot.multipath", Verdict: Acted, Doc: "keep a session on every path of the root's target and mount the root on a device-mapper multipath map over them (default off; wins over rd.multipath); the session keeper puts a recovered path back into the map, and logs in to a path that failed at boot once it answers and adds it to the map."},
	{Name: "rd.netroot.osconfig", Verdict: Acted, Doc: "before switch_root, write the runtime files the real OS's network stacks read for the root's interfaces (udev .link and networkd .network files, NetworkManager conf.d, ifupdown state, initramfs-tools /run/net-<if>.conf) and install the shutdown role in /run/initramfs (default on); rd.netroot.osconfig=0 writes none of them (see real-os.md)."},
}

// offSwitches are parameters of an OffOnly family that turn it off
// whatever their value.
var offSwitches = map[string]bool{"rd.nvmf.nonbft": true, "rd.nvmf.nostatic": true}

// Parameters returns the table of every parameter netroot knows, sorted
// by name.
func Parameters() []Parameter {
	out := append([]Parameter(nil), parameters...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// lookupParam returns the table entry for a parameter name: an exact
// entry, else the longest family (name.*) it belongs to.
func lookupParam(key string) (Parameter, bool) {
	var best Parameter
	found := false
	for _, p := range parameters {
		if p.Name == key {
			return p, true
		}
		if fam, ok := strings.CutSuffix(p.Name, "*"); ok && strings.HasPrefix(key, fam) && len(fam) > len(best.Name) {
			best, found = p, true
		}
	}
	return best, found
}

// isOff reports whether a parameter's value turns its feature off.
func isOff(a arg) bool {
	if offSwitches[a.Key] {
		return true
	}
	if !a.HasValue {
		return false
	}
	switch strings.ToLower(a.Value) {
	case "0", "no", "off", "none", "false":
		return true
	}
	return false
}

// knownNames returns every parameter name of the table and its families'
// known members, for did-you-mean hints.
func knownNames() []string {
	out := make([]string, 0, len(parameters))
	for _, p := range parameters {
		out = append(out, strings.TrimSuffix(p.Name, ".*"))
	}
	return out
}

// closest returns the name among candidates nearest to s, if it is within
// two edits (a typo), else "".
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD && c != s {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
