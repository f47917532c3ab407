package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/netroot/netroot/pkg/blockdev"
)

// unsupportedRoots are root= schemes of other dracut modules.
var unsupportedRoots = []string{"nfs:", "nfs4:", "cifs:", "nbd:", "live:", "virtiofs:", "zfs:", "http:", "https:", "ftp:", "tftp:", "dhcp6"}

// rootKinds maps blockdev's selector kinds to the plan's.
var rootKinds = map[blockdev.SelectorKind]RootKind{
	blockdev.ByLabel: RootLabel, blockdev.ByUUID: RootUUID, blockdev.ByPartLabel: RootPartLabel,
	blockdev.ByPartUUID: RootPartUUID, blockdev.ByName: RootPath, blockdev.ByPath: RootPath,
}

// ParseRoot parses a block-device root= value (with dracut's optional
// "block:" prefix) as /init's blockdev.ParseSelector does: LABEL=,
// UUID=, PARTLABEL=, PARTUUID=, /dev/disk/by-{label,uuid,partlabel,
// partuuid}/… (which become the matching kind, with udev's \xNN escapes
// undone there and in LABEL= and PARTLABEL=, which dracut turns into
// by-label names as they are), an iSCSI disk's
// /dev/disk/by-path/ip-…-iscsi-…-lun-<n>[-part<n>], or /dev/<name>.
// iscsi:… and dhcp are handled by Parse.
func ParseRoot(value string) (Root, error) {
	v := strings.TrimPrefix(value, "block:")
	for _, s := range unsupportedRoots {
		if strings.HasPrefix(v, s) {
			return Root{}, fmt.Errorf("%w: root=%s… needs another dracut module", ErrUnsupported, strings.TrimSuffix(s, ":"))
		}
	}
	if v == "/dev/nfs" {
		return Root{}, fmt.Errorf("%w: NFS root", ErrUnsupported)
	}
	sel, err := blockdev.ParseSelector(v)
	if errors.Is(err, blockdev.ErrMappedName) {
		return Root{}, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if err != nil {
		return Root{}, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	r := Root{Kind: rootKinds[sel.Kind], Value: sel.Value}
	if r.Kind == RootPath {
		r.Value = sel.String()
	}
	return r, nil
}

// ISCSIPath returns the /dev/disk/by-path/ name (without the directory)
// of the whole disk of a target's LUN, as /init's scan computes it from
// the session: the portal's host as given, its port, the target name and
// the LUN.
func ISCSIPath(t Target) string {
	return blockdev.ISCSIPath{Address: t.Server, Port: t.Port, Target: t.Name, LUN: uint64(t.LUN)}.String()
}

// RootSpec returns the root device as blockdev.ParseSelector takes it:
// Root.Spec(), or, for a root that is the whole LUN of the DHCP root-path
// (root=dhcp, root=/dev/root netroot=dhcp), that LUN's by-path name once
// the boot found the target: the first of found (the targets DHCP
// root-paths gave), "" while there is none. The plan itself is never
// changed by what the boot finds.
func (p *Plan) RootSpec(found ...Target) string {
	if p.Root.Kind == RootISCSI && p.Root.Value == "" {
		if len(found) == 0 {
			return ""
		}
		return "/dev/disk/by-path/" + ISCSIPath(found[0])
	}
	return p.Root.Spec()
}

// validModuleName accepts kernel module names: letters, digits, '_' and '-'.
func validModuleName(s string) bool {
	if s == "" || len(s) > 55 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// foldModule folds '-' to '_' as the kernel does in module names.
func foldModule(s string) string { return strings.ReplaceAll(s, "-", "_") }

// notModuleNamespaces are dotted prefixes that are not module names.
var notModuleNamespaces = map[string]bool{"rd": true, "systemd": true, "udev": true, "plymouth": true}

// moduleParam records module.param[=value]; other parameters belong to the
// kernel (console=, loglevel=, BOOT_IMAGE=, initrd= …) and are skipped.
func (p *parser) moduleParam(a arg) {
	mod, param, ok := strings.Cut(a.Key, ".")
	if !ok || notModuleNamespaces[mod] {
		return
	}
	if !validModuleName(mod) || param == "" || strings.ContainsAny(param, " \t\"=") {
		return // not a module parameter: the kernel's business
	}
	s := param
	if a.HasValue {
		v := a.Value
		if strings.ContainsAny(v, " \t") {
			v = `"` + v + `"` // the kernel's parse_args reads quotes back
		}
		s += "=" + v
	}
	m := foldModule(mod)
	p.plan.Modules.Params[m] = append(p.plan.Modules.Params[m], s)
}
