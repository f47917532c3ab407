package lio

import (
	"slices"
	"strings"
	"testing"

	"github.com/netroot/netroot/integration/targetinit/ctl"
)

func base() Target {
	return Target{
		IQN:     "iqn.2010-01.org.example:root",
		Portals: []string{"10.77.0.2:3260"},
		LUNs: []LUN{
			{Number: 1, Backstore: IBlock, Name: "lun1", Dev: "/dev/vda", Serial: "s1"},
			{Number: 2, Backstore: FileIO, Name: "lun2", Dev: "/dev/vdb"},
		},
		ACLs: []string{"iqn.2010-01.org.example:client"},
	}
}

func has(ops []ctl.Op, op, path, value string) bool {
	return slices.ContainsFunc(ops, func(o ctl.Op) bool { return o.Op == op && o.Path == path && o.Value == value })
}

func TestSetup(t *testing.T) {
	const tpg = "target/iscsi/iqn.2010-01.org.example:root/tpgt_1"
	const acl = tpg + "/acls/iqn.2010-01.org.example:client"
	chap := base()
	chap.User, chap.Password, chap.MutualUser, chap.MutualPassword = "u", "p", "mu", "mp"
	demo := base()
	demo.ACLs = nil
	demo.User, demo.Password = "u", "p"
	digest := base()
	digest.Params = map[string]string{"HeaderDigest": "CRC32C", "DataDigest": "CRC32C"}
	digest.TPGT = 3
	tests := []struct {
		name   string
		target Target
		want   [][3]string
		absent [][3]string
	}{
		{"acl", base(), [][3]string{
			{ctl.Write, "target/core/iblock_0/lun1/control", "udev_path=/dev/vda"},
			{ctl.Write, "target/core/iblock_0/lun1/wwn/vpd_unit_serial", "s1"},
			{ctl.Write, "target/core/fileio_0/lun2/control", "fd_dev_name=/dev/vdb"},
			{ctl.Symlink, tpg + "/lun/lun_2/lun2", "target/core/fileio_0/lun2"},
			{ctl.Symlink, acl + "/lun_1/link", tpg + "/lun/lun_1"},
			{ctl.Write, tpg + "/attrib/generate_node_acls", "0"},
			{ctl.Write, tpg + "/attrib/authentication", "0"},
			{ctl.Mkdir, tpg + "/np/10.77.0.2:3260", ""},
			{ctl.Listen, "", "10.77.0.2:3260"},
		}, [][3]string{{ctl.Write, acl + "/auth/userid", "u"}}},
		{"mutual CHAP", chap, [][3]string{
			{ctl.Write, tpg + "/attrib/authentication", "1"},
			{ctl.Write, acl + "/auth/userid", "u"},
			{ctl.Write, acl + "/auth/password", "p"},
			{ctl.Write, acl + "/auth/userid_mutual", "mu"},
			{ctl.Write, acl + "/auth/password_mutual", "mp"},
		}, nil},
		{"demo mode", demo, [][3]string{
			{ctl.Write, tpg + "/attrib/generate_node_acls", "1"},
			{ctl.Write, tpg + "/attrib/demo_mode_write_protect", "0"},
			{ctl.Write, tpg + "/auth/userid", "u"},
		}, [][3]string{{ctl.Mkdir, acl, ""}}},
		{"digests", digest, [][3]string{
			{ctl.Write, "target/iscsi/iqn.2010-01.org.example:root/tpgt_3/param/HeaderDigest", "CRC32C"},
			{ctl.Write, "target/iscsi/iqn.2010-01.org.example:root/tpgt_3/param/DataDigest", "CRC32C"},
		}, nil},
	}
	for _, tt := range tests {
		ops, err := Setup(tt.target)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, w := range tt.want {
			if !has(ops, w[0], w[1], w[2]) {
				t.Errorf("%s: no op %v", tt.name, w)
			}
		}
		for _, w := range tt.absent {
			if has(ops, w[0], w[1], w[2]) {
				t.Errorf("%s: unexpected op %v", tt.name, w)
			}
		}
		for _, o := range ops {
			if strings.Contains(o.Path, "password") != o.Secret {
				t.Errorf("%s: op %s: Secret=%v", tt.name, o, o.Secret)
			}
		}
		// The portal group is enabled after its portals exist and
		// before anything waits for them.
		en := slices.IndexFunc(ops, func(o ctl.Op) bool { return strings.HasSuffix(o.Path, "/enable") && strings.Contains(o.Path, "tpgt_") })
		np := slices.IndexFunc(ops, func(o ctl.Op) bool { return strings.Contains(o.Path, "/np/") })
		ln := slices.IndexFunc(ops, func(o ctl.Op) bool { return o.Op == ctl.Listen })
		if !(np < en && en < ln) {
			t.Errorf("%s: np at %d, enable at %d, listen at %d", tt.name, np, en, ln)
		}
	}
}

// TestTeardownUndoesSetup: every directory and link Setup makes is
// removed, children before parents, after the group is disabled.
func TestTeardownUndoesSetup(t *testing.T) {
	tgt := base()
	setup, _ := Setup(tgt)
	down, err := Teardown(tgt)
	if err != nil {
		t.Fatal(err)
	}
	if down[0].Op != ctl.Write || !strings.HasSuffix(down[0].Path, "tpgt_1/enable") || down[0].Value != "0" {
		t.Errorf("teardown starts with %s, want disabling the group", down[0])
	}
	pos := map[string]int{}
	for i, o := range down {
		if o.Op == ctl.Rmdir || o.Op == ctl.Unlink {
			pos[o.Path] = i
			if !o.IfExists {
				t.Errorf("%s: not IfExists", o)
			}
		}
	}
	for _, o := range setup {
		if o.Op != ctl.Mkdir && o.Op != ctl.Symlink {
			continue
		}
		if o.Path == "target/iscsi" || strings.HasSuffix(o.Path, "_0") {
			continue // shared: the fabric and the HBAs stay
		}
		i, ok := pos[o.Path]
		if !ok {
			t.Errorf("teardown does not remove %s", o.Path)
			continue
		}
		for p, j := range pos {
			if strings.HasPrefix(p, o.Path+"/") && j > i {
				t.Errorf("%s removed before its child %s", o.Path, p)
			}
		}
	}
	if down[len(down)-1].Op != ctl.Unlisten {
		t.Errorf("teardown ends with %s, want a wait for the portal to close", down[len(down)-1])
	}
}

func TestValidate(t *testing.T) {
	mod := func(f func(*Target)) Target { t := base(); f(&t); return t }
	for name, bad := range map[string]Target{
		"name":        mod(func(t *Target) { t.IQN = "root" }),
		"no portal":   mod(func(t *Target) { t.Portals = nil }),
		"bad portal":  mod(func(t *Target) { t.Portals = []string{"10.77.0.2"} }),
		"no LUN":      mod(func(t *Target) { t.LUNs = nil }),
		"backstore":   mod(func(t *Target) { t.LUNs[0].Backstore = "rd" }),
		"same number": mod(func(t *Target) { t.LUNs[1].Number = 1 }),
		"slash":       mod(func(t *Target) { t.LUNs[0].Name = "a/b" }),
		"no password": mod(func(t *Target) { t.User = "u" }),
		"mutual only": mod(func(t *Target) { t.MutualUser, t.MutualPassword = "a", "b" }),
		"param":       mod(func(t *Target) { t.Params = map[string]string{"../x": "1"} }),
	} {
		if _, err := Setup(bad); err == nil {
			t.Errorf("%s: Setup accepted %+v", name, bad)
		}
	}
}
