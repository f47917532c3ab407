package config

import (
	"errors"
	"strconv"
	"strings"
)

// ParamError is one problem with one parameter of the command line.
type ParamError struct {
	// Source is where the parameter came from: a file under
	// /etc/cmdline.d or /proc/cmdline; empty for problems that involve
	// several parameters.
	Source string
	// Param is the parameter's name (ip, bond, netroot, rd.retry …).
	Param string
	// Value is the offending value with every secret replaced by ***.
	Value string
	// Expected is the grammar the value must follow.
	Expected string
	// Err is the cause.
	Err error
}

// Error returns a one-line description; secrets are never part of it.
func (e *ParamError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		b.WriteString(": ")
	}
	b.WriteString(e.Param)
	if e.Value != "" {
		b.WriteString("=")
		b.WriteString(quoteIfNeeded(e.Value))
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("invalid")
	}
	if e.Expected != "" {
		b.WriteString(" (expected ")
		b.WriteString(e.Param)
		b.WriteString("=")
		b.WriteString(e.Expected)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ParamError) Unwrap() error { return e.Err }

// Errors is every problem found in a command line, in order of appearance.
// Parse returns it (as error) when there is at least one.
type Errors []*ParamError

// Error lists every problem, one a line.
func (es Errors) Error() string {
	lines := make([]string, 0, len(es))
	for _, e := range es {
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, 0, len(es))
	for _, e := range es {
		out = append(out, e)
	}
	return out
}

// causes is several causes of one parameter's problem (e.g. every bad
// option of one bond=), shown on one line.
type causes []error

// Error joins the causes with "; ".
func (c causes) Error() string {
	msgs := make([]string, len(c))
	for i, e := range c {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the causes for errors.Is and errors.As.
func (c causes) Unwrap() []error { return c }

// joinCauses returns nil, the one cause, or all of them as one error.
func joinCauses(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return causes(errs)
}

// quoteIfNeeded puts a value containing white space (or nothing) in quotes,
// as it would be written on the command line.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"") {
		return `"` + s + `"`
	}
	return s
}

// Sentinel causes, for errors.Is.
var (
	// ErrSyntax is the cause of values that do not follow their grammar.
	ErrSyntax = errors.New("syntax error")
	// ErrUnsupported is the cause of values netroot cannot act on.
	ErrUnsupported = errors.New("not supported")
	// ErrConflict is the cause of parameters that contradict each other.
	ErrConflict = errors.New("conflicting parameters")
	// ErrMissing is the cause of a required parameter that is absent.
	ErrMissing = errors.New("missing parameter")
)

// redactedError replaces a cause whose message held a secret.
type redactedError struct {
	msg   string
	cause error // a sentinel, for errors.Is
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// redactErrors replaces every secret in the errors' values and causes with
// ***: a last line of defence behind the redaction at each parameter.
func redactErrors(es Errors, secrets []string) {
	if len(secrets) == 0 {
		return
	}
	hide := func(s string) (string, bool) { return hideSecrets(s, secrets) }
	for _, e := range es {
		e.Value, _ = hide(e.Value)
		e.Param, _ = hide(e.Param)
		if e.Err != nil {
			e.Err = redactCause(e.Err, secrets)
		}
	}
}

// hideSecrets replaces every secret in s with ***, reporting whether it
// held one.
func hideSecrets(s string, secrets []string) (string, bool) {
	changed := false
	for _, sec := range secrets {
		// As written, and as %q writes it inside quotes.
		q := strconv.Quote(sec)
		for _, form := range []string{sec, q[1 : len(q)-1]} {
			if form != "" && strings.Contains(s, form) {
				s = strings.ReplaceAll(s, form, "***")
				changed = true
			}
		}
	}
	return s, changed
}

// redactCause returns err, or a *redactedError with every secret replaced
// by *** when its message held one.
func redactCause(err error, secrets []string) error {
	msg, changed := hideSecrets(err.Error(), secrets)
	if !changed {
		return err
	}
	var cause error
	for _, s := range []error{ErrSyntax, ErrUnsupported, ErrConflict, ErrMissing} {
		if errors.Is(err, s) {
			cause = s
		}
	}
	return &redactedError{msg: msg, cause: cause}
}
