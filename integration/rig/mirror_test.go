package rig

import "testing"

func TestMirrorFromDeb822(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"this machine", `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`, "http://deb.debian.org/debian"},
		{"security first", `Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: http://mirror.example/debian/
Suites: bookworm
Components: main contrib
`, "http://mirror.example/debian"},
		{"disabled and src-only skipped", `Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://on.example/debian
Suites: bookworm
Components: main
`, "http://on.example/debian"},
		{"folded field", "Types: deb\nURIs:\n http://fold.example/debian\nSuites: trixie\nComponents: main\n", "http://fold.example/debian"},
		{"no main component", "Types: deb\nURIs: http://x.example/debian\nSuites: bookworm\nComponents: contrib\n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mirrorFromDeb822(tc.text); got != tc.want {
				t.Errorf("mirrorFromDeb822 = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMirrorFromOneLine(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"plain", "deb http://deb.debian.org/debian bookworm main\n", "http://deb.debian.org/debian"},
		{"options", "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ bookworm main contrib # c\n", "http://m.example/debian"},
		{"security and src skipped", "deb http://s.example/debian-security bookworm-security main\n" +
			"deb-src http://src.example/debian bookworm main\n# deb http://c.example/debian bookworm main\n" +
			"deb http://m.example/debian bookworm main\n", "http://m.example/debian"},
		{"none", "deb http://m.example/debian bookworm-updates main\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mirrorFromOneLine(tc.text); got != tc.want {
				t.Errorf("mirrorFromOneLine = %q, want %q", got, tc.want)
			}
		})
	}
}
