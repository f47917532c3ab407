package iscsi

import (
	"bytes"
	"fmt"
	"strings"
)

// KeyValue is one iSCSI text key=value pair.
type KeyValue struct {
	Key   string
	Value string
}

// Limits from RFC 7143 §6.1: key names are at most 63 bytes; most values are
// at most 255 bytes, but binary values (CHAP challenges) may be longer, so we
// allow the generous limit of 8192 bytes used for text values in login.
const (
	maxKeyLen   = 63
	maxValueLen = 8192
)

// Special answers defined by RFC 7143 §6.2.
const (
	valueReject        = "Reject"
	valueIrrelevant    = "Irrelevant"
	valueNotUnderstood = "NotUnderstood"
)

// ParseText parses a complete text data segment: a sequence of key=value
// pairs, each terminated by a NUL byte. Only the first '=' separates key from
// value, so values may contain '='. Empty items (stray NUL padding) are
// skipped. A key occurring twice, a missing terminator, an empty or overlong
// key, or an overlong value is an error. It never panics on any input.
func ParseText(data []byte) ([]KeyValue, error) {
	var out []KeyValue
	seen := map[string]bool{}
	for len(data) > 0 {
		end := bytes.IndexByte(data, 0)
		if end < 0 {
			return nil, fmt.Errorf("iscsi: text %q is not NUL-terminated", truncateForError(data))
		}
		item := data[:end]
		data = data[end+1:]
		if len(item) == 0 {
			continue
		}
		eq := bytes.IndexByte(item, '=')
		if eq < 0 {
			return nil, fmt.Errorf("iscsi: text item %q has no '='", truncateForError(item))
		}
		key, value := string(item[:eq]), string(item[eq+1:])
		if key == "" || len(key) > maxKeyLen {
			return nil, fmt.Errorf("iscsi: text key %q: length %d not in 1..%d", truncateForError(item[:eq]), len(key), maxKeyLen)
		}
		if len(value) > maxValueLen {
			return nil, fmt.Errorf("iscsi: text key %s: value of %d bytes exceeds %d", key, len(value), maxValueLen)
		}
		if seen[key] {
			return nil, fmt.Errorf("iscsi: text key %s repeated", key)
		}
		seen[key] = true
		out = append(out, KeyValue{Key: key, Value: value})
	}
	return out, nil
}

func truncateForError(b []byte) string {
	const n = 64
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// EncodeText encodes pairs as NUL-terminated key=value items.
func EncodeText(kvs []KeyValue) []byte {
	var b bytes.Buffer
	for _, kv := range kvs {
		b.WriteString(kv.Key)
		b.WriteByte('=')
		b.WriteString(kv.Value)
		b.WriteByte(0)
	}
	return b.Bytes()
}

// validKeyValue checks a pair we are about to send.
func validKeyValue(kv KeyValue) error {
	if kv.Key == "" || len(kv.Key) > maxKeyLen || strings.ContainsAny(kv.Key, "=\x00") {
		return fmt.Errorf("iscsi: invalid text key %q", kv.Key)
	}
	if len(kv.Value) > maxValueLen || strings.ContainsRune(kv.Value, 0) {
		return fmt.Errorf("iscsi: invalid value for text key %s", kv.Key)
	}
	return nil
}

// lookup returns the value of key in kvs.
func lookup(kvs []KeyValue, key string) (string, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// splitList splits a list-valued key (comma separated).
func splitList(v string) []string {
	parts := strings.Split(v, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
