package modload

// This file implements the shell-glob matching modprobe applies to
// modules.alias patterns: fnmatch(3) with no flags, byte-wise (the C locale).
//
//   - '*' matches any run of bytes, '/' and a leading '.' included;
//   - '?' matches any one byte;
//   - "[...]" matches one byte from a set: ranges "a-z", negation with a
//     leading '!' or '^', a ']' right after the opening "[" or "[!" is
//     literal, POSIX classes "[:alpha:]" and friends; a '[' without its
//     closing ']' is a literal '[';
//   - '\' quotes the next byte (also inside brackets); a trailing '\' is
//     literal.
//
// path.Match differs (its '*' stops at '/', it rejects malformed patterns
// and lacks '!'), hence this small matcher.

// globMatch reports whether s matches the fnmatch pattern.
// It runs in O(len(pattern)·len(s)) time and never panics.
func globMatch(pattern, s string) bool {
	var (
		p, i           int
		starP, starI   = -1, -1
		patLen, strLen = len(pattern), len(s)
	)
	for i < strLen {
		if p < patLen {
			switch c := pattern[p]; c {
			case '*':
				// Collapse runs of stars; remember where to resume.
				for p < patLen && pattern[p] == '*' {
					p++
				}
				if p == patLen {
					return true
				}
				starP, starI = p, i
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if ok, next, valid := matchBracket(pattern, p, s[i]); valid {
					if ok {
						p = next
						i++
						continue
					}
					break // mismatch: backtrack below
				} else if s[i] == '[' { // unterminated: literal '['
					p++
					i++
					continue
				}
			case '\\':
				lit, next := byte('\\'), p+1
				if p+1 < patLen {
					lit, next = pattern[p+1], p+2
				}
				if s[i] == lit {
					p = next
					i++
					continue
				}
			default:
				if s[i] == c {
					p++
					i++
					continue
				}
			}
		}
		// Mismatch: let the last star swallow one more byte, if any.
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP, starI
	}
	for p < patLen && pattern[p] == '*' {
		p++
	}
	return p == patLen
}

// matchBracket matches byte c against the bracket expression starting at
// pattern[start] == '['. It returns whether c is in the set, the index just
// past the closing ']', and whether the expression is well formed (closed).
func matchBracket(pattern string, start int, c byte) (matched bool, next int, valid bool) {
	p := start + 1
	negate := false
	if p < len(pattern) && (pattern[p] == '!' || pattern[p] == '^') {
		negate = true
		p++
	}
	first := true
	for p < len(pattern) {
		b := pattern[p]
		if b == ']' && !first {
			return matched != negate, p + 1, true
		}
		first = false
		if b == '[' && p+1 < len(pattern) && pattern[p+1] == ':' {
			if end := indexFrom(pattern, p+2, ":]"); end >= 0 {
				if classMatch(pattern[p+2:end], c) {
					matched = true
				}
				p = end + 2
				continue
			}
		}
		lo, w := bracketByte(pattern, p)
		if w == 0 {
			break // trailing backslash: unterminated
		}
		p += w
		hi := lo
		if p+1 < len(pattern) && pattern[p] == '-' && pattern[p+1] != ']' {
			h, w2 := bracketByte(pattern, p+1)
			if w2 == 0 {
				break
			}
			hi = h
			p += 1 + w2
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return false, 0, false
}

// bracketByte returns the (possibly backslash-quoted) byte at pattern[p]
// inside a bracket expression and how many pattern bytes it took; 0 when
// the pattern ends on a lone backslash.
func bracketByte(pattern string, p int) (byte, int) {
	if pattern[p] == '\\' {
		if p+1 >= len(pattern) {
			return 0, 0
		}
		return pattern[p+1], 2
	}
	return pattern[p], 1
}

// indexFrom returns the index of sub in s at or after from, or -1.
func indexFrom(s string, from int, sub string) int {
	for j := from; j+len(sub) <= len(s); j++ {
		if s[j:j+len(sub)] == sub {
			return j
		}
	}
	return -1
}

// classMatch reports whether c belongs to the POSIX class name in the C
// locale. An unknown class matches nothing.
func classMatch(name string, c byte) bool {
	isUpper := 'A' <= c && c <= 'Z'
	isLower := 'a' <= c && c <= 'z'
	isDigit := '0' <= c && c <= '9'
	switch name {
	case "alpha":
		return isUpper || isLower
	case "digit":
		return isDigit
	case "alnum":
		return isUpper || isLower || isDigit
	case "upper":
		return isUpper
	case "lower":
		return isLower
	case "xdigit":
		return isDigit || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
	case "space":
		return c == ' ' || ('\t' <= c && c <= '\r')
	case "blank":
		return c == ' ' || c == '\t'
	case "punct":
		return c > ' ' && c < 0x7f && !(isUpper || isLower || isDigit)
	case "print":
		return c >= ' ' && c < 0x7f
	case "graph":
		return c > ' ' && c < 0x7f
	case "cntrl":
		return c < ' ' || c == 0x7f
	}
	return false
}

// normalizeAlias folds '-' to '_' outside bracket expressions, as kmod does
// for aliases (so "crypto-crc32c" and "crypto_crc32c" are the same name,
// while "[0-9]" keeps its range).
func normalizeAlias(a string) string {
	b := []byte(a)
	inBracket := false
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\\' && i+1 < len(b):
			i++
		case !inBracket && b[i] == '[':
			inBracket = true
			// A ']' first in the set is literal.
			if i+1 < len(b) && (b[i+1] == '!' || b[i+1] == '^') {
				i++
			}
			if i+1 < len(b) && b[i+1] == ']' {
				i++
			}
		case inBracket && b[i] == ']':
			inBracket = false
		case !inBracket && b[i] == '-':
			b[i] = '_'
		}
	}
	return string(b)
}

// literalPrefix returns the part of pattern before its first glob
// metacharacter; every string the pattern matches starts with it.
func literalPrefix(pattern string) string {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '*', '?', '[', '\\':
			return pattern[:i]
		}
	}
	return pattern
}
