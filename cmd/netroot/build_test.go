package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/netroot/netroot/pkg/modload"
	"github.com/netroot/netroot/pkg/modload/modtest"
	"github.com/netroot/netroot/pkg/switchroot"
	"github.com/u-root/u-root/pkg/cpio"
)

// buildTreeMod is a module of the synthetic tree: its path, .modinfo
// fields and the compression its file is shipped with.
type buildTreeMod struct {
	path, ext string
	fields    []string
}

// buildTree is a tree without depmod files, compressed as distributions
// ship it (xz, zstd, gzip, plain), holding what netroot build always
// carries.
var buildTree = []buildTreeMod{
	{"kernel/drivers/scsi/scsi_mod.ko", ".xz", []string{"name=scsi_mod", "depends="}},
	{"kernel/drivers/scsi/sd_mod.ko", ".zst", []string{"name=sd_mod", "depends=scsi_mod"}},
	{"kernel/drivers/scsi/libiscsi.ko", ".gz", []string{"name=libiscsi", "depends=scsi_mod"}},
	{"kernel/drivers/scsi/iscsi_tcp.ko", ".xz", []string{"name=iscsi_tcp", "depends=libiscsi,scsi_mod"}},
	{"kernel/crypto/crc32c_generic.ko", ".zst", []string{"name=crc32c_generic", "depends=", "alias=crypto-crc32c", "alias=crc32c"}},
	{"kernel/drivers/net/bonding/bonding.ko", "", []string{"name=bonding", "depends=", "alias=rtnl-link-bond"}},
	{"kernel/net/8021q/8021q.ko", ".xz", []string{"name=8021q", "depends="}},
	{"kernel/fs/ext4/ext4.ko", ".zst", []string{"name=ext4", "depends=", "softdep=pre: crc32c", "alias=fs-ext4"}},
}

// TestBuildZstdTool: -zstd-tool hands a zstd image's compression to the
// program with level 19's arguments and says so; builtin (and gzip) do
// not run it.
func TestBuildZstdTool(t *testing.T) {
	dir := t.TempDir()
	tree := writeBuildTree(t)
	argsFile := filepath.Join(dir, "args")
	tool := filepath.Join(dir, "zstd")
	// A stand-in that records its arguments and writes a frame's magic.
	script := "#!/bin/sh\necho \"$@\" >" + argsFile + "\ncat >/dev/null\nprintf '\\050\\265\\057\\375stand-in'\n"
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		compress, tool string
		ran            bool
	}{
		{"zstd", tool, true},
		{"zstd", "builtin", false},
		{"gzip", tool, false},
	} {
		os.Remove(argsFile)
		out := filepath.Join(dir, "x.img")
		var stdout, stderr bytes.Buffer
		code := runBuild([]string{"-o", out, "-modules", tree, "-no-init", "-fs", "ext4", "-initiator-name-file", "none",
			"-compress", tc.compress, "-zstd-tool", tc.tool}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%+v: exit %d: %s", tc, code, stderr.String())
		}
		args, err := os.ReadFile(argsFile)
		if ran := err == nil; ran != tc.ran {
			t.Errorf("%+v: tool ran %v, want %v", tc, ran, tc.ran)
		}
		said := strings.Contains(stdout.String(), ", by "+tool+" -19")
		if said != tc.ran {
			t.Errorf("%+v: build says %q; want the tool named: %v", tc, stdout.String(), tc.ran)
		}
		img, _ := os.ReadFile(out)
		if tc.ran {
			if got := strings.TrimSpace(string(args)); got != "-19 -T1 -q -c --no-progress" {
				t.Errorf("tool's arguments %q", got)
			}
			if string(img) != "\x28\xb5\x2f\xfdstand-in" {
				t.Errorf("image %q, want the tool's output", img)
			}
			continue
		}
		if tc.compress == "zstd" {
			d, err := zstd.NewReader(bytes.NewReader(img))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(d); err != nil {
				t.Errorf("builtin: the image does not decode: %v", err)
			}
		}
	}
}

// archiveRecords returns the regular files of a gzip newc archive.
func archiveRecords(t *testing.T, path string) []cpio.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(recs, func(r cpio.Record) bool { return r.Mode&cpio.S_IFMT != cpio.S_IFREG })
}

// readArchive returns the regular files of a gzip newc archive by path.
func readArchive(t *testing.T, path string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, r := range archiveRecords(t, path) {
		data, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		if err != nil {
			t.Fatal(err)
		}
		out[r.Name] = data
	}
	return out
}

// TestBuildCompressedModules builds from a tree laid out as Debian 13
// ships it (usr/lib/modules/<version>, compressed modules, no
// modules.dep) in each -module-compress mode: auto (the default)
// decompresses the modules every boot loads (the iSCSI stack, the one
// filesystem) and stores the others (bonding and 8021q: no command line
// names them) each as its own .ko.zst frame, none decompresses them all
// into the archive, keep copies them as they are; modules.dep names the
// archive's files in each.
func TestBuildCompressedModules(t *testing.T) {
	dir := t.TempDir()
	const kver = "6.12.0-test-amd64"
	tree := filepath.Join(dir, "usr", "lib", "modules", kver)
	images := map[string][]byte{}
	for _, m := range buildTree {
		img := modtest.ELF(modtest.ModInfo(m.fields...))
		data, err := modtest.Compress(m.ext, img)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(tree, filepath.FromSlash(m.path+m.ext))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		images[m.path] = img
	}
	for _, mode := range []string{"", ModulesNone, ModulesKeep} {
		out := filepath.Join(dir, "initrd.img")
		var stdout bytes.Buffer
		err := build(buildOptions{Output: out, ModulesDir: tree, NoInit: true, FS: []string{"ext4"},
			Compression: "gzip", ModuleCompression: mode}, &stdout)
		if err != nil {
			t.Fatalf("mode %q: %v", mode, err)
		}
		files := readArchive(t, out)
		base := "lib/modules/" + kver + "/"
		for _, m := range buildTree {
			name := base + m.path
			perFile := mode == "" && (strings.Contains(m.path, "bonding") || strings.Contains(m.path, "8021q"))
			switch {
			case mode == ModulesKeep:
				name += m.ext
			case perFile:
				name += ".zst"
			}
			data, ok := files[name]
			if !ok {
				t.Errorf("mode %q: %s not in the archive", mode, name)
				continue
			}
			switch {
			case mode == ModulesKeep:
				want, _ := os.ReadFile(filepath.Join(tree, filepath.FromSlash(m.path+m.ext)))
				if !bytes.Equal(data, want) {
					t.Errorf("keep: %s differs from the tree's file", name)
				}
			case perFile:
				if got := unzstd(t, data); !bytes.Equal(got, images[m.path]) {
					t.Errorf("%s does not decompress to the module's image", name)
				}
			default:
				if !bytes.Equal(data, images[m.path]) {
					t.Errorf("%s is not the decompressed image", name)
				}
			}
			for _, other := range []string{m.path, m.path + m.ext, m.path + ".zst"} {
				if base+other != name && files[base+other] != nil {
					t.Errorf("mode %q: %s carried as %s too", mode, name, other)
				}
			}
		}
		dep := string(files[base+"modules.dep"])
		for _, line := range strings.Split(strings.TrimSpace(dep), "\n") {
			for _, f := range strings.Fields(strings.ReplaceAll(line, ":", " ")) {
				if _, ok := files[base+f]; !ok {
					t.Errorf("mode %q: modules.dep names %s, which is not in the archive", mode, f)
				}
			}
		}
		// /init reads the archive's index: it must resolve there.
		idxDir := filepath.Join(dir, "unpacked", kver)
		for name, data := range files {
			if rel, ok := strings.CutPrefix(name, base); ok && strings.HasPrefix(rel, "modules.") {
				os.MkdirAll(idxDir, 0o755)
				if err := os.WriteFile(filepath.Join(idxDir, rel), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		idx, err := modload.LoadIndex(idxDir)
		if err != nil {
			t.Fatal(err)
		}
		order, err := idx.Resolve("iscsi_tcp", "ext4", "bonding", "8021q", "sd_mod")
		if err != nil || len(order) != len(buildTree) {
			t.Errorf("mode %q: the archive's index resolves %v (%v), want all %d modules", mode, order, err, len(buildTree))
		}
		os.RemoveAll(filepath.Join(dir, "unpacked"))
		if mode == "" && !strings.Contains(stdout.String(), "8 modules, 2 of them each zstd-compressed") {
			t.Errorf("auto: %s", stdout.String())
		}
		if !strings.Contains(stdout.String(), "8 modules") {
			t.Errorf("mode %q: %s", mode, stdout.String())
		}
	}
}

// unzstd decompresses one zstd frame.
func unzstd(t *testing.T, data []byte) []byte {
	t.Helper()
	d, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := d.DecodeAll(data, nil)
	if err != nil {
		t.Fatalf("zstd: %v", err)
	}
	return out
}

// TestBuildRealTreeCompressed builds from the modules a real Debian kernel
// needs for the scenario (NETROOT_TEST_MODULES_DIR, uncompressed), copied
// into a usr/lib/modules tree without depmod files with every module
// compressed with zstd (as Ubuntu and Fedora ship them) or xz (as Debian 13
// does): the archive carries the original .ko files.
func TestBuildRealTreeCompressed(t *testing.T) {
	real := os.Getenv("NETROOT_TEST_MODULES_DIR")
	if real == "" {
		t.Skip("set NETROOT_TEST_MODULES_DIR to an uncompressed module tree (e.g. a Debian 6.1 kernel package's)")
	}
	if testing.Short() {
		t.Skip("real module tree skipped in -short mode")
	}
	x, err := modload.ScanTree(real)
	if err != nil {
		t.Fatal(err)
	}
	kver := filepath.Base(real)
	tree := filepath.Join(t.TempDir(), "usr", "lib", "modules", kver)
	// The modules the build needs (their closure, both crc32c providers
	// included); the rest of the tree is not read.
	need, err := x.Resolve("iscsi_tcp", "sd_mod", "crc32c", "bonding", "8021q", "ext4", "virtio_pci", "virtio_net")
	if err != nil {
		t.Fatal(err)
	}
	originals := map[string][]byte{}
	for i, n := range need {
		m, ok := x.Module(n)
		if !ok {
			continue // built in
		}
		img, err := os.ReadFile(filepath.Join(real, filepath.FromSlash(m.Path)))
		if err != nil {
			t.Fatal(err)
		}
		ext := []string{".zst", ".xz"}[i%2]
		data, err := modtest.Compress(ext, img)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(tree, filepath.FromSlash(m.Path+ext))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		originals[m.Path] = img
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo"} {
		if data, err := os.ReadFile(filepath.Join(real, f)); err == nil {
			os.WriteFile(filepath.Join(tree, f), data, 0o644)
		}
	}
	for _, mode := range []string{ModulesNone, ModulesAuto} {
		out := filepath.Join(t.TempDir(), "initrd.img")
		var stdout bytes.Buffer
		err = build(buildOptions{Output: out, ModulesDir: tree, NoInit: true, Compression: "gzip", ModuleCompression: mode,
			Drivers: []string{"virtio_pci", "virtio_net"}, FS: []string{"ext4"},
			Cmdline: "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none bond=bond0:eth0,eth1:mode=active-backup,miimon=100 " +
				"netroot=iscsi:10.77.0.1::3260:1:iqn.2010-01.org.example:root rd.iscsi.initiator=iqn.2010-01.org.example:client root=LABEL=ISCSI_ROOT ro"}, &stdout)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(strings.TrimSpace(stdout.String()))
		files := readArchive(t, out)
		base := "lib/modules/" + kver + "/"
		var carried int
		for name, data := range files {
			rel, ok := strings.CutPrefix(name, base)
			if !ok || !strings.HasPrefix(rel, "kernel/") {
				continue
			}
			carried++
			if r, ok := strings.CutSuffix(rel, ".zst"); ok {
				if mode != ModulesAuto {
					t.Errorf("%s: %s compressed", mode, name)
				}
				rel, data = r, unzstd(t, data)
			}
			if want, ok := originals[rel]; !ok || !bytes.Equal(data, want) {
				t.Errorf("%s: %s is not the original module (%d bytes, original %d)", mode, name, len(data), len(want))
			}
		}
		// auto: the command line's bond, its one filesystem and the iSCSI
		// stack are every boot's; the NIC drivers and VLANs may not be.
		for _, want := range []string{"kernel/fs/ext4/ext4.ko", "kernel/drivers/net/bonding/bonding.ko", "kernel/drivers/scsi/iscsi_tcp.ko",
			"kernel/drivers/net/virtio_net.ko", "kernel/net/8021q/8021q.ko"} {
			if mode == ModulesAuto && (strings.Contains(want, "virtio") || strings.Contains(want, "8021q")) {
				want += ".zst"
			}
			if _, ok := files[base+want]; !ok {
				t.Errorf("%s: %s not carried", mode, want)
			}
		}
		if carried < 15 {
			t.Errorf("%s: only %d modules carried", mode, carried)
		}
	}
}

func TestAutoCompression(t *testing.T) {
	for kver, want := range map[string]string{
		"6.1.0-57-amd64":      "zstd",
		"6.12.48+deb13-amd64": "zstd",
		"5.9.0":               "zstd",
		"5.8.18-generic":      "gzip",
		"4.19.0-27-amd64":     "gzip",
		"":                    "gzip",
		"modules":             "gzip",
	} {
		if got := autoCompression(kver); got != want {
			t.Errorf("autoCompression(%q) = %q, want %q", kver, got, want)
		}
	}
}

// TestBuildWarnsDynamicAdd: a dynamically linked program -add'ed without
// its loader (a distribution's /bin/sh as the emergency shell) cannot run
// in the initramfs: the build says so. A static one, or a script, is
// added without a word.
func TestBuildWarnsDynamicAdd(t *testing.T) {
	loader, err := switchroot.Interpreter("/bin/true")
	if err != nil || loader == "" {
		t.Skipf("the host's /bin/true is not dynamically linked (%v)", err)
	}
	tree := writeBuildTree(t)
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, add, want string
	}{
		{"dynamic", "/bin/true:/bin/sh", "netroot build: warning: -add /bin/true:/bin/sh: /bin/true is dynamically linked and its loader " + loader +
			" is not in the initramfs: it cannot run there; add a statically linked program (for a shell, busybox-static's /bin/busybox)\n"},
		{"script", script + ":/bin/hello", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := build(buildOptions{Output: filepath.Join(t.TempDir(), "initrd.img"), ModulesDir: tree, NoInit: true, FS: []string{"ext4"},
				Compression: "gzip", Adds: []string{tc.add}}, &stdout)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, l := range strings.SplitAfter(stdout.String(), "\n") {
				if strings.Contains(l, "warning") {
					got += l
				}
			}
			if got != tc.want {
				t.Errorf("warnings %q, want %q", got, tc.want)
			}
		})
	}
}
