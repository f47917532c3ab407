package limit

import (
	"context"
	"testing"
	"time"
)

func TestOf(t *testing.T) {
	bg := context.Background()
	if got := Of(bg); got != "" {
		t.Errorf("no deadline: %q", got)
	}
	timeout, cancel := WithTimeout(bg, time.Hour, "rd.timeout=3600")
	defer cancel()
	retry, cancel := WithTimeout(timeout, time.Minute, "rd.retry=60")
	defer cancel()
	later, cancel := WithTimeout(retry, 2*time.Hour, "rd.later=7200")
	defer cancel()
	unnamed, cancel := context.WithTimeout(later, time.Second)
	defer cancel()
	unnamedLater, cancel := context.WithTimeout(retry, 2*time.Hour)
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"the one limit", timeout, "rd.timeout=3600"},
		{"a shorter limit inside", retry, "rd.retry=60"},
		{"a longer limit inside: the outer one ends it", later, "rd.retry=60"},
		{"an unnamed shorter deadline", unnamed, ""},
		{"an unnamed longer deadline", unnamedLater, "rd.retry=60"},
		{"a cancel below", func() context.Context { c, cancel := context.WithCancel(retry); t.Cleanup(cancel); return c }(), "rd.retry=60"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(tc.ctx); got != tc.want {
				t.Errorf("Of = %q, want %q", got, tc.want)
			}
		})
	}
	// Still named once it ran out.
	short, cancel := WithTimeout(bg, time.Millisecond, "rd.retry=0")
	defer cancel()
	<-short.Done()
	if got, ended := Of(short), Ended(short); got != "rd.retry=0" || ended != "rd.retry=0" {
		t.Errorf("after the deadline: %q, ended by %q", got, ended)
	}
	if got := Ended(retry); got != "" {
		t.Errorf("ended before the deadline: %q", got)
	}
	cancelled, cancel := WithTimeout(bg, time.Hour, "rd.retry=3600")
	cancel()
	if got := Ended(cancelled); got != "" {
		t.Errorf("ended by a cancel: %q", got)
	}
}
