package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// finish applies the rules that involve several parameters.
func (p *parser) finish() {
	pl := p.plan
	if p.rorw != nil {
		pl.Root.ReadWrite = p.rorw.Key == "rw"
	}
	if a, ok := p.last["rd.bootif"]; ok && !parseBool(a) {
		pl.Net.BootIF = nil
	}
	p.finishAnaconda()
	p.finishISCSI()
	p.finishRoot()
	p.finishNet()
	if !pl.Boot.Shell && pl.Boot.Emergency == "" {
		// emergency_shell(): no shell and no rd.emergency → poweroff.
		pl.Boot.Emergency = EmergencyPoweroff
	}
	if pl.Boot.Emergency == "" {
		pl.Boot.Emergency = EmergencyShell
	}
}

// finishAnaconda completes ip=<IPv4> from netmask=, gateway=, hostname=,
// ksdevice= and mtu=, as net-lib.sh's ip_to_var does.
func (p *parser) finishAnaconda() {
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
			} else {
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

// finishISCSI builds the rd.iscsi.target.* target and applies the global
// credentials.
func (p *parser) finishISCSI() {
	pl := p.plan
	is := &pl.ISCSI
	name, hasName := p.last["rd.iscsi.target.name"]
	if hasName && name.Value != "" {
		t := Target{Name: name.Value, Port: DefaultTargetPort, Group: 1}
		ok := true
		if err := checkISCSIName("target name", t.Name); err != nil {
			p.fail(name, name.Value, grammarISCSIName, err)
			ok = false
		}
		if ip, found := p.last["rd.iscsi.target.ip"]; found && ip.Value != "" {
			t.Server = strings.Trim(ip.Value, "[]")
			if strings.ContainsAny(t.Server, " \t@/") {
				p.fail(ip, ip.Value, "<target ip>", fmt.Errorf("%w: invalid server", ErrSyntax))
				ok = false
			}
		} else {
			p.fail(name, name.Value, grammarISCSIName, fmt.Errorf("%w: rd.iscsi.target.name needs rd.iscsi.target.ip (discovery is not supported)", ErrMissing))
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
		if g, found := p.last["rd.iscsi.target.group"]; found && g.Value != "" {
			n, err := parseUint(g.Value, 0, 65535)
			if err != nil {
				p.fail(g, g.Value, "<target group>", err)
				ok = false
			}
			t.Group = n
		}
		if ok {
			is.Targets = append(is.Targets, t)
			p.authFields = append(p.authFields, 0)
			p.targetArgs = append(p.targetArgs, name)
		}
	} else {
		for _, k := range []string{"rd.iscsi.target.ip", "rd.iscsi.target.port", "rd.iscsi.target.group"} {
			if a, found := p.last[k]; found {
				p.fail(a, a.Value, "", fmt.Errorf("%w: %s needs rd.iscsi.target.name", ErrMissing, k))
			}
		}
	}
	if p.bareISCSI != nil && !(hasName && name.Value != "") {
		p.fail(*p.bareISCSI, p.bareISCSI.Value, grammarNetroot,
			fmt.Errorf("%w: netroot=iscsi without rd.iscsi.target.name: targets from the firmware (iBFT) are not supported", ErrUnsupported))
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
	p.global = global
	for i := range is.Targets {
		t := &is.Targets[i]
		switch n := p.authFields[i]; {
		case n == 0:
			t.Auth = global
		case n <= 2:
			t.Auth.InUsername, t.Auth.InPassword = global.InUsername, global.InPassword
		}
		if err := checkAuth(t.Auth); err != nil {
			a := p.targetArgs[i]
			p.fail(a, a.Value, grammarNetroot+"; or rd.iscsi.username= with rd.iscsi.password=", err)
		}
	}
	seen := map[string]int{}
	for i, t := range is.Targets {
		key := t.Portal() + "/" + t.Name + fmt.Sprintf("/%d", t.LUN)
		if j, dup := seen[key]; dup {
			p.failCross("netroot", p.targetArgs[i].Value, fmt.Errorf("%w: same target and LUN as target %d", ErrConflict, j+1))
		}
		seen[key] = i
	}
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
		// the root; it takes precedence and comes first.
		if a.Value == "iscsi" || a.Value == "iscsi:" {
			p.fail(a, a.Value, grammarNetroot, fmt.Errorf("%w: root=iscsi needs a target", ErrSyntax))
			return
		}
		t, n, err := parseISCSIRoot(a.Value)
		if err != nil {
			p.fail(a, redactNetroot(a.Value), grammarNetroot, err)
			return
		}
		// credentials as for netroot=
		is := &pl.ISCSI
		glob := p.global
		switch {
		case n == 0:
			t.Auth = glob
		case n <= 2:
			t.Auth.InUsername, t.Auth.InPassword = glob.InUsername, glob.InPassword
		}
		if err := checkAuth(t.Auth); err != nil {
			p.fail(a, redactNetroot(a.Value), grammarNetroot, err)
			return
		}
		is.Targets = append([]Target{t}, is.Targets...)
		pl.Root.Kind, pl.Root.Value = RootISCSI, ""
	case a.Value == "dhcp" || (a.Value == "/dev/root" && pl.ISCSI.FromDHCP):
		pl.ISCSI.FromDHCP = true
		pl.Root.Kind, pl.Root.Value = RootISCSI, ""
	default:
		r, err := ParseRoot(a.Value)
		if err != nil {
			p.fail(a, a.Value, grammarRoot, err)
			return
		}
		pl.Root.Kind, pl.Root.Value = r.Kind, r.Value
	}
}

// finishNet checks the network parameters against each other, the way
// parse-ip-opts.sh and ifup do, and decides whether the network is needed.
func (p *parser) finishNet() {
	pl := p.plan
	n := &pl.Net
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
	for _, v := range n.VLANs {
		if what, dup := created[v.Name]; dup {
			p.failCross("vlan", v.Name+":"+v.Parent, fmt.Errorf("%w: %s is already created by %s", ErrConflict, v.Name, what))
		}
		created[v.Name] = "vlan=" + v.Name
		if b, ok := slaveOf[v.Parent]; ok {
			p.failCross("vlan", v.Name+":"+v.Parent, fmt.Errorf("%w: %s is a slave of %s", ErrConflict, v.Parent, b))
		}
	}
	for _, b := range n.Bonds {
		for _, s := range b.Slaves {
			if what, ok := created[s]; ok && strings.HasPrefix(what, "bond=") {
				p.failCross("bond", b.Name, fmt.Errorf("%w: slave %s is itself a bond", ErrConflict, s))
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

	if len(pl.ISCSI.Targets) > 0 || pl.ISCSI.FromDHCP {
		n.NeedNet = true
	}
	if n.NeedNet && len(n.IP) == 0 {
		// parse-ip-opts.sh: "No ip= argument(s) for netroot provided,
		// defaulting to DHCP".
		n.IP = append(n.IP, IPConfig{Method: IPDHCP, Implicit: true})
	}
}
