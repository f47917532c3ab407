package bootlog

import "golang.org/x/sys/unix"

// Uptime is the kernel uptime in seconds: CLOCK_BOOTTIME, the clock of
// /proc/uptime's first field, read with one system call instead of
// opening and formatting a proc file for every log line; /proc/uptime
// when the clock cannot be read, 0 when neither can.
func Uptime() float64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return procUptime()
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}
