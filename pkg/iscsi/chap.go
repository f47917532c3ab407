package iscsi

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// CHAPAlgorithm is a CHAP_A value (RFC 7143 §12.1.3, IANA PPP auth values).
type CHAPAlgorithm uint8

// Supported CHAP digest algorithms.
const (
	CHAPMD5     CHAPAlgorithm = 5
	CHAPSHA1    CHAPAlgorithm = 6
	CHAPSHA256  CHAPAlgorithm = 7
	CHAPSHA3256 CHAPAlgorithm = 8
)

// DefaultCHAPAlgorithms is what we offer when the caller does not choose:
// SHA-256 then MD5, the order open-iscsi uses.
func DefaultCHAPAlgorithms() []CHAPAlgorithm { return []CHAPAlgorithm{CHAPSHA256, CHAPMD5} }

// String names the algorithm.
func (a CHAPAlgorithm) String() string {
	switch a {
	case CHAPMD5:
		return "MD5"
	case CHAPSHA1:
		return "SHA1"
	case CHAPSHA256:
		return "SHA-256"
	case CHAPSHA3256:
		return "SHA3-256"
	}
	return fmt.Sprintf("CHAP_A=%d", uint8(a))
}

func (a CHAPAlgorithm) newHash() (hash.Hash, bool) {
	switch a {
	case CHAPMD5:
		return md5.New(), true
	case CHAPSHA1:
		return sha1.New(), true
	case CHAPSHA256:
		return sha256.New(), true
	case CHAPSHA3256:
		return sha3.New256(), true
	}
	return nil, false
}

// Valid reports whether we implement the algorithm.
func (a CHAPAlgorithm) Valid() bool {
	_, ok := a.newHash()
	return ok
}

// challengeLen is the length of challenges we generate: the digest size,
// and at least 16 bytes.
func (a CHAPAlgorithm) challengeLen() int {
	h, ok := a.newHash()
	if !ok || h.Size() < 16 {
		return 16
	}
	return h.Size()
}

// CHAPResponse computes the CHAP response H(id || secret || challenge)
// (RFC 1994 §4.1).
func CHAPResponse(alg CHAPAlgorithm, id uint8, secret, challenge []byte) ([]byte, error) {
	h, ok := alg.newHash()
	if !ok {
		return nil, fmt.Errorf("iscsi: unsupported CHAP algorithm %v", alg)
	}
	h.Write([]byte{id})
	h.Write(secret)
	h.Write(challenge)
	return h.Sum(nil), nil
}

// maxCHAPBinary bounds decoded CHAP_C/CHAP_R values we accept.
const maxCHAPBinary = 1024

// DecodeCHAPBinary decodes a CHAP binary value in hex ("0x...") or base64
// ("0b...") encoding (RFC 7143 §6.1). Empty and oversized values are errors.
func DecodeCHAPBinary(s string) ([]byte, error) {
	if len(s) < 3 {
		return nil, fmt.Errorf("iscsi: CHAP value too short")
	}
	var (
		b   []byte
		err error
	)
	switch s[:2] {
	case "0x", "0X":
		digits := s[2:]
		if len(digits)%2 == 1 {
			digits = "0" + digits
		}
		if len(digits)/2 > maxCHAPBinary {
			return nil, fmt.Errorf("iscsi: CHAP value longer than %d bytes", maxCHAPBinary)
		}
		b, err = hex.DecodeString(digits)
	case "0b", "0B":
		if base64.StdEncoding.DecodedLen(len(s)-2) > maxCHAPBinary+3 {
			return nil, fmt.Errorf("iscsi: CHAP value longer than %d bytes", maxCHAPBinary)
		}
		b, err = base64.StdEncoding.DecodeString(s[2:])
	default:
		return nil, fmt.Errorf("iscsi: CHAP value has no 0x or 0b prefix")
	}
	if err != nil {
		return nil, fmt.Errorf("iscsi: malformed CHAP value: %w", err)
	}
	if len(b) == 0 || len(b) > maxCHAPBinary {
		return nil, fmt.Errorf("iscsi: CHAP value of %d bytes not in 1..%d", len(b), maxCHAPBinary)
	}
	return b, nil
}

// encodeCHAPHex encodes a binary value as "0x" + lower-case hex.
func encodeCHAPHex(b []byte) string { return "0x" + hex.EncodeToString(b) }

// parseCHAPIdentifier parses CHAP_I, a decimal (or 0x hex) number 0..255.
func parseCHAPIdentifier(s string) (uint8, error) {
	var (
		v   uint64
		err error
	)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		v, err = strconv.ParseUint(s[2:], 16, 8)
	} else {
		v, err = strconv.ParseUint(s, 10, 8)
	}
	if err != nil {
		return 0, fmt.Errorf("iscsi: CHAP_I %q is not a number 0..255", truncateForError([]byte(s)))
	}
	return uint8(v), nil
}

// ParseCHAPAlgorithms parses open-iscsi's node.session.auth.chap_algs: a
// comma-separated list in preference order of MD5, SHA1, SHA256 and
// SHA3-256 (case-insensitive; "SHA-256", "SHA3256" and the CHAP_A numbers
// 5..8 are accepted too). The result is offered in CHAP_A in that order.
func ParseCHAPAlgorithms(s string) ([]CHAPAlgorithm, error) {
	var out []CHAPAlgorithm
	for _, item := range strings.Split(s, ",") {
		name := strings.ToUpper(strings.TrimSpace(item))
		var a CHAPAlgorithm
		switch strings.ReplaceAll(name, "-", "") {
		case "MD5", "5":
			a = CHAPMD5
		case "SHA1", "6":
			a = CHAPSHA1
		case "SHA256", "7":
			a = CHAPSHA256
		case "SHA3256", "8":
			a = CHAPSHA3256
		default:
			return nil, fmt.Errorf("iscsi: CHAP algorithm %q in %q is not one of MD5, SHA1, SHA256, SHA3-256", truncateForError([]byte(strings.TrimSpace(item))), truncateForError([]byte(s)))
		}
		if containsAlg(out, a) {
			return nil, fmt.Errorf("iscsi: CHAP algorithm %v listed twice in %q", a, truncateForError([]byte(s)))
		}
		out = append(out, a)
	}
	return out, nil
}

// formatCHAPAlgorithms formats a CHAP_A list value.
func formatCHAPAlgorithms(algs []CHAPAlgorithm) string {
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = strconv.Itoa(int(a))
	}
	return strings.Join(s, ",")
}

// Credentials holds CHAP secrets. Username/Password authenticate us to the
// target; InUsername/InPassword (mutual CHAP) authenticate the target to us.
// String, GoString and Format redact the passwords.
type Credentials struct {
	Username   string
	Password   string
	InUsername string
	InPassword string
}

// Enabled reports whether CHAP is configured.
func (c Credentials) Enabled() bool { return c.Username != "" || c.Password != "" }

// Mutual reports whether mutual (bidirectional) CHAP is configured.
func (c Credentials) Mutual() bool { return c.InUsername != "" || c.InPassword != "" }

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "<redacted>"
}

// String describes the credentials without the passwords.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{Username:%q Password:%s InUsername:%q InPassword:%s}",
		c.Username, redacted(c.Password), c.InUsername, redacted(c.InPassword))
}

// GoString is like String, so %#v does not leak secrets.
func (c Credentials) GoString() string { return "iscsi." + c.String() }

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %q,
// %x...) prints the redacted form.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	fmt.Fprint(f, c.String())
}

// validate checks the credential combination before any network traffic.
func (c Credentials) validate() error {
	if !c.Enabled() {
		if c.Mutual() {
			return &configError{"iscsi: mutual CHAP (in.username/in.password) needs rd.iscsi.username/password too", hintCredentials}
		}
		return nil
	}
	if c.Username == "" || c.Password == "" {
		return &configError{"iscsi: CHAP needs both a username and a password", hintCredentials}
	}
	if c.Mutual() && (c.InUsername == "" || c.InPassword == "") {
		return &configError{"iscsi: mutual CHAP needs both in.username and in.password", hintInCredentials}
	}
	if c.Mutual() && subtle.ConstantTimeCompare([]byte(c.Password), []byte(c.InPassword)) == 1 {
		// RFC 7143 §12.1.3: a secret that authenticates the initiator
		// must not authenticate a target; a target that knows ours could
		// otherwise pass as itself (open-iscsi refuses it too).
		return &configError{"iscsi: mutual CHAP: the target's secret must differ from ours", hintInCredentials}
	}
	return nil
}
