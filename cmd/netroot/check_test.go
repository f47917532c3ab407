package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunCheck(t *testing.T) {
	dir := t.TempDir()
	baked := filepath.Join(dir, "10-netroot.conf")
	if err := os.WriteFile(baked, []byte("# baked\nrd.iscsi.initiator=iqn.2015-01.com.example:h\nroot=LABEL=baked\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A modules tree described by depmod files, as netroot build writes
	// them: crc32c is an alias that crc32c_generic provides.
	mods := filepath.Join(dir, "6.1.0")
	files := map[string]string{
		"kernel/drivers/net/bonding/bonding.ko": "",
		"kernel/drivers/scsi/iscsi_tcp.ko":      "",
		"kernel/drivers/scsi/libiscsi.ko":       "",
		"kernel/crypto/crc32c_generic.ko":       "",
		"modules.dep": "kernel/drivers/net/bonding/bonding.ko:\nkernel/drivers/scsi/iscsi_tcp.ko: kernel/drivers/scsi/libiscsi.ko\n" +
			"kernel/drivers/scsi/libiscsi.ko:\nkernel/crypto/crc32c_generic.ko:\n",
		"modules.alias":   "alias crc32c crc32c_generic\n",
		"modules.builtin": "kernel/drivers/scsi/sd_mod.ko\nkernel/fs/ext4/ext4.ko\n",
	}
	for f, data := range files {
		p := filepath.Join(mods, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A tree without any filesystem module.
	nofs := filepath.Join(dir, "6.1.0-nofs")
	if err := os.MkdirAll(nofs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nofs, "modules.dep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cl := "root=LABEL=r bond=bond0:eth0,eth1:mode=1 ip=bond0:dhcp netroot=iscsi:u:hunter2@10.0.0.1::::iqn.2015-01.com.example:t"
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  []string
		stderr  []string
		noLeaks bool
	}{
		{"valid", []string{cl}, 0, []string{"bond bond0: slaves eth0,eth1, options mode=active-backup", "password ***", "root: LABEL=r"}, nil, true},
		{"file then cmdline", []string{"-f", baked, "rd.retry=5"}, 0, []string{"root: LABEL=baked", "retry 5s", "initiator: iqn.2015-01.com.example:h"}, nil, true},
		{"errors", []string{"root=LABEL=r bond=bond0:eth0:mode=9 netroot=iscsi:u:hunter2@10.0.0.1:::x:iqn.x rd.retry=x"}, 1, nil,
			[]string{"3 errors: /init would refuse", "error: command line: bond=bond0:eth0:mode=9", "netroot=iscsi:u:***@", "rd.retry=x", "expected rd.retry=<seconds>"}, true},
		{"unclosed quote, with its hint", []string{`root=LABEL=r rd.iscsi.param="node.session.timeo.replacement_timeout=5 rd.retry=5`}, 1, nil,
			[]string{"error: command line: rd.iscsi.param=node.session.timeo.replacement_timeout=5…: syntax error: a double quote opened here is never closed," +
				" so everything after it became part of this parameter — close the quote\n"}, true},
		{"modules present", []string{"-modules", mods, cl}, 0, []string{"all 4 needed kernel modules found", "OK: /init boots this command line (no warnings)"}, nil, true},
		{"modules missing", []string{"-modules", mods, cl + " rootfstype=xfs vlan=vlan5:bond0"}, 1, nil, []string{"missing", "8021q xfs"}, true},
		{"dependency blacklisted", []string{"-modules", mods, cl + " rd.driver.blacklist=libiscsi"}, 1, nil,
			[]string{"error: kernel modules the plan needs would not load with rd.driver.blacklist=libiscsi", "iscsi_tcp: module libiscsi is needed by iscsi_tcp but blacklisted"}, true},
		{"alias provider blacklisted", []string{"-modules", mods, cl + " rd.driver.blacklist=crc32c_generic"}, 1, nil,
			[]string{"error: crc32c: module crc32c_generic is blacklisted (rd.driver.blacklist)"}, true},
		{"unrelated module blacklisted", []string{"-modules", mods, cl + " rd.driver.blacklist=nouveau"}, 0, []string{"all 4 needed kernel modules found"}, nil, true},
		{"modules dir absent", []string{"-modules", filepath.Join(dir, "nope"), cl}, 1, nil, []string{"looking for kernel modules"}, true},
		{"warnings", []string{cl + " rd.iscsi.target.group=2 rd.vconsole.keymap=de"}, 0, []string{"OK: /init boots this command line (2 warnings)"},
			[]string{"2 warnings (accepted", "warning: rd.iscsi.target.group: no effect", "warning: rd.vconsole.keymap: "}, true},
		{"iSCSI param typo", []string{cl + " rd.iscsi.param=node.session.iscsi.FirstBurstLenght=65536"}, 1, nil,
			[]string{"error: command line: rd.iscsi.param=node.session.iscsi.FirstBurstLenght=65536", "did you mean node.session.iscsi.FirstBurstLength?"}, true},
		{"auto6", []string{cl + " ip=eth2:auto6"}, 0, []string{"address of eth2: auto6"}, nil, true},
		{"bootdev no ip= names", []string{cl + " bootdev=eth2"}, 0, []string{"address of bond0: dhcp\n", "address of eth2: dhcp (implied: bootdev= names it and no ip= does"}, nil, true},
		{"naming scheme", []string{cl + " net.naming-scheme=v999"}, 1, nil, []string{`error: command line: net.naming-scheme=v999: syntax error: unknown naming scheme "v999" (expected net.naming-scheme=v238|v239`}, true},
		{"predictable slaves", []string{"root=LABEL=r bond=bond0:ens2,ens3:mode=1 ip=bond0:dhcp6 netroot=iscsi:[fd77::1]::3260:1:iqn.2010-01.org.example:root"}, 0,
			[]string{"interface names: ens2, ens3 renamed to their predictable names", "address of bond0: dhcp6", "portal [fd77::1]:3260"}, nil, true},
		{"iBFT", []string{"root=LABEL=r rd.iscsi.firmware=1"}, 0, []string{"targets from the firmware's iBFT", "modules: 8021q iscsi_ibft iscsi_tcp"}, nil, true},
		{"bond option of another mode", []string{"root=LABEL=r bond=bond0:eth0,eth1:mode=1,lacp_rate=fast"}, 1, nil,
			[]string{"bond option lacp_rate applies only to mode 802.3ad"}, true},
		{"f2fs", []string{cl + " rootfstype=f2fs"}, 1, nil, []string{"error: command line: rootfstype=f2fs: not supported"}, true},
		{"by-path", []string{"root=/dev/disk/by-path/pci-0000:00:1f.2-ata-1-part1"}, 1, nil, []string{"error: command line: root=/dev/disk/by-path/pci-"}, true},
		{"no filesystem modules", []string{"-modules", nofs, "root=LABEL=r"}, 1, nil, []string{"none of the filesystem modules"}, true},
		{"no args", nil, 2, nil, []string{"usage: netroot check"}, true},
		{"bad flag", []string{"-x"}, 2, nil, nil, true},
		{"missing file", []string{"-f", filepath.Join(dir, "nope")}, 2, nil, []string{"reading the command line"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runCheck(tt.args, &out, &errb)
			if code != tt.code {
				t.Errorf("code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			if strings.Contains(out.String()+errb.String(), "hunter2") {
				t.Errorf("the CHAP secret leaked:\n%s\n%s", out.String(), errb.String())
			}
		})
	}
}

// TestCheckParity holds check to /init: each command line is one /init
// refuses (or used to fail on), which check must refuse naming the
// parameter; the last ones /init boots as written, which check accepts.
func TestCheckParity(t *testing.T) {
	const target = "netroot=iscsi:10.0.0.1::::iqn.2020-01.com.example:t"
	for _, tc := range []struct {
		cmdline string
		code    int
		stderr  string
	}{
		{"root=LABEL=r rd.driver.pre=e1000e rd.driver.blacklist=e1000e", 1, "error: command line: rd.driver.blacklist=e1000e: conflicting parameters: e1000e is needed by rd.driver.pre="},
		{"root=LABEL=r " + target + " rd.driver.blacklist=iscsi_tcp", 1, "error: command line: rd.driver.blacklist=iscsi_tcp: conflicting parameters: iscsi_tcp is needed by"},
		{"root=LABEL=r rootfstype=ext4 rd.driver.blacklist=ext4", 1, "error: command line: rd.driver.blacklist=ext4"},
		{"netroot=dhcp root=LABEL=r ip=eth0:dhcp6", 1, "error: command line: netroot=dhcp: conflicting parameters"},
		{"root=LABEL=r vlan=vlan100:eth0 vlan=eth0.100:eth0 ip=eth0.100:dhcp", 1, "error: vlan=eth0.100:eth0: conflicting parameters: VLAN 100 on eth0"},
		{"root=LABEL=r bond=bond0:eth0.5,eth1 vlan=eth0.5:eth0 ip=bond0:dhcp", 1, "error: bond=bond0: conflicting parameters: slave eth0.5 is a VLAN"},
		{"root=LABEL=r rd.iscsi.target.name=iqn.2020-01.com.example:t rd.iscsi.target.ip=10.0.0.1:3260", 1, "error: command line: rd.iscsi.target.ip=10.0.0.1:3260: syntax error"},
		{"root=LABEL=r " + target + " rd.retry=0", 1, "error: command line: rd.retry=0: conflicting parameters"},
		{"root=LABEL=r ip=10.0.0.2::192.168.1.1:24::eth0:none", 1, "error: command line: ip=10.0.0.2::192.168.1.1:24::eth0:none: conflicting parameters: the gateway 192.168.1.1 is outside"},
		{"root=iscsi:10.0.0.1::::iqn.2020-01.com.example:a/b", 1, "error: command line: root=iscsi:10.0.0.1::::iqn.2020-01.com.example:a/b: syntax error"},
		{"root=LABEL=r rootflags=noatime,bind", 1, "error: command line: rootflags=noatime,bind: not supported"},
		// /init now boots these as a dracut user means them.
		{"root=LABEL=r vlan=eth0.5.6:eth0.5 vlan=eth0.5:eth0 ip=eth0.5.6:dhcp " + target, 0, ""},
		{"root=LABEL=r rootflags=noatime,nodiratime,_netdev,nobarrier " + target, 0, ""},
		// A label's udev escapes are undone, as in its by-label name; a
		// backslash that starts none names no link (udev writes \x5c).
		{`root=LABEL=C:\Windows ` + target, 1, `error: command line: root=LABEL=C:\Windows: syntax error: bad device selector`},
		{`root=LABEL=My\x20Root ` + target, 0, ""},
		// LVM's /dev/<vg>/<lv> never appears as a kernel name: refused as
		// /dev/mapper/… is.
		{"root=/dev/rhel/root " + target, 1, "error: command line: root=/dev/rhel/root: not supported: bad device selector"},
		{"root=/dev/mapper/rhel-root " + target, 1, "error: command line: root=/dev/mapper/rhel-root: not supported: bad device selector"},
		{"root=/dev/cciss/c0d0p1 " + target, 0, ""},
		// dracut's deprecated iscsiroot=: netroot=iscsi:<value>, with a
		// warning, where parse-iscsiroot.sh takes it.
		{"root=iscsi iscsiroot=10.0.0.1::::iqn.2020-01.com.example:t", 0, "warning: iscsiroot: deprecated"},
		{"root=LABEL=r iscsiroot=10.0.0.1::::iqn.2020-01.com.example:t", 1, "error: command line: iscsiroot=10.0.0.1::::iqn.2020-01.com.example:t: conflicting parameters"},
		// A gateway of 0.0.0.0 is none (the kernel's ip=), not one outside
		// the prefix.
		{"root=LABEL=r ip=10.0.0.2::0.0.0.0:255.255.255.0::eth0:none " + target, 0, ""},
		// rd.emergency= with the shell on: netroot takes the action at
		// once, dracut opens the shell first; a warning says so.
		{"root=LABEL=r rd.emergency=reboot " + target, 0, "warning: rd.emergency=reboot: netroot reboots at once"},
		// The last occurrence of a single-valued parameter wins, as in
		// dracut's getarg: LVM turned off last is off.
		{"rd.lvm=1 root=LABEL=r rd.lvm=0 " + target, 0, ""},
		{"rd.lvm=0 root=LABEL=r rd.lvm=1 " + target, 1, "error: command line: rd.lvm=1: not supported"},
	} {
		var out, errb bytes.Buffer
		code := runCheck([]string{tc.cmdline}, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.stderr) {
			t.Errorf("check %q: code %d, want %d with %q in stderr:\n%s", tc.cmdline, code, tc.code, tc.stderr, errb.String())
		}
	}
}

func TestRunBuildRefusesUnknownFS(t *testing.T) {
	var out, errb bytes.Buffer
	code := runBuild([]string{"-o", filepath.Join(t.TempDir(), "x.img"), "-fs", "ext4,f2fs"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "-fs f2fs: not a root filesystem netroot mounts (ext4, ext3, ext2, xfs, btrfs, vfat)") {
		t.Errorf("code %d, stderr %q", code, errb.String())
	}
}

func TestRunBuildRefusesUnknownModuleCompression(t *testing.T) {
	var out, errb bytes.Buffer
	code := runBuild([]string{"-o", filepath.Join(t.TempDir(), "x.img"), "-module-compress", "xz"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "-module-compress xz: want auto, none or keep") {
		t.Errorf("code %d, stderr %q", code, errb.String())
	}
}
