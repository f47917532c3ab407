package config

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"path"
	"sort"
	"strings"
)

const (
	grammarNetroot = "iscsi:[<username>:<password>[:<reverse>:<password>]@][<servername>]:[<protocol>]:[<port>]" +
		"[:[<iscsi_iface_name>]:[<netdev_name>]]:[<LUN>]:<targetname> | dhcp (IPv6 servers in brackets)"
	grammarSecret = "<secret> | @<absolute path inside the initramfs>"
)

// DefaultTargetPort is the iSCSI port used when none is given.
const DefaultTargetPort = 3260

// DefaultInitiatorPrefix starts the initiator names DefaultInitiator makes.
const DefaultInitiatorPrefix = "iqn.2015-01.dev.netroot:"

// DefaultInitiator returns the initiator name /init uses when the command
// line gives none (dracut runs iscsi-iname, which is random; netroot's is
// deterministic so that targets can ACL it): DefaultInitiatorPrefix followed
// by the MAC address in lower-case hex without separators, e.g.
// iqn.2015-01.dev.netroot:525400123456. It returns "" for an empty address.
func DefaultInitiator(mac net.HardwareAddr) string {
	if len(mac) == 0 {
		return ""
	}
	return DefaultInitiatorPrefix + fmt.Sprintf("%x", []byte(mac))
}

// checkISCSIName accepts iSCSI names (RFC 3720 §3.2.6): at most 223 bytes,
// no white space, control characters or '/' (which RFC 3722's names
// never hold, and which no /dev/disk/by-path/ name of the target's disks
// could). The iqn./eui./naa. prefix is not required, as dracut does not
// require it either.
func checkISCSIName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrSyntax, what)
	}
	if len(s) > 223 {
		return fmt.Errorf("%w: %s longer than 223 bytes", ErrSyntax, what)
	}
	if hasSpaceOrControl(s) {
		return fmt.Errorf("%w: %s %q contains white space or a control character", ErrSyntax, what, s)
	}
	if strings.Contains(s, "/") {
		return fmt.Errorf("%w: %s %q contains '/', which an iSCSI name cannot hold (RFC 3722: letters, digits, '.', '-' and ':') and no /dev/disk/by-path/ name of its disk could: use ':', '.' or '-' instead", ErrSyntax, what, s)
	}
	return nil
}

// hasSpaceOrControl reports an ASCII space or control byte in s.
func hasSpaceOrControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// ParseSecret parses a CHAP secret: a leading '@' names a file inside the
// initramfs holding it (it must be an absolute, clean path); "@@" stands
// for a literal leading '@'.
func ParseSecret(s string) (Secret, error) {
	switch {
	case strings.HasPrefix(s, "@@"):
		return NewSecret(s[1:]), nil
	case strings.HasPrefix(s, "@"):
		p := s[1:]
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			// The path is not echoed: it may be a password that happens
			// to start with '@' (write it as "@@…").
			return Secret{}, fmt.Errorf("%w: a secret file must be an absolute, clean path (write a literal leading '@' as \"@@\")", ErrSyntax)
		}
		return SecretFile(p), nil
	}
	return NewSecret(s), nil
}

// redactSecret shows a secret value in an error: file secrets keep their
// path, inline ones become ***.
func redactSecret(s string) string {
	if sec, err := ParseSecret(s); err == nil && sec.File != "" {
		return s
	}
	if s == "" {
		return ""
	}
	return "***"
}

// RedactRootPath returns a root path (netroot=, root=, a DHCP root-path
// or boot file URL) fit for files and logs: an iSCSI one ("iscsi:…") with
// its CHAP passwords replaced by ***; another holding an '@' (a URL's
// user:password@, or an iSCSI path without "iscsi:") with all before the
// '@' that may end credentials replaced by ***, as its layout is not
// known; anything else unchanged.
func RedactRootPath(v string) string {
	if strings.HasPrefix(v, "iscsi:") {
		return redactNetroot(v)
	}
	if end := credsEnd(v); end >= 0 {
		return "***" + v[end:]
	}
	return v
}

// redactNetroot replaces the passwords in the credentials part of a
// netroot= value (everything before the '@' credsEnd finds) with ***.
func redactNetroot(v string) string {
	prefix := ""
	if strings.HasPrefix(v, "iscsi:") {
		prefix, v = "iscsi:", v[len("iscsi:"):]
	}
	end := credsEnd(v)
	if end < 0 {
		return prefix + v
	}
	f := strings.Split(v[:end], ":")
	for i := range f {
		if i%2 == 1 && f[i] != "" {
			f[i] = redactSecret(f[i])
		}
	}
	return prefix + strings.Join(f, ":") + v[end:]
}

// rootPathSecrets returns the inline CHAP secrets of a root path (with or
// without "iscsi:"), valid or not: the odd fields before credsEnd.
func rootPathSecrets(v string) []string {
	v = strings.TrimPrefix(v, "iscsi:")
	end := credsEnd(v)
	if end < 0 {
		return nil
	}
	var out []string
	for i, f := range strings.Split(v[:end], ":") {
		if i%2 == 0 || f == "" {
			continue
		}
		if sec, err := ParseSecret(f); err == nil && sec.File != "" {
			continue
		}
		out = append(out, f)
	}
	return out
}

// credsEnd returns the index of the '@' up to which a root path (without
// "iscsi:") may hold CHAP credentials, -1 without an '@'. The parse ends
// them at authEnd's '@', as parse_iscsi_root does, but a secret holding
// an '@' puts the rest of itself after that one: credentials have at most
// four fields, so the '@' that ends them is the last one with at most
// three colons before it. Empty credentials ("@server…", dracut's way to
// let '@' into a target name) end at 0.
func credsEnd(v string) int {
	at := authEnd(v)
	if at <= 0 {
		return at
	}
	end, colons := at, 0
	for i := 0; i < len(v) && colons <= 3; i++ {
		switch v[i] {
		case ':':
			colons++
		case '@':
			end = max(end, i)
		}
	}
	return end
}

// authEnd returns the index of the '@' ending the credentials of a root
// path, -1 without one. It is the first '@' (as in parse_iscsi_root),
// except that an '@' right after a ':' and before a '/' starts a secret
// file (u:@/etc/netroot/chap@server…), whose path ends at the next '@'
// (which may start the reverse password's file: u:@/a:tu:@/b@server…).
func authEnd(v string) int {
	at := strings.IndexByte(v, '@')
	for files := 0; files < 2 && at > 0 && v[at-1] == ':' && at+1 < len(v) && v[at+1] == '/'; files++ {
		next := strings.IndexByte(v[at+1:], '@')
		if next < 0 {
			break
		}
		at += 1 + next
	}
	return at
}

// shellColonFields splits s at ':' as the shell does with IFS=:, which is
// what parse_iscsi_root relies on: a trailing ':' ends the last field
// instead of starting an empty one, and "" has no fields.
func shellColonFields(s string) []string {
	if s == "" {
		return nil
	}
	f := strings.Split(s, ":")
	if f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	return f
}

// ParseISCSIRoot parses an iSCSI root path as dracut's parse_iscsi_root
// does: the value of netroot=iscsi:… or root=iscsi:…, or the root-path a
// DHCP server sends (option 17). The "iscsi:" prefix is optional. A path
// without a target name (iscsi:<server>::<port>:<LUN>:) gives a Target
// whose Name is empty: the portal is to be asked (SendTargets discovery).
//
// Credentials come first, before an '@', when the remainder still has
// four colons (so that an '@' inside the target name is left alone; an
// empty credentials part, "iscsi:@server…", forces that). The target name
// starts at the last ":iqn.", ":eui." or ":naa."; any other name is all the
// fields after the LUN. Port defaults to 3260, LUN to 0 (decimal: dracut
// matches it against the kernel's by-path names, not RFC 4173's hex), the
// portal group to 1.
//
// Its errors never show a secret of value (no command line's redaction
// covers a root path parsed alone). ParseDHCPRootPath is the check of a
// root path a DHCP server sends.
func ParseISCSIRoot(value string) (Target, error) {
	t, _, err := parseISCSIRoot(value)
	if err == nil {
		err = checkAuth(t.Auth)
	}
	if err != nil {
		return t, redactCause(err, rootPathSecrets(value))
	}
	return t, nil
}

// ParseDHCPRootPath parses the root-path a DHCP server sends (option 17,
// or DHCPv6's boot file URL) as ParseISCSIRoot does, and refuses one that
// names a secret file (@/path): which file of the initramfs holds a CHAP
// secret is the command line's choice, not a server's, which could
// otherwise have any file of the initramfs sent (as a CHAP response) to a
// portal of its choosing.
//
// The credentials the root-path does not give are global's (the plan's
// rd.iscsi.username= & co.), as dracut's iscsiroot.sh reads those before
// parse_iscsi_root overrides them with the root-path's own.
func ParseDHCPRootPath(value string, global Auth) (Target, error) {
	t, n, err := parseISCSIRoot(value)
	if err == nil && (t.Auth.Password.File != "" || t.Auth.InPassword.File != "") {
		return Target{}, fmt.Errorf("%w: a root-path from DHCP cannot name a CHAP secret file (@/path): secret files are named on the command line only; have the server send the password itself, or give the target on the command line (netroot=iscsi:…)", ErrUnsupported)
	}
	if err == nil {
		err = errors.Join(targetFieldErrors(t)...)
	}
	if err == nil {
		fillAuth(&t, n, global)
		err = checkAuth(t.Auth)
	}
	if err != nil {
		return Target{}, redactCause(err, append(rootPathSecrets(value), global.Password.value, global.InPassword.value))
	}
	return t, nil
}

// fillAuth gives t, whose root path had n credential fields (0-4), the
// ones it lacks from global (rd.iscsi.username= & co.), as dracut does:
// none given, all are global's; one way given, the target's way (in.*)
// is global's.
func fillAuth(t *Target, n int, global Auth) {
	switch {
	case n == 0:
		t.Auth = global
	case n <= 2:
		t.Auth.InUsername, t.Auth.InPassword = global.InUsername, global.InPassword
	}
}

// errSameSecret is checkAuth's cause for one inline secret both ways.
var errSameSecret = fmt.Errorf("%w: mutual CHAP: the target's secret (in.password) must differ from ours (password): "+
	"RFC 7143 forbids one secret both ways (a target that knows ours could pass as itself), and the login refuses it; give the target a secret of its own", ErrConflict)

// sameSecret reports whether mutual CHAP credentials give one inline
// secret both ways (secret files cannot be compared here; the login
// refuses them then).
func sameSecret(a Auth) bool {
	p, in := a.Password, a.InPassword
	return a.InUsername != "" && p.File == "" && in.File == "" && p.value != "" &&
		subtle.ConstantTimeCompare([]byte(p.value), []byte(in.value)) == 1
}

// checkAuth checks that CHAP credentials come in pairs, and that mutual
// CHAP's two inline secrets differ.
func checkAuth(a Auth) error {
	if a.Username == "" && (!a.Password.IsZero() || a.InUsername != "" || !a.InPassword.IsZero()) {
		return fmt.Errorf("%w: CHAP credentials without a username", ErrSyntax)
	}
	if a.Username != "" && a.Password.IsZero() {
		return fmt.Errorf("%w: CHAP username without a password", ErrSyntax)
	}
	if a.InUsername == "" && !a.InPassword.IsZero() {
		return fmt.Errorf("%w: reverse CHAP password without a username", ErrSyntax)
	}
	if a.InUsername != "" && a.InPassword.IsZero() {
		return fmt.Errorf("%w: reverse CHAP username without a password", ErrSyntax)
	}
	if sameSecret(a) {
		return errSameSecret
	}
	return nil
}

// parseISCSIRoot implements ParseISCSIRoot without the credential checks
// and reports how many credential fields the value had (0-4), for Parse to
// fill the others from rd.iscsi.username & co. as dracut does.
func parseISCSIRoot(value string) (t Target, authFields int, err error) {
	t = Target{Port: DefaultTargetPort, Group: 1}
	v := strings.TrimPrefix(value, "iscsi:")

	// Credentials: case "$v" in *@*:*:*:*:*).
	if at := authEnd(v); at >= 0 && strings.Count(v[at+1:], ":") >= 4 {
		auth := v[:at]
		if auth != "" && credsEnd(v) != at {
			// The rest of a secret would be taken for the server: refuse
			// it without showing any of it.
			return t, 0, fmt.Errorf("%w: a CHAP username or password cannot contain '@' in a root path (dracut's syntax ends the credentials at the first '@'): "+
				"use rd.iscsi.password= (rd.iscsi.in.password=) or a secret file (@/path) on the command line, or a password without '@'", ErrSyntax)
		}
		v = v[at+1:]
		if auth != "" {
			f := strings.Split(auth, ":")
			if len(f) > 4 {
				return t, 0, fmt.Errorf("%w: more than four credential fields", ErrSyntax)
			}
			get := func(i int) string {
				if i < len(f) {
					return f[i]
				}
				return ""
			}
			t.Auth.Username = get(0)
			t.Auth.InUsername = get(2)
			var err error
			if p := get(1); p != "" {
				if t.Auth.Password, err = ParseSecret(p); err != nil {
					return t, authFields, fmt.Errorf("password: %w", err)
				}
			}
			if p := get(3); p != "" {
				if t.Auth.InPassword, err = ParseSecret(p); err != nil {
					return t, authFields, fmt.Errorf("reverse password: %w", err)
				}
			}
			authFields = len(f)
		}
	}

	// Server: bracketed IPv6, or up to the first ':'.
	if strings.HasPrefix(v, "[") && strings.Contains(v, "]:") {
		end := strings.IndexByte(v, ']')
		t.Server = v[1:end]
		if a, err := parseAddr(t.Server); err != nil || !a.Is6() || a.Is4In6() {
			return t, authFields, fmt.Errorf("%w: %q in brackets is not an IPv6 address", ErrSyntax, t.Server)
		}
		v = strings.TrimPrefix(v[end+1:], ":")
	} else {
		i := strings.IndexByte(v, ':')
		if i < 0 {
			return t, authFields, fmt.Errorf("%w: too few fields", ErrSyntax)
		}
		t.Server, v = v[:i], v[i+1:]
		if strings.ContainsAny(t.Server, "[]") {
			return t, authFields, fmt.Errorf("%w: server %q: IPv6 servers go in brackets", ErrSyntax, t.Server)
		}
	}

	// Target name.
	for _, p := range []string{":iqn.", ":eui.", ":naa."} {
		if i := strings.LastIndex(v, p); i >= 0 {
			t.Name = v[i+1:]
			v = v[:i] + ":"
			break
		}
	}

	f := shellColonFields(v)
	if len(f) < 2 {
		if t.Name == "" {
			return t, authFields, fmt.Errorf("%w: too few fields", ErrSyntax)
		}
		f = nil // dracut returns early: defaults for everything
	}
	var lun string
	if f != nil {
		t.Protocol, f = f[0], f[1:]
		port := f[0]
		f = f[1:]
		if port != "" {
			n, err := parseUint(port, 1, 65535)
			if err != nil {
				return t, authFields, fmt.Errorf("port: %w", err)
			}
			t.Port = n
		}
		if t.Name != "" {
			if len(f) == 3 {
				t.IfaceName, f = f[0], f[1:]
			}
			if len(f) == 2 {
				t.NetDev, f = f[0], f[1:]
			}
			if len(f) > 1 {
				return t, authFields, fmt.Errorf("%w: too many fields", ErrSyntax)
			}
			if len(f) == 1 {
				lun = f[0]
			}
		} else {
			if len(f) > 3 && f[0]+f[1] != "" && (f[2] == "" || isDigits(f[2])) {
				t.IfaceName, t.NetDev, f = f[0], f[1], f[2:]
			}
			switch len(f) {
			case 0:
			case 1:
				// <LUN>: and no <targetname>: SendTargets discovery.
				lun = f[0]
			default:
				lun, t.Name = f[0], strings.Join(f[1:], ":")
			}
		}
	}
	t.AnyLUN = lun == ""
	if lun != "" {
		n, err := parseUint(lun, 0, 1<<31-1)
		if err != nil {
			return t, authFields, fmt.Errorf("LUN: %w (dracut reads it as a decimal number)", err)
		}
		t.LUN = n
	}
	if t.Name != "" {
		if err := checkISCSIName("target name", t.Name); err != nil {
			return t, authFields, err
		}
	}
	if t.NetDev != "" {
		if err := checkIfname(t.NetDev, false); err != nil {
			return t, authFields, fmt.Errorf("netdev_name: %w", err)
		}
	}
	if strings.Contains(t.IfaceName, "/") || hasSpaceOrControl(t.IfaceName) {
		return t, authFields, fmt.Errorf("%w: iscsi_iface_name %q", ErrSyntax, t.IfaceName)
	}
	if t.Server == "" {
		return t, authFields, fmt.Errorf("%w: empty <servername>: give the portal's address (or host name)", ErrUnsupported)
	}
	if err := checkServer(t.Server); err != nil {
		return t, authFields, err
	}
	return t, authFields, nil
}

// checkServer checks a portal's host (without brackets): an IP address or
// a host name the keeper can resolve again later; anything else (white
// space, '@', a port, control bytes, a bracket left over: parseAddr would
// read "[::" or "::]" as "::", and the portal would be "[[::]:3260") is a
// typo that would only fail at the login or in the kernel.
func checkServer(server string) error {
	if strings.ContainsAny(server, "[]") {
		return fmt.Errorf("%w: server %q: brackets go around a whole IPv6 address ([2001:db8::1]), or not at all", ErrSyntax, server)
	}
	if _, err := parseAddr(server); err != nil {
		if err := checkHostname(server); err != nil || server == "." {
			return fmt.Errorf("%w: server %q is neither an IP address nor a host name", ErrSyntax, server)
		}
	}
	return nil
}

// scrubSecrets redacts what looks like a secret anywhere in a value shown
// in an error: an unbalanced quote can make the rest of the command line
// part of one value, so the secret parameters may be inside it. It hides
// the value after every "password=" and the credentials of every
// "iscsi:…@" and "iscsiroot=…@" root path.
func scrubSecrets(v string) string {
	lower := strings.ToLower(v)
	if !strings.Contains(lower, "password") && !strings.Contains(lower, "iscsi:") && !strings.Contains(lower, "iscsiroot=") {
		return v
	}
	fields := strings.FieldsFunc(v, func(r rune) bool { return r < 0x80 && isKernelSpace(byte(r)) })
	var b strings.Builder
	rest := v
	for _, f := range fields {
		i := strings.Index(rest, f)
		b.WriteString(rest[:i])
		rest = rest[i+len(f):]
		if j := indexFold(f, "password="); j >= 0 {
			f = f[:j+len("password=")] + redactSecret(f[j+len("password="):])
		}
		if j := indexFold(f, "iscsi:"); j >= 0 {
			f = f[:j] + redactNetroot(f[j:])
		}
		if j := indexFold(f, "iscsiroot="); j >= 0 {
			// dracut's deprecated iscsiroot=: a root path without "iscsi:".
			j += len("iscsiroot=")
			f = f[:j] + redactNetroot(f[j:])
		}
		b.WriteString(f)
	}
	b.WriteString(rest)
	return b.String()
}

// indexFold is the byte index in s of the first match of the lower-case
// ASCII word, ignoring ASCII case, or -1. (An index into strings.ToLower(s)
// is not one into s: invalid UTF-8 there becomes the 3-byte U+FFFD.)
func indexFold(s, word string) int {
	for i := 0; i+len(word) <= len(s); i++ {
		j := 0
		for j < len(word) {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != word[j] {
				break
			}
			j++
		}
		if j == len(word) {
			return i
		}
	}
	return -1
}

// collectSecrets returns every CHAP secret written on the command line,
// valid or not, also those swallowed into another value by an unbalanced
// quote, longest first.
func collectSecrets(args []arg) []string {
	var out []string
	add := func(v string) {
		if v == "" {
			return
		}
		if sec, err := ParseSecret(v); err == nil && sec.File != "" {
			return
		}
		out = append(out, v)
	}
	fromRootPath := func(v string) {
		for _, sec := range rootPathSecrets(v) {
			add(sec)
		}
	}
	scan := func(text string) {
		for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r < 0x80 && isKernelSpace(byte(r)) }) {
			f = strings.Trim(f, `"`)
			if j := indexFold(f, "password="); j >= 0 {
				add(f[j+len("password="):])
			}
			if j := indexFold(f, "iscsi:"); j >= 0 {
				fromRootPath(f[j:])
			}
			if j := indexFold(f, "iscsiroot="); j >= 0 {
				fromRootPath(f[j+len("iscsiroot="):]) // a root path without "iscsi:"
			}
		}
	}
	for _, a := range args {
		k := a.Key
		if alias, ok := keyAliases[k]; ok {
			k = alias
		}
		switch secretParams[k] {
		case secretValue:
			add(a.Value)
		case secretRootPath:
			fromRootPath(a.Value)
		}
		scan(a.Key)
		scan(a.Value)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}
