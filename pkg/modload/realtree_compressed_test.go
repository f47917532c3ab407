//go:build linux

package modload

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/modload/modtest"
)

// compressTool compresses data as a distribution's kernel build does, with
// its command-line tool when installed (xz --check=crc32 --lzma2=dict=1MiB
// as kbuild runs it; zstd; gzip -n), else with modtest.Compress.
func compressTool(t *testing.T, ext string, data []byte) []byte {
	t.Helper()
	var argv []string
	switch ext {
	case ".xz":
		argv = []string{"xz", "--check=crc32", "--lzma2=dict=1MiB", "-c"}
	case ".zst":
		argv = []string{"zstd", "-q", "-c"}
	case ".gz":
		argv = []string{"gzip", "-n", "-c"}
	}
	if len(argv) > 0 {
		if _, err := exec.LookPath(argv[0]); err == nil {
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Stdin = bytes.NewReader(data)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", argv[0], err)
			}
			return out
		}
	}
	out, err := modtest.Compress(ext, data)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRealTreeCompressed copies the modules of the scenario from the real
// (uncompressed) tree into a tree without depmod files whose modules are
// compressed as distributions ship them — xz (Debian 13), zstd (Ubuntu,
// Fedora), gzip, some left plain — and checks that the index built from it
// matches the real one, that each file reads back to the original image,
// that depmod files written for the decompressed copy name .ko files, and
// that the loader hands each module to the kernel the right way.
func TestRealTreeCompressed(t *testing.T) {
	x := realTree(t)
	names := []string{"iscsi_tcp", "sd_mod", "bonding", "ext4", "virtio_net", "8021q"}
	subset, err := x.Resolve(names...)
	if err != nil {
		t.Fatal(err)
	}
	exts := []string{".xz", ".zst", ".gz", ".xz", ".zst", ""}
	dir := t.TempDir()
	ext := map[string]string{}
	images := map[string][]byte{}
	for i, n := range subset {
		m, ok := x.Module(n)
		if !ok {
			continue // built in
		}
		img, err := os.ReadFile(filepath.Join(x.Dir, m.Path))
		if err != nil {
			t.Fatal(err)
		}
		e := exts[i%len(exts)]
		ext[n], images[n] = e, img
		writeFile(t, dir, m.Path+e, compressTool(t, e, img))
	}
	perExt := map[string]int{}
	for _, e := range ext {
		perExt[e]++
	}
	t.Logf("%d modules by compression: %v", len(ext), perExt)
	for _, e := range exts {
		if perExt[e] == 0 {
			t.Fatalf("no module compressed as %q: %v", e, perExt)
		}
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo"} {
		if data, err := os.ReadFile(filepath.Join(x.Dir, f)); err == nil {
			writeFile(t, dir, f, data)
		}
	}

	y, err := LoadIndex(dir) // no modules.dep: scans
	if err != nil {
		t.Fatal(err)
	}
	for n, img := range images {
		want, _ := x.Module(n)
		got, ok := y.Module(n)
		if !ok {
			t.Errorf("%s missing from the compressed tree's index", n)
			continue
		}
		if got.Path != want.Path+ext[n] || !slices.Equal(got.Depends, want.Depends) ||
			!slices.Equal(got.Aliases, want.Aliases) || !slices.Equal(got.SoftPre, want.SoftPre) {
			t.Errorf("%s: compressed tree %+v\nreal tree %+v", n, got, want)
		}
		data, err := ReadModuleFile(filepath.Join(dir, filepath.FromSlash(got.Path)))
		if err != nil || !bytes.Equal(data, img) {
			t.Errorf("%s%s: read back %d bytes (%v), want the %d-byte original", n, ext[n], len(data), err, len(img))
		}
	}
	order, err := y.Resolve(names...)
	if err != nil || !slices.Equal(order, subset) {
		t.Errorf("Resolve on the compressed tree: %v (%v), want %v", order, err, subset)
	}

	// The depmod files of a decompressed copy name .ko files only.
	var dep string
	err = y.WithPaths(UncompressedPath).WriteDepmodFiles(func(name string, data []byte) error {
		if name == "modules.dep" {
			dep = string(data)
		}
		return nil
	}, subset)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(strings.ReplaceAll(dep, ":", " ")) {
		if !strings.HasSuffix(f, ".ko") {
			t.Errorf("modules.dep names %s", f)
		}
	}

	// Loading: the kernel decompresses xz (as Debian 13's), the rest is
	// decompressed here. The fake kernel names each module by the
	// .modinfo of the image it was given.
	k := newFakeKernel(t, y)
	k.decompresses = compXZ
	sysfs := t.TempDir()
	writeFile(t, sysfs, "module/compression", []byte("xz\n"))
	proc := t.TempDir()
	writeFile(t, proc, "modules", nil)
	l := &Loader{Index: y, Sys: k, ProcRoot: proc, SysfsRoot: sysfs, Logf: t.Logf}
	if err := l.Load(context.Background(), names...); err != nil {
		t.Fatal(err)
	}
	for n, e := range ext {
		if k.fail[n] != nil {
			continue
		}
		if !k.loaded[n] {
			t.Errorf("%s%s not loaded", n, e)
		}
		if got := slices.Contains(k.compressed, n); got != (e == ".xz") {
			t.Errorf("%s%s: decompressed by the kernel: %v", n, e, got)
		}
	}
}
