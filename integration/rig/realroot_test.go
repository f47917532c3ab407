package rig

import (
	"math"
	"strings"
	"testing"
)

func TestParseShutdownSpan(t *testing.T) {
	console := strings.Join([]string{
		`[   10.100000] systemd-shutdown[1]: an earlier shutdown's line`,
		`[   12.000000] rig: systemctl reboot`,
		`[   27.500000] rig: systemctl poweroff`,
		`[  OK  ] Stopped target graphical.target - Graphical Interface.`,
		`[   31.066279] systemd-shutdown[1]: Syncing filesystems and block devices.`,
		`[   31.281326] systemd-shutdown[1]: Returning to initrd...`,
		`[   31.453858] netroot-shutdown: poweroff after 0.15s`,
		`[   31.458083] reboot: Power down`,
	}, "\r\n")
	s, err := ParseShutdownSpan(console, "poweroff")
	if err != nil {
		t.Fatal(err)
	}
	want := ShutdownSpan{Command: 27.50, Final: 31.066279, End: 31.458083, Role: 0.15}
	if s != want {
		t.Fatalf("span %+v, want %+v", s, want)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"units", s.Units(), 3.566279}, {"after", s.After(), 0.391804}, {"total", s.Total(), 3.958083}} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s %v, want %v", c.name, c.got, c.want)
		}
	}

	// A shutdown that did not end in the role, and ones the console does
	// not finish.
	other := strings.Replace(console, "[   31.453858] netroot-shutdown: poweroff after 0.15s\r\n", "", 1)
	if s, err := ParseShutdownSpan(other, "poweroff"); err != nil || s.Role != 0 {
		t.Errorf("without the role: %+v, %v; want Role 0", s, err)
	}
	for name, c := range map[string]string{
		"no mark":      strings.Replace(console, "rig: systemctl poweroff", "rig: systemctl poweroffx", 1),
		"no final":     console[:strings.Index(console, "[   31.066279]")],
		"no end":       console[:strings.Index(console, "[   31.458083]")],
		"out of order": strings.Replace(console, "27.500000", "32.000000", 1),
	} {
		if _, err := ParseShutdownSpan(c, "poweroff"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
