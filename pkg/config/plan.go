// Package config turns a kernel command line written in dracut's syntax
// (dracut.cmdline(7)), together with the lines baked into the initramfs
// under /etc/cmdline.d/*.conf, into one typed boot plan.
//
// The package is pure: it performs no I/O besides what the caller hands it,
// so every rule of the grammar is unit- and fuzz-testable on any host.
//
// # Secrets
//
// CHAP secrets (rd.iscsi.password=, rd.iscsi.in.password= and the password
// fields of netroot=iscsi:…) may name a file inside the initramfs instead
// of holding the secret: a leading '@' followed by an absolute path, e.g.
// rd.iscsi.password=@/etc/netroot/chap, keeps the secret out of
// /proc/cmdline and the boot loader's configuration; /init reads it with
// Secret.Reveal (trailing newlines are dropped). In netroot= write
// iscsi:user:@/etc/netroot/chap@server…; the path ends at the next '@'
// (iscsi:user:@/a:tuser:@/b@server… for both of mutual CHAP). A literal
// secret starting with '@' is written "@@…" (not in netroot=, where no
// password may hold an '@': the credentials end at the first one).
// Secrets never appear in errors, Describe or String output.
//
// # Where netroot differs from dracut
//
// The grammar and defaults follow dracut's shell code where it and
// dracut.cmdline(7) disagree, except where the code would boot nothing:
//   - Without rd.iscsi.waitnet, several ip= interfaces get a grace once
//     one is up (see WaitNet); dracut's code logs in as each comes up
//     (iscsiroot.sh: getargbool 0), although the man page implies it
//     waits.
//   - ip=<if>:link6 is accepted (man page) although ip_to_var rejects it;
//     ip=…:<method>::<dns2> reads dns2 where ip_to_var would take a MAC.
//   - Invalid numbers (rd.retry=x, rd.iscsi.login_retry_max=x) are errors
//     where dracut silently falls back to its default.
//   - SendTargets discovery (an empty <servername>) and the other dracut
//     modules' roots and storage stacks are not supported: they are errors
//     (or, where netroot can boot without them, warnings in
//     Plan.Warnings).
//   - iBFT: rd.iscsi.firmware=1 (or a bare netroot=iscsi) also takes the
//     network from the table when no ip= is given, and ip=ibft or
//     rd.iscsi.ibft=1 also takes the targets from it when the command line
//     names none (dracut needs both parameters); a NIC of the table that
//     is a bond= slave configures the bond, and its VLAN sits on the bond
//     (or the NIC), where dracut puts the address below the VLAN.
//   - root= is required as in dracut's init ("No or empty root="); with
//     root=iscsi:… (or root=dhcp, or root=/dev/root netroot=dhcp) the root
//     is the whole disk of the iSCSI LUN (RootISCSI).
//   - With no initiator name (rd.iscsi.initiator=), /init takes the
//     iBFT's, then the initramfs's /etc/iscsi/initiatorname.iscsi, as
//     dracut does; where dracut then runs the random iscsi-iname, /init
//     uses the deterministic DefaultInitiator(boot MAC). ISCSI.Initiator
//     stays empty.
//   - A static ip= without an interface goes to bootdev=, else to the one
//     bond or VLAN the command line creates, else to the PXE NIC BOOTIF=
//     names (dracut's ifup gives it to every interface it brings up);
//     otherwise it is an error.
//   - A gateway of 0.0.0.0 (::) in ip= or gateway= is no gateway, as the
//     kernel's own ip= reads it (pxelinux's IPAPPEND 1 writes it without a
//     router); dracut's network-legacy hands it to "ip route replace
//     default via" as given.
//   - rd.emergency= is taken at once, without a shell, also with rd.shell
//     on (its default); dracut opens the shell first and acts when it
//     exits (never, in its systemd initramfs), and dracut.cmdline(7)
//     asks for rd.shell=0 beside it. Parse warns unless rd.shell=0.
//   - Bond options the kernel would refuse over netlink (an option outside
//     its modes, miimon with arp_interval …) are errors; dracut writes
//     them to sysfs and goes on when the kernel refuses.
//
// # What netroot check promises
//
// Parse accepts only what /init boots: every parameter is in the table
// Parameters returns, with its verdict; a parameter /init could not
// honour is an error naming it, one it ignores for a reason that does not
// stop the boot is a warning (Plan.Warnings). Whatever Parse accepts,
// /init's conversions accept too (the bond attributes of pkg/bond, the
// login keys of pkg/iscsi, blockdev.ParseSelector of RootSpec, the module
// of the root filesystem): FuzzPlanConversions holds Parse to that.
package config

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/netroot/netroot/pkg/blockdev"
)

// Plan is everything /init needs to bring the machine to its network root.
// The zero value is not useful; build one with Parse.
type Plan struct {
	// Net is the network part: interfaces, bonds, VLANs, addresses, routes.
	Net Net
	// ISCSI holds the initiator settings and every target to log in to.
	ISCSI ISCSI
	// Root selects, mounts and starts the real root.
	Root Root
	// Boot holds the behaviour of /init itself: timeouts, shell, debugging.
	Boot Boot
	// Modules holds what the cmdline says about kernel modules.
	Modules Modules
	// Warnings are the parameters accepted with a note: netroot ignores
	// them or does something else than dracut would, in a way that does
	// not stop the boot. Each parameter appears once, in order.
	Warnings []Warning
	// Ignored holds Warnings as text.
	//
	// Deprecated: use Warnings.
	Ignored []string
}

// Warning is a parameter Parse accepted with a note.
type Warning struct {
	// Param is the parameter as it is shown: its name, or name=value
	// when the value matters (rd.break=cmdline); never a secret.
	Param string
	// Note says what netroot does with it.
	Note string
}

// String is "param: note".
func (w Warning) String() string { return w.Param + ": " + w.Note }

// Net is the network configuration of the plan.
type Net struct {
	// IP holds one entry per ip= parameter, in order.
	IP []IPConfig
	// Bonds holds one entry per bond= parameter.
	Bonds []Bond
	// VLANs holds one entry per vlan= parameter.
	VLANs []VLAN
	// Renames holds ifname=<name>:<MAC> parameters.
	Renames []Rename
	// BootIF is the MAC address of the NIC the firmware booted from
	// (BOOTIF=01-aa-bb-…), nil when absent or disabled with rd.bootif=0.
	BootIF net.HardwareAddr
	// BootDev is bootdev=: the interface the root is reached through.
	BootDev string
	// Routes holds rd.route= static routes.
	Routes []Route
	// Nameservers holds nameserver= entries, in order.
	Nameservers []netip.Addr
	// PeerDNS is false when rd.peerdns=0 asks to ignore DHCP's DNS servers.
	PeerDNS bool
	// NeedNet is true when the network must be brought up even without a
	// network root (rd.neednet=1) or because a network root needs it.
	NeedNet bool
	// Names is how /init names the NICs (net.ifnames=,
	// net.naming-scheme=).
	Names Naming
	// IBFT is true when the network comes from the firmware's iBFT: its
	// NICs, found by MAC, get the addresses (static, DHCP) and VLANs it
	// gives, or configure the bond= they are slaves of. Set by ip=ibft
	// and rd.iscsi.ibft=1, and by rd.iscsi.firmware=1 (or a bare
	// netroot=iscsi) when no ip= configures the network.
	IBFT bool
}

// Ifnames is net.ifnames=.
type Ifnames int

// The values of net.ifnames=.
const (
	// IfnamesAuto (net.ifnames= not given): /init renames a NIC to its
	// predictable name only when the command line names it so
	// (bond=bond0:ens2,ens3); every other NIC keeps the kernel's name
	// for the real root's udev to name.
	IfnamesAuto Ifnames = iota
	// IfnamesOn (net.ifnames=1): every NIC is renamed to its predictable
	// name, as dracut's udev does.
	IfnamesOn
	// IfnamesOff (net.ifnames=0): the kernel's names stay (ifname= still
	// names a NIC by its MAC).
	IfnamesOff
)

// String is "auto", "1" or "0".
func (i Ifnames) String() string {
	switch i {
	case IfnamesOn:
		return "1"
	case IfnamesOff:
		return "0"
	}
	return "auto"
}

// Naming is how /init names the NICs: systemd-udev's predictable names
// (pkg/netname), which the real root's udev then keeps.
type Naming struct {
	// Ifnames is net.ifnames=.
	Ifnames Ifnames
	// Scheme is net.naming-scheme= (or net.naming_scheme=) as given:
	// "v252", …, "latest"; "" when not given (/init then picks the newest
	// scheme that gives every NIC the command line names its name).
	Scheme string
}

// IPMethod is how an interface gets its address.
type IPMethod string

// The address methods of ip=, as dracut spells them.
const (
	IPStatic     IPMethod = "none" // also "off" and "static" with an address
	IPDHCP       IPMethod = "dhcp" // also "on" and "any"
	IPDHCP6      IPMethod = "dhcp6"
	IPAuto6      IPMethod = "auto6"
	IPEither6    IPMethod = "either6"
	IPLink6      IPMethod = "link6"
	IPSingleDHCP IPMethod = "single-dhcp"
	// IPIBFT is never stored in Net.IP: ip=ibft sets Net.IBFT.
	IPIBFT IPMethod = "ibft"
)

// IPConfig is one ip= parameter.
type IPConfig struct {
	// Interface is the interface name; empty means "every interface"
	// (or the BOOTIF one) as dracut does for ip=dhcp.
	Interface string
	// Method is how the address is obtained.
	Method IPMethod
	// MoreMethods holds the further methods of a comma-separated list
	// (ip=dhcp,dhcp6), tried after Method as dracut's ifup does.
	MoreMethods []IPMethod
	// Implicit is true for the ip=dhcp Parse adds when the network is
	// needed and no ip= is given (dracut defaults to DHCP then), and for
	// the ip=<bootdev>:dhcp it adds when bootdev= names an interface no
	// ip= does (dracut's ifup runs DHCP on it then).
	Implicit bool
	// Address is the static address with its prefix length (Method none).
	Address netip.Prefix
	// Peer is the optional point-to-point peer.
	Peer netip.Addr
	// PeerPrefix is the peer with its prefix length when given as
	// <peer>/<len>, invalid otherwise.
	PeerPrefix netip.Prefix
	// Gateway is the default gateway, invalid when none is given.
	Gateway netip.Addr
	// Hostname is the client hostname field.
	Hostname string
	// MTU is 0 when not given.
	MTU int
	// MAC overrides the interface's MAC address when not nil.
	MAC net.HardwareAddr
	// DNS holds the optional dns1/dns2 tail.
	DNS []netip.Addr
}

// Bond is one bond= parameter.
type Bond struct {
	// Name of the bond interface, e.g. bond0.
	Name string
	// Slaves in the order given.
	Slaves []string
	// Options are the bonding driver's options as given, validated against
	// the kernel's names and values, in the order given (mode first if set).
	Options []BondOption
	// MTU is 0 when not given.
	MTU int
}

// BondOption is one bonding driver option, e.g. miimon=100. ARP targets
// keep their ';'-separated list in Value.
type BondOption struct {
	Name  string
	Value string
}

// Option returns the value of the named bond option and whether it is set.
func (b Bond) Option(name string) (string, bool) {
	for _, o := range b.Options {
		if o.Name == name {
			return o.Value, true
		}
	}
	return "", false
}

// VLAN is one vlan=<name>:<phys> parameter.
type VLAN struct {
	Name   string
	Parent string
	// ID is taken from the name (vlan0005, eth0.5, bond0.100, vlan5).
	ID int
}

// Rename is one ifname=<name>:<MAC> parameter.
type Rename struct {
	Name string
	MAC  net.HardwareAddr
}

// Route is one rd.route=<net>/<prefix>:<gateway>[:<interface>] parameter.
type Route struct {
	Destination netip.Prefix
	Gateway     netip.Addr
	Interface   string
}

// ISCSI is the initiator's configuration and its targets.
type ISCSI struct {
	// Initiator is the initiator IQN (rd.iscsi.initiator=).
	Initiator string
	// Targets holds every netroot=iscsi:… (and root=iscsi:…) target, in order.
	Targets []Target
	// Global is rd.iscsi.username=, rd.iscsi.password= and their in.
	// counterparts (dracut's iscsi_username= & co.), already given to
	// each target of Targets whose root path has no credentials of its
	// own; kept for netroot build, which must find every secret file the
	// command line names (SecretFiles), whatever the targets.
	Global Auth
	// Session is what rd.iscsi.param= asks of every session, validated:
	// the login keys, CHAP algorithms and kernel settings /init applies.
	Session Session
	// Params holds the accepted rd.iscsi.param= entries, normalised:
	// login keys by their bare RFC 7143 names with decimal numbers, the
	// kernel settings by their open-iscsi names.
	//
	// Deprecated: use Session, which also carries the settings this list
	// cannot express to a parser of it (cmds_max, queue_depth,
	// chap_algs, login_timeout).
	Params []KV
	// LoginRetryMax is rd.iscsi.login_retry_max (or
	// rd.iscsi.param=node.session.initial_login_retry_max, which wins as
	// in dracut), 0 when unset: logins are then retried until rd.retry
	// runs out. dracut passes its default of 3
	// (iscsiroot.sh: getargnum 3 0 10000) to each iscsistart run, but its
	// initqueue reruns iscsistart until rd.retry, so the effect is the
	// same; netroot retries within one login loop instead.
	LoginRetryMax int
	// LoginRetryParam is the parameter that set LoginRetryMax, as
	// LoginRetryLimit writes it: rd.iscsi.login_retry_max, or
	// rd.iscsi.param=node.session.initial_login_retry_max.
	LoginRetryParam string
	// Firmware is true when the targets come from the firmware's iBFT:
	// rd.iscsi.firmware=1 (dracut's iscsi_firmware), a bare
	// netroot=iscsi, or ip=ibft / rd.iscsi.ibft=1 when the command line
	// names no target. /init loads iscsi_ibft, reads the table and logs
	// in to every valid target in it (with its CHAP credentials) besides
	// Targets, using the table's initiator name unless
	// rd.iscsi.initiator= gives one.
	Firmware bool
	// WaitNet is rd.iscsi.waitnet: whether, with several ip= interfaces,
	// the logins wait for all of them (see WaitNet's values).
	WaitNet WaitNet
	// TestRoute is rd.iscsi.testroute (default true): skip a target with
	// no route to it instead of trying to log in (see supportTestRoute).
	TestRoute bool
	// FromDHCP is true with netroot=dhcp or root=dhcp (or root=/dev/root
	// netroot=dhcp): the target is the iSCSI root-path of the DHCP answer
	// (option 17), to be parsed with ParseDHCPRootPath.
	FromDHCP bool
	// FromDHCP6 is true with netroot=dhcp6: the target is the iSCSI root
	// path of the DHCPv6 answer's boot file URL (option 59, RFC 5970),
	// parsed with ParseDHCPRootPath.
	FromDHCP6 bool
	// Multipath is rd.netroot.multipath=1 (or dracut's rd.multipath=default):
	// /init keeps a session on every path of a target (Paths) and mounts
	// the root on a device-mapper multipath map over the sessions' disks,
	// instead of keeping the first path that answers.
	Multipath bool
}

// WaitNet is what rd.iscsi.waitnet asks of several ip= interfaces (each
// a static address or DHCPv4 on a named interface) before the logins.
// dracut.cmdline(7) suggests dracut waits by default ("rd.iscsi.waitnet=0:
// turn off waiting"), but iscsiroot.sh reads it with getargbool 0 and logs
// in as each interface comes up; without the parameter netroot waits a
// grace for the others, so that the root's paths through them are there
// from the start.
type WaitNet int

const (
	// WaitNetGrace (no rd.iscsi.waitnet): once one interface is up, the
	// others get a grace, then are left with a warning.
	WaitNetGrace WaitNet = iota
	// WaitNetOff (rd.iscsi.waitnet=0): once one interface is up the
	// logins begin; the others' leases are configured when they come
	// (their paths answer then), their carrier is not waited for.
	WaitNetOff
	// WaitNetAll (rd.iscsi.waitnet=1): every interface must come up
	// (within rd.retry), as dracut's all_ifaces_setup.
	WaitNetAll
)

// KV is a key=value pair.
type KV struct {
	Key   string
	Value string
}

// Target is one iSCSI target to log in to.
type Target struct {
	// Server is the portal host: an IP address or a name, without brackets.
	Server string
	// Port defaults to 3260.
	Port int
	// Protocol is the (unused by dracut) protocol field, normally empty or "6".
	Protocol string
	// IfaceName and NetDev are the optional iscsi_iface_name and
	// netdev_name: the name /init reports for the session's iface
	// (iscsi.KernelOptions.IfaceName), and the interface its login must
	// be bound to (see supportIfaceName and supportNetDev).
	IfaceName string
	NetDev    string
	// LUN defaults to 0.
	LUN int
	// AnyLUN is true when the <LUN> field was empty (or the target was
	// given by parts): dracut logs in to the whole target, so every LUN
	// appears and root= may be on any of them; LUN (0) then names only
	// a whole-LUN root (root=iscsi:…, root=dhcp). Plan.ScansAllLUNs says
	// when /init scans them all.
	AnyLUN bool
	// Group is the target portal group tag (rd.iscsi.target.group),
	// dracut's default 1; like dracut, netroot does not use it.
	Group int
	// Name is the target IQN (may contain ':' and '@'). Empty asks the
	// portal which targets it has (SendTargets discovery, dracut's
	// netroot=iscsi:<server>::<port>:<LUN>: with no <targetname>): every
	// target it offers is logged in to, through every portal it lists.
	Name string
	// Auth holds CHAP credentials; zero when the target needs none.
	Auth Auth
}

// ScansAllLUNs reports whether /init scans every LUN of t's sessions, as
// dracut's login to the whole target does: when t's LUN field was empty
// and the root is not a whole LUN (whose LUN the field names). Otherwise
// it scans only t's LUN, which is quicker on a target with many.
func (p *Plan) ScansAllLUNs(t Target) bool {
	return t.AnyLUN && p.Root.Kind != RootISCSI
}

// Portal returns "host:port" with IPv6 hosts in brackets.
func (t Target) Portal() string {
	return net.JoinHostPort(t.Server, strconv.Itoa(t.Port))
}

// Auth holds CHAP credentials. Username/Password authenticate the initiator
// to the target; InUsername/InPassword (mutual CHAP) authenticate the
// target to the initiator.
type Auth struct {
	Username   string
	Password   Secret
	InUsername string
	InPassword Secret
}

// Method names the authentication the credentials ask for: "none", "CHAP"
// or "mutual CHAP".
func (a Auth) Method() string {
	switch {
	case a.Username == "":
		return "none"
	case a.InUsername != "":
		return "mutual CHAP"
	default:
		return "CHAP"
	}
}

// Secret is a CHAP secret: either its value or the path of a file (inside
// the initramfs) that holds it. It never prints its value.
type Secret struct {
	value string
	// File is the path the secret is read from, empty for an inline value.
	File string
}

// NewSecret returns a Secret holding value.
func NewSecret(value string) Secret { return Secret{value: value} }

// SecretFile returns a Secret read from path when revealed.
func SecretFile(path string) Secret { return Secret{File: path} }

// IsZero reports whether no secret was given.
func (s Secret) IsZero() bool { return s.value == "" && s.File == "" }

// Reveal returns the secret, reading File with readFile when it is a file
// secret (trailing newlines are trimmed).
func (s Secret) Reveal(readFile func(string) ([]byte, error)) (string, error) {
	if s.File == "" {
		return s.value, nil
	}
	b, err := readFile(s.File)
	if err != nil {
		return "", err
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return string(b), nil
}

// String redacts the secret.
func (s Secret) String() string {
	switch {
	case s.File != "":
		return "*** (from " + s.File + ")"
	case s.value != "":
		return "***"
	}
	return ""
}

// GoString redacts the secret in %#v output too.
func (s Secret) GoString() string { return `config.Secret{"***"}` }

// Format redacts the secret for every verb (%d and %x included, and
// inside the structs that hold it), as String and GoString do.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, s.String())
}

// SecretFiles returns every CHAP secret file the command line names
// (@/path): the targets' and Global's, each once, in order.
func (p *Plan) SecretFiles() []string {
	var out []string
	add := func(a Auth) {
		for _, s := range []Secret{a.Password, a.InPassword} {
			if s.File != "" && !slices.Contains(out, s.File) {
				out = append(out, s.File)
			}
		}
	}
	for _, t := range p.ISCSI.Targets {
		add(t.Auth)
	}
	add(p.ISCSI.Global)
	return out
}

// HasInlineSecrets reports whether the command line in src writes a CHAP
// secret itself (not an @/path file): in rd.iscsi.password= and the like,
// in a root path's credentials, also where Parse would not take it (a
// parameter given again, a value swallowed by an unbalanced quote).
func HasInlineSecrets(src Source) bool {
	args, _, _ := splitCmdline(sourceLines(src.Text), src.Name)
	return len(collectSecrets(args)) > 0
}

// RootKind is how root= names the root device.
type RootKind string

// The forms of root=.
const (
	RootLabel     RootKind = "LABEL"
	RootUUID      RootKind = "UUID"
	RootPartLabel RootKind = "PARTLABEL"
	RootPartUUID  RootKind = "PARTUUID"
	RootPath      RootKind = "path" // /dev/sda1, /dev/disk/by-path/ip-…
	// RootISCSI is the whole disk (not a partition) of the iSCSI LUN named
	// by root=iscsi:…, or of the DHCP root-path with root=dhcp or
	// root=/dev/root netroot=dhcp, as dracut's udev rule does. Value is
	// that disk's /dev/disk/by-path/ name, empty while the target is the
	// DHCP one (Plan.RootSpec computes it then).
	RootISCSI RootKind = "iscsi"
)

// Root selects and mounts the real root.
type Root struct {
	// Kind and Value select the device (LABEL + ISCSI_ROOT). The
	// /dev/disk/by-{label,uuid,partlabel,partuuid}/ paths are turned into
	// the matching kind, with udev's \x escapes undone.
	Kind  RootKind
	Value string
	// FSType is rootfstype=, empty to detect it from the superblock.
	FSType string
	// Flags is rootflags= as given: mount(8) options, which /init splits
	// with blockdev.ParseMountOptions into mount(2)'s flags (noatime,
	// nodev …) and the filesystem's data (nobarrier, subvol=@ …),
	// dropping those only userspace reads (_netdev, x-systemd.…).
	Flags string
	// ReadWrite is true with rw; ro (the default) leaves it false. With
	// neither on the command line, a ro or rw in rootflags= decides.
	ReadWrite bool
	// Init is the program started in the real root (init=), default
	// /sbin/init.
	Init string
	// InitArgs are the parameters after "--" on the command line, which
	// the kernel hands to init.
	InitArgs []string
}

// Spec returns the root device as blockdev.ParseSelector takes it
// (LABEL=X, /dev/sda1, /dev/disk/by-path/ip-…); for RootISCSI the by-path
// name of the LUN's disk, "" while that is the DHCP target's (use
// Plan.RootSpec).
func (r Root) Spec() string {
	switch r.Kind {
	case RootPath, RootISCSI, "":
		return r.Value
	case RootLabel, RootPartLabel:
		// ParseSelector undoes udev's escapes in a label.
		return string(r.Kind) + "=" + blockdev.EscapeLabel(r.Value)
	}
	return string(r.Kind) + "=" + r.Value
}

// Emergency is what happens when the boot fails and no shell is wanted.
type Emergency string

// The actions of rd.emergency=.
const (
	EmergencyShell    Emergency = "shell"
	EmergencyReboot   Emergency = "reboot"
	EmergencyPoweroff Emergency = "poweroff"
	EmergencyHalt     Emergency = "halt"
)

// Boot controls /init itself.
type Boot struct {
	// Shell is rd.shell: drop to a shell on failure. It defaults to true
	// as in dracut's emergency_shell() (getargbool 1 rd.shell), which
	// handles every failure to find or mount the root; dracut's die() for
	// fatal errors reads it with default 0, a distinction netroot does not
	// make.
	Shell bool
	// Emergency is rd.emergency=. Unset, it is EmergencyShell, except with
	// rd.shell=0, where dracut's emergency_shell() powers off
	// (EmergencyPoweroff).
	Emergency Emergency
	// Breaks holds rd.break points (pre-net, pre-mount, pre-pivot; "" for a
	// bare rd.break, which breaks before switch_root), each once. dracut's
	// other points (cmdline, pre-udev, pre-trigger, initqueue, mount,
	// cleanup) are reported in Plan.Ignored.
	Breaks []string
	// Retry is rd.retry= (dracut default 180 s): how long to keep trying
	// to reach the root (logins, disk appearance).
	Retry time.Duration
	// Timeout is rd.timeout=: an overall deadline for finding root, 0 for
	// none.
	Timeout time.Duration
	// Debug is rd.debug; Quiet is quiet.
	Debug bool
	Quiet bool
	// Keeper is rd.netroot.keeper (default on): keep a session keeper
	// running after switch_root that recovers the root's iSCSI sessions
	// when their connections fail.
	Keeper bool
	// OSConfig is rd.netroot.osconfig (default on): before switch_root,
	// write the runtime configuration the real OS's network stacks read
	// (so they leave the root's interfaces as /init configured them) and
	// install the shutdown role in /run/initramfs (systemd's exitrd, which
	// logs out of the iSCSI sessions once the root is unmounted).
	OSConfig bool
	// AsyncProbe is rd.netroot.async_probe (default off): insert modules
	// with async_probe, so that a driver probes its devices in parallel;
	// the kernel's interface names (eth0, eth1) then follow the order the
	// probes end in, so pin them with ifname=. A module's own async_probe=
	// parameter (virtio_pci.async_probe=0) wins.
	AsyncProbe bool
}

// RetryLimit is rd.retry as the command line writes it, e.g.
// "rd.retry=180", for the messages that name the limit.
func (b Boot) RetryLimit() string { return "rd.retry=" + writeSeconds(b.Retry) }

// TimeoutLimit is rd.timeout as the command line writes it.
func (b Boot) TimeoutLimit() string { return "rd.timeout=" + writeSeconds(b.Timeout) }

// writeSeconds is d as rd.retry= and rd.timeout= take it: whole seconds.
func writeSeconds(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

// LoginRetryLimit is the parameter that set LoginRetryMax as the command
// line writes it, e.g. "rd.iscsi.login_retry_max=3"; "" when unset.
func (is ISCSI) LoginRetryLimit() string {
	if is.LoginRetryMax == 0 {
		return ""
	}
	return is.LoginRetryParam + "=" + strconv.Itoa(is.LoginRetryMax)
}

// Modules is what the cmdline says about kernel modules.
type Modules struct {
	// Pre holds rd.driver.pre= modules, loaded first.
	Pre []string
	// Blacklist holds rd.driver.blacklist= modules, never loaded.
	Blacklist []string
	// Post holds rd.driver.post= modules: they end NeededModules, so
	// they are carried; /init loads those no step needs (PostModules) in
	// a batch of their own after the others, as dracut does.
	Post []string
	// Params maps a module name (with '-' folded to '_') to its parameters
	// given as module.param=value, in order, e.g. "bonding" → ["max_bonds=0"].
	Params map[string][]string
}

// Source is one piece of configuration text and where it came from
// (a file path, or "/proc/cmdline").
type Source struct {
	Name string
	Text string
}
