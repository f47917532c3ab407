package rig

import (
	"os"
	"testing"
	"time"
)

func TestParseSchedstat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    HostCPU
		wantErr bool
	}{
		{in: "6004408 10280749 3\n", want: HostCPU{Run: 6004408, Wait: 10280749}},
		{in: "0 0 0", want: HostCPU{}},
		{in: "12", wantErr: true},
		{in: "x 1 2", wantErr: true},
		{in: "1 y 2", wantErr: true},
		{in: "", wantErr: true},
	} {
		got, err := parseSchedstat(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseSchedstat(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestVCPUThread(t *testing.T) {
	for comm, want := range map[string]bool{
		"CPU 0/TCG": true, "CPU 11/TCG": true, "qemu-system-x86": false, "worker": false, "CPU 0/KVM": false, "IO mon_iothread": false,
	} {
		if got := vcpuThread(comm); got != want {
			t.Errorf("vcpuThread(%q) = %v, want %v", comm, got, want)
		}
	}
}

// TestProcessCPU reads this process's own threads: what it has run is
// counted, and nothing is counted twice.
func TestProcessCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/schedstat"); err != nil {
		t.Skip("no schedstat on this kernel")
	}
	end := time.Now().Add(20 * time.Millisecond)
	for time.Now().Before(end) {
	}
	all, none, err := processCPU(os.Getpid(), func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if none != (HostCPU{}) || all.Run < 10*time.Millisecond {
		t.Errorf("processCPU: matched %+v, other %+v; want ≥ 10 ms run, all of it matched", all, none)
	}
	m, o, err := processCPU(os.Getpid(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m != (HostCPU{}) || o.Run < all.Run {
		t.Errorf("processCPU(nil): matched %+v, other %+v; want none matched, other ≥ %v", m, o, all.Run)
	}
}
