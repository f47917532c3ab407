package shutdown

import (
	"strings"
	"testing"
	"time"
)

func TestBounded(t *testing.T) {
	if r, ok := bounded(time.Second, func() string { return "done" }); !ok || r != "done" {
		t.Errorf("quick step: %q %v", r, ok)
	}
	block := make(chan struct{})
	defer close(block)
	start := time.Now()
	if _, ok := bounded(50*time.Millisecond, func() string { <-block; return "" }); ok || time.Since(start) > 2*time.Second {
		t.Errorf("a stuck step was not left behind in time")
	}
	if r, ok := bounded(time.Second, func() string { panic("boom") }); !ok || !strings.Contains(r, "boom") {
		t.Errorf("panicking step: %q %v", r, ok)
	}
}
