package netname

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

var errSyntax = errors.New("invalid number")

// strto reads s as C's strtoul/strtol do when they must consume all of
// it: leading blanks, an optional sign, for base 0 a "0x" (hex) or "0"
// (octal) prefix, for base 16 an optional "0x", then digits to the end.
func strto(s string, base int) (v uint64, neg bool, err error) {
	t := strings.TrimLeft(s, " \t\n\r\v\f")
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	hex := len(t) > 2 && (t[:2] == "0x" || t[:2] == "0X") && isHex(t[2])
	switch {
	case base == 0 && hex:
		base, t = 16, t[2:]
	case base == 0 && strings.HasPrefix(t, "0"):
		base = 8
	case base == 0:
		base = 10
	case base == 16 && hex:
		t = t[2:]
	}
	if t == "" {
		return 0, false, fmt.Errorf("%q: %w", s, errSyntax)
	}
	v, err = strconv.ParseUint(t, base, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%q: %w", s, errSyntax)
	}
	return v, neg, nil
}

// mangleBase takes systemd's "0b" and "0o" prefixes off s for base 0.
func mangleBase(s string) (string, int) {
	t := strings.TrimLeft(s, " \t\n\r\v\f")
	switch {
	case strings.HasPrefix(t, "0b"), strings.HasPrefix(t, "0B"):
		return t[2:], 2
	case strings.HasPrefix(t, "0o"), strings.HasPrefix(t, "0O"):
		return t[2:], 8
	}
	return t, 0
}

// parseUint parses an attribute value the way systemd's safe_atou family
// does (base 0, "-" only for zero) into a value that fits in bits.
func parseUint(s string, bits int) (uint64, error) {
	t, base := mangleBase(s)
	return parseUintBase(t, base, bits)
}

// parseUintBase is safe_atou_full with an explicit base (0 for any).
func parseUintBase(s string, base, bits int) (uint64, error) {
	v, neg, err := strto(s, base)
	switch {
	case err != nil:
		return 0, err
	case neg && v != 0:
		return 0, fmt.Errorf("%q: negative", s)
	case bits < 64 && v >= 1<<bits:
		return 0, fmt.Errorf("%q: out of range", s)
	}
	return v, nil
}

// parseInt parses a signed attribute value (safe_atoi, base 0).
func parseInt(s string) (int64, error) {
	t, base := mangleBase(s)
	v, neg, err := strto(t, base)
	switch {
	case err != nil:
		return 0, err
	case neg && v > 1<<31:
		return 0, fmt.Errorf("%q: out of range", s)
	case neg:
		return -int64(v), nil
	case v > 1<<31-1:
		return 0, fmt.Errorf("%q: out of range", s)
	}
	return int64(v), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseBool parses like systemd's parse_boolean.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q: not a boolean", s)
}

// scanner reads numbers off a string the way C's sscanf %x and %u do:
// blanks, an optional sign, (for %x) an optional 0x, then digits.
type scanner struct {
	s   string
	bad bool
}

func (c *scanner) num(base int) uint64 {
	if c.bad {
		return 0
	}
	t := strings.TrimLeft(c.s, " \t\n\r\v\f")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if base == 16 && len(t) > 2 && (t[:2] == "0x" || t[:2] == "0X") && isHex(t[2]) {
		t = t[2:]
	}
	n := 0
	for n < len(t) && (base == 16 && isHex(t[n]) || base == 10 && '0' <= t[n] && t[n] <= '9') {
		n++
	}
	v, err := strconv.ParseUint(t[:n], base, 32)
	if n == 0 || err != nil {
		c.bad = true
		return 0
	}
	c.s = t[n:]
	if neg {
		v = uint64(uint32(-int64(v)))
	}
	return v
}

func (c *scanner) lit(b byte) {
	if c.bad || c.s == "" || c.s[0] != b {
		c.bad = true
		return
	}
	c.s = c.s[1:]
}

// printable reports whether s is valid UTF-8 without control characters,
// the check udev makes before putting a kernel string in a name.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// parseMAC parses a hardware address as systemd's parse_hw_addr does
// ("xx:xx:…", "xx-xx-…" or "xxxx.xxxx.xxxx"), returning its bytes.
func parseMAC(s string) ([]byte, bool) {
	i := strings.IndexFunc(s, func(r rune) bool { return r > 0x7f || !isHex(byte(r)) })
	if i < 0 {
		return nil, false
	}
	sep := s[i]
	size := 1
	switch sep {
	case '.':
		size = 2
	case ':', '-':
	default:
		return nil, false
	}
	const maxLen = 20 // INFINIBAND_ALEN, the longest parse_hw_addr accepts
	var out []byte
	p := s
	for len(out) < maxLen {
		var v uint16
		n := 0
		for n < size*2 && n < len(p) && p[n] != sep {
			if !isHex(p[n]) {
				return nil, false
			}
			d, _ := strconv.ParseUint(p[n:n+1], 16, 8)
			v = v<<4 | uint16(d)
			n++
		}
		if n == 0 || n < len(p) && p[n] != sep {
			return nil, false
		}
		if size == 2 {
			out = append(out, byte(v>>8))
		}
		out = append(out, byte(v))
		if n == len(p) {
			switch len(out) {
			case 4, 6, 16, 20:
				return out, true
			}
			return nil, false
		}
		p = p[n+1:]
	}
	return nil, false
}
