package main

import (
	"slices"
	"testing"
)

func TestIsKeeper(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		cmdline string
		want    bool
	}{
		{"PID 1, /proc not mounted", []string{"/init"}, "", false},
		{"PID 1, /proc mounted", []string{"/init"}, "/init\x00", false},
		{"busybox init", []string{"/bbin/init"}, "/init\x00", false},
		{"plain keeper", []string{"@netroot-keeper", "init"}, "@netroot-keeper\x00init\x00", true},
		{"plain keeper, no /proc", []string{"@netroot-keeper"}, "", true},
		{"busybox keeper: dispatcher dropped argv[0]", []string{"init"}, "@netroot-keeper\x00init\x00", true},
		{"'@' only in a later argument", []string{"/init"}, "/init\x00@x\x00", false},
		{"empty args", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cmdline []byte
			if tc.cmdline != "" {
				cmdline = []byte(tc.cmdline)
			}
			if got := isKeeper(tc.args, cmdline); got != tc.want {
				t.Errorf("isKeeper(%q, %q) = %v, want %v", tc.args, tc.cmdline, got, tc.want)
			}
		})
	}
}

func TestKeeperArgs(t *testing.T) {
	for self, want := range map[string][]string{
		"/init":      {"@netroot-keeper", "init"},
		"/bbin/init": {"@netroot-keeper", "init"},
		"netroot":    {"@netroot-keeper", "netroot"},
	} {
		if got := keeperArgs(self); !slices.Equal(got, want) {
			t.Errorf("keeperArgs(%q) = %q, want %q", self, got, want)
		}
	}
}
