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
		"kernel/crypto/crc32c_generic.ko":       "",
		"modules.dep":                           "kernel/drivers/net/bonding/bonding.ko:\nkernel/drivers/scsi/iscsi_tcp.ko:\nkernel/crypto/crc32c_generic.ko:\n",
		"modules.alias":                         "alias crc32c crc32c_generic\n",
		"modules.builtin":                       "kernel/drivers/scsi/sd_mod.ko\nkernel/fs/ext4/ext4.ko\n",
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
			[]string{"3 problem(s)", "bond=bond0:eth0:mode=9", "netroot=iscsi:u:***@", "rd.retry=x", "expected rd.retry=<seconds>"}, true},
		{"modules present", []string{"-modules", mods, cl}, 0, []string{"all 4 needed kernel modules found"}, nil, true},
		{"modules missing", []string{"-modules", mods, cl + " rootfstype=xfs vlan=vlan5:bond0"}, 1, nil, []string{"missing", "8021q xfs"}, true},
		{"modules dir absent", []string{"-modules", filepath.Join(dir, "nope"), cl}, 1, nil, []string{"looking for kernel modules"}, true},
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
