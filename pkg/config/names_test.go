package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNames(t *testing.T) {
	for _, tc := range []struct {
		cl      string
		ifnames Ifnames
		scheme  string
	}{
		{"root=LABEL=r bond=bond0:ens2,ens3", IfnamesAuto, ""},
		{"root=LABEL=r net.ifnames=0 bond=bond0:eth0,eth1", IfnamesOff, ""},
		{"root=LABEL=r net.ifnames=1", IfnamesOn, ""},
		{"root=LABEL=r net.ifnames=1 ifname=lan0:52:54:00:12:34:56 bond=bond0:lan0,ens3", IfnamesOn, ""},
		{"root=LABEL=r net.ifnames", IfnamesOn, ""},
		{"root=LABEL=r net.ifnames=no", IfnamesOff, ""},
		{"root=LABEL=r net.naming-scheme=v252", IfnamesAuto, "v252"},
		{"root=LABEL=r net.naming_scheme=latest bond=bond0:enp0s2,enp0s3", IfnamesAuto, "latest"},
		// ifname= gives the predictable-looking name itself.
		{"root=LABEL=r net.ifnames=0 ifname=ens2:52:54:00:12:34:56 ip=ens2:dhcp", IfnamesOff, ""},
		// A bond slave named the systemd way is fine.
		{"root=LABEL=r bond=bond0:ens2,ens3:mode=active-backup ip=bond0:dhcp", IfnamesAuto, ""},
	} {
		p := mustParse(t, proc(tc.cl))
		if p.Net.Names.Ifnames != tc.ifnames || p.Net.Names.Scheme != tc.scheme {
			t.Errorf("%s: names %+v, want %v %q", tc.cl, p.Net.Names, tc.ifnames, tc.scheme)
		}
		if _, ok := p.Modules.Params["net"]; ok {
			t.Errorf("%s: net.* taken for module parameters: %v", tc.cl, p.Modules.Params)
		}
	}
	for _, tc := range []struct{ cl, want string }{
		{"root=LABEL=r net.naming-scheme=v999", `unknown naming scheme "v999"`},
		{"root=LABEL=r net.naming-scheme=", "net.naming-scheme"},
		{"root=LABEL=r net.ifnames=2", "net.ifnames=2"},
		{"root=LABEL=r net.ifnames=0 bond=bond0:ens2,eth1", "ens2 is a predictable (systemd-udev) name, but net.ifnames=0"},
		{"root=LABEL=r net.ifnames=0 ip=enp0s31f6:dhcp", "enp0s31f6"},
		{"root=LABEL=r net.ifnames=0 vlan=vlan5:eno1 ip=vlan5:dhcp", "eno1"},
		{"root=LABEL=r net.ifnames=1 bond=bond0:eth0,ens3", "net.ifnames=1 renames every NIC to its predictable (systemd-udev) name, so none keeps eth0"},
	} {
		_, err := Parse(proc(tc.cl))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.cl, err, tc.want)
		}
	}
	d := mustParse(t, proc("root=LABEL=r bond=bond0:ens2,ens3 ip=bond0:dhcp")).Describe()
	if !strings.Contains(d, "interface names: ens2, ens3 renamed to their predictable names") {
		t.Errorf("Describe:\n%s", d)
	}
}

func TestParseFirmware(t *testing.T) {
	const tgt = "netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t"
	for _, tc := range []struct {
		cl             string
		firmware, ibft bool
		implicitIP     bool
	}{
		{"root=LABEL=r rd.iscsi.firmware=1", true, true, false},
		{"root=LABEL=r rd.iscsi.firmware", true, true, false},
		{"root=LABEL=r iscsi_firmware", true, true, false},
		{"root=LABEL=r netroot=iscsi", true, true, false},
		{"root=LABEL=r netroot=iscsi:", true, true, false},
		{"root=LABEL=r ip=ibft", true, true, false},
		{"root=LABEL=r rd.iscsi.ibft=1", true, true, false},
		// The command line's own network, the firmware's targets.
		{"root=LABEL=r rd.iscsi.firmware=1 ip=eth0:dhcp", true, false, false},
		// The firmware's network, the command line's targets.
		{"root=LABEL=r ip=ibft " + tgt, false, true, false},
		{"root=LABEL=r rd.iscsi.ibft " + tgt, false, true, false},
		{"root=LABEL=r rd.iscsi.firmware=0 " + tgt, false, false, true},
		{"root=LABEL=r rd.iscsi.ibft=0 " + tgt, false, false, true},
		// netroot=iscsi with rd.iscsi.target.*: the command line's target.
		{"root=LABEL=r netroot=iscsi rd.iscsi.target.name=iqn.2015-01.com.example:t rd.iscsi.target.ip=10.0.0.1", false, false, true},
	} {
		p := mustParse(t, proc(tc.cl))
		implicit := len(p.Net.IP) == 1 && p.Net.IP[0].Implicit
		if p.ISCSI.Firmware != tc.firmware || p.Net.IBFT != tc.ibft || implicit != tc.implicitIP || !p.Net.NeedNet {
			t.Errorf("%s: firmware %v, ibft %v, implicit ip= %v, neednet %v; want %v %v %v", tc.cl, p.ISCSI.Firmware, p.Net.IBFT, implicit, p.Net.NeedNet,
				tc.firmware, tc.ibft, tc.implicitIP)
		}
		mods := strings.Join(p.NeededModules(), " ")
		if (tc.firmware || tc.ibft) != strings.Contains(mods, "iscsi_ibft") {
			t.Errorf("%s: modules %s", tc.cl, mods)
		}
		if tc.ibft && !strings.Contains(mods, "8021q") {
			t.Errorf("%s: modules %s lack 8021q for the iBFT's VLAN", tc.cl, mods)
		}
		if len(p.Warnings) != 0 {
			t.Errorf("%s: warnings %v", tc.cl, p.Warnings)
		}
	}
	d := mustParse(t, proc("root=LABEL=r rd.iscsi.firmware=1")).Describe()
	for _, w := range []string{"targets from the firmware's iBFT", "initiator: the iBFT's", "addresses and VLANs of the NICs the firmware's iBFT names"} {
		if !strings.Contains(d, w) {
			t.Errorf("Describe lacks %q:\n%s", w, d)
		}
	}
	// A by-path root cannot be checked against the table.
	p := mustParse(t, proc("root=/dev/disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.2015-01.com.example:t-lun-0 rd.iscsi.firmware"))
	if len(p.Warnings) != 1 {
		t.Errorf("by-path root with the iBFT: warnings %v", p.Warnings)
	}
	for _, cl := range []string{"root=LABEL=r ip=ibft,dhcp", "root=LABEL=r ip=10.0.0.2::10.0.0.1:24::eth0:ibft", "root=LABEL=r rd.iscsi.mp=1"} {
		if _, err := Parse(proc(cl)); err == nil {
			t.Errorf("%s: accepted", cl)
		}
	}
}

func TestParseIPv6(t *testing.T) {
	for _, tc := range []struct {
		cl      string
		methods []IPMethod
		dhcp6   bool
	}{
		{"root=LABEL=r ip=dhcp6", []IPMethod{IPDHCP6}, false},
		{"root=LABEL=r ip=bond0:auto6 bond=bond0:eth0,eth1", []IPMethod{IPAuto6}, false},
		{"root=LABEL=r ip=bond0.5:either6 bond=bond0:eth0,eth1 vlan=bond0.5:bond0", []IPMethod{IPEither6}, false},
		{"root=LABEL=r ip=eth0:link6", []IPMethod{IPLink6}, false},
		{"root=LABEL=r ip=dhcp,dhcp6", []IPMethod{IPDHCP, IPDHCP6}, false},
		{"root=LABEL=r ip=[fd77::10]::[fd77::1]:64:h:eth0:none", []IPMethod{IPStatic}, false},
		{"root=LABEL=r netroot=dhcp6", []IPMethod{IPDHCP6}, true},
		{"root=LABEL=r netroot=dhcp6 ip=eth0:either6", []IPMethod{IPEither6}, true},
		{"root=LABEL=r netroot=iscsi:[fd77::1]::3260:1:iqn.2010-01.org.example:root ip=eth0:auto6", []IPMethod{IPAuto6}, false},
	} {
		p := mustParse(t, proc(tc.cl))
		var got []IPMethod
		for _, c := range p.Net.IP {
			got = append(got, append([]IPMethod{c.Method}, c.MoreMethods...)...)
		}
		if strings.Join(methodStrings(got), ",") != strings.Join(methodStrings(tc.methods), ",") || p.ISCSI.FromDHCP6 != tc.dhcp6 {
			t.Errorf("%s: methods %v, dhcp6 root %v", tc.cl, got, p.ISCSI.FromDHCP6)
		}
		if len(p.Warnings) != 0 {
			t.Errorf("%s: warnings %v", tc.cl, p.Warnings)
		}
		if tc.dhcp6 && !strings.Contains(p.Describe(), "DHCPv6 boot file URL (option 59)") {
			t.Errorf("%s: Describe:\n%s", tc.cl, p.Describe())
		}
	}
	if _, err := Parse(proc("root=LABEL=r netroot=dhcp6 ip=eth0:auto6")); !errors.Is(err, ErrConflict) {
		t.Errorf("netroot=dhcp6 without DHCPv6: %v", err)
	}
}

func methodStrings(ms []IPMethod) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

func TestParseInitiatorName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"InitiatorName=iqn.1993-08.org.debian:01:5ab3c7\n", "iqn.1993-08.org.debian:01:5ab3c7"},
		{"## DO NOT EDIT OR REMOVE THIS FILE!\n# InitiatorName=iqn.not\nInitiatorName=iqn.2005-03.org.open-iscsi:abc  \r\nInitiatorName=iqn.second\n", "iqn.2005-03.org.open-iscsi:abc"},
		{"InitiatorAlias=node1\nInitiatorName=eui.02004567A425678D", "eui.02004567A425678D"},
	} {
		got, err := ParseInitiatorName([]byte(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("ParseInitiatorName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"GenerateName=yes\n", "GenerateName=yes"},
		{"", "no InitiatorName= line"},
		{"InitiatorName=\n", "empty initiator name"},
		{"InitiatorName=iqn.a b\n", "white space"},
	} {
		got, err := ParseInitiatorName([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseInitiatorName(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.want)
		}
	}
}
