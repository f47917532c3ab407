package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/modload/modtest"
)

// writeBuildTree writes buildTree and iscsi_ibft, uncompressed, and
// returns its path.
func writeBuildTree(t *testing.T) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "lib", "modules", "6.12.0-test")
	ibft := buildTreeMod{"kernel/drivers/firmware/iscsi_ibft.ko", "", []string{"name=iscsi_ibft", "depends="}}
	for _, m := range append(buildTree[:len(buildTree):len(buildTree)], ibft) {
		p := filepath.Join(tree, filepath.FromSlash(m.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, modtest.ELF(modtest.ModInfo(m.fields...)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

// archiveModes returns the permission bits of a gzip newc archive's
// regular files by path.
func archiveModes(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, r := range archiveRecords(t, path) {
		out[r.Name] = r.Mode & 0o7777
	}
	return out
}

// TestBuildSecretsMode: an image that carries CHAP secrets (inline in the
// baked command line, or secret files) is written 0600 and says so;
// without, 0644 (TFTP and HTTP daemons often run as another user). Every
// secret file the command line names is checked and made 0600 in the
// archive, also rd.iscsi.password=@/… with netroot=dhcp or the iBFT.
func TestBuildSecretsMode(t *testing.T) {
	tree := writeBuildTree(t)
	dir := t.TempDir()
	chap := filepath.Join(dir, "chap")
	if err := os.WriteFile(chap, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const target = "10.0.0.1::3260:1:iqn.2020-01.com.example:t"
	conf := filepath.Join(dir, "60-chap.conf")
	if err := os.WriteFile(conf, []byte("rd.iscsi.username=u rd.iscsi.password=s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cmdline string
		adds          []string
		secrets       bool
		file          string // a secret file, 0600 in the archive
		err           string
	}{
		{"no cmdline", "", nil, false, "", ""},
		{"no secrets", "root=LABEL=r netroot=iscsi:" + target, nil, false, "", ""},
		{"inline in netroot=", "root=LABEL=r netroot=iscsi:u:s3cret@" + target, nil, true, "", ""},
		{"inline rd.iscsi.password", "root=LABEL=r netroot=dhcp rd.iscsi.username=u rd.iscsi.password=s3cret", nil, true, "", ""},
		{"legacy iscsi_in_password", "root=LABEL=r netroot=iscsi:" + target + " iscsi_username=u iscsi_password=a1 iscsi_in_username=t iscsi_in_password=b2", nil, true, "", ""},
		{"secret file in netroot=", "root=LABEL=r netroot=iscsi:u:@/etc/netroot/chap@" + target, []string{chap + ":/etc/netroot/chap"}, true, "etc/netroot/chap", ""},
		{"secret file with netroot=dhcp", "root=LABEL=r netroot=dhcp rd.iscsi.username=u rd.iscsi.password=@/etc/netroot/chap", []string{chap + ":/etc/netroot/chap"}, true, "etc/netroot/chap", ""},
		{"secret file with the iBFT", "root=LABEL=r rd.iscsi.firmware rd.iscsi.in.username=t rd.iscsi.in.password=@/etc/netroot/in", []string{chap + ":/etc/netroot/in"}, true, "etc/netroot/in", ""},
		{"inline in an added cmdline.d file", "", []string{conf + ":/etc/cmdline.d/60-chap.conf"}, true, "etc/cmdline.d/60-chap.conf", ""},
		{"missing secret file with netroot=dhcp", "root=LABEL=r netroot=dhcp rd.iscsi.username=u rd.iscsi.password=@/etc/netroot/chap", nil, false, "", "not in the initramfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "initrd.img")
			var stdout bytes.Buffer
			err := build(buildOptions{Output: out, ModulesDir: tree, NoInit: true, FS: []string{"ext4"}, Compression: "gzip",
				Cmdline: tc.cmdline, Adds: tc.adds}, &stdout)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("build: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			said := strings.Contains(stdout.String(), "carries CHAP secrets")
			want := os.FileMode(0o644)
			if tc.secrets {
				want = 0o600
			}
			if st.Mode().Perm() != want || said != tc.secrets {
				t.Errorf("mode %v, want %v; stdout:\n%s", st.Mode().Perm(), want, stdout.String())
			}
			if tc.secrets && !strings.Contains(stdout.String(), "anyone who can fetch it over TFTP/HTTP can read them") {
				t.Errorf("stdout:\n%s", stdout.String())
			}
			if strings.Contains(stdout.String(), "s3cret") {
				t.Errorf("a secret on stdout:\n%s", stdout.String())
			}
			if tc.file != "" {
				if m, ok := archiveModes(t, out)[tc.file]; !ok || m != 0o600 {
					t.Errorf("%s: mode %o (present %v), want 0600", tc.file, m, ok)
				}
			}
		})
	}
}
