package config

import (
	"strings"
	"testing"
)

// secretMarker is a password no error or description may ever show.
const secretMarker = "Zq9SECRETx"

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
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The fuzzed text plus credentials whose secrets must never show.
		withSecrets := s + " rd.iscsi.password=" + secretMarker + " rd.iscsi.in.password=" + secretMarker +
			" netroot=iscsi:u:" + secretMarker + "@10.9.9.9::::iqn.2015-01.com.example:fuzz"
		p, err := Parse(Source{Name: "/etc/cmdline.d/x.conf", Text: s}, proc(withSecrets))
		if strings.Contains(s, secretMarker) {
			return // the marker is elsewhere too: nothing to check
		}
		if err != nil {
			if strings.Contains(err.Error(), secretMarker) {
				t.Fatalf("error leaks the secret: %v", err)
			}
			return
		}
		d := p.Describe()
		if strings.Contains(d, secretMarker) {
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
		"10.0.0.1:::3:custom:name", "iscsi:@@@:::::",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseISCSIRoot(s)
		// The same with credentials whose secret must never show.
		ws := "iscsi:u:" + secretMarker + "@" + strings.TrimPrefix(s, "iscsi:")
		if _, err2 := ParseISCSIRoot(ws); !strings.Contains(s, secretMarker) {
			if err2 != nil && strings.Contains(err2.Error(), secretMarker) {
				t.Fatalf("error leaks the secret: %v", err2)
			}
			if strings.Contains(redactNetroot(ws), secretMarker) {
				t.Fatalf("redactNetroot leaks the secret: %q", redactNetroot(ws))
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
