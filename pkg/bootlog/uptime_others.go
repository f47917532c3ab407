//go:build !linux

package bootlog

// Uptime is the kernel uptime in seconds from /proc/uptime; 0 when
// unreadable.
func Uptime() float64 { return procUptime() }
