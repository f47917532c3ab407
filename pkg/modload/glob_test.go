package modload

import (
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"*", "", true},
		{"*", "any/thing.at all", true},
		{"a*", "a", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxaxxcxxbxx", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"?", "", false},
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[!abc]", "d", true},
		{"[!abc]", "a", false},
		{"[^abc]", "d", true},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[]]", "]", true},
		{"[!]]", "]", false},
		{"[!]]", "a", true},
		{"[a-]", "-", true},
		{"[[:digit:]]", "7", true},
		{"[[:digit:]]", "x", false},
		{"[[:xdigit:][:space:]]", " ", true},
		{"[[:bogus:]]", "b", false},
		{"[", "[", true},
		{"[ab", "[ab", true},
		{"[ab", "a", false},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`a\`, `a\`, true},
		{`[\]]`, "]", true},
		{"*.", "a.", true},
		// Real aliases.
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", true},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00008086d0000100Esv00008086sd00001E00bc02sc00i00", false},
		{"virtio:d00000001v*", "virtio:d00000001v00001AF4", true},
		{"virtio:d00000001v*", "virtio:d00000002v00001AF4", false},
		{"usb:v1554p5010d400[0-1]dc*dsc*dp*ic*isc*ip*in*", "usb:v1554p5010d4001dc00dsc00dp00ic03isc00ip00in00", true},
		{"usb:v1554p5010d400[0-1]dc*dsc*dp*ic*isc*ip*in*", "usb:v1554p5010d4002dc00dsc00dp00ic03isc00ip00in00", false},
		{"usb:v1554p5010d3[0-9A-E]*dc*dsc*dp*ic*isc*ip*in*", "usb:v1554p5010d03C0dc00dsc00dp00ic03isc00ip00in00", false},
		{"usb:v1554p5010d3[0-9A-E]*dc*dsc*dp*ic*isc*ip*in*", "usb:v1554p5010d3C00dc00dsc00dp00ic03isc00ip00in00", true},
		{"dmi:*:[bs]vnD[Ee][Ll][Ll]*:*", "dmi:bvnLENOVO:bvr1:svnDell Inc.:pnXPS:", true},
		{"cpu:type:x86,ven*fam*mod*:feature:*0094*", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,0094,00E3", true},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestNormalizeAlias(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"crypto-crc32c", "crypto_crc32c"},
		{"usb:v1554p5010d400[0-1]dc*", "usb:v1554p5010d400[0-1]dc*"},
		{"a-[-a-]-b", "a_[-a-]_b"},
		{"[]-]-", "[]-]_"},
		{"[!]-]-", "[!]-]_"},
		{`\-x-`, `\-x_`},
	} {
		if got := normalizeAlias(tc.in); got != tc.want {
			t.Errorf("normalizeAlias(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// refGlob is a straightforward recursive fnmatch, the oracle for the
// iterative globMatch (it shares only the bracket parser).
func refGlob(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if refGlob(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && refGlob(p[1:], s[1:])
	case '[':
		if s == "" {
			return false
		}
		if ok, next, valid := matchBracket(p, 0, s[0]); valid {
			return ok && refGlob(p[next:], s[1:])
		}
		return s[0] == '[' && refGlob(p[1:], s[1:])
	case '\\':
		if len(p) == 1 {
			return s == `\`
		}
		return s != "" && s[0] == p[1] && refGlob(p[2:], s[1:])
	}
	return s != "" && s[0] == p[0] && refGlob(p[1:], s[1:])
}

func FuzzGlobMatch(f *testing.F) {
	f.Add("pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	f.Add("usb:v1554p5010d3[0-9A-E]*dc*", "usb:v1554p5010d3C00dc00")
	f.Add("*a*?[!b]", "xxaxc")
	f.Add(`[\]a-]x\`, `]x\`)
	f.Add("[[:alpha:]]*", "q")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 24 || len(s) > 24 || strings.Count(pattern, "*") > 4 {
			return // keep the exponential oracle fast
		}
		got := globMatch(pattern, s)
		if want := refGlob(pattern, s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, reference says %v", pattern, s, got, want)
		}
		if lp := literalPrefix(pattern); got && len(s) >= len(lp) && s[:len(lp)] != lp {
			t.Fatalf("match %q of %q does not start with the literal prefix %q", s, pattern, lp)
		}
		_ = normalizeAlias(pattern)
	})
}
