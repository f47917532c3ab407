package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestStatFields(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, stat string
		want       []string
	}{
		{"plain", "134 (netroot-keeper) S 1 134 134 0 -1\n", []string{"S", "1", "134", "134", "0", "-1"}},
		{"a name with spaces and parentheses", "7 (a) b (c) R 2 7\n", []string{"R", "2", "7"}},
		{"no name", "garbage", nil},
	} {
		p := filepath.Join(dir, "stat")
		if err := os.WriteFile(p, []byte(tc.stat), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := statFields(p); !slices.Equal(got, tc.want) {
			t.Errorf("%s: statFields(%q) = %q, want %q", tc.name, tc.stat, got, tc.want)
		}
	}
	if got := statFields(filepath.Join(dir, "absent")); got != nil {
		t.Errorf("statFields(absent) = %q, want nil", got)
	}
}
