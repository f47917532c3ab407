package config

import "strings"

// arg is one parameter of a command line, split the way the kernel splits
// /proc/cmdline.
type arg struct {
	// Key is the part before the first '=' (the whole token without '=').
	Key string
	// Value is the part after the first '=', quotes removed.
	Value string
	// HasValue is false for a bare "key".
	HasValue bool
	// Source names where the parameter came from.
	Source string
	// Unclosed is true when a double quote opened in this parameter is
	// never closed and so made the rest of its source (white space and
	// all) part of it, as the kernel's next_arg() does.
	Unclosed bool
}

// String returns the parameter as key or key=value (not redacted).
func (a arg) String() string {
	if !a.HasValue {
		return a.Key
	}
	return a.Key + "=" + a.Value
}

// isKernelSpace reports whether c is a space for the kernel's isspace():
// the ASCII white space characters plus 0xa0, which lib/ctype.c marks as a
// space too.
func isKernelSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0xa0:
		return true
	}
	return false
}

// splitCmdline splits a command line into parameters exactly as the kernel's
// next_arg() in lib/cmdline.c does: white space separates parameters except
// between double quotes; there are no escapes; a leading quote of the token
// and of the value, and the matching trailing quote, are removed, quotes in
// the middle stay. Parameters after a bare "--" are returned in rest (the
// kernel hands them to init as arguments), re-joined as key=value.
func splitCmdline(s, source string) (args []arg, rest []string, sawDashes bool) {
	i := 0
	skip := func() {
		for i < len(s) && isKernelSpace(s[i]) {
			i++
		}
	}
	skip()
	for i < len(s) {
		start := i
		quoted := false
		inQuote := false
		if s[i] == '"' {
			i++
			start = i
			quoted, inQuote = true, true
		}
		equals := -1
		j := start
		for ; j < len(s); j++ {
			c := s[j]
			if isKernelSpace(c) && !inQuote {
				break
			}
			if equals < 0 && c == '=' {
				equals = j
			}
			if c == '"' {
				inQuote = !inQuote
			}
		}
		end := j // token is s[start:end]
		var a arg
		a.Source = source
		a.Unclosed = inQuote && strings.IndexFunc(s[start:end], func(r rune) bool { return r < 0x80 && isKernelSpace(byte(r)) }) >= 0
		if equals < 0 {
			tok := s[start:end]
			if quoted && len(tok) > 0 && tok[len(tok)-1] == '"' {
				tok = tok[:len(tok)-1]
			}
			a.Key = tok
		} else {
			a.Key = s[start:equals]
			a.HasValue = true
			val := s[equals+1 : end]
			stripped := false
			if len(val) > 0 && val[0] == '"' {
				val = val[1:]
				if end > start && s[end-1] == '"' && len(val) > 0 {
					val = val[:len(val)-1]
					stripped = true
				}
			}
			if quoted && !stripped && end > start && s[end-1] == '"' && len(val) > 0 && val[len(val)-1] == '"' {
				val = val[:len(val)-1]
			}
			a.Value = val
		}
		i = end
		if i < len(s) {
			i++ // the separating space
		}
		skip()
		if sawDashes {
			if a.Key != "" || a.HasValue {
				rest = append(rest, a.String())
			}
			continue
		}
		if !a.HasValue && a.Key == "--" {
			sawDashes = true
			continue
		}
		if a.Key == "" && !a.HasValue {
			continue
		}
		args = append(args, a)
	}
	return args, rest, sawDashes
}

// sourceLines joins the lines of a configuration text that are not comment
// lines (first non-blank character '#') with spaces, as dracut's
// getcmdline reads /etc/cmdline.d/*.conf line by line.
func sourceLines(text string) string {
	if !strings.ContainsAny(text, "#\n") {
		return text
	}
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimLeft(line, " \t\r")
		if strings.HasPrefix(t, "#") {
			continue
		}
		b.WriteString(line)
		b.WriteByte(' ')
	}
	return b.String()
}
