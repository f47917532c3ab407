package blockdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// readAt reads exactly n bytes at off from r, refusing reads that fall
// outside [0, size). It never allocates more than n bytes and n is always
// a small constant chosen by the caller.
func readAt(r io.ReaderAt, size, off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || (size >= 0 && off+int64(n) > size) {
		return nil, fmt.Errorf("read %d bytes at offset %d: beyond device size %d: %w", n, off, size, io.ErrUnexpectedEOF)
	}
	buf := make([]byte, n)
	got, err := r.ReadAt(buf, off)
	if got == n {
		return buf, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("read %d bytes at offset %d: %w", n, off, err)
}

// formatUUID formats 16 bytes in byte order as lowercase 8-4-4-4-12, the
// way blkid prints ext, xfs, btrfs and swap UUIDs.
func formatUUID(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// formatGUID formats a 16-byte on-disk GUID in the mixed-endian form used by
// GPT (first three groups little-endian), lowercase, as blkid prints
// PARTUUID and PTUUID of GPT disks.
func formatGUID(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]),
		binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]),
		b[8:10], b[10:16])
}

// isZero reports whether all bytes of b are zero.
func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// cString returns b up to its first NUL, with invalid UTF-8 replaced, so a
// garbage label never produces a string that breaks a terminal.
func cString(b []byte) string {
	if i := indexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// utf16String decodes a NUL-terminated UTF-16LE string.
func utf16String(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// HumanSize formats a byte count with binary units the way lsblk does
// ("512B", "1.5K", "20G").
func HumanSize(n int64) string {
	const units = "BKMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	s := fmt.Sprintf("%.1f", f)
	s = strings.TrimSuffix(s, ".0")
	return s + string(units[i])
}
