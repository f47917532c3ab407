package main

import (
	"maps"
	"slices"
	"testing"
)

func TestInitParts(t *testing.T) {
	log := "[   12.29] netroot: root ready at 12.30 s since kernel start, /init took 5.83 s: mount 0.03, config 0.02, " +
		"modules 2.15, links 0.01, bond 0.58, modules-plan 3.61, login 1.17, modules-fs 1.96, mount-root 0.69; peak RSS 8.1 MiB\n"
	want := map[string]float64{"/init": 5.83, "mount": 0.03, "config": 0.02, "modules": 2.15, "links": 0.01, "bond": 0.58,
		"modules-plan": 3.61, "login": 1.17, "modules-fs": 1.96, "mount-root": 0.69}
	if got := initParts(log); !maps.Equal(got, want) {
		t.Errorf("initParts = %v\nwant %v", got, want)
	}
	if got := initParts("netroot: FATAL login: …\n"); got != nil {
		t.Errorf("initParts of a failed boot = %v", got)
	}
}

func TestVariantFlag(t *testing.T) {
	var v variantFlag
	for _, s := range []string{"t-a;trixie;;", "t-b;trixie;/x/init;-compressed-modules -compress zstd", "plain"} {
		if err := v.Set(s); err != nil {
			t.Fatalf("Set(%q): %v", s, err)
		}
	}
	if len(v) != 3 || v[0].suite != "trixie" || v[0].init != "" || len(v[0].build) != 0 ||
		v[1].init != "/x/init" || !slices.Equal(v[1].build, []string{"-compressed-modules", "-compress", "zstd"}) ||
		v[2].name != "plain" || v[2].suite != "" {
		t.Errorf("parsed %+v", v)
	}
	if err := v.Set(";trixie"); err == nil {
		t.Error("a variant without a name was accepted")
	}
}

// TestPairedRatios: the real-OS rows' ratios round by round, only in the
// rounds both rows booted through.
func TestPairedRatios(t *testing.T) {
	ours := &osRow{byRound: map[int]osFigures{1: {switchRoot: 5}, 2: {switchRoot: 6}, 3: {switchRoot: 4}}}
	other := &osRow{byRound: map[int]osFigures{1: {switchRoot: 50}, 3: {switchRoot: 20}, 4: {switchRoot: 30}}}
	got := pairedRatios(ours, other, func(f osFigures) float64 { return f.switchRoot })
	if want := []float64{0.1, 0.2}; !slices.Equal(got, want) {
		t.Errorf("paired %v, want %v", got, want)
	}
	if got := statN(got, 3); got != "0.150 [0.100–0.200]" {
		t.Errorf("statN %q", got)
	}
}
