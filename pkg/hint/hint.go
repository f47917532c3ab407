// Package hint is netroot's one way for an error to say what the user
// should check. An error's message says what failed and why, and never
// embeds advice; an error that knows what to check has a Hint() string
// method (its own, or through Wrap). Whoever prints the error for a person
// renders it once, with Format: "cause — hint".
package hint

import "fmt"

// Hinter is an error that says what to check.
type Hinter interface {
	Hint() string
}

// Error is an error with a hint.
type Error struct {
	// Err is the cause; its message is the Error's.
	Err error
	// Text is what to check.
	Text string
}

// Error returns the cause's message, without the hint.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Hint returns what to check.
func (e *Error) Hint() string { return e.Text }

// Wrap gives err the hint text; a nil err stays nil.
func Wrap(err error, text string) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Text: text}
}

// Errorf is fmt.Errorf with a hint.
func Errorf(text, format string, args ...any) error {
	return &Error{Err: fmt.Errorf(format, args...), Text: text}
}

// Of returns the first non-empty hint in err's tree, searched in the order
// errors.As searches it; "" when there is none.
func Of(err error) string {
	for err != nil {
		if h, ok := err.(Hinter); ok {
			if t := h.Hint(); t != "" {
				return t
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if t := Of(e); t != "" {
					return t
				}
			}
			return ""
		default:
			return ""
		}
	}
	return ""
}

// Format renders err for a person: its message, then " — " and its hint
// when it has one.
func Format(err error) string {
	if err == nil {
		return ""
	}
	if t := Of(err); t != "" {
		return err.Error() + " — " + t
	}
	return err.Error()
}
