package bootlog

import (
	"math"
	"testing"
)

// TestUptimeIsProcUptime: the clock Uptime reads is the one /proc/uptime
// shows (read before and after it, to the file's hundredths).
func TestUptimeIsProcUptime(t *testing.T) {
	before := procUptime()
	u := Uptime()
	after := procUptime()
	if before == 0 || after == 0 {
		t.Fatal("cannot read /proc/uptime")
	}
	if u < before-0.01 || u > after+0.01 || math.IsNaN(u) {
		t.Errorf("Uptime %.3f, /proc/uptime %.2f … %.2f", u, before, after)
	}
}
