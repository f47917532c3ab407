package modload

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/netroot/netroot/pkg/modload/modtest"
)

func TestReadModuleFile(t *testing.T) {
	img := synthELF(modinfoBytes("name=ext4", "depends=jbd2"))
	dir := t.TempDir()
	for _, ext := range []string{"", ".xz", ".zst", ".gz"} {
		data, err := modtest.Compress(ext, img)
		if err != nil {
			t.Fatal(err)
		}
		p := writeFile(t, dir, "ext4.ko"+ext, data)
		got, err := ReadModuleFile(p)
		if err != nil {
			t.Errorf("%s: %v", ext, err)
			continue
		}
		if !bytes.Equal(got, img) {
			t.Errorf("%s: %d bytes, not the %d-byte image", ext, len(got), len(img))
		}
	}
	// Damaged streams are errors naming the file, never a crash.
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		data, _ := modtest.Compress(ext, img)
		for name, bad := range map[string][]byte{
			"truncated": data[:len(data)/2],
			"garbage":   []byte("not compressed at all"),
			"empty":     nil,
			"flipped":   flip(data, len(data)/2),
		} {
			p := writeFile(t, dir, name+".ko"+ext, bad)
			got, err := ReadModuleFile(p)
			switch {
			case err == nil && name != "flipped":
				t.Errorf("%s%s: no error", name, ext)
			case err == nil && !bytes.Equal(got, img):
				t.Errorf("%s%s: a damaged stream decompressed to other bytes without an error", name, ext)
			}
			if err != nil && !strings.Contains(err.Error(), p) {
				t.Errorf("%s%s: error %q does not name the file", name, ext, err)
			}
		}
	}
	if _, err := ReadModuleFile(filepath.Join(dir, "missing.ko.xz")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

// flip returns a copy of data with the byte at i inverted.
func flip(data []byte, i int) []byte {
	c := bytes.Clone(data)
	c[i] ^= 0xff
	return c
}

func TestUncompressedPath(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/fs/ext4/ext4.ko.xz":         "kernel/fs/ext4/ext4.ko",
		"kernel/fs/ext4/ext4.ko.zst":        "kernel/fs/ext4/ext4.ko",
		"kernel/fs/ext4/ext4.ko.gz":         "kernel/fs/ext4/ext4.ko",
		"kernel/fs/ext4/ext4.ko":            "kernel/fs/ext4/ext4.ko",
		"/abs/crc32c-intel.ko.xz":           "/abs/crc32c-intel.ko",
		"kernel/weird.xz/bonding.ko":        "kernel/weird.xz/bonding.ko",
		"modules.dep":                       "modules.dep",
		"kernel/drivers/net/virtio_net.zst": "kernel/drivers/net/virtio_net.zst",
		"kernel/x.ko.bz2":                   "kernel/x.ko.bz2",
	} {
		if got := UncompressedPath(in); got != want {
			t.Errorf("UncompressedPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseCompression(t *testing.T) {
	for in, want := range map[string]compression{"xz\n": compXZ, "zstd\n": compZstd, "gzip": compGzip, " xz ": compXZ} {
		if got, ok := parseCompression(in); !ok || got != want {
			t.Errorf("parseCompression(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "none", "lz4\n", "XZ", "xz zstd"} {
		if got, ok := parseCompression(in); ok {
			t.Errorf("parseCompression(%q) = %v, want not ok", in, got)
		}
	}
	for _, c := range []compression{compXZ, compZstd, compGzip} {
		if got, ok := parseCompression(c.String()); !ok || got != c {
			t.Errorf("%v does not round-trip: %v", c, got)
		}
	}
}

func TestWithPathsUncompressed(t *testing.T) {
	mods := []Module{
		{Name: "ext4", Path: "kernel/fs/ext4/ext4.ko.xz", Depends: []string{"jbd2"}, Aliases: []string{"fs-ext4"}},
		{Name: "jbd2", Path: "kernel/fs/jbd2/jbd2.ko.zst"},
		{Name: "bonding", Path: "kernel/drivers/net/bonding/bonding.ko"},
	}
	x, err := NewIndex("/m", mods, []string{"kernel/lib/crc16.ko"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	y := x.WithPaths(UncompressedPath)
	files := map[string]string{}
	if err := y.WriteDepmodFiles(func(name string, data []byte) error { files[name] = string(data); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	want := "kernel/drivers/net/bonding/bonding.ko:\nkernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko\nkernel/fs/jbd2/jbd2.ko:\n"
	if files["modules.dep"] != want {
		t.Errorf("modules.dep\n%s\nwant\n%s", files["modules.dep"], want)
	}
	if !strings.Contains(files["modules.alias"], "alias fs-ext4 ext4") || !strings.Contains(files["modules.builtin"], "crc16") {
		t.Errorf("aliases or builtins lost: %q %q", files["modules.alias"], files["modules.builtin"])
	}
	// x is unchanged; y answers like x.
	if m, _ := x.Module("ext4"); m.Path != "kernel/fs/ext4/ext4.ko.xz" {
		t.Errorf("x changed: %+v", m)
	}
	if got := y.MatchAliases("fs-ext4"); len(got) != 1 || got[0] != "ext4" || !y.IsBuiltin("crc16") {
		t.Errorf("y: aliases %q, builtin %v", got, y.IsBuiltin("crc16"))
	}
}

func FuzzDecompress(f *testing.F) {
	img := synthELF(modinfoBytes("name=ext4"))
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		data, err := modtest.Compress(ext, img)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []compression{compXZ, compZstd, compGzip} {
			out, err := decompress(c, data)
			if err == nil && len(out) > maxModuleSize {
				t.Fatalf("%v: %d bytes, over the bound", c, len(out))
			}
		}
	})
}

// TestDecompressFile: /init's path for a compressed module decodes zstd
// frames that state their size (netroot build's) into mapped memory and
// the rest on the heap; each gives the image, and damage is an error.
func TestDecompressFile(t *testing.T) {
	// Larger than a page, and more than one zstd block.
	img := synthELF(modinfoBytes("name=ext4", "depends=jbd2"))
	for i := 0; len(img) < 300<<10; i++ {
		img = append(img, byte(i), byte(i>>8), byte(i*7))
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	sized := enc.EncodeAll(img, nil)
	var h zstd.Header
	if err := h.Decode(sized); err != nil || !h.HasFCS {
		t.Fatalf("EncodeAll's frame states no size (%v): the mapped path is not tested", err)
	}
	streamed, _ := modtest.Compress(".zst", img)
	xzData, _ := modtest.Compress(".xz", img)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		c    compression
		data []byte
	}{
		{"zstd with its size", compZstd, sized},
		{"zstd streamed", compZstd, streamed},
		{"xz", compXZ, xzData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := func(data []byte) *os.File {
				f, err := os.Open(writeFile(t, dir, "m.ko", data))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return f
			}
			got, release, err := decompressFile(open(tc.data), tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, img) {
				t.Errorf("%d bytes, not the %d-byte image", len(got), len(img))
			}
			release()
			for name, bad := range map[string][]byte{
				"truncated": tc.data[:len(tc.data)/2],
				"garbage":   []byte("not compressed at all"),
				"empty":     nil,
			} {
				if _, _, err := decompressFile(open(bad), tc.c); err == nil {
					t.Errorf("%s: no error", name)
				}
			}
		})
	}
}
