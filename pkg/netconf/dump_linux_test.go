package netconf

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

// A dump the kernel interrupts (its table changed meanwhile) is run again:
// its partial answer is never taken as the state.
func TestDump(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		what      string
		answers   []error // one per try; nil ends
		wantCalls int
		wantErr   error
	}{
		{"answered at once", []error{nil}, 1, nil},
		{"interrupted twice, then whole", []error{netlink.ErrDumpInterrupted, netlink.ErrDumpInterrupted, nil}, 3, nil},
		{"another error is returned at once", []error{boom}, 1, boom},
		{"interrupted every time", []error{netlink.ErrDumpInterrupted, netlink.ErrDumpInterrupted, netlink.ErrDumpInterrupted,
			netlink.ErrDumpInterrupted, netlink.ErrDumpInterrupted, nil}, maxDumps, netlink.ErrDumpInterrupted},
	} {
		calls := 0
		got, err := Dump(func() ([]int, error) {
			err := c.answers[calls]
			calls++
			return []int{calls}, err
		})
		if calls != c.wantCalls || !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
			t.Errorf("%s: %d call(s), %v; want %d, %v", c.what, calls, err, c.wantCalls, c.wantErr)
		}
		if len(got) != 1 || got[0] != calls {
			t.Errorf("%s: answer %v, want the last try's", c.what, got)
		}
	}
}
