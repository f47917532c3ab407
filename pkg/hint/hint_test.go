package hint

import (
	"errors"
	"fmt"
	"testing"
)

type typed struct{ hint string }

func (e *typed) Error() string { return "typed failure" }
func (e *typed) Hint() string  { return e.hint }

func TestFormat(t *testing.T) {
	base := errors.New("no carrier")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"no hint", base, "no carrier"},
		{"wrapped", Wrap(base, "check the cable"), "no carrier — check the cable"},
		{"hint deeper in the chain", fmt.Errorf("eth0: %w", Wrap(base, "check the cable")), "eth0: no carrier — check the cable"},
		{"outer hint wins", Wrap(fmt.Errorf("x: %w", Wrap(base, "inner")), "outer"), "x: no carrier — outer"},
		{"empty hint skipped", Wrap(Wrap(base, "inner"), ""), "no carrier — inner"},
		{"typed", fmt.Errorf("dhcp: %w", &typed{"is a server answering?"}), "dhcp: typed failure — is a server answering?"},
		{"typed without hint", &typed{}, "typed failure"},
		{"join", errors.Join(base, Wrap(errors.New("b"), "hb")), "no carrier\nb — hb"},
		{"Errorf", Errorf("check rd.retry=", "waited %ds", 5), "waited 5s — check rd.retry="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Format(tc.err); got != tc.want {
				t.Errorf("Format = %q, want %q", got, tc.want)
			}
		})
	}
	if Wrap(nil, "x") != nil {
		t.Errorf("Wrap(nil) is not nil")
	}
	if !errors.Is(Wrap(base, "h"), base) {
		t.Errorf("Wrap does not unwrap to its cause")
	}
}
