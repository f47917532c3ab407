package rig

import (
	"slices"
	"testing"
)

func TestLineWriter(t *testing.T) {
	var got []string
	w := &lineWriter{f: func(l string) { got = append(got, l) }}
	for _, chunk := range []string{"[ 1.0] Run /init", " as init process\r\n", "NETROOT-TEST: ", "uptime=2.5\nNETROOT-TEST: done", "\n\npartial"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	want := []string{"[ 1.0] Run /init as init process", "NETROOT-TEST: uptime=2.5", "NETROOT-TEST: done", ""}
	if !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q (the unfinished line held back)", got, want)
	}
}
