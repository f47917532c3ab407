package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseISCSIRoot(t *testing.T) {
	tests := []struct {
		in   string
		want Target
	}{
		// dracut.cmdline(7) examples.
		{"iscsi:192.168.50.1::::iqn.2009-06.dracut:target0", Target{AnyLUN: true, Server: "192.168.50.1", Port: 3260, Group: 1, Name: "iqn.2009-06.dracut:target0"}},
		{"iscsi:[2001:DB8::1]::::iqn.2009-06.dracut:target0", Target{AnyLUN: true, Server: "2001:DB8::1", Port: 3260, Group: 1, Name: "iqn.2009-06.dracut:target0"}},
		{"iscsi:192.168.50.1::::iqn.2009-06.dracut:target1", Target{AnyLUN: true, Server: "192.168.50.1", Port: 3260, Group: 1, Name: "iqn.2009-06.dracut:target1"}},
		// net-lib.sh's own example: an empty credentials part lets '@' into the name.
		{"iscsi:@192.168.1.100::3260::iqn.2009-01.com.example:testdi@sk", Target{AnyLUN: true, Server: "192.168.1.100", Port: 3260, Group: 1, Name: "iqn.2009-01.com.example:testdi@sk"}},
		{"iscsi:192.168.1.100::3260::iqn.2009-01.com.example:a@b", Target{AnyLUN: true, Server: "192.168.1.100", Port: 3260, Group: 1, Name: "iqn.2009-01.com.example:a@b"}},
		{"iscsi:u:p@10.0.0.1:6:3261:1:iqn.2009-01.com.example:x:y:z", Target{Server: "10.0.0.1", Protocol: "6", Port: 3261, Group: 1, LUN: 1, Name: "iqn.2009-01.com.example:x:y:z",
			Auth: Auth{Username: "u", Password: NewSecret("p")}}},
		{"iscsi:u:p:tu:tp@10.0.0.1::::iqn.2009-01.com.example:x", Target{AnyLUN: true, Server: "10.0.0.1", Port: 3260, Group: 1, Name: "iqn.2009-01.com.example:x",
			Auth: Auth{Username: "u", Password: NewSecret("p"), InUsername: "tu", InPassword: NewSecret("tp")}}},
		{"iscsi:u:@/etc/netroot/chap@10.0.0.1::::iqn.2009-01.com.example:x", Target{AnyLUN: true, Server: "10.0.0.1", Port: 3260, Group: 1, Name: "iqn.2009-01.com.example:x",
			Auth: Auth{Username: "u", Password: SecretFile("/etc/netroot/chap")}}},
		{"iscsi:u:@/etc/netroot/chap:tu:@/etc/netroot/in@10.0.0.1::::iqn.2009-01.com.example:x", Target{AnyLUN: true, Server: "10.0.0.1", Port: 3260, Group: 1, Name: "iqn.2009-01.com.example:x",
			Auth: Auth{Username: "u", Password: SecretFile("/etc/netroot/chap"), InUsername: "tu", InPassword: SecretFile("/etc/netroot/in")}}},
		{"iscsi:u:@/etc/netroot/chap:tu:tp@10.0.0.1::::iqn.2009-01.com.example:x", Target{AnyLUN: true, Server: "10.0.0.1", Port: 3260, Group: 1, Name: "iqn.2009-01.com.example:x",
			Auth: Auth{Username: "u", Password: SecretFile("/etc/netroot/chap"), InUsername: "tu", InPassword: NewSecret("tp")}}},
		{"iscsi:u:p:tu:@/etc/netroot/in@10.0.0.1::::iqn.2009-01.com.example:x", Target{AnyLUN: true, Server: "10.0.0.1", Port: 3260, Group: 1, Name: "iqn.2009-01.com.example:x",
			Auth: Auth{Username: "u", Password: NewSecret("p"), InUsername: "tu", InPassword: SecretFile("/etc/netroot/in")}}},
		{"iscsi:10.0.0.1::3260:default:eth0:2:iqn.2009-01.com.example:x", Target{Server: "10.0.0.1", Port: 3260, Group: 1, IfaceName: "default", NetDev: "eth0", LUN: 2, Name: "iqn.2009-01.com.example:x"}},
		{"iscsi:10.0.0.1::3260:eth0:2:iqn.2009-01.com.example:x", Target{Server: "10.0.0.1", Port: 3260, Group: 1, NetDev: "eth0", LUN: 2, Name: "iqn.2009-01.com.example:x"}},
		{"iscsi:target.example.com::::eui.02004567A425678D", Target{AnyLUN: true, Server: "target.example.com", Port: 3260, Group: 1, Name: "eui.02004567A425678D"}},
		{"iscsi:10.0.0.1::::naa.52004567BA64678D", Target{AnyLUN: true, Server: "10.0.0.1", Port: 3260, Group: 1, Name: "naa.52004567BA64678D"}},
		// A name without iqn./eui./naa.: everything after the LUN.
		{"iscsi:10.0.0.1:::3:mytarget:with:colons", Target{Server: "10.0.0.1", Port: 3260, Group: 1, LUN: 3, Name: "mytarget:with:colons"}},
		{"iscsi:10.0.0.1::3260:ifc:eth1:0:mytarget", Target{Server: "10.0.0.1", Port: 3260, Group: 1, IfaceName: "ifc", NetDev: "eth1", Name: "mytarget"}},
		// Root path as sent by DHCP, without the prefix, LUN 010 decimal.
		{"10.0.0.1::::010:iqn.2009-01.com.example:x", Target{Server: "10.0.0.1", Port: 3260, Group: 1, LUN: 10, Name: "iqn.2009-01.com.example:x"}},
	}
	for _, tt := range tests {
		got, err := ParseISCSIRoot(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseISCSIRoot(%q) = %+v, %v\nwant %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"iscsi:", "iscsi:10.0.0.1", "iscsi:10.0.0.1:iqn.x", "iscsi:::::iqn.2009-06.dracut:t", // no server
		"iscsi:10.0.0.1::0::iqn.x:y", "iscsi:10.0.0.1::70000::iqn.x:y", "iscsi:10.0.0.1::::x1:iqn.x:y",
		"iscsi:a:b:c:d:e@10.0.0.1::::iqn.x:y", "iscsi:u@10.0.0.1::::iqn.x:y", "iscsi:u:p:tu@10.0.0.1::::iqn.x:y",
		"iscsi:[10.0.0.1]::::iqn.x:y", "iscsi:2001:db8::1::::iqn.x:y", "iscsi:10.0.0.1::::a:b:c:d:iqn.x:y",
		"iscsi:u:@relative/path@10.0.0.1::::iqn.x:y",
	} {
		if tg, err := ParseISCSIRoot(in); err == nil {
			t.Errorf("ParseISCSIRoot(%q) = %+v, want an error", in, tg)
		}
	}
}

func TestParseSecret(t *testing.T) {
	if s, _ := ParseSecret("@@x"); s != NewSecret("@x") {
		t.Errorf("@@x = %#v", s)
	}
	if s, _ := ParseSecret("@/etc/netroot/chap"); s.File != "/etc/netroot/chap" {
		t.Errorf("file secret = %#v", s)
	}
	if _, err := ParseSecret("@/etc/../x"); err == nil || strings.Contains(err.Error(), "etc") {
		t.Errorf("unclean path: err = %v (must not echo the value)", err)
	}
}

func TestDefaultInitiator(t *testing.T) {
	if got := DefaultInitiator(mac("52:54:00:12:34:AB")); got != "iqn.2015-01.dev.netroot:5254001234ab" {
		t.Errorf("DefaultInitiator = %q", got)
	}
	if got := DefaultInitiator(nil); got != "" {
		t.Errorf("DefaultInitiator(nil) = %q", got)
	}
	if err := checkISCSIName("x", DefaultInitiator(mac("52:54:00:12:34:AB"))); err != nil {
		t.Error(err)
	}
}

func TestRedactNetroot(t *testing.T) {
	for in, want := range map[string]string{
		"iscsi:u:pw@1.2.3.4::::iqn.x:y":                "iscsi:u:***@1.2.3.4::::iqn.x:y",
		"iscsi:u:pw:tu:tpw@1.2.3.4::::iqn.x:y":         "iscsi:u:***:tu:***@1.2.3.4::::iqn.x:y",
		"iscsi:u:@/etc/c@1.2.3.4::::iqn.x:y":           "iscsi:u:@/etc/c@1.2.3.4::::iqn.x:y",
		"iscsi:u:@/etc/c:t:@/etc/d@1.2.3.4::::iqn.x:y": "iscsi:u:@/etc/c:t:@/etc/d@1.2.3.4::::iqn.x:y",
		"iscsi:1.2.3.4::::iqn.x:y":                     "iscsi:1.2.3.4::::iqn.x:y",
		// Secrets holding '@': hidden up to the '@' before the server.
		"iscsi:u:p@ss@1.2.3.4::::iqn.x:y":        "iscsi:u:***@1.2.3.4::::iqn.x:y",
		"iscsi:u:@@pw@1.2.3.4::::iqn.x:y":        "iscsi:u:***@1.2.3.4::::iqn.x:y",
		"iscsi:u:p@s:tu:t@p@1.2.3.4::::iqn.x:y":  "iscsi:u:***:tu:***@1.2.3.4::::iqn.x:y",
		"iscsi:u:pw@1.2.3.4::::iqn.x:a@b":        "iscsi:u:***@1.2.3.4::::iqn.x:a@b",
		"iscsi:@1.2.3.4::3260::iqn.x:a@b:c":      "iscsi:@1.2.3.4::3260::iqn.x:a@b:c",
		"iscsi:u:@/etc/c@1.2.3.4::::iqn.x:y@z":   "iscsi:u:@/etc/c@1.2.3.4::::iqn.x:y@z",
		"iscsi:[fd77::1]::3260:1:iqn.x:y":        "iscsi:[fd77::1]::3260:1:iqn.x:y",
		"iscsi:u:p@ss@[fd77::1]::3260:1:iqn.x:y": "iscsi:u:***@[fd77::1]::3260:1:iqn.x:y",
	} {
		if got := redactNetroot(in); got != want {
			t.Errorf("redactNetroot(%q) = %q, want %q", in, got, want)
		}
	}
}

// Byte offsets found ignoring case must be offsets into the string itself:
// invalid UTF-8 before "password=" once made the redaction cut in the wrong
// place (and Parse panic: testdata/fuzz/FuzzParse/dc26376a225896f2).
func TestIndexFoldInvalidUTF8(t *testing.T) {
	for _, tc := range []struct {
		s, word string
		want    int
	}{
		{"PassWord=x", "password=", 0},
		{"\x84\x84password=x", "password=", 2},
		{"a:iSCSI:b", "iscsi:", 2},
		{"passwor", "password=", -1},
		{"password:", "password=", -1},
		{"", "iscsi:", -1},
	} {
		if got := indexFold(tc.s, tc.word); got != tc.want {
			t.Errorf("indexFold(%q, %q) = %d, want %d", tc.s, tc.word, got, tc.want)
		}
	}
	const secret = "Sekrit-1234567"
	if got := scrubSecrets("x=\"\x84\x84\x84PASSWORD=" + secret); strings.Contains(got, secret) {
		t.Errorf("scrubSecrets left the secret: %q", got)
	}
}

// TestCHAPSecretWithAt: dracut's syntax ends a root path's credentials at
// the first '@', so the rest of a secret holding one becomes the server:
// such a root path is refused, and no part of the secret shows in the
// error (netroot=, root=, or a DHCP root-path through ParseISCSIRoot) or
// in the redacted value.
func TestCHAPSecretWithAt(t *testing.T) {
	const iqn = "iqn.2020-01.com.example:t"
	for _, tc := range []struct {
		rootPath string
		parts    []string // of the secrets, none of which may show
		refused  bool     // with the '@' hint
	}{
		{"iscsi:u:@@Kq7pw@10.0.0.1::3260::" + iqn, []string{"Kq7pw"}, true},
		{"iscsi:u:Kq7@Vb3z@10.0.0.1::3260::" + iqn, []string{"Kq7", "Vb3z"}, true},
		{"iscsi:u:Kq7@Vb3z@@10.0.0.1::3260::" + iqn, []string{"Kq7", "Vb3z"}, true},
		{"iscsi:u:Kq7@Vb3z:tu:Tr8@Wm2@10.0.0.1::3260::" + iqn, []string{"Kq7", "Vb3z", "Tr8", "Wm2"}, true},
		{"iscsi:u:Kq7:tu:Tr8@Wm2@10.0.0.1::3260::" + iqn, []string{"Kq7", "Tr8", "Wm2"}, true},
		{"iscsi:u:Kq7@Vb3z:iqn.tu:Tr8@10.0.0.1::::eui.02004567A425678D", []string{"Kq7", "Vb3z", "Tr8"}, true},
		{"iscsi:u:Kq7@Vb3z@10.0.0.1:::1:mytarget", []string{"Kq7", "Vb3z"}, true},
		{"u:Kq7@Vb3z@10.0.0.1::3260:1:" + iqn, []string{"Kq7", "Vb3z"}, true}, // DHCP, without the prefix
		// Three colons after the '@': no credentials for dracut, the
		// secret lands in the protocol or port field.
		{"iscsi:u:Kq7@Vb3z@10.0.0.1:x:" + iqn, []string{"Kq7", "Vb3z"}, false},
		{"iscsi:u:Kq7@Vb3z@10.0.0.1:" + iqn, []string{"Kq7", "Vb3z"}, false}, // a target on host u
	} {
		leaks := func(s string) bool {
			for _, p := range tc.parts {
				if strings.Contains(s, p) {
					return true
				}
			}
			return false
		}
		if r := redactNetroot(tc.rootPath); leaks(r) {
			t.Errorf("redactNetroot(%q) = %q", tc.rootPath, r)
		}
		tg, err := ParseISCSIRoot(tc.rootPath)
		if err == nil {
			if tc.refused || leaks(fmt.Sprintf("%+v %s", tg, tg.Portal())) {
				t.Errorf("ParseISCSIRoot(%q) = %+v", tc.rootPath, tg)
			}
		} else if leaks(err.Error()) {
			t.Errorf("ParseISCSIRoot(%q): the error shows a secret: %v", tc.rootPath, err)
		}
		if tc.refused && (err == nil || !strings.Contains(err.Error(), "cannot contain '@'")) {
			t.Errorf("ParseISCSIRoot(%q) = %v, want the '@' hint", tc.rootPath, err)
		}
		if !strings.HasPrefix(tc.rootPath, "iscsi:") {
			continue
		}
		for _, cl := range []string{"root=LABEL=r netroot=" + tc.rootPath, "root=" + tc.rootPath} {
			p, err := Parse(proc(cl))
			if err == nil {
				if d := p.Describe(); tc.refused || leaks(d) {
					t.Errorf("Parse(%q) succeeded:\n%s", cl, d)
				}
				continue
			}
			if leaks(err.Error()) {
				t.Errorf("Parse(%q): the error shows a secret: %v", cl, err)
			}
			if tc.refused && !strings.Contains(err.Error(), "cannot contain '@'") {
				t.Errorf("Parse(%q) = %v, want the '@' hint", cl, err)
			}
		}
	}
	// An '@' in the target name is the name's, with or without
	// credentials.
	for _, in := range []string{"iscsi:u:pw@10.0.0.1::3260::" + iqn + "@x", "iscsi:@10.0.0.1::3260::" + iqn + "@x"} {
		if tg, err := ParseISCSIRoot(in); err != nil || tg.Name != iqn+"@x" || tg.Server != "10.0.0.1" {
			t.Errorf("ParseISCSIRoot(%q) = %+v, %v", in, tg, err)
		}
	}
}

// TestSecretFilesAndInline: every secret file the command line names,
// the global credentials' too; inline secrets also where Parse drops them.
func TestSecretFilesAndInline(t *testing.T) {
	p := mustParse(t, proc("root=LABEL=r netroot=dhcp rd.iscsi.username=u rd.iscsi.password=@/etc/a rd.iscsi.in.username=t rd.iscsi.in.password=@/etc/b"+
		" netroot=iscsi:u:@/etc/a@10.0.0.1::::iqn.x:y"))
	if got := p.SecretFiles(); !reflect.DeepEqual(got, []string{"/etc/a", "/etc/b"}) {
		t.Errorf("SecretFiles = %q", got)
	}
	for text, want := range map[string]bool{
		"root=LABEL=r netroot=dhcp rd.iscsi.password=@/etc/a":              false,
		"root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.x:y":                   false,
		"root=LABEL=r netroot=iscsi:u:pw@10.0.0.1::::iqn.x:y":              true,
		"root=LABEL=r rd.iscsi.password=pw rd.iscsi.password=":             true, // the last one wins, the first is in the file
		"root=LABEL=r iscsi_in_password=pw":                                true,
		`root=LABEL=r "rootflags=x rd.iscsi.password=pw`:                   true,
		"root=LABEL=r netroot=iscsi:u:@/etc/a:t:@/etc/b@10.0.0.1::::iqn.x": false,
	} {
		if got := HasInlineSecrets(Source{Name: "-cmdline", Text: text}); got != want {
			t.Errorf("HasInlineSecrets(%q) = %v, want %v", text, got, want)
		}
	}
}

// TestDropSecretEnv: the kernel puts the parameters it does not know and
// whose names have no '.' into init's environment; those that can carry a
// CHAP secret are not handed on, the others are, in order.
func TestDropSecretEnv(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{"HOME=/", "TERM=linux", "BOOT_IMAGE=/vmlinuz", "PATH=/bin"}, []string{"HOME=/", "TERM=linux", "BOOT_IMAGE=/vmlinuz", "PATH=/bin"}},
		{[]string{"HOME=/", "netroot=iscsi:u:pw@10.0.0.1::::iqn.x:y", "TERM=linux"}, []string{"HOME=/", "TERM=linux"}},
		{[]string{"netroot=dhcp", "root=iscsi:u:pw@10.0.0.1::::iqn.x:y"}, nil}, // names that can carry one, whatever the value
		{[]string{"iscsi_password=pw", "iscsi_in_password=pw2", "iscsi_param=node.session.auth.password=pw", "iscsi_username=u"}, []string{"iscsi_username=u"}},
		// A value that holds a secret, under any name (an unbalanced
		// quote on the command line).
		{[]string{"foo=x rd.iscsi.password=pw", "bar=y iscsi:u:pw@10.0.0.1::::iqn.x:y", "baz=iscsi:10.0.0.1::::iqn.x:y"}, []string{"baz=iscsi:10.0.0.1::::iqn.x:y"}},
		{[]string{"NETROOT=x", "single", "=x"}, []string{"NETROOT=x", "single", "=x"}},
		{[]string{"iscsiroot=u:pw@10.0.0.1::::iqn.x:y", "TERM=linux"}, []string{"TERM=linux"}}, // dracut's deprecated netroot=
	} {
		in := slices.Clone(tc.in)
		if got := DropSecretEnv(in); !slices.Equal(got, tc.want) {
			t.Errorf("DropSecretEnv(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("DropSecretEnv changed its input: %q", in)
		}
	}
}

// TestSecretFormat: no verb prints a secret's value, alone or inside a
// target; a file secret shows its path.
func TestSecretFormat(t *testing.T) {
	const value = "Hx9s3cret"
	hexed := fmt.Sprintf("%x", value)
	tg := Target{Server: "10.0.0.1", Auth: Auth{Username: "u", Password: NewSecret(value), InUsername: "t", InPassword: SecretFile("/etc/netroot/in")}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%10.3s", "%T %v"} {
		for _, arg := range []any{NewSecret(value), tg, &tg, tg.Auth, []Secret{NewSecret(value)}} {
			out := fmt.Sprintf(verb, arg)
			if strings.Contains(out, value) || strings.Contains(strings.ToLower(out), hexed) || strings.Contains(out, "Hx9") {
				t.Errorf("Sprintf(%q, %T) = %s", verb, arg, out)
			}
		}
	}
	if got := fmt.Sprintf("%v %s", NewSecret(value), SecretFile("/etc/netroot/chap")); got != "*** *** (from /etc/netroot/chap)" {
		t.Errorf("got %q", got)
	}
	if got := fmt.Sprintf("%#v", NewSecret(value)); got != `config.Secret{"***"}` {
		t.Errorf("%%#v = %q", got)
	}
	if got := fmt.Sprintf("[%v]", Secret{}); got != "[]" {
		t.Errorf("zero = %q", got)
	}
}

// TestMutualCHAPSameSecret: one inline secret both ways is refused (RFC
// 7143 §12.1.3; the login would refuse it), without showing it; secret
// files cannot be compared here.
func TestMutualCHAPSameSecret(t *testing.T) {
	const tgt = "10.0.0.1::3260:0:iqn.2020-01.com.example:t"
	global := " rd.iscsi.username=u rd.iscsi.password=Sm9same rd.iscsi.in.username=tu rd.iscsi.in.password=Sm9same"
	for _, tc := range []struct {
		cmdline string
		refused bool
	}{
		{"root=LABEL=r netroot=iscsi:u:Sm9same:tu:Sm9same@" + tgt, true},
		{"root=iscsi:u:Sm9same:tu:Sm9same@" + tgt, true},
		{"root=LABEL=r netroot=dhcp" + global, true},
		{"root=LABEL=r rd.iscsi.firmware iscsi_username=u iscsi_password=Sm9same iscsi_in_username=tu iscsi_in_password=Sm9same", true},
		{"root=LABEL=r netroot=iscsi:" + tgt + global, true},
		{"root=iscsi:" + tgt + global, true},
		{"root=LABEL=r netroot=iscsi:u:Sm9same@" + tgt + " rd.iscsi.in.username=tu rd.iscsi.in.password=Sm9same", true},
		{"root=LABEL=r netroot=iscsi:u:Sm9same:tu:Sm9other@" + tgt, false},
		{"root=LABEL=r netroot=iscsi:u:Sm9same:tu:Sm9other@" + tgt + global, true}, // rd.iscsi.* itself, though unused
		{"root=LABEL=r netroot=iscsi:u:Sm9same:tu:Sm9same@" + tgt + " rd.iscsi.username=u rd.iscsi.password=Sm9a rd.iscsi.in.username=tu rd.iscsi.in.password=Sm9b", true},
		{"root=LABEL=r netroot=iscsi:" + tgt + " rd.iscsi.username=u rd.iscsi.password=Sm9a rd.iscsi.in.username=tu rd.iscsi.in.password=Sm9b", false},
		{"root=LABEL=r netroot=iscsi:u:@/etc/a:tu:@/etc/b@" + tgt, false},
		{"root=LABEL=r netroot=iscsi:u:Sm9same@" + tgt, false},
	} {
		_, err := Parse(proc(tc.cmdline))
		if (err != nil) != tc.refused || err != nil && !strings.Contains(err.Error(), "must differ") {
			t.Errorf("Parse(%q) = %v, refused %v", tc.cmdline, err, tc.refused)
		}
		if err == nil {
			continue
		}
		if strings.Contains(err.Error(), "Sm9") {
			t.Errorf("Parse(%q): the error shows the secret: %v", tc.cmdline, err)
		}
		if n := strings.Count(err.Error(), "must differ"); n != 1 {
			t.Errorf("Parse(%q): %d errors, want 1:\n%v", tc.cmdline, n, err)
		}
	}
	if _, err := ParseISCSIRoot("iscsi:u:Sm9same:tu:Sm9same@" + tgt); err == nil || !strings.Contains(err.Error(), "must differ") || strings.Contains(err.Error(), "Sm9") {
		t.Errorf("ParseISCSIRoot: %v", err)
	}
}

// TestRedactRootPath: a root path without "iscsi:" that holds an '@' (a
// URL's user:password@, as a UEFI HTTP boot's option 59) shows nothing
// before that '@'; an iSCSI one its passwords as ***.
func TestRedactRootPath(t *testing.T) {
	for in, want := range map[string]string{
		"http://u:Pw9x@10.0.0.1/boot.efi": "***@10.0.0.1/boot.efi",
		"nfs:u:Pw9x@10.0.0.1:/srv":        "***@10.0.0.1:/srv",
		"u:Pw9x@1.2.3.4::::iqn.x:y":       "***@1.2.3.4::::iqn.x:y",
		"ftp://Pw9x@10.0.0.1/x":           "***@10.0.0.1/x",
		"10.0.0.1:/srv/nfs":               "10.0.0.1:/srv/nfs",
		"iscsi:u:Pw9x@1.2.3.4::::iqn.x:y": "iscsi:u:***@1.2.3.4::::iqn.x:y",
		"http://10.0.0.1/boot.efi":        "http://10.0.0.1/boot.efi",
	} {
		if got := RedactRootPath(in); got != want {
			t.Errorf("RedactRootPath(%q) = %q, want %q", in, got, want)
		}
	}
}
