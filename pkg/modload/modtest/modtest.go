// Package modtest makes synthetic kernel module files for tests: minimal
// ELF64 relocatable files whose .modinfo holds the given fields, and the
// compressed forms the module loaders read (.ko.xz, .ko.zst, .ko.gz).
package modtest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ELF builds a minimal little-endian ELF64 relocatable file whose only
// sections are .modinfo (holding modinfo) and .shstrtab.
func ELF(modinfo []byte) []byte {
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	modOff := uint64(ehsize)
	strOff := modOff + uint64(len(modinfo))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7

	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /*64-bit*/, 1 /*LE*/, 1 /*version*/, 0})
	b.Write(make([]byte, 8))
	binary.Write(&b, le, uint16(1))  // e_type ET_REL
	binary.Write(&b, le, uint16(62)) // e_machine x86-64
	binary.Write(&b, le, uint32(1))  // e_version
	binary.Write(&b, le, uint64(0))  // e_entry
	binary.Write(&b, le, uint64(0))  // e_phoff
	binary.Write(&b, le, shOff)      // e_shoff
	binary.Write(&b, le, uint32(0))  // e_flags
	binary.Write(&b, le, uint16(ehsize))
	binary.Write(&b, le, uint16(0)) // e_phentsize
	binary.Write(&b, le, uint16(0)) // e_phnum
	binary.Write(&b, le, uint16(shentsize))
	binary.Write(&b, le, uint16(3)) // e_shnum
	binary.Write(&b, le, uint16(2)) // e_shstrndx
	b.Write(modinfo)
	b.Write(shstr)
	b.Write(make([]byte, int(shOff)-b.Len()))
	section := func(name, typ uint32, flags, off, size uint64) {
		binary.Write(&b, le, name)
		binary.Write(&b, le, typ)
		binary.Write(&b, le, flags)
		binary.Write(&b, le, uint64(0)) // addr
		binary.Write(&b, le, off)
		binary.Write(&b, le, size)
		binary.Write(&b, le, uint32(0)) // link
		binary.Write(&b, le, uint32(0)) // info
		binary.Write(&b, le, uint64(1)) // align
		binary.Write(&b, le, uint64(0)) // entsize
	}
	section(0, 0, 0, 0, 0)
	section(1, 1 /*PROGBITS*/, 2 /*ALLOC*/, modOff, uint64(len(modinfo)))
	section(10, 3 /*STRTAB*/, 0, strOff, uint64(len(shstr)))
	return b.Bytes()
}

// ModInfo joins key=value fields the way .modinfo stores them.
func ModInfo(fields ...string) []byte {
	return []byte(strings.Join(fields, "\x00") + "\x00")
}

// Compress returns data compressed for a module file with the suffix ext
// (".xz", ".zst" or ".gz"; "" returns data). The xz stream has CRC32 checks,
// as the kernel's build writes them for its decompressor.
func Compress(ext string, data []byte) ([]byte, error) {
	var b bytes.Buffer
	switch ext {
	case "":
		return data, nil
	case ".xz":
		w, err := xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&b)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case ".zst":
		w, err := zstd.NewWriter(&b)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case ".gz":
		w := gzip.NewWriter(&b)
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("modtest: unknown compression suffix %q", ext)
	}
	return b.Bytes(), nil
}
