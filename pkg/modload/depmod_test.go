package modload

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseModulesDep(t *testing.T) {
	data := []byte("# comment\n\nkernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n" +
		"kernel/fs/jbd2/jbd2.ko:\nkernel/arch/x86/crypto/crc32c-intel.ko.xz:\n")
	got, err := ParseModulesDep(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Module{
		{Name: "ext4", Path: "kernel/fs/ext4/ext4.ko", Depends: []string{"crc16", "mbcache", "jbd2"}},
		{Name: "jbd2", Path: "kernel/fs/jbd2/jbd2.ko"},
		{Name: "crc32c_intel", Path: "kernel/arch/x86/crypto/crc32c-intel.ko.xz"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"kernel/a.ko kernel/b.ko\n", "kernel/a.txt:\n", "a.ko: b.txt\n"} {
		if _, err := ParseModulesDep([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseModulesDep(%q): err = %v", bad, err)
		}
	}
}

func TestParseModulesAliasSoftdepBuiltin(t *testing.T) {
	al, err := ParseModulesAlias([]byte("# Aliases\nalias fs-ext4 ext4\nalias crc32c crc32c-intel\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Alias{{"fs-ext4", "ext4"}, {"crc32c", "crc32c_intel"}}; !reflect.DeepEqual(al, want) {
		t.Errorf("aliases %+v, want %+v", al, want)
	}
	if _, err := ParseModulesAlias([]byte("alias onlytwo\n")); err == nil {
		t.Error("short alias line: no error")
	}
	sd, err := ParseModulesSoftdep([]byte("softdep ext4 pre: crypto-crc32c\nsoftdep ext4 post: x\nsoftdep a-b pre: c\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantSD := map[string]Softdep{"ext4": {Pre: []string{"crypto-crc32c"}, Post: []string{"x"}}, "a_b": {Pre: []string{"c"}}}
	if !reflect.DeepEqual(sd, wantSD) {
		t.Errorf("softdeps %+v, want %+v", sd, wantSD)
	}
	if _, err := ParseModulesSoftdep([]byte("notsoftdep x\n")); err == nil {
		t.Error("bad softdep line: no error")
	}
	b := ParseModulesBuiltin([]byte("kernel/lib/crc-t10dif.ko\n\nnot a module\n"))
	if !slices.Equal(b, []string{"kernel/lib/crc-t10dif.ko"}) {
		t.Errorf("builtin %q", b)
	}
	bm := ParseBuiltinModinfoAliases([]byte("crc_t10dif.license=GPL\x00crc-t10dif.alias=crypto-crct10dif\x00x.alias=\x00junk\x00sha256_generic.alias=sha256\x00"))
	wantBM := map[string][]string{"crc_t10dif": {"crypto-crct10dif"}, "sha256_generic": {"sha256"}}
	if !reflect.DeepEqual(bm, wantBM) {
		t.Errorf("builtin aliases %+v, want %+v", bm, wantBM)
	}
}

func TestWriteDepmodFiles(t *testing.T) {
	x, err := NewIndex("/t", []Module{
		{Name: "ext4", Path: "kernel/fs/ext4/ext4.ko", Depends: []string{"jbd2", "crc16"}, SoftPre: []string{"crypto-crc32c"}, Aliases: []string{"fs-ext4", "ext3"}},
		{Name: "jbd2", Path: "kernel/fs/jbd2/jbd2.ko", Depends: []string{"crc16"}},
		{Name: "crc16", Path: "kernel/lib/crc16.ko"},
		{Name: "crc32c_generic", Path: "kernel/crypto/crc32c_generic.ko", Aliases: []string{"crypto-crc32c"}},
		{Name: "bonding", Path: "kernel/drivers/net/bonding/bonding.ko"},
	}, []string{"kernel/lib/crc-t10dif.ko", "kernel/crypto/sha256_generic.ko"},
		map[string][]string{"sha256_generic": {"sha256", "crypto-sha256"}})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	write := func(name string, data []byte) error { files[name] = string(data); return nil }
	if err := x.WriteDepmodFiles(write, []string{"ext4", "crc32c_generic", "jbd2", "crc16", "crc-t10dif"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"modules.dep": "kernel/crypto/crc32c_generic.ko:\n" +
			"kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko\n" +
			"kernel/fs/jbd2/jbd2.ko: kernel/lib/crc16.ko\n" +
			"kernel/lib/crc16.ko:\n",
		"modules.alias": "# Aliases extracted from modules themselves.\n" +
			"alias crypto-crc32c crc32c_generic\nalias fs-ext4 ext4\nalias ext3 ext4\n",
		"modules.softdep": "# Soft dependencies extracted from modules themselves.\nsoftdep ext4 pre: crypto-crc32c\n",
		"modules.builtin": "kernel/crypto/sha256_generic.ko\nkernel/lib/crc-t10dif.ko\n",
		"modules.builtin.alias": "# Aliases for built-in modules.\n" +
			"alias crypto-sha256 sha256_generic\nalias sha256 sha256_generic\n",
	}
	for name, w := range want {
		if files[name] != w {
			t.Errorf("%s:\n%s\nwant:\n%s", name, files[name], w)
		}
	}
	if len(files) != len(want) {
		t.Errorf("wrote %d files, want %d", len(files), len(want))
	}

	// Reproducible.
	again := map[string]string{}
	x.WriteDepmodFiles(func(name string, data []byte) error { again[name] = string(data); return nil }, []string{"crc16", "jbd2", "crc32c_generic", "ext4"})
	if !reflect.DeepEqual(again, files) {
		t.Error("output depends on the order of subset")
	}

	// A subset missing a hard dependency, or naming an unknown module.
	if err := x.WriteDepmodFiles(write, []string{"ext4"}); err == nil || !strings.Contains(err.Error(), "not in the subset") {
		t.Errorf("incomplete subset: err = %v", err)
	}
	if err := x.WriteDepmodFiles(write, []string{"ext5"}); err == nil || !strings.Contains(err.Error(), "ext5") {
		t.Errorf("unknown module: err = %v", err)
	}
}

// TestDepmodRoundTrip writes the depmod files of the synthetic tree and
// loads them back: LoadIndex then resolves and matches like ScanTree.
func TestDepmodRoundTrip(t *testing.T) {
	x := testIndex(t)
	dir := t.TempDir()
	err := x.WriteDepmodFiles(func(name string, data []byte) error {
		return os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := LoadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Names(), y.Names()) {
		t.Errorf("names %q, want %q", y.Names(), x.Names())
	}
	for _, n := range x.Names() {
		a, b := must(x.Resolve(n)), must(y.Resolve(n))
		if !slices.Equal(a, b) {
			t.Errorf("Resolve(%s): scanned %q, loaded %q", n, a, b)
		}
		ma, _ := x.Module(n)
		mb, _ := y.Module(n)
		if !slices.Equal(ma.Aliases, mb.Aliases) || ma.Path != mb.Path {
			t.Errorf("module %s: scanned %+v, loaded %+v", n, ma, mb)
		}
	}
	if !y.IsBuiltin("crc_t10dif") {
		t.Error("builtin lost")
	}
}

func TestLoadIndexFallsBackToScan(t *testing.T) {
	dir := writeTree(t, testMods, testBuiltin...)
	x, err := LoadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Names()) != len(testMods) {
		t.Errorf("%d modules", len(x.Names()))
	}
	writeFile(t, dir, "modules.dep", []byte("garbage line\n"))
	if _, err := LoadIndex(dir); err == nil || !strings.Contains(err.Error(), "modules.dep") {
		t.Errorf("bad modules.dep: err = %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func FuzzParseDepmodFiles(f *testing.F) {
	f.Add([]byte("kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko\n"), []byte("alias fs-ext4 ext4\n"), []byte("softdep ext4 pre: crc32c\n"))
	f.Add([]byte("a.ko:\nb.ko: a.ko\n"), []byte("alias * a\nalias [ b\n"), []byte("softdep b post: a\n"))
	f.Add([]byte("a.ko: b.ko\nb.ko: a.ko\n"), []byte(""), []byte("softdep a\n"))
	f.Fuzz(func(t *testing.T, dep, alias, softdep []byte) {
		x, err := indexFromDepmod("/fuzz", dep, alias, softdep, ParseModulesBuiltin(alias), ParseBuiltinModinfoAliases(softdep))
		if err != nil {
			return
		}
		// Whatever was parsed must resolve without panicking, and a
		// successful resolution must be a valid order.
		order, err := x.Resolve(x.Names()...)
		if err != nil {
			return
		}
		pos := map[string]int{}
		for i, m := range order {
			pos[m] = i
		}
		for _, m := range order {
			mod, _ := x.Module(m)
			for _, d := range mod.Depends {
				if p, ok := pos[d]; ok && p > pos[m] {
					t.Fatalf("%s before its dependency %s in %q", m, d, order)
				}
			}
		}
		x.MatchAliases("pci:v00001AF4d00001000")
		x.WriteDepmodFiles(func(string, []byte) error { return nil }, nil)
	})
}
