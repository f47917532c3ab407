package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// guestClock is the kernel parameter every guest of the bench boots with
// (empty when the host's TSC rate is unknown), so that each guest's clock
// — the console's timestamps and /proc/uptime, which the figures are read
// from — counts from the kernel's entry in every boot.
//
// Without it the kernel calibrates the TSC early against the emulated PIT.
// Under TCG that calibration fails in some boots (the vCPU's host thread
// is preempted inside its timed loop); the kernel then has no TSC clock
// until it calibrates against the HPET later, its clock stands still
// until then, and it sets its boot time from that clock: that boot's
// uptime misses its first part, at random. tsc_early_khz gives it the
// rate without the calibration; under TCG on an x86 host the guest's TSC
// is the host's, so the rate is the host's.
var guestClock string

// setGuestClock sets guestClock from the host's TSC, or explains why not.
func setGuestClock() string {
	khz, err := hostTSCKHz()
	if err != nil {
		return fmt.Sprintf("the guests' clocks as the kernel calibrates them (%v): an uptime may miss the kernel's first part", err)
	}
	guestClock = fmt.Sprintf("tsc_early_khz=%d", khz)
	return fmt.Sprintf("every guest boots with %s (the host's TSC rate, the guest's under TCG): its clock counts from the kernel's entry", guestClock)
}

// withClock adds guestClock to a kernel command line.
func withClock(cmdline string) string {
	if guestClock == "" {
		return cmdline
	}
	return cmdline + " " + guestClock
}

// hostTSCKHz measures the host's TSC rate in kHz; the TSC must tick at a
// constant rate, in every power state.
func hostTSCKHz() (uint64, error) {
	if !haveTSC {
		return 0, errors.New("not an x86-64 host")
	}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0, err
	}
	if !invariantTSC(string(cpuinfo)) {
		return 0, errors.New("the host's TSC is not invariant (no constant_tsc and nonstop_tsc)")
	}
	// An invariant TSC is one counter on every CPU: the two reads may
	// run on different ones.
	t0, c0 := time.Now(), rdtsc()
	time.Sleep(200 * time.Millisecond)
	c1, t1 := rdtsc(), time.Now()
	if c1 <= c0 {
		return 0, errors.New("the host's TSC did not advance")
	}
	return uint64(math.Round(float64(c1-c0) / t1.Sub(t0).Seconds() / 1e3)), nil
}

// invariantTSC reports whether /proc/cpuinfo's first flags line has
// constant_tsc and nonstop_tsc.
func invariantTSC(cpuinfo string) bool {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		f := strings.Fields(v)
		return slices.Contains(f, "constant_tsc") && slices.Contains(f, "nonstop_tsc")
	}
	return false
}
