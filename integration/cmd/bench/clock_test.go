package main

import (
	"math"
	"os"
	"testing"
)

func TestInvariantTSC(t *testing.T) {
	for _, c := range []struct {
		cpuinfo string
		want    bool
	}{
		{"processor\t: 0\nflags\t\t: fpu tsc constant_tsc rep_good nonstop_tsc cpuid\n", true},
		{"flags\t\t: fpu tsc constant_tsc\nflags\t\t: nonstop_tsc\n", false}, // only the first flags line counts
		{"flags\t\t: fpu tsc nonstop_tsc_x constant_tsc\n", false},
		{"processor\t: 0\nFeatures\t: fp asimd\n", false}, // arm64: no flags line
		{"", false},
	} {
		if got := invariantTSC(c.cpuinfo); got != c.want {
			t.Errorf("invariantTSC(%q) = %v, want %v", c.cpuinfo, got, c.want)
		}
	}
}

// TestHostTSCKHz measures twice: a counter read wrong (half of it, a
// wrong register) would give rates that disagree or make no sense.
func TestHostTSCKHz(t *testing.T) {
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	if !haveTSC || !invariantTSC(string(cpuinfo)) {
		if _, err := hostTSCKHz(); err == nil {
			t.Fatal("hostTSCKHz succeeded without an invariant TSC")
		}
		t.Skip("no invariant TSC here")
	}
	a, err := hostTSCKHz()
	if err != nil {
		t.Fatal(err)
	}
	b, err := hostTSCKHz()
	if err != nil {
		t.Fatal(err)
	}
	if a < 100_000 || a > 10_000_000 {
		t.Errorf("TSC rate %d kHz: not a CPU's", a)
	}
	if math.Abs(float64(a)-float64(b)) > 0.002*float64(a) {
		t.Errorf("two measurements disagree: %d and %d kHz", a, b)
	}
}
