package rig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecipeHash(t *testing.T) {
	base := recipeHash("1", "bookworm", []string{"a", "b"}, map[string]string{"etc/x": "1\n"})
	for _, tc := range []struct {
		name  string
		parts []any
		same  bool
	}{
		{"identical", []any{"1", "bookworm", []string{"a", "b"}, map[string]string{"etc/x": "1\n"}}, true},
		{"suite", []any{"1", "trixie", []string{"a", "b"}, map[string]string{"etc/x": "1\n"}}, false},
		{"package order", []any{"1", "bookworm", []string{"b", "a"}, map[string]string{"etc/x": "1\n"}}, false},
		{"file contents", []any{"1", "bookworm", []string{"a", "b"}, map[string]string{"etc/x": "2\n"}}, false},
		// Parts are separate JSON values: moving text between them changes the hash.
		{"boundaries", []any{"1bookworm", "", []string{"a", "b"}, map[string]string{"etc/x": "1\n"}}, false},
	} {
		if got := recipeHash(tc.parts...); (got == base) != tc.same {
			t.Errorf("%s: hash %s vs %s, want same=%v", tc.name, got, base, tc.same)
		}
	}
	if len(base) != 12 {
		t.Errorf("hash %q: want 12 hex digits", base)
	}
}

func TestDistrosAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Distros() {
		if seen[d.Name] || d.Suite == "" || d.RestartUnit == "" || d.Network == "" {
			t.Errorf("distro %+v: duplicate name or missing suite/network/restart unit", d)
		}
		seen[d.Name] = true
		// The image directories are <name>-<hash>: one name must not be
		// another's prefix plus a hash-length suffix (buildOnce prunes).
		for other := range seen {
			if other != d.Name && strings.HasPrefix(d.Name, other+"-") && len(d.Name)-len(other)-1 == 12 {
				t.Errorf("%s looks like an older build of %s", d.Name, other)
			}
		}
	}
}

func TestWriteTree(t *testing.T) {
	tree := t.TempDir()
	// A hard link into a cached tree must not be written through.
	cached := filepath.Join(t.TempDir(), "cached")
	os.WriteFile(cached, []byte("cached\n"), 0o644)
	os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
	if err := os.Link(cached, filepath.Join(tree, "etc/hostname")); err != nil {
		t.Skip("no hard links here:", err)
	}
	err := writeTree(tree, map[string]string{
		"etc/hostname":        "debian\n",
		"etc/a/b/c.conf":      "x=1\n",
		"etc/wants/x.service": "->/lib/systemd/system/x.service",
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(tree, "etc/hostname")); string(b) != "debian\n" {
		t.Errorf("hostname = %q", b)
	}
	if b, _ := os.ReadFile(cached); string(b) != "cached\n" {
		t.Errorf("the cached tree's file was written through its hard link: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(tree, "etc/a/b/c.conf")); string(b) != "x=1\n" {
		t.Errorf("c.conf = %q", b)
	}
	if l, err := os.Readlink(filepath.Join(tree, "etc/wants/x.service")); err != nil || l != "/lib/systemd/system/x.service" {
		t.Errorf("symlink = %q, %v", l, err)
	}
}

func TestBuildOncePrunesOlderRecipes(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"bookworm-networkd-000000000000", "bookworm-networkd-open-iscsi-111111111111"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	var steps []BuildStep
	step := func(name string, cached bool, took time.Duration) {
		steps = append(steps, BuildStep{name, took, cached})
	}
	dir := filepath.Join(root, "bookworm-networkd-222222222222")
	built := 0
	build := func(tree string) error { built++; return os.MkdirAll(tree, 0o755) }
	for i := 0; i < 2; i++ {
		if err := buildOnce(t.Context(), dir, "bookworm-networkd-", step, "install", build); err != nil {
			t.Fatal(err)
		}
	}
	if built != 1 || len(steps) != 2 || steps[0].Cached || !steps[1].Cached {
		t.Errorf("built %d times, steps %+v: want one build, then the cache", built, steps)
	}
	if _, err := os.Stat(filepath.Join(root, "bookworm-networkd-000000000000")); err == nil {
		t.Errorf("the older build of the same recipe was kept")
	}
	if _, err := os.Stat(filepath.Join(root, "bookworm-networkd-open-iscsi-111111111111")); err != nil {
		t.Errorf("another recipe's build was pruned: %v", err)
	}
}
