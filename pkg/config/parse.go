package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/netname"
)

// Defaults Parse applies.
const (
	// DefaultRetry is dracut's rd.retry default.
	DefaultRetry = 180 * time.Second
	// DefaultInit is the init started in the real root without init=.
	DefaultInit = "/sbin/init"
)

// Grammars of the simple parameters, shown in errors.
const (
	grammarBool      = "0|1 (or no|off, anything else is true; bare means 1)"
	grammarSeconds   = "<seconds>"
	grammarRoot      = "LABEL=<label>|UUID=<uuid>|PARTLABEL=<label>|PARTUUID=<uuid>|/dev/disk/by-{label,uuid,partlabel,partuuid}/<name>|/dev/disk/by-path/ip-<address>:<port>-iscsi-<target>-lun-<n>[-part<n>]|/dev/<device>|iscsi:…"
	grammarEmergency = "reboot|poweroff|halt"
	grammarBreak     = "pre-net|pre-mount|pre-pivot (or bare rd.break)"
	grammarModules   = "<module>[,<module>…]"
	grammarISCSIName = "iqn.<yyyy-mm>.<reversed domain>[:<name>] | eui.<hex> | naa.<hex>"
	grammarParam     = "<iscsi setting>=<value>"
	grammarRootflags = "<mount option>[,<mount option>…] (mount(8)'s -o: noatime, nodev, … and the filesystem's own)"
	grammarScheme    = "v238|v239|v240|v241|v243|v245|v247|v249|v250|v251|v252|v253|v254|v255|v257|latest"
)

// keyAliases maps dracut's deprecated spellings (getarg -d) to the
// current ones.
var keyAliases = map[string]string{
	"iscsi_initiator":    "rd.iscsi.initiator",
	"iscsi_target_name":  "rd.iscsi.target.name",
	"iscsi_target_ip":    "rd.iscsi.target.ip",
	"iscsi_target_port":  "rd.iscsi.target.port",
	"iscsi_target_group": "rd.iscsi.target.group",
	"iscsi_username":     "rd.iscsi.username",
	"iscsi_password":     "rd.iscsi.password",
	"iscsi_in_username":  "rd.iscsi.in.username",
	"iscsi_in_password":  "rd.iscsi.in.password",
	"iscsi_param":        "rd.iscsi.param",
	"iscsi_firmware":     "rd.iscsi.firmware",
	// udev reads '-' and '_' alike in its keys.
	"net.naming_scheme": "net.naming-scheme",
}

// secretKind says how a parameter's value can carry a CHAP secret.
type secretKind int

const (
	secretValue    secretKind = iota + 1 // the value is the secret
	secretRootPath                       // a root path's credentials
	secretWords                          // a word of the value (node.session.auth.password=…, refused)
)

// secretParams are the parameters whose values can carry a CHAP secret, by
// their current names (keyAliases gives the others): the one list both the
// redaction (collectSecrets) and the environment's cleaning read.
var secretParams = map[string]secretKind{
	"rd.iscsi.password": secretValue, "rd.iscsi.in.password": secretValue,
	"rd.iscsi.param": secretWords,
	"netroot":        secretRootPath, "root": secretRootPath, "iscsiroot": secretRootPath,
}

// DropSecretEnv returns environ without the entries that can carry a CHAP
// secret: those named by a parameter that can (netroot=, and the legacy
// iscsiroot=, iscsi_password=, iscsi_in_password=, iscsi_param= that have
// no '.'),
// whatever their value, and those whose value holds one. The kernel puts
// every parameter it does not know whose name has no '.' into init's
// environment, which the real init and the emergency shell would inherit.
// environ is not modified.
func DropSecretEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			name := k
			if alias, found := keyAliases[name]; found {
				name = alias
			}
			if secretParams[name] != 0 || len(collectSecrets([]arg{{Key: k, Value: v, HasValue: true}})) > 0 {
				continue
			}
		}
		out = append(out, kv)
	}
	return out
}

// anacondaKeys are the companions of an anaconda-style ip=<IPv4>.
var anacondaKeys = []string{"netmask", "gateway", "hostname", "ksdevice", "mtu"}

// breakPoints are the rd.break= points netroot's /init stops at.
var breakPoints = map[string]bool{"pre-net": true, "pre-mount": true, "pre-pivot": true}

// dracutBreakPoints are dracut's other points: recognised, not supported.
var dracutBreakPoints = map[string]bool{
	"cmdline": true, "pre-udev": true, "pre-trigger": true, "initqueue": true,
	"mount": true, "cleanup": true,
}

// parser holds the state of one Parse call.
type parser struct {
	plan *Plan
	errs Errors
	// last holds the winning occurrence of each single-valued parameter,
	// order their first appearance.
	last  map[string]arg
	order []string
	// ro/rw: the last of them wins.
	rorw *arg
	// rootflagsMode is rootflags='s own ro or rw, "" without one.
	rootflagsMode string
	// pending anaconda-style ip=<address> configs: index in plan.Net.IP.
	anaconda map[int]netip.Addr
	// netroot=iscsi (bare) seen.
	bareISCSI *arg
	// legacyRoot is dracut's deprecated iscsiroot=, when it names the
	// root's target (root=iscsi): read as root=iscsi:<its value>.
	legacyRoot *arg
	// firmware is rd.iscsi.firmware=1 (or a bare netroot=iscsi without
	// rd.iscsi.target.name); ibft is rd.iscsi.ibft=1 or ip=ibft.
	firmware, ibft bool
	// dhcpArg is netroot=dhcp, dhcp6Arg netroot=dhcp6, for errors.
	dhcpArg, dhcp6Arg *arg
	// ipArgs are the ip= parameters, parallel to plan.Net.IP.
	ipArgs []arg
	// authFields per target, parallel to plan.ISCSI.Targets.
	authFields []int
	// targetArgs per target, parallel to plan.ISCSI.Targets.
	targetArgs []arg
	// warned holds the parameters already warned about.
	warned   map[string]bool
	hasBreak bool
	// session accumulates rd.iscsi.param=.
	session iscsiSession
	// authMethodArg is the rd.iscsi.param= that set
	// node.session.auth.authmethod, for its error.
	authMethodArg arg
	// blacklistArgs are the rd.driver.blacklist= parameters by the
	// module they name (the first that names it), for errors.
	blacklistArgs map[string]arg
}

// Parse reads the command line in sources and returns the boot plan. The
// caller passes the initramfs's /etc/cmdline.d/*.conf files first, sorted,
// and /proc/cmdline last, which is the order of dracut's getcmdline: for a
// single-valued parameter the last occurrence wins, repeatable ones (ip=,
// bond=, vlan=, ifname=, rd.route=, nameserver=, netroot=, rd.break=,
// rd.driver.*=, rd.iscsi.param=, module.param=) accumulate in order.
//
// Each source is split as the kernel splits the command line (double quotes
// group, no escapes); lines starting with '#' are comments. On failure
// Parse returns Errors listing every problem, with secrets redacted.
func Parse(sources ...Source) (*Plan, error) {
	p := &parser{
		plan:     newPlan(),
		last:     map[string]arg{},
		anaconda: map[int]netip.Addr{},
		warned:   map[string]bool{},
		session:  iscsiSession{gated: !supportSession},

		blacklistArgs: map[string]arg{},
	}
	var all []arg
	for _, s := range sources {
		args, rest, _ := splitCmdline(sourceLines(s.Text), s.Name)
		all = append(all, args...)
		p.plan.Root.InitArgs = append(p.plan.Root.InitArgs, rest...)
	}
	for _, a := range dedupe(all) {
		if a.Unclosed {
			p.unclosed(a)
			continue
		}
		p.collect(a)
	}
	for _, k := range p.order {
		p.single(p.last[k])
	}
	p.finish()
	if len(p.errs) > 0 {
		redactErrors(p.errs, collectSecrets(all))
		return nil, p.errs
	}
	return p.plan, nil
}

// dedupe drops the copies of a parameter repeated with the same value:
// the same lines baked into /etc/cmdline.d and given again on the kernel
// command line describe one bond, one address, one target — not two that
// conflict.
//
// A repeatable parameter that lists things (ip=, bond=, vlan=, netroot=,
// rd.route=, nameserver=, rd.driver.* …: entity) keeps its first copy,
// so that the things keep the order they were first given in. Any other
// keeps its last copy: a single-valued parameter's last occurrence wins
// (dracut's getarg, the kernel's last of ro and rw), and so does the last
// value of an rd.iscsi.param= setting or a module parameter (iscsiadm
// and the kernel apply them in order); keeping the first copy would make
// rd.shell=0 rd.shell=1 rd.shell=0 end with rd.shell=1.
func dedupe(args []arg) []arg {
	type key struct {
		k, v string
		has  bool
	}
	keyOf := func(a arg) key {
		k := a.Key
		if alias, ok := keyAliases[k]; ok {
			k = alias
		}
		return key{k, a.Value, a.HasValue}
	}
	// lastAt is the index of each key's last copy.
	lastAt := map[key]int{}
	for i, a := range args {
		lastAt[keyOf(a)] = i
	}
	seen := map[key]bool{}
	out := args[:0:0]
	for i, a := range args {
		k := keyOf(a)
		if entity(k.k) {
			if seen[k] {
				continue
			}
			seen[k] = true
		} else if lastAt[k] != i {
			continue
		}
		out = append(out, a)
	}
	return out
}

// entity reports whether a parameter (by its current name) is a
// repeatable one whose occurrences are things in a list (an address, a
// bond, a target), not settings of which the last wins (rd.iscsi.param=).
func entity(key string) bool {
	info, ok := lookupParam(key)
	return ok && info.Repeat && key != "rd.iscsi.param"
}

// newPlan returns a plan holding the defaults.
func newPlan() *Plan {
	return &Plan{
		Net:     Net{PeerDNS: true},
		ISCSI:   ISCSI{TestRoute: true},
		Root:    Root{Init: DefaultInit},
		Boot:    Boot{Shell: true, Keeper: true, OSConfig: true, Retry: DefaultRetry},
		Modules: Modules{Params: map[string][]string{}},
	}
}

// fail records a problem with parameter a.
func (p *parser) fail(a arg, value, expected string, err error) {
	p.errs = append(p.errs, &ParamError{Source: a.Source, Param: scrubSecrets(a.Key), Value: scrubSecrets(value), Expected: expected, Err: err})
}

// unclosed records a parameter whose opening double quote is never closed:
// the kernel would make everything after it part of its value, so the
// parameters swallowed would silently not apply. Only the part before the
// first white space is shown (the rest may hold a secret).
func (p *parser) unclosed(a arg) {
	v := a.String()
	if i := strings.IndexFunc(v, func(r rune) bool { return r < 0x80 && isKernelSpace(byte(r)) }); i >= 0 {
		v = v[:i] + "…"
	}
	p.errs = append(p.errs, &ParamError{Source: a.Source, Param: scrubSecrets(v),
		Err: hint.Wrap(fmt.Errorf("%w: a double quote opened here is never closed, so everything after it became part of this parameter", ErrSyntax), "close the quote")})
}

// failCross records a problem that involves several parameters.
func (p *parser) failCross(param, value string, err error) {
	p.errs = append(p.errs, &ParamError{Param: param, Value: value, Err: err})
}

// warn records a parameter accepted with a note, once per parameter.
func (p *parser) warn(param, note string) {
	if p.warned[param] {
		return
	}
	p.warned[param] = true
	w := Warning{Param: scrubSecrets(param), Note: note}
	p.plan.Warnings = append(p.plan.Warnings, w)
	p.plan.Ignored = append(p.plan.Ignored, w.String())
}

// collect handles one parameter in order: repeatable ones at once,
// single-valued ones are remembered for later, the others by their
// verdict in the parameter table.
func (p *parser) collect(a arg) {
	if k, ok := keyAliases[a.Key]; ok {
		a.Key = k
	}
	if a.Key == "ro" || a.Key == "rw" {
		if !a.HasValue {
			a := a
			p.rorw = &a
		}
		return
	}
	info, known := lookupParam(a.Key)
	if !known {
		p.unknown(a)
		return
	}
	switch info.Verdict {
	case Acted:
		if info.Repeat {
			p.repeated(a)
			return
		}
		if _, ok := p.last[a.Key]; !ok {
			p.order = append(p.order, a.Key)
		}
		p.last[a.Key] = a
	case NoOp:
	case Warned:
		p.warn(a.Key, info.Doc)
	case OffOnly:
		if info.Repeat {
			p.offOnly(a, info)
			return
		}
		// The last occurrence says whether the feature is off
		// (getargbool): rd.lvm=1 … rd.lvm=0 turns LVM off.
		if _, ok := p.last[a.Key]; !ok {
			p.order = append(p.order, a.Key)
		}
		p.last[a.Key] = a
	case Refused:
		p.fail(a, shownValue(a), "", fmt.Errorf("%w: %s", ErrUnsupported, info.Doc))
	}
}

// offOnly refuses a parameter of a feature netroot lacks unless it turns
// the feature off.
func (p *parser) offOnly(a arg, info Parameter) {
	if !isOff(a) {
		p.fail(a, shownValue(a), "", fmt.Errorf("%w: %s", ErrUnsupported, info.Doc))
	}
}

// shownValue is the value of a parameter shown in an error: its value,
// unless that may be a secret.
func shownValue(a arg) string {
	if strings.Contains(strings.ToLower(a.Key), "pass") || strings.Contains(strings.ToLower(a.Key), "key") {
		return ""
	}
	return a.Value
}

// unknown handles a parameter the table lacks: a typo in netroot's or
// the iSCSI namespace is an error, another rd.* parameter a warning, and
// anything else belongs to a module or the kernel.
func (p *parser) unknown(a arg) {
	hint := ""
	if strings.HasPrefix(a.Key, "rd.") {
		if c := closest(a.Key, knownNames()); c != "" {
			hint = " (did you mean " + c + "?)"
		}
	}
	switch {
	case strings.HasPrefix(a.Key, "rd.iscsi."), strings.HasPrefix(a.Key, "rd.netroot."):
		p.fail(a, "", "", fmt.Errorf("%w: unknown parameter%s", ErrSyntax, hint))
	case strings.HasPrefix(a.Key, "rd."):
		p.warn(a.Key, "not a parameter netroot knows; ignored"+hint)
	default:
		p.moduleParam(a)
	}
}

// value returns a's value, or records that it needs one.
func (p *parser) value(a arg, expected string) (string, bool) {
	if !a.HasValue {
		p.fail(a, "", expected, fmt.Errorf("%w: needs a value", ErrSyntax))
		return "", false
	}
	return a.Value, true
}

// repeated handles one occurrence of a repeatable parameter.
func (p *parser) repeated(a arg) {
	n := &p.plan.Net
	switch a.Key {
	case "ip":
		v, ok := p.value(a, grammarIP)
		if !ok {
			return
		}
		c, anaconda, err := parseIP(v)
		if err == nil {
			err = p.ipSupported(a, c)
		}
		if err != nil {
			p.fail(a, v, grammarIP, err)
			return
		}
		if c.Method == IPIBFT {
			p.ibft = true // the network from the iBFT: no entry of its own
			return
		}
		if anaconda.IsValid() {
			p.anaconda[len(n.IP)] = anaconda
		}
		n.IP = append(n.IP, c)
		p.ipArgs = append(p.ipArgs, a)
	case "bond":
		b, err := ParseBond(a.Value)
		if err != nil {
			p.fail(a, a.Value, grammarBond, err)
			return
		}
		n.Bonds = append(n.Bonds, b)
	case "vlan":
		v, ok := p.value(a, grammarVLAN)
		if !ok {
			return
		}
		vl, err := ParseVLAN(v)
		if err != nil {
			p.fail(a, v, grammarVLAN, err)
			return
		}
		n.VLANs = append(n.VLANs, vl)
	case "ifname":
		v, ok := p.value(a, grammarIfname)
		if !ok {
			return
		}
		r, err := ParseRename(v)
		if err != nil {
			p.fail(a, v, grammarIfname, err)
			return
		}
		n.Renames = append(n.Renames, r)
	case "rd.route":
		v, ok := p.value(a, grammarRoute)
		if !ok {
			return
		}
		r, err := ParseRoute(v)
		if err != nil {
			p.fail(a, v, grammarRoute, err)
			return
		}
		n.Routes = append(n.Routes, r)
	case "nameserver":
		v, ok := p.value(a, "<IP>")
		if !ok {
			return
		}
		ad, err := parseAddr(v)
		if err != nil {
			p.fail(a, v, "<IP>", err)
			return
		}
		n.Nameservers = append(n.Nameservers, ad)
	case "netroot":
		p.netroot(a)
	case "rd.break":
		switch {
		case !a.HasValue:
			p.addBreak("")
		case breakPoints[a.Value]:
			p.addBreak(a.Value)
		case dracutBreakPoints[a.Value]:
			p.warn("rd.break="+a.Value, "not supported: netroot stops only at pre-net, pre-mount and pre-pivot (and before switch_root with a bare rd.break)")
		default:
			p.fail(a, a.Value, grammarBreak, fmt.Errorf("%w: unknown break point", ErrSyntax))
		}
		p.hasBreak = true
	case "rd.driver.pre", "rd.driver.blacklist", "rd.driver.post":
		v, ok := p.value(a, grammarModules)
		if !ok {
			return
		}
		var mods []string
		for _, m := range strings.Split(v, ",") {
			if !validModuleName(m) {
				p.fail(a, v, grammarModules, fmt.Errorf("%w: %q is not a module name", ErrSyntax, m))
				return
			}
			mods = append(mods, foldModule(m))
		}
		switch a.Key {
		case "rd.driver.pre":
			p.plan.Modules.Pre = appendNew(p.plan.Modules.Pre, mods...)
		case "rd.driver.blacklist":
			p.plan.Modules.Blacklist = appendNew(p.plan.Modules.Blacklist, mods...)
			for _, m := range mods {
				if _, ok := p.blacklistArgs[m]; !ok {
					p.blacklistArgs[m] = a
				}
			}
		default:
			p.plan.Modules.Post = appendNew(p.plan.Modules.Post, mods...)
		}
	case "rd.iscsi.param":
		v, ok := p.value(a, grammarParam)
		if !ok {
			return
		}
		k, val, found := strings.Cut(v, "=")
		if !found || k == "" || strings.ContainsAny(k, " \t") {
			p.fail(a, "***", grammarParam, fmt.Errorf("%w: not key=value", ErrSyntax))
			return
		}
		if err := p.session.add(k, val); err != nil {
			shown := v
			if strings.Contains(strings.ToLower(k), "password") || strings.Contains(strings.ToLower(k), "username") {
				shown = k + "=***"
			}
			p.fail(a, shown, grammarParam, err)
			return
		}
		if k == "node.session.auth.authmethod" {
			p.authMethodArg = a
		}
		if k == "node.session.timeo.replacement_timeout" && strings.TrimSpace(val) == "0" {
			p.warn("rd.iscsi.param="+v, "a replacement timeout of 0 fails the root's I/O as soon as its connection fails, as in open-iscsi; without a second path (multipath), give seconds, or -1 to queue I/O until the keeper recovers the session")
		}
	}
}

// addBreak records a break point once.
func (p *parser) addBreak(point string) {
	for _, b := range p.plan.Boot.Breaks {
		if b == point {
			return
		}
	}
	p.plan.Boot.Breaks = append(p.plan.Boot.Breaks, point)
}

// appendNew appends the strings of add not yet in list.
func appendNew(list []string, add ...string) []string {
next:
	for _, a := range add {
		for _, l := range list {
			if l == a {
				continue next
			}
		}
		list = append(list, a)
	}
	return list
}

// netroot handles one netroot= parameter.
func (p *parser) netroot(a arg) {
	v, ok := p.value(a, grammarNetroot)
	if !ok {
		return
	}
	switch {
	case v == "dhcp":
		p.plan.ISCSI.FromDHCP = true
		a := a
		p.dhcpArg = &a
	case v == "dhcp6":
		p.plan.ISCSI.FromDHCP6 = true
		a := a
		p.dhcp6Arg = &a
	case v == "iscsi" || v == "iscsi:":
		// Targets from rd.iscsi.target.* or from the firmware.
		a := a
		p.bareISCSI = &a
	case strings.HasPrefix(v, "iscsi:"):
		p.addTarget(a, v)
	default:
		scheme, _, _ := strings.Cut(v, ":")
		switch scheme {
		case "nfs", "nfs4", "nbd", "cifs", "fcoe", "nvmf":
			// Other dracut modules' network roots.
			p.fail(a, scheme+":…", grammarNetroot, fmt.Errorf("%w: netroot boots iSCSI roots only", ErrUnsupported))
		default:
			p.fail(a, redactNetroot(v), grammarNetroot, fmt.Errorf("%w: unknown network root", ErrSyntax))
		}
	}
}

// addTarget parses the iscsi:… root path v of parameter a (netroot='s
// value, or iscsiroot='s with the prefix) and appends its target.
func (p *parser) addTarget(a arg, v string) {
	t, n, err := parseISCSIRoot(v)
	if err != nil {
		p.fail(a, redactNetroot(a.Value), grammarNetroot, err)
		return
	}
	p.plan.ISCSI.Targets = append(p.plan.ISCSI.Targets, t)
	p.authFields = append(p.authFields, n)
	p.targetArgs = append(p.targetArgs, arg{Key: a.Key, Value: redactNetroot(a.Value), HasValue: true, Source: a.Source})
}

// parseBool reads a dracut boolean as getargbool does.
func parseBool(a arg) bool {
	if !a.HasValue {
		return true
	}
	switch a.Value {
	case "0", "no", "off":
		return false
	}
	return true
}

// seconds parses a non-negative number of seconds.
func (p *parser) seconds(a arg) (time.Duration, bool) {
	v, ok := p.value(a, grammarSeconds)
	if !ok {
		return 0, false
	}
	n, err := parseUint(v, 0, 1<<31-1)
	if err != nil {
		p.fail(a, v, grammarSeconds, err)
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// single handles the winning occurrence of a single-valued parameter.
func (p *parser) single(a arg) {
	if info, _ := lookupParam(a.Key); info.Verdict == OffOnly {
		p.offOnly(a, info)
		return
	}
	pl := p.plan
	switch a.Key {
	case "root", "iscsiroot":
		// handled in finish, which knows netroot=.
	case "rootfstype":
		grammar := "auto|" + strings.Join(blockdev.FilesystemTypes(), "|")
		v, ok := p.value(a, grammar)
		if !ok {
			return
		}
		if v == "auto" {
			v = "" // dracut.cmdline(7): "auto" if not specified.
		}
		if v != "" && blockdev.FSModule(v) == "" {
			err := fmt.Errorf("%w: netroot recognises and mounts only %s roots", ErrUnsupported, strings.Join(blockdev.FilesystemTypes(), ", "))
			if !validFSType(v) {
				err = fmt.Errorf("%w: invalid filesystem type", ErrSyntax)
			}
			p.fail(a, v, grammar, err)
			return
		}
		pl.Root.FSType = v
	case "rootflags":
		// mount(8)'s options, as dracut passes them to mount -o: /init
		// splits them the same way (blockdev.ParseMountOptions).
		o, err := blockdev.ParseMountOptions(a.Value)
		if err != nil {
			p.fail(a, a.Value, grammarRootflags, fmt.Errorf("%w: %w", ErrUnsupported, err))
			return
		}
		pl.Root.Flags = a.Value
		p.rootflagsMode = o.Mode
	case "init":
		v, ok := p.value(a, "<absolute path>")
		if !ok {
			return
		}
		if !strings.HasPrefix(v, "/") {
			p.fail(a, v, "<absolute path>", fmt.Errorf("%w: init must be an absolute path", ErrSyntax))
			return
		}
		pl.Root.Init = v
	case "BOOTIF":
		v, ok := p.value(a, grammarBootIF)
		if !ok {
			return
		}
		m, err := ParseBootIF(v)
		if err != nil {
			p.fail(a, v, grammarBootIF, err)
			return
		}
		pl.Net.BootIF = m
	case "net.ifnames":
		on, err := netname.ParseIfnames(a.Value)
		if err != nil {
			p.fail(a, a.Value, "0|1", fmt.Errorf("%w: want 0 (the kernel's names) or 1 (predictable names)", ErrSyntax))
			return
		}
		pl.Net.Names.Ifnames = IfnamesOff
		if on {
			pl.Net.Names.Ifnames = IfnamesOn
		}
	case "net.naming-scheme":
		v, ok := p.value(a, grammarScheme)
		if !ok {
			return
		}
		if _, err := netname.ParseScheme(v); err != nil {
			p.fail(a, v, grammarScheme, fmt.Errorf("%w: unknown naming scheme %q", ErrSyntax, v))
			return
		}
		pl.Net.Names.Scheme = v
	case "rd.iscsi.firmware":
		p.firmware = parseBool(a)
	case "rd.iscsi.ibft":
		p.ibft = p.ibft || parseBool(a)
	case "rd.multipath", "rd.netroot.multipath":
		// finishMultipath: rd.netroot.multipath wins, wherever it is.
	case "rd.bootif", "rd.neednet", "rd.iscsi.waitnet", "rd.iscsi.testroute", "rd.info", "biosdevname",
		"rd.shell", "rd.debug", "quiet", "rd.peerdns", "rd.netroot.keeper", "rd.netroot.async_probe", "rd.netroot.osconfig":
		// handled below / in finish
		b := parseBool(a)
		switch a.Key {
		case "rd.peerdns":
			pl.Net.PeerDNS = b
		case "rd.neednet":
			pl.Net.NeedNet = b
		case "rd.iscsi.waitnet":
			pl.ISCSI.WaitNet = WaitNetOff
			if b {
				pl.ISCSI.WaitNet = WaitNetAll
			}
		case "biosdevname":
			if b {
				p.warn("biosdevname=1", "netroot does not rename NICs by their BIOS names: the kernel's names stay (pin them with ifname=)")
			}
		case "rd.iscsi.testroute":
			pl.ISCSI.TestRoute = b
		case "rd.shell":
			pl.Boot.Shell = b
		case "rd.netroot.keeper":
			pl.Boot.Keeper = b
		case "rd.netroot.async_probe":
			pl.Boot.AsyncProbe = b
		case "rd.netroot.osconfig":
			pl.Boot.OSConfig = b
		case "rd.debug":
			pl.Boot.Debug = b
		case "quiet":
			pl.Boot.Quiet = b
		}
	case "bootdev":
		v, ok := p.value(a, "<interface>")
		if !ok {
			return
		}
		if err := checkIfname(v, false); err != nil {
			p.fail(a, v, "<interface>", err)
			return
		}
		pl.Net.BootDev = v
	case "rd.iscsi.initiator":
		v, ok := p.value(a, grammarISCSIName)
		if !ok {
			return
		}
		if err := checkISCSIName("initiator name", v); err != nil {
			p.fail(a, v, grammarISCSIName, err)
			return
		}
		pl.ISCSI.Initiator = v
	case "rd.iscsi.transport":
		v, ok := p.value(a, "tcp")
		if ok && v != "tcp" && v != "iscsi_tcp" {
			p.fail(a, v, "tcp", fmt.Errorf("%w: netroot's initiator uses the kernel's iscsi_tcp; offload transports are not supported", ErrUnsupported))
		}
	case "rd.iscsi.login_retry_max":
		v, ok := p.value(a, "<num>")
		if !ok {
			return
		}
		n, err := parseUint(v, 0, 10000)
		if err != nil {
			p.fail(a, v, "<num> (0-10000)", err)
			return
		}
		pl.ISCSI.LoginRetryMax, pl.ISCSI.LoginRetryParam = n, a.Key
	case "rd.emergency":
		v, _ := p.value(a, grammarEmergency)
		switch e := Emergency(v); e {
		case EmergencyReboot, EmergencyPoweroff, EmergencyHalt:
			pl.Boot.Emergency = e
		default:
			if a.HasValue {
				p.fail(a, v, grammarEmergency, fmt.Errorf("%w: unknown action", ErrSyntax))
			}
		}
	case "rd.retry":
		if d, ok := p.seconds(a); ok {
			pl.Boot.Retry = d
		}
	case "rd.timeout":
		if d, ok := p.seconds(a); ok {
			pl.Boot.Timeout = d
		}
	}
}

// validFSType accepts filesystem type names: lower-case letters, digits,
// '_', '.', '-' and '+' (fuse.sshfs, ext4, ntfs-3g), up to 32 bytes.
func validFSType(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '+') {
			return false
		}
	}
	return true
}
