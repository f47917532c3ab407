package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/switchroot"
)

func TestShellEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		path    string
	}{
		{"kernel gave no PATH", []string{"HOME=/", "TERM=linux"}, switchroot.DefaultPath + ":/bbin"},
		{"PATH given", []string{"PATH=/bin"}, "/bin:/bbin"},
		{"bbin already there", []string{"PATH=/bbin:/bin"}, "/bbin:/bin"},
		{"bbin only as a prefix of another dir", []string{"PATH=/bbin2"}, "/bbin2:/bbin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.environ)
			env := shellEnv(in)
			if !slices.Equal(in, tc.environ) {
				t.Errorf("shellEnv modified its input: %q", in)
			}
			var paths []string
			for _, kv := range env {
				if p, ok := strings.CutPrefix(kv, "PATH="); ok {
					paths = append(paths, p)
				}
			}
			if len(paths) != 1 || paths[0] != tc.path {
				t.Errorf("PATH = %q, want [%q]", paths, tc.path)
			}
			if !slices.Contains(env, `PS1=netroot:\w# `) {
				t.Errorf("no netroot prompt in %q", env)
			}
		})
	}
}
