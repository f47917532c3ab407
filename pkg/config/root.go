package config

import (
	"fmt"
	"strconv"
	"strings"
)

// unsupportedRoots are root= schemes of other dracut modules.
var unsupportedRoots = []string{"nfs:", "nfs4:", "cifs:", "nbd:", "live:", "virtiofs:", "zfs:", "http:", "https:", "ftp:", "tftp:", "dhcp6"}

// byPath maps the udev symlink directories to the root kind they stand for.
var byPath = []struct {
	dir  string
	kind RootKind
}{
	{"/dev/disk/by-label/", RootLabel},
	{"/dev/disk/by-uuid/", RootUUID},
	{"/dev/disk/by-partlabel/", RootPartLabel},
	{"/dev/disk/by-partuuid/", RootPartUUID},
}

// ParseRoot parses a block-device root= value: LABEL=, UUID=, PARTLABEL=,
// PARTUUID=, or a /dev path (with dracut's optional "block:" prefix).
// /dev/disk/by-label/… and its siblings become the matching kind, with
// udev's \xNN escapes undone (dracut's label_uuid_to_dev writes '/' as
// \x2f and ' ' as \x20 in these names). iscsi:… and dhcp are handled by
// Parse.
func ParseRoot(value string) (Root, error) {
	v := strings.TrimPrefix(value, "block:")
	for _, k := range []RootKind{RootLabel, RootUUID, RootPartLabel, RootPartUUID} {
		if rest, ok := strings.CutPrefix(v, string(k)+"="); ok {
			if rest == "" {
				return Root{}, fmt.Errorf("%w: empty %s", ErrSyntax, k)
			}
			return Root{Kind: k, Value: rest}, nil
		}
	}
	for _, s := range unsupportedRoots {
		if strings.HasPrefix(v, s) {
			return Root{}, fmt.Errorf("%w: root=%s… needs another dracut module", ErrUnsupported, strings.TrimSuffix(s, ":"))
		}
	}
	if v == "/dev/nfs" {
		return Root{}, fmt.Errorf("%w: NFS root", ErrUnsupported)
	}
	if !strings.HasPrefix(v, "/dev/") || len(v) == len("/dev/") {
		return Root{}, fmt.Errorf("%w: not a block device path", ErrSyntax)
	}
	for _, b := range byPath {
		if rest, ok := strings.CutPrefix(v, b.dir); ok && rest != "" && !strings.Contains(rest, "/") {
			return Root{Kind: b.kind, Value: unescapeUdev(rest)}, nil
		}
	}
	return Root{Kind: RootPath, Value: v}, nil
}

// unescapeUdev undoes udev's \xNN escapes.
func unescapeUdev(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
