package config

import (
	"fmt"
	"strings"
	"testing"
)

// secretMarker is a password no error or description may ever show.
const secretMarker = "Zq9SECRETx"

// atSecret is a password holding an '@', which dracut's root path syntax
// cannot carry (the credentials end at the first '@'): neither of its
// parts (atSecretParts) may show either.
const atSecret = "Wv4AT@Jx7SEC"

var atSecretParts = []string{"Wv4AT", "Jx7SEC"}

// showsSecret reports whether s holds secretMarker or a part of atSecret.
func showsSecret(s string) bool {
	if strings.Contains(s, secretMarker) {
		return true
	}
	for _, p := range atSecretParts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"root=LABEL=root",
		`root=UUID=1 netroot=iscsi:u:p@10.0.0.1::3260::iqn.2015-01.com.example:t rd.iscsi.username=u`,
		"root=iscsi:[2001:db8::1]::::iqn.2009-06.dracut:target0 ip=[2001:db8::2]::[2001:db8::1]:64::eth0:none",
		`bond=bond0:eth0,eth1:mode=4,miimon=100:9000 vlan=bond0.5:bond0 ip=10.0.0.2::10.0.0.1:24:h:bond0.5:none:10.0.0.53 "rootflags=a b"`,
		"ip=10.0.0.5 netmask=255.255.255.0 gateway=10.0.0.1 root=/dev/root netroot=dhcp BOOTIF=01-52-54-00-12-34-56 -- single",
		"rd.break rd.break=pre-mount rd.shell=0 rd.emergency=halt bonding.max_bonds=0 rd.driver.pre=a,b",
		"root=LABEL=r bond=bond0:ens2,ens3 net.naming-scheme=v252 net.ifnames=1 ifname=lan0:52:54:00:12:34:56",
		"root=LABEL=r rd.iscsi.firmware ip=ibft netroot=iscsi iscsi_firmware rd.iscsi.ibft=1",
		"root=LABEL=r netroot=dhcp6 ip=bond0:either6 ip=eth2:auto6 ip=eth3:link6 ip=dhcp,dhcp6",
		"root=iscsi iscsiroot=u:p@10.0.0.1::3260:1:iqn.2015-01.com.example:t rd.shell=0 rd.shell=1 rd.shell=0",
		"root=LABEL=r netroot=iscsi iscsiroot=10.0.0.1::::iqn.2015-01.com.example:t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The fuzzed text plus credentials whose secrets must never show.
		withSecrets := s + " rd.iscsi.password=" + secretMarker + " rd.iscsi.in.password=" + secretMarker +
			" netroot=iscsi:u:" + secretMarker + "@10.9.9.9::::iqn.2015-01.com.example:fuzz"
		p, err := Parse(Source{Name: "/etc/cmdline.d/x.conf", Text: s}, proc(withSecrets))
		if showsSecret(s) {
			return // the marker is elsewhere too: nothing to check
		}
		// Secrets holding '@': inline (acted on), and in a root path
		// (refused, and no part of them shown).
		for _, at := range []string{
			" rd.iscsi.password=" + atSecret + " netroot=iscsi:u:" + atSecret + "@10.9.9.9::::iqn.2015-01.com.example:fuzz",
			" netroot=iscsi:u:p:tu:" + atSecret + "@10.9.9.9::3260::iqn.2015-01.com.example:fuzz",
			" root=iscsi:u:@@" + atSecret + "@10.9.9.9::3260:1:iqn.2015-01.com.example:fuzz",
			// dracut's deprecated iscsiroot=, a root path too.
			" root=iscsi iscsiroot=u:" + atSecret + "@10.9.9.9::3260:1:iqn.2015-01.com.example:fuzz",
			" netroot=iscsi iscsiroot=u:" + secretMarker + "@10.9.9.9::3260:1:iqn.2015-01.com.example:fuzz",
		} {
			p2, err2 := Parse(Source{Name: "/etc/cmdline.d/x.conf", Text: s}, proc(s+at))
			if err2 != nil && showsSecret(err2.Error()) {
				t.Fatalf("error leaks a secret holding '@': %v", err2)
			}
			if err2 == nil && showsSecret(p2.Describe()) {
				t.Fatalf("Describe leaks a secret holding '@':\n%s", p2.Describe())
			}
		}
		if err != nil {
			if showsSecret(err.Error()) {
				t.Fatalf("error leaks the secret: %v", err)
			}
			return
		}
		d := p.Describe()
		if showsSecret(d) {
			t.Fatalf("Describe leaks the secret:\n%s", d)
		}
		_ = p.NeededModules()
		if p.Root.Kind == "" || p.Boot.Emergency == "" || p.Modules.Params == nil {
			t.Fatalf("incomplete plan: %+v", p)
		}
	})
}

func FuzzIP(f *testing.F) {
	for _, s := range []string{
		"dhcp", "eth0:dhcp:1500:52:54:00:12:34:56", "192.168.1.10::192.168.1.1:255.255.255.0:h:eth0:none",
		"[2001:db8::10]::[2001:db8::1]:64::eth0:none:[2001:db8::53]", "10.0.0.2:10.0.0.1/30::30::ppp0:none::10.0.0.3",
		"dhcp,dhcp6", "1.2.3.4", ":::::::::::::::", "[[::]:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseIP(s)
		if err != nil {
			return
		}
		if c.Method == IPStatic && !c.Address.IsValid() {
			t.Fatalf("static without address: %+v", c)
		}
		if c.Method != IPStatic && c.Address.IsValid() {
			t.Fatalf("%s with an address: %+v", c.Method, c)
		}
		if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
			t.Fatalf("MTU %d", c.MTU)
		}
		if len(c.DNS) > 2 {
			t.Fatalf("DNS %v", c.DNS)
		}
	})
}

func FuzzNetroot(f *testing.F) {
	for _, s := range []string{
		"iscsi:192.168.50.1::::iqn.2009-06.dracut:target0", "iscsi:[2001:DB8::1]::::iqn.2009-06.dracut:target0",
		"10.0.0.1:6:3261:ifc:eth0:1:iqn.2009-01.com.example:x",
		"iscsi:@10.0.0.1::3260::iqn.2009-01.com.example:testdi@sk", "iscsi:u:@/etc/netroot/chap@10.0.0.1::::iqn.x:y",
		"10.0.0.1:::3:custom:name", "iscsi:@@@:::::", "10.0.0.1:::3:a@b:c", "x@10.0.0.1::3260::iqn.x:y",
		"10.0.0.1:6:iqn.x:y", "[fd77::1]::3260:1:iqn.x:y@z", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseISCSIRoot(s)
		// The same with credentials whose secrets must never show, also
		// secrets holding an '@' (with "@@", a literal leading '@').
		rest := strings.TrimPrefix(s, "iscsi:")
		for _, ws := range []string{
			"iscsi:u:" + secretMarker + "@" + rest,
			"iscsi:u:" + atSecret + "@" + rest,
			"iscsi:u:p:tu:" + atSecret + "@" + rest,
			"iscsi:u:" + atSecret + ":tu:" + secretMarker + "@" + rest,
			"iscsi:u:@@" + atSecret + "@" + rest,
			"u:" + atSecret + "@" + rest,
		} {
			if showsSecret(s) {
				break
			}
			tg2, err2 := ParseISCSIRoot(ws)
			if err2 != nil && showsSecret(err2.Error()) {
				t.Fatalf("ParseISCSIRoot(%q): error leaks the secret: %v", ws, err2)
			}
			if r := redactNetroot(ws); showsSecret(r) {
				t.Fatalf("redactNetroot leaks the secret: %q", r)
			}
			if err2 == nil && showsSecret(tg2.Portal()+" "+tg2.Name+" "+tg2.Auth.Username+" "+tg2.Auth.InUsername) {
				t.Fatalf("ParseISCSIRoot(%q) = %+v: a secret became another field", ws, tg2)
			}
		}
		// A DHCP root-path, its missing credentials filled from the
		// command line's: neither the path's secrets nor those show.
		global := Auth{Username: "gu", Password: NewSecret("g" + secretMarker), InUsername: "gt", InPassword: NewSecret("t" + secretMarker)}
		for _, ws := range []string{s, "iscsi:" + rest, "iscsi:u:" + atSecret + "@" + rest, "iscsi:u:p@" + rest} {
			if showsSecret(s) {
				break
			}
			tg3, err3 := ParseDHCPRootPath(ws, global)
			if err3 != nil && showsSecret(err3.Error()) {
				t.Fatalf("ParseDHCPRootPath(%q): error leaks a secret: %v", ws, err3)
			}
			if err3 == nil && showsSecret(fmt.Sprintf("%v %+v %s", tg3, tg3, RedactRootPath(ws))) {
				t.Fatalf("ParseDHCPRootPath(%q) = %+v: a secret shows", ws, tg3)
			}
		}
		if err != nil {
			return
		}
		if tg.Server == "" || tg.Port < 1 || tg.Port > 65535 || tg.LUN < 0 {
			t.Fatalf("bad target %+v", tg)
		}
		// An empty name asks the portal (discovery); another is a name.
		if tg.Name != "" && checkISCSIName("target name", tg.Name) != nil {
			t.Fatalf("bad target name %q", tg.Name)
		}
		if strings.Contains(tg.Auth.Password.String()+tg.Auth.InPassword.String()+tg.Portal(), secretMarker) {
			t.Fatalf("String leaks the secret")
		}
	})
}

func FuzzSplitCmdline(f *testing.F) {
	f.Add(`a=b "c d" e="f g" "h=i j" -- k`)
	f.Fuzz(func(t *testing.T, s string) {
		args, _, _ := splitCmdline(s, "x")
		for _, a := range args {
			if a.Key == "" && !a.HasValue {
				t.Fatalf("empty arg from %q", s)
			}
		}
	})
}

// FuzzInitiatorName: any file gives a name checkISCSIName accepts, or a
// one-line error (a name it quotes, quoted).
func FuzzInitiatorName(f *testing.F) {
	for _, s := range []string{
		"InitiatorName=iqn.1993-08.org.debian:01:abcdef\n",
		"## DO NOT EDIT\nGenerateName=yes\n",
		"# c\n  InitiatorName = iqn.x \nInitiatorAlias=a\n",
		"InitiatorName=\x00\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		name, err := ParseInitiatorName(data)
		if err != nil {
			if name != "" {
				t.Fatalf("name %q with error %v", name, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("a raw line break in the error (a file's text shown unquoted): %q", err)
			}
			return
		}
		if err := checkISCSIName("initiator name", name); err != nil {
			t.Fatalf("name %q: %v", name, err)
		}
	})
}
