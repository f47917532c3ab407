package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/netname"
)

// finish applies the rules that involve several parameters.
func (p *parser) finish() {
	pl := p.plan
	switch {
	case p.rorw != nil:
		// dracut appends ro/rw to rootflags=: they win.
		pl.Root.ReadWrite = p.rorw.Key == "rw"
	case p.rootflagsMode != "":
		pl.Root.ReadWrite = p.rootflagsMode == "rw"
	}
	if a, ok := p.last["rd.bootif"]; ok && !parseBool(a) {
		pl.Net.BootIF = nil
	}
	p.finishAnaconda()
	p.finishLegacyISCSIRoot()
	p.finishISCSI()
	p.finishRoot()
	p.finishFirmware()
	p.finishTargets()
	p.finishMultipath()
	p.finishNet()
	p.finishModules()
	p.finishRetry()
	if e := pl.Boot.Emergency; e != "" && (pl.Boot.Shell || p.hasBreak) {
		// emergency_shell() (and dracut-emergency.sh) open the shell
		// when rd.shell (default on) or rd.break is given, and take
		// rd.emergency only once it exits — the systemd initramfs never,
		// as it execs sulogin. /init takes it at once (Emergency).
		verb := map[Emergency]string{EmergencyReboot: "reboots", EmergencyPoweroff: "powers off", EmergencyHalt: "halts"}[e]
		p.warn("rd.emergency="+string(e), "netroot "+verb+" at once on failure, without a shell; dracut opens its emergency shell first "+
			"(rd.shell is on by default, and rd.break opens it too) and acts only once the shell exits (its systemd initramfs not at all), "+
			"which is why dracut.cmdline(7) asks for rd.shell=0 beside rd.emergency=: add rd.shell=0 (without rd.break) and both do the same")
	}
	if !pl.Boot.Shell && pl.Boot.Emergency == "" {
		// emergency_shell(): no shell and no rd.emergency → poweroff.
		pl.Boot.Emergency = EmergencyPoweroff
	}
	if pl.Boot.Emergency == "" {
		pl.Boot.Emergency = EmergencyShell
	}
}

// finishAnaconda completes ip=<IPv4> from netmask=, gateway=, hostname=,
// ksdevice= and mtu=, as net-lib.sh's ip_to_var does; without such an
// ip= they do nothing, which is worth a warning.
func (p *parser) finishAnaconda() {
	if len(p.anaconda) == 0 {
		for _, k := range anacondaKeys {
			if _, ok := p.last[k]; ok {
				p.warn(k, "read only with an anaconda-style ip=<IPv4 address>; ignored")
			}
		}
	}
	for i, addr := range p.anaconda {
		c := &p.plan.Net.IP[i]
		ipArg := p.ipArgs[i]
		mask, ok := p.last["netmask"]
		if !ok || mask.Value == "" {
			p.fail(ipArg, ipArg.Value, "<IPv4> with netmask=<netmask> [gateway=<IP>] [hostname=<name>] [ksdevice=<interface>] [mtu=<mtu>]",
				fmt.Errorf("%w: anaconda-style ip=<address> needs netmask=", ErrMissing))
			continue
		}
		bits, err := parseMaskBits(mask.Value, true)
		if err != nil {
			p.fail(mask, mask.Value, "<netmask>", err)
			continue
		}
		c.Address = netip.PrefixFrom(addr, bits)
		if gw, ok := p.last["gateway"]; ok && gw.Value != "" {
			a, err := parseAddr(gw.Value)
			if err != nil || !a.Is4() {
				p.fail(gw, gw.Value, "<IPv4>", fmt.Errorf("%w: not an IPv4 address", ErrSyntax))
			} else if !a.IsUnspecified() { // 0.0.0.0: none, as in ip=
				c.Gateway = a
			}
		}
		if h, ok := p.last["hostname"]; ok && h.Value != "" {
			if err := checkHostname(h.Value); err != nil {
				p.fail(h, h.Value, "<hostname>", err)
			} else {
				c.Hostname = h.Value
			}
		}
		if m, ok := p.last["mtu"]; ok && m.Value != "" {
			if n, err := parseMTU(m.Value); err != nil {
				p.fail(m, m.Value, "<mtu>", err)
			} else {
				c.MTU = n
			}
		}
		if d, ok := p.last["ksdevice"]; ok {
			switch d.Value {
			case "bootif", "BOOTIF", "link", "ibft", "":
				// the BOOTIF interface or any: Interface stays empty.
			default:
				if err := checkIfname(d.Value, false); err == nil {
					c.Interface = d.Value
				} else if _, err := parseMAC(d.Value); err != nil {
					p.fail(d, d.Value, "link|bootif|ibft|<MAC>|<interface>", err)
				}
			}
		}
	}
}

// finishLegacyISCSIRoot reads dracut's deprecated iscsiroot=<value> as
// parse-iscsiroot.sh does: netroot=iscsi:<value>, with a warning (dracut
// prints one too). dracut takes it only when its netroot is empty or a
// bare "iscsi" — root=iscsi (whose whole LUN is then the root), or
// netroot=iscsi without another netroot= — and never beside
// rd.iscsi.firmware; it dies otherwise, and so does Parse. (root= cannot
// be empty here, where dracut would take that too: root= is required.)
func (p *parser) finishLegacyISCSIRoot() {
	a, ok := p.last["iscsiroot"]
	if !ok {
		return
	}
	if a.Value == "" {
		p.warn("iscsiroot", "no value; ignored, as in dracut")
		return
	}
	shown := redactNetroot(a.Value)
	const grammar = "[<username>:<password>[:<reverse>:<password>]@][<servername>]:[<protocol>]:[<port>][:[<iscsi_iface_name>]:[<netdev_name>]]:[<LUN>]:<targetname>, with root=iscsi or netroot=iscsi (deprecated: use netroot=iscsi:…)"
	root := p.last["root"].Value
	is := p.plan.ISCSI
	switch {
	case p.firmware:
		p.fail(a, shown, grammar, fmt.Errorf("%w: iscsiroot= with rd.iscsi.firmware, which dracut refuses (\"Mixing iscsiroot and iscsi_firmware is dangerous\"): drop one of them", ErrConflict))
		return
	case strings.HasPrefix(root, "iscsi:") || len(is.Targets) > 0 || is.FromDHCP || is.FromDHCP6:
		p.fail(a, shown, grammar, fmt.Errorf("%w: iscsiroot= beside a root= or netroot= that names its own network root, which dracut refuses (\"Argument iscsiroot only accepted for empty root= or [net]root=iscsi\"): give each target as netroot=iscsi:… and drop iscsiroot=", ErrConflict))
		return
	case root != "iscsi" && p.bareISCSI == nil:
		p.fail(a, shown, grammar, fmt.Errorf("%w: iscsiroot= needs root=iscsi or netroot=iscsi beside it, as in dracut (\"Argument iscsiroot only accepted for empty root= or [net]root=iscsi\"): write netroot=iscsi:%s instead", ErrConflict, shown))
		return
	}
	// It takes the place of the bare netroot=iscsi, which would
	// otherwise ask for the firmware's targets.
	p.bareISCSI = nil
	if root == "iscsi" {
		p.legacyRoot = &a
		p.warn("iscsiroot", "deprecated, as dracut warns: read as root=iscsi:<its value>; use netroot= (root=iscsi:…, or netroot=iscsi:… with root= naming the filesystem)")
		return
	}
	p.warn("iscsiroot", "deprecated, as dracut warns: read as netroot=iscsi:<its value>; use netroot=iscsi:… instead")
	p.addTarget(a, "iscsi:"+a.Value)
}

// finishISCSI builds the rd.iscsi.target.* target and applies the global
// credentials.
func (p *parser) finishISCSI() {
	pl := p.plan
	is := &pl.ISCSI
	name, hasName := p.last["rd.iscsi.target.name"]
	if hasName && name.Value != "" {
		t := Target{Name: name.Value, Port: DefaultTargetPort, Group: 1, AnyLUN: true}
		ok := true
		if err := checkISCSIName("target name", t.Name); err != nil {
			p.fail(name, name.Value, grammarISCSIName, err)
			ok = false
		}
		if ip, found := p.last["rd.iscsi.target.ip"]; found && ip.Value != "" {
			var err error
			if t.Server, err = targetIP(ip.Value); err != nil {
				p.fail(ip, ip.Value, grammarTargetIP, err)
				ok = false
			}
		} else {
			p.fail(name, name.Value, grammarISCSIName, fmt.Errorf("%w: rd.iscsi.target.name needs rd.iscsi.target.ip (the portal to log in to)", ErrMissing))
			ok = false
		}
		if port, found := p.last["rd.iscsi.target.port"]; found && port.Value != "" {
			n, err := parseUint(port.Value, 1, 65535)
			if err != nil {
				p.fail(port, port.Value, "<port>", err)
				ok = false
			}
			t.Port = n
		}
		if ok {
			is.Targets = append(is.Targets, t)
			p.authFields = append(p.authFields, 0)
			p.targetArgs = append(p.targetArgs, name)
		}
	} else {
		for _, k := range []string{"rd.iscsi.target.ip", "rd.iscsi.target.port"} {
			if a, found := p.last[k]; found {
				p.fail(a, a.Value, "", fmt.Errorf("%w: %s needs rd.iscsi.target.name", ErrMissing, k))
			}
		}
	}
	if p.bareISCSI != nil && !(hasName && name.Value != "") {
		// dracut: netroot=iscsi without a target is the firmware's.
		p.firmware = true
	}

	// Global credentials, as iscsiroot.sh reads them before
	// parse_iscsi_root overrides them with the netroot's own.
	var global Auth
	var err error
	global.Username = p.last["rd.iscsi.username"].Value
	global.InUsername = p.last["rd.iscsi.in.username"].Value
	for _, k := range []string{"rd.iscsi.password", "rd.iscsi.in.password"} {
		a, found := p.last[k]
		if !found || a.Value == "" {
			continue
		}
		var s Secret
		if s, err = ParseSecret(a.Value); err != nil {
			p.fail(a, redactSecret(a.Value), grammarSecret, err)
			continue
		}
		if k == "rd.iscsi.password" {
			global.Password = s
		} else {
			global.InPassword = s
		}
	}
	is.Global = global
	if sameSecret(global) {
		// Also with netroot=dhcp or the iBFT, which take no target's
		// credentials from here.
		a := p.last["rd.iscsi.in.password"]
		p.fail(a, redactSecret(a.Value), grammarSecret, errSameSecret)
	} else if err := checkAuth(global); err != nil && (is.FromDHCP || is.FromDHCP6) {
		// A DHCP root-path's target takes what it lacks from here: the
		// boot would refuse it there.
		p.failCross("rd.iscsi.username", global.Username, fmt.Errorf("%w (netroot=dhcp's target takes the credentials its root-path lacks from rd.iscsi.username= and rd.iscsi.password=, rd.iscsi.in.* likewise)", err))
	}
	for i := range is.Targets {
		t := &is.Targets[i]
		n := p.authFields[i]
		fillAuth(t, n, global)
		if err := checkAuth(t.Auth); err != nil && !(n == 0 && errors.Is(err, errSameSecret)) { // reported above
			a := p.targetArgs[i]
			p.fail(a, a.Value, grammarNetroot+"; or rd.iscsi.username= with rd.iscsi.password=", err)
		}
	}
	p.checkAuthMethod()
	// rd.iscsi.param=, of which node.session.initial_login_retry_max
	// wins over rd.iscsi.login_retry_max (iscsiroot.sh).
	is.Session = p.session.s
	is.Params = p.session.legacyParams()
	if p.session.setRetry {
		is.LoginRetryMax, is.LoginRetryParam = p.session.retry, "rd.iscsi.param=node.session.initial_login_retry_max"
	}
}

// grammarTargetIP is rd.iscsi.target.ip='s.
const grammarTargetIP = "<IP address>|[<IPv6 address>]|<host name>"

// targetIP reads rd.iscsi.target.ip= as netroot='s <servername>: one IP
// address (IPv6 with or without brackets) or host name; the port is
// rd.iscsi.target.port='s.
func targetIP(v string) (string, error) {
	server := v
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		server = v[1 : len(v)-1]
	}
	if strings.Contains(v, ",") {
		return "", fmt.Errorf("%w: one portal only (dracut's iscsistart takes one too): give each further portal its own netroot=iscsi:<server>::::<target>", ErrSyntax)
	}
	err := checkServer(server)
	if err == nil {
		return server, nil
	}
	// 10.0.0.1:3260, filer:3260, [2001:db8::1]:3260
	if i := strings.LastIndexByte(v, ':'); i > 0 && isDigits(v[i+1:]) {
		if host := strings.TrimSuffix(strings.TrimPrefix(v[:i], "["), "]"); checkServer(host) == nil {
			return "", fmt.Errorf("%w: give the port with rd.iscsi.target.port=%s", err, v[i+1:])
		}
	}
	return "", err
}

// finishTargets checks every target (root=iscsi:'s first) against what
// /init implements.
func (p *parser) finishTargets() {
	is := &p.plan.ISCSI
	seen := map[string]int{}
	for i, t := range is.Targets {
		a := p.targetArgs[i]
		key := t.Portal() + "/" + t.Name + fmt.Sprintf("/%d", t.LUN)
		if j, dup := seen[key]; dup {
			p.failCross(a.Key, a.Value, fmt.Errorf("%w: same target and LUN as target %d", ErrConflict, j+1))
		}
		seen[key] = i
		for _, err := range targetFieldErrors(t) {
			p.fail(a, a.Value, grammarNetroot, err)
		}
		if t.IfaceName != "" && !supportIfaceName {
			p.warn(a.Key+" <iscsi_iface_name> "+t.IfaceName, "ignored: the session's iface is reported as \"default\"")
		}
		if t.NetDev != "" && !configures(p.plan.Net.IP, t.NetDev) {
			p.warn(a.Key+" <netdev_name> "+t.NetDev, "no ip= configures "+t.NetDev+": the login is bound to it and needs an address there")
		}
	}
	// Paths of one target need only one that answers; of several
	// targets, one that fails is left out once the root is found.
	if len(p.plan.Paths()) > 1 && is.TestRoute && !supportTestRoute {
		p.warn("rd.iscsi.testroute", "netroot tries every target, also one without a route; one that cannot be reached is left out (with a warning) once the root is found without it; dracut would skip it at once")
	}
}

// configures reports whether ips may give dev an address: one names it,
// or one names no interface (any, or the firmware's), or there is none.
func configures(ips []IPConfig, dev string) bool {
	if len(ips) == 0 {
		return true
	}
	for _, ip := range ips {
		if ip.Interface == "" || ip.Interface == dev {
			return true
		}
	}
	return false
}

// targetFieldErrors are what /init refuses in a target's fields, one
// error each: a <protocol> other than TCP's, a <netdev_name>.
func targetFieldErrors(t Target) []error {
	var errs []error
	if t.Protocol != "" && t.Protocol != "6" {
		errs = append(errs, fmt.Errorf("%w: <protocol> %q: iSCSI runs over TCP (6, or empty)", ErrSyntax, t.Protocol))
	}
	if t.NetDev != "" && !supportNetDev {
		errs = append(errs, fmt.Errorf("%w: <netdev_name> %s: binding the login to an interface is not supported yet; leave the field empty (routes pick the interface)", ErrUnsupported, t.NetDev))
	}
	return errs
}

// finishRoot reads root= knowing netroot=.
func (p *parser) finishRoot() {
	pl := p.plan
	a, ok := p.last["root"]
	switch {
	case !ok || a.Value == "":
		if !ok {
			a = arg{Key: "root"}
		}
		p.fail(a, "", grammarRoot, fmt.Errorf("%w: root= is required (dracut dies with \"No or empty root= argument\")", ErrMissing))
		return
	case a.Value == "iscsi" || strings.HasPrefix(a.Value, "iscsi:"):
		// parse-iscsiroot.sh: root=iscsi:… is a target whose whole LUN is
		// the root; it takes precedence and comes first. root=iscsi
		// with the deprecated iscsiroot=<value> is root=iscsi:<value>.
		v := a.Value
		if v == "iscsi" && p.legacyRoot != nil {
			a, v = *p.legacyRoot, "iscsi:"+p.legacyRoot.Value
		}
		if v == "iscsi" || v == "iscsi:" {
			p.fail(a, a.Value, grammarNetroot, fmt.Errorf("%w: root=iscsi needs a target", ErrSyntax))
			return
		}
		t, n, err := parseISCSIRoot(v)
		if err == nil && t.Discovery() {
			err = fmt.Errorf("%w: root=iscsi: names the root's LUN, which needs its <targetname>; to ask the portal for its targets, use netroot=iscsi:…:<LUN>: and name the root (root=LABEL=…, UUID=…)", ErrMissing)
		}
		if err != nil {
			p.fail(a, redactNetroot(a.Value), grammarNetroot, err)
			return
		}
		// credentials as for netroot=
		is := &pl.ISCSI
		fillAuth(&t, n, is.Global)
		if err := checkAuth(t.Auth); err != nil {
			if !(n == 0 && errors.Is(err, errSameSecret)) { // finishISCSI reports the global one
				p.fail(a, redactNetroot(a.Value), grammarNetroot, err)
			}
			return
		}
		is.Targets = append([]Target{t}, is.Targets...)
		p.targetArgs = append([]arg{{Key: a.Key, Value: redactNetroot(a.Value), HasValue: true, Source: a.Source}}, p.targetArgs...)
		pl.Root.Kind, pl.Root.Value = RootISCSI, "/dev/disk/by-path/"+ISCSIPath(t)
	case a.Value == "dhcp" || (a.Value == "/dev/root" && pl.ISCSI.FromDHCP):
		if !supportDHCPRoot {
			p.fail(a, a.Value, grammarRoot, fmt.Errorf("%w: the whole LUN of the DHCP root-path as the root is not supported yet; keep netroot=dhcp and name the root: root=LABEL=…, UUID=… or PARTUUID=…", ErrUnsupported))
			return
		}
		pl.ISCSI.FromDHCP = true
		pl.Root.Kind, pl.Root.Value = RootISCSI, ""
	case a.Value == "/dev/root":
		p.fail(a, a.Value, grammarRoot, fmt.Errorf("%w: /dev/root is dracut's name for the LUN of netroot=dhcp's root-path; without netroot=dhcp name the root: LABEL=…, UUID=…", ErrSyntax))
	default:
		r, err := ParseRoot(a.Value)
		if err != nil {
			p.fail(a, a.Value, grammarRoot, err)
			return
		}
		pl.Root.Kind, pl.Root.Value = r.Kind, r.Value
		p.checkByPath(a, r)
	}
}

// checkByPath checks that an iSCSI by-path root names a LUN of a target
// of the command line: any other would never appear.
func (p *parser) checkByPath(a arg, r Root) {
	name, ok := strings.CutPrefix(r.Value, "/dev/disk/by-path/")
	if !ok {
		return
	}
	bp, err := blockdev.ParseISCSIPath(name)
	if err != nil {
		return // ParseRoot took it, so it is one
	}
	for _, t := range p.plan.ISCSI.Targets {
		if t.Server == bp.Address && t.Port == bp.Port && t.Name == bp.Target && uint64(t.LUN) == bp.LUN {
			return
		}
	}
	if is := p.plan.ISCSI; is.FromDHCP || is.FromDHCP6 || p.firmware || p.ibft {
		p.warn("root="+r.Value, "its target and LUN cannot be checked against the DHCP root-path or the iBFT here")
		return
	}
	p.fail(a, a.Value, grammarRoot, fmt.Errorf("%w: no target on the command line has portal %s:%d, name %s and LUN %d, so this disk would never appear",
		ErrConflict, bp.Address, bp.Port, bp.Target, bp.LUN))
}

// finishNet checks the network parameters against each other, the way
// parse-ip-opts.sh and ifup do, and decides whether the network is needed.
func (p *parser) finishNet() {
	pl := p.plan
	n := &pl.Net
	p.staticInterface()
	for i, c := range n.IP {
		// <macaddr> is set on the interface ip= names, or, for a static
		// address naming none, on the PXE NIC /init finds by BOOTIF=.
		a := p.ipArgs[i]
		switch {
		case c.MAC == nil:
		case c.Interface == "" && (c.Method != IPStatic || n.BootIF == nil):
			p.fail(a, a.Value, grammarIP, fmt.Errorf("%w: <macaddr> needs the interface whose MAC address it sets: name it (the 6th field)", ErrMissing))
		case c.MAC[0]&1 != 0:
			p.fail(a, a.Value, grammarIP, fmt.Errorf("%w: <macaddr> %s is a multicast address, which no NIC takes as its own", ErrSyntax, c.MAC))
		case !slices.ContainsFunc(c.MAC, func(b byte) bool { return b != 0 }):
			p.fail(a, a.Value, grammarIP, fmt.Errorf("%w: <macaddr> %s is no NIC's address", ErrSyntax, c.MAC))
		}
	}
	if len(n.IP) > 1 {
		// parse-ip-opts.sh: multiple ip= need bootdev= (or take the first
		// interface) and imply rd.neednet=1 unless rd.neednet=0.
		if a, ok := p.last["rd.neednet"]; !ok || parseBool(a) {
			n.NeedNet = true
		}
		for i, c := range n.IP {
			if c.Interface == "" {
				a := p.ipArgs[i]
				p.fail(a, a.Value, grammarIP, fmt.Errorf("%w: with several ip= parameters each must name its interface", ErrConflict))
			}
		}
		if n.BootDev == "" {
			for _, c := range n.IP {
				if c.Interface != "" {
					n.BootDev = c.Interface
					break
				}
			}
		}
	}
	for i, c := range n.IP {
		if err := checkGateway(c); err != nil {
			a := p.ipArgs[i]
			p.fail(a, a.Value, grammarIP, err)
		}
	}
	byIface := map[string]int{}
	for i, c := range n.IP {
		if c.Interface == "" {
			continue
		}
		if j, dup := byIface[c.Interface]; dup {
			a := p.ipArgs[i]
			p.fail(a, a.Value, grammarIP, fmt.Errorf("%w: interface %s is already configured by ip=%s", ErrConflict, c.Interface, p.ipArgs[j].Value))
		}
		byIface[c.Interface] = i
	}

	// Names created by bond= and vlan=.
	created := map[string]string{}
	slaveOf := map[string]string{}
	for _, b := range n.Bonds {
		if what, dup := created[b.Name]; dup {
			p.failCross("bond", b.Name, fmt.Errorf("%w: %s is already created by %s", ErrConflict, b.Name, what))
		}
		created[b.Name] = "bond=" + b.Name
		for _, s := range b.Slaves {
			if other, dup := slaveOf[s]; dup {
				p.failCross("bond", b.Name, fmt.Errorf("%w: %s is already a slave of %s", ErrConflict, s, other))
			}
			slaveOf[s] = b.Name
		}
	}
	type vlanKey struct {
		parent string
		id     int
	}
	vlanIDs := map[vlanKey]VLAN{}
	for _, v := range n.VLANs {
		if what, dup := created[v.Name]; dup {
			p.failCross("vlan", v.Name+":"+v.Parent, fmt.Errorf("%w: %s is already created by %s", ErrConflict, v.Name, what))
		}
		if o, dup := vlanIDs[vlanKey{v.Parent, v.ID}]; dup && o.Name != v.Name {
			// The kernel keeps one VLAN of an ID per parent (EEXIST).
			p.failCross("vlan", v.Name+":"+v.Parent, fmt.Errorf("%w: VLAN %d on %s is already created by vlan=%s:%s, and a parent carries one VLAN of an ID: drop one of them (the ID comes from the name: vlan%04d, vlan%d, %s.%04d and %s.%d are all VLAN %d)",
				ErrConflict, v.ID, v.Parent, o.Name, o.Parent, v.ID, v.ID, v.Parent, v.ID, v.Parent, v.ID, v.ID))
		}
		vlanIDs[vlanKey{v.Parent, v.ID}] = v
		created[v.Name] = "vlan=" + v.Name
		if b, ok := slaveOf[v.Parent]; ok {
			p.failCross("vlan", v.Name+":"+v.Parent, fmt.Errorf("%w: %s is a slave of %s", ErrConflict, v.Parent, b))
		}
	}
	// /init creates a VLAN on a VLAN after its parent (OrderVLANs).
	if _, err := OrderVLANs(n.VLANs); err != nil {
		p.failCross("vlan", "", err)
	}
	for _, b := range n.Bonds {
		for _, s := range b.Slaves {
			if what, ok := created[s]; ok && strings.HasPrefix(what, "bond=") {
				p.failCross("bond", b.Name, fmt.Errorf("%w: slave %s is itself a bond", ErrConflict, s))
			}
			if what, ok := created[s]; ok && strings.HasPrefix(what, "vlan=") {
				// /init enslaves the NICs before it creates any VLAN
				// (dracut's ifup would create the VLAN first).
				p.failCross("bond", b.Name, fmt.Errorf("%w: slave %s is a VLAN (%s), and netroot makes bonds of NICs: bond the NICs and put the VLAN on the bond (vlan=%s.<id>:%s)",
					ErrConflict, s, what, b.Name, b.Name))
			}
		}
	}
	for i, c := range n.IP {
		if b, ok := slaveOf[c.Interface]; ok {
			a := p.ipArgs[i]
			p.fail(a, a.Value, grammarIP, fmt.Errorf("%w: %s is a slave of %s and cannot have an address; configure %s instead", ErrConflict, c.Interface, b, b))
		}
	}
	if b, ok := slaveOf[n.BootDev]; ok {
		p.failCross("bootdev", n.BootDev, fmt.Errorf("%w: %s is a slave of %s", ErrConflict, n.BootDev, b))
	}
	renamed := map[string]bool{}
	macs := map[string]string{}
	for _, r := range n.Renames {
		if renamed[r.Name] {
			p.failCross("ifname", r.Name, fmt.Errorf("%w: %s is named twice", ErrConflict, r.Name))
		}
		renamed[r.Name] = true
		if other, dup := macs[r.MAC.String()]; dup {
			p.failCross("ifname", r.Name+":"+r.MAC.String(), fmt.Errorf("%w: the MAC address is already named %s", ErrConflict, other))
		}
		macs[r.MAC.String()] = r.Name
		if what, ok := created[r.Name]; ok {
			p.failCross("ifname", r.Name, fmt.Errorf("%w: %s is created by %s", ErrConflict, r.Name, what))
		}
	}
	for i, c := range n.IP {
		if c.MAC != nil && renamed[c.Interface] {
			a := p.ipArgs[i]
			p.fail(a, a.Value, grammarIP, fmt.Errorf("%w: <macaddr> cannot be combined with ifname= for the same interface", ErrConflict))
		}
	}

	p.checkNames()
	is := pl.ISCSI
	if len(is.Targets) > 0 || is.FromDHCP || is.FromDHCP6 || is.Firmware || n.IBFT {
		n.NeedNet = true
	}
	if n.NeedNet && len(n.IP) == 0 && !n.IBFT {
		// parse-ip-opts.sh: "No ip= argument(s) for netroot provided,
		// defaulting to DHCP" — DHCPv6 for netroot=dhcp6.
		m := IPDHCP
		if is.FromDHCP6 && !is.FromDHCP {
			m = IPDHCP6
		}
		n.IP = append(n.IP, IPConfig{Method: m, Implicit: true})
	}
	p.bootDevDHCP()
	if is.FromDHCP && !n.IBFT && !slices.ContainsFunc(n.IP, runsDHCP4) {
		// The iBFT's network may run DHCPv4 (the table says): not known here.
		a := p.last["root"]
		if p.dhcpArg != nil {
			a = *p.dhcpArg
		}
		grammar := grammarNetroot
		if a.Key == "root" {
			grammar = grammarRoot
		}
		p.fail(a, a.Value, grammar, fmt.Errorf("%w: %s=%s takes the target from a DHCPv4 answer's root-path (option 17), but no ip= runs DHCPv4: add ip=<interface>:dhcp (or an ip=…:dhcp6,dhcp list), or drop ip= to have DHCPv4 implied",
			ErrConflict, a.Key, a.Value))
	}
	if is.FromDHCP6 && !slices.ContainsFunc(n.IP, runsDHCP6) {
		p.fail(*p.dhcp6Arg, "dhcp6", grammarNetroot, fmt.Errorf("%w: netroot=dhcp6 takes the target from a DHCPv6 answer (option 59), but no ip= runs DHCPv6: add ip=<interface>:dhcp6 (or either6)", ErrConflict))
	}
}

// bootDevDHCP gives bootdev= DHCP of its own when the ip= parameters name
// other interfaces only, as dracut does: parse-ip-opts.sh puts BOOTDEV
// first in the interfaces it brings up, and ifup runs DHCP on one that no
// ip= is directed at when it is BOOTDEV (and the boot waits for it). An
// ip= without an interface already runs on bootdev= (a static one was
// given it by staticInterface); the iBFT's network may configure it.
func (p *parser) bootDevDHCP() {
	n := &p.plan.Net
	if n.BootDev == "" || len(n.IP) == 0 || n.IBFT {
		return
	}
	for _, c := range n.IP {
		if c.Interface == "" || c.Interface == n.BootDev {
			return
		}
	}
	n.IP = append(n.IP, IPConfig{Interface: n.BootDev, Method: IPDHCP, Implicit: true})
}

// finishModules refuses a plan that blacklists a module it needs:
// /init's loader never loads a blacklisted module, so rd.driver.pre=
// naming one fails the modules step, and a bond, VLAN, iSCSI session or
// root filesystem without its module fails later. (A dependency of a
// needed module that is blacklisted only shows with the module tree:
// netroot check -modules.)
func (p *parser) finishModules() {
	for _, m := range p.plan.neededModules() {
		a, ok := p.blacklistArgs[m.name]
		if !ok || m.maybe {
			continue // the iBFT's 8021q: needed only if its NICs are on a VLAN, which the boot finds out
		}
		hint := "drop " + m.name + " from rd.driver.blacklist="
		if strings.HasPrefix(m.by, "rd.driver.") {
			hint += " or from " + m.by
		}
		p.fail(a, a.Value, "", fmt.Errorf("%w: %s is needed by %s, but /init never loads a blacklisted module, so the boot would fail without it: %s",
			ErrConflict, m.name, m.by, hint))
	}
}

// finishRetry refuses rd.retry=0 when /init's network step runs: it
// bounds each network wait (links, DHCP, logins, the disk) by rd.retry,
// so every one would fail at once. (dracut's initqueue gives up after
// its first pass with 0; nothing waits on it without the network.)
func (p *parser) finishRetry() {
	pl := p.plan
	a, ok := p.last["rd.retry"]
	if !ok || pl.Boot.Retry != 0 || !pl.RunsNetwork() {
		return
	}
	p.fail(a, a.Value, grammarSeconds, fmt.Errorf("%w: 0 seconds leaves no time for any network wait (links, DHCP, logins, the disk), so the boot would fail at its first: give the seconds to keep trying (default %d)",
		ErrConflict, int(DefaultRetry/time.Second)))
}

// checkGateway checks that a static address's gateway is on its link, as
// the kernel wants it for the default route /init adds through it (no
// onlink): inside the address's prefix, or with a peer (ip=<client>:<peer>:…)
// inside the peer's, which the kernel routes instead; an IPv6 link-local
// gateway always is.
func checkGateway(c IPConfig) error {
	gw := c.Gateway
	if c.Method != IPStatic || !gw.IsValid() || !c.Address.IsValid() || gw.Is6() && gw.IsLinkLocalUnicast() {
		return nil
	}
	if gw == c.Address.Addr() {
		return fmt.Errorf("%w: the gateway %s is the address itself: give the router's address, or leave the gateway out", ErrConflict, gw)
	}
	onLink := c.Address.Masked()
	if c.Peer.IsValid() {
		onLink, _ = c.Peer.Prefix(c.Address.Bits())
	}
	if onLink.Contains(gw) {
		return nil
	}
	hint := "the gateway must be inside the address's prefix: fix the netmask or the gateway"
	if c.Address.Bits() == c.Address.Addr().BitLen() && !c.Peer.IsValid() {
		hint = fmt.Sprintf("a /%d address has no neighbours: give the link's prefix (e.g. %s/24), or the gateway as the peer too (ip=%s:%s:%s:%d:…)",
			c.Address.Bits(), c.Address.Addr(), c.Address.Addr(), gw, gw, c.Address.Bits())
		if gw.Is6() {
			hint = fmt.Sprintf("a /%d address has no neighbours: give the link's prefix (e.g. /64), or a link-local gateway (fe80::…)", c.Address.Bits())
		}
	}
	return fmt.Errorf("%w: the gateway %s is outside %s, so the kernel has no route to it and refuses the default route through it: %s", ErrConflict, gw, onLink, hint)
}

// staticInterface gives a static ip= without an interface one: bootdev=,
// else the one interface the command line creates that can hold an
// address (its VLAN, or its bond without a VLAN on it). dracut's ifup
// applies such an ip= to every interface it brings up; with no single
// candidate netroot refuses it.
func (p *parser) staticInterface() {
	n := &p.plan.Net
	if len(n.IP) != 1 {
		return // several ip= must each name theirs (finishNet)
	}
	for i := range n.IP {
		c := &n.IP[i]
		if c.Method != IPStatic || c.Interface != "" {
			continue
		}
		if n.BootDev != "" {
			c.Interface = n.BootDev
			continue
		}
		var cands []string
		parents := map[string]bool{}
		for _, v := range n.VLANs {
			cands = append(cands, v.Name)
			parents[v.Parent] = true
		}
		for _, b := range n.Bonds {
			if !parents[b.Name] {
				cands = append(cands, b.Name)
			}
		}
		if len(cands) == 1 {
			c.Interface = cands[0]
			continue
		}
		if n.BootIF != nil {
			// dracut's ifup applies an ip= naming no interface to the
			// NIC it runs for: with BOOTIF=, the PXE NIC. /init names
			// it once the NIC is found by its MAC.
			continue
		}
		a := p.ipArgs[i]
		p.fail(a, a.Value, grammarIP, fmt.Errorf("%w: a static address needs an interface: name it (the 6th field), give bootdev= or BOOTIF=, or create exactly one bond or VLAN for it", ErrMissing))
	}
}

// finishFirmware decides what comes from the firmware's iBFT, knowing the
// targets and addresses the command line gives (dracut needs
// rd.iscsi.firmware for the targets and ip=ibft for the network; either
// alone is taken to mean both when the command line lacks the other
// half).
func (p *parser) finishFirmware() {
	pl := p.plan
	is := &pl.ISCSI
	is.Firmware = p.firmware
	if p.ibft && len(is.Targets) == 0 && !is.FromDHCP && !is.FromDHCP6 {
		is.Firmware = true
	}
	pl.Net.IBFT = p.ibft || is.Firmware && len(pl.Net.IP) == 0
}

// runsDHCP4 reports whether an ip= entry runs DHCPv4 (dhcp, or
// single-dhcp, alone or in a list).
func runsDHCP4(c IPConfig) bool { return runsAny(c, IPDHCP, IPSingleDHCP) }

// runsDHCP6 reports whether an ip= entry runs DHCPv6 (dhcp6, or either6
// when no router advertises autoconfiguration).
func runsDHCP6(c IPConfig) bool { return runsAny(c, IPDHCP6, IPEither6) }

// runsAny reports whether an ip= entry's methods (its list's, all of
// them) include one of ms.
func runsAny(c IPConfig, ms ...IPMethod) bool {
	return slices.ContainsFunc(append([]IPMethod{c.Method}, c.MoreMethods...), func(m IPMethod) bool {
		return slices.Contains(ms, m)
	})
}

// checkNames checks the interface names of the command line against
// net.ifnames=: with 0 the kernel's names stay, so a NIC named the
// systemd way (ens2, enp0s31f6) would never appear unless ifname= gives
// that name.
//
// With 1 every NIC is renamed, so a name that is neither predictable nor
// given by ifname= (a kernel name, eth0) would be gone.
func (p *parser) checkNames() {
	n := p.plan.Net
	if n.Names.Ifnames == IfnamesAuto {
		return
	}
	a := p.last["net.ifnames"]
	for _, name := range n.nicNames() {
		if slices.ContainsFunc(n.Renames, func(r Rename) bool { return r.Name == name }) {
			continue
		}
		switch predictable := netname.LooksPredictable(name); {
		case n.Names.Ifnames == IfnamesOff && predictable:
			p.fail(a, a.Value, "",
				fmt.Errorf("%w: %s is a predictable (systemd-udev) name, but net.ifnames=0 keeps the kernel's names (eth0 …), so no NIC would have it: drop net.ifnames=0, or name the NIC with ifname=%s:<MAC>", ErrConflict, name, name))
		case n.Names.Ifnames == IfnamesOn && !predictable:
			p.fail(a, a.Value, "",
				fmt.Errorf("%w: net.ifnames=1 renames every NIC to its predictable (systemd-udev) name, so none keeps %s: use the predictable names, drop net.ifnames=1, or name the NIC with ifname=%s:<MAC>", ErrConflict, name, name))
		}
	}
}

// nicNames lists the NICs the command line names: bond slaves, VLAN
// parents, ip=, bootdev= and rd.route= interfaces, less the bonds and
// VLANs it creates.
func (n Net) nicNames() []string {
	created := map[string]bool{}
	for _, b := range n.Bonds {
		created[b.Name] = true
	}
	for _, v := range n.VLANs {
		created[v.Name] = true
	}
	var out []string
	add := func(s string) {
		if s != "" && !created[s] && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, b := range n.Bonds {
		for _, s := range b.Slaves {
			add(s)
		}
	}
	for _, v := range n.VLANs {
		add(v.Parent)
	}
	for _, c := range n.IP {
		add(c.Interface)
	}
	add(n.BootDev)
	for _, r := range n.Routes {
		add(r.Interface)
	}
	return out
}

// checkAuthMethod refuses rd.iscsi.param=node.session.auth.authmethod=
// that disagrees with the credentials: netroot uses CHAP exactly when a
// target has them, as iscsistart does once a username is given. CHAP
// with no credentials would log in with none, None with them would send
// them nowhere; either way the boot would not be what the line says.
func (p *parser) checkAuthMethod() {
	want := p.session.authMethod
	is := &p.plan.ISCSI
	if want == "" || is.Firmware { // the iBFT's targets carry their own
		return
	}
	auths := []Auth{is.Global}
	if !is.FromDHCP && !is.FromDHCP6 && len(is.Targets) > 0 {
		auths = auths[:0]
		for _, t := range is.Targets {
			auths = append(auths, t.Auth)
		}
	}
	for _, a := range auths {
		has := a.Username != ""
		if has == (want == "CHAP") {
			continue
		}
		arg := p.authMethodArg
		why := "no CHAP credentials are given, and netroot logs in with CHAP only when they are: " + whyCredentials
		if has {
			why = "CHAP credentials are given, and netroot logs in with them: drop them, or this setting"
		}
		p.fail(arg, arg.Value, grammarParam, fmt.Errorf("%w: node.session.auth.authmethod=%s, but %s", ErrConflict, want, why))
		return
	}
}
