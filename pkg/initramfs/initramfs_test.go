package initramfs

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/u-root/u-root/pkg/cpio"
	"github.com/ulikunitz/xz"
)

func sample(t *testing.T) *Archive {
	t.Helper()
	a := New()
	host := filepath.Join(t.TempDir(), "tool")
	os.WriteFile(host, []byte("#!/bin/sh\n"), 0o700)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.AddHostFile("/bin/tool", host, 0))
	must(a.AddFile("init", []byte("ELF"), 0o755))
	must(a.AddCharDev("dev/console", 0o600, 5, 1))
	must(a.AddSymlink("sbin/init", "/init"))
	must(a.AddFile("etc/netroot/chap", []byte("secret"), 0o644))
	must(a.Chmod([]string{"/etc/netroot/chap"}, 0o600))
	return a
}

func records(t *testing.T, r io.Reader) map[string]cpio.Record {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]cpio.Record{}
	for _, r := range recs {
		out[r.Name] = r
	}
	return out
}

func TestWriteContents(t *testing.T) {
	var buf bytes.Buffer
	if _, err := sample(t).Write(&buf, "none"); err != nil {
		t.Fatal(err)
	}
	recs := records(t, &buf)
	for name, mode := range map[string]uint64{
		"bin":              cpio.S_IFDIR | 0o755, // parent created
		"bin/tool":         cpio.S_IFREG | 0o700, // host mode kept
		"init":             cpio.S_IFREG | 0o755,
		"dev/console":      cpio.S_IFCHR | 0o600,
		"sbin/init":        cpio.S_IFLNK | 0o777,
		"etc/netroot/chap": cpio.S_IFREG | 0o600,
	} {
		r, ok := recs[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if r.Mode != mode {
			t.Errorf("%s mode %o, want %o", name, r.Mode, mode)
		}
		if r.MTime != 0 || r.UID != 0 {
			t.Errorf("%s not reproducible: mtime %d uid %d", name, r.MTime, r.UID)
		}
	}
	if c := recs["dev/console"]; c.Rmajor != 5 || c.Rminor != 1 {
		t.Errorf("console device %d:%d", c.Rmajor, c.Rminor)
	}
}

func TestReproducibleAndCompressions(t *testing.T) {
	for _, c := range Compressions {
		var a, b bytes.Buffer
		if _, err := sample(t).Write(&a, c); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if _, err := sample(t).Write(&b, c); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: two builds of the same files differ", c)
		}
		var r io.Reader
		var err error
		switch c {
		case "gzip":
			r, err = gzip.NewReader(&a)
		case "zstd":
			var d *zstd.Decoder
			d, err = zstd.NewReader(&a)
			r = d
		case "xz":
			r, err = xz.NewReader(&a)
		case "lz4":
			// The kernel's legacy format: its magic, then blocks.
			if m := binary.LittleEndian.Uint32(a.Bytes()); m != 0x184C2102 {
				t.Fatalf("lz4: magic %#x, want the legacy format's 0x184c2102", m)
			}
			r = lz4.NewReader(&a)
		case "none":
			r = &a
		}
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if recs := records(t, r); len(recs) != 10 {
			t.Errorf("%s: %d records, want 10 (6 entries, 4 parent directories)", c, len(recs))
		}
	}
	if _, err := New().Write(io.Discard, "lzip"); err == nil {
		t.Error("unknown compression accepted")
	}
}

// TestWriteTool compresses with the zstd program when one is installed:
// the result decodes to the same archive and is reproducible.
func TestWriteTool(t *testing.T) {
	tool := FindZstdTool()
	if tool == "" {
		t.Skip("no zstd program on PATH")
	}
	var a, b, plain bytes.Buffer
	if _, err := sample(t).WriteTool(&a, "zstd", tool); err != nil {
		t.Fatal(err)
	}
	if _, err := sample(t).WriteTool(&b, "zstd", tool); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two builds of the same files with the zstd program differ")
	}
	if _, err := sample(t).Write(&plain, "none"); err != nil {
		t.Fatal(err)
	}
	d, err := zstd.NewReader(&a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain.Bytes()) {
		t.Error("the zstd program's frame does not decode to the archive")
	}
	// Only zstd goes to the tool.
	var g bytes.Buffer
	if _, err := sample(t).WriteTool(&g, "gzip", tool); err != nil || g.Len() < 2 || g.Bytes()[0] != 0x1f || g.Bytes()[1] != 0x8b {
		t.Errorf("gzip with a zstd tool: %v, % x…", err, g.Bytes()[:min(g.Len(), 4)])
	}
}

// TestWriteToolFails: a tool that fails, or writes something that is not
// a zstd frame, is an error that names it, and nothing is written.
func TestWriteToolFails(t *testing.T) {
	dir := t.TempDir()
	for name, script := range map[string]string{
		"fails":   "#!/bin/sh\necho 'zstd: out of memory' >&2\nexit 1\n",
		"garbage": "#!/bin/sh\ncat >/dev/null\necho not-zstd\n",
	} {
		tool := filepath.Join(dir, name)
		if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, err := sample(t).WriteTool(&out, "zstd", tool)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tool)) {
			t.Errorf("%s: error %v, want one naming %s", name, err, tool)
		}
		if name == "fails" && (err == nil || !bytes.Contains([]byte(err.Error()), []byte("out of memory"))) {
			t.Errorf("%s: error %v, want the tool's message", name, err)
		}
		if out.Len() != 0 {
			t.Errorf("%s: %d bytes written on failure", name, out.Len())
		}
	}
	if _, err := sample(t).WriteTool(io.Discard, "zstd", filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing tool: no error")
	}
}

func TestBadPaths(t *testing.T) {
	a := New()
	if err := a.AddFile("/", nil, 0o644); err == nil {
		t.Error("root path accepted as a file")
	}
	if err := a.Chmod([]string{"nope"}, 0o600); err == nil {
		t.Error("chmod of a missing entry accepted")
	}
	if err := a.AddFile("../../etc/x", []byte("x"), 0o644); err != nil || !a.Has("etc/x") {
		t.Errorf("../ must be cleaned into the archive: %v", err)
	}
}
