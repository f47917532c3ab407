package boot

import (
	"errors"
	"strings"

	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/dhcp6"
	"github.com/netroot/netroot/pkg/iscsi"
)

// unembedHint gives the errors of packages that still write their hint
// into the message — iscsi.LoginError (its Hint field), dhcp.NoLeaseError
// and dhcp6's NoLeaseError and WaitError — the hint convention of pkg/hint: the message
// without " — <hint>", the hint as Hint(). Remove once those packages
// follow it.
func unembedHint(err error) error {
	var h string
	if le, ok := errors.AsType[*iscsi.LoginError](err); ok {
		h = le.Hint
	} else if ne, ok := errors.AsType[*dhcp.NoLeaseError](err); ok {
		h = ne.Hint()
	} else if ne, ok := errors.AsType[*dhcp6.NoLeaseError](err); ok {
		h = ne.Hint()
	} else if we, ok := errors.AsType[*dhcp6.WaitError](err); ok {
		h = we.Hint
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if h == "" || !strings.Contains(msg, " — "+h) {
		return err
	}
	return &embeddedHint{err: err, msg: strings.Replace(msg, " — "+h, "", 1), hint: h}
}

type embeddedHint struct {
	err       error
	msg, hint string
}

func (e *embeddedHint) Error() string { return e.msg }
func (e *embeddedHint) Unwrap() error { return e.err }
func (e *embeddedHint) Hint() string  { return e.hint }
