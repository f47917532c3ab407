package switchroot

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// compressedDynamicELF builds an ELF64 whose .dynamic section is SHF_COMPRESSED
// (zlib) and inflates to inflated bytes of zeros.
func compressedDynamicELF(inflated int) []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zero := make([]byte, 1<<20)
	for i := 0; i < inflated>>20; i++ {
		zw.Write(zero)
	}
	zw.Close()
	le := binary.LittleEndian
	shstr := []byte("\x00.dynamic\x00.shstrtab\x00")
	chdr := make([]byte, 24)
	le.PutUint32(chdr[0:], 1)                // ELFCOMPRESS_ZLIB
	le.PutUint64(chdr[8:], uint64(inflated)) // uncompressed size
	le.PutUint64(chdr[16:], 8)
	dyn := append(chdr, z.Bytes()...)
	dynOff := 64
	strOff := dynOff + len(dyn)
	shOff := (strOff + len(shstr) + 7) &^ 7
	b := make([]byte, shOff+3*64)
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[16:], 3)  // ET_DYN
	le.PutUint16(b[18:], 62) // x86-64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[40:], uint64(shOff))
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[58:], 64) // shentsize
	le.PutUint16(b[60:], 3)  // shnum
	le.PutUint16(b[62:], 2)  // shstrndx
	copy(b[dynOff:], dyn)
	copy(b[strOff:], shstr)
	sh := func(i int, name, typ uint32, flags, off, size uint64) {
		s := b[shOff+64*i:]
		le.PutUint32(s[0:], name)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[8:], flags)
		le.PutUint64(s[24:], off)
		le.PutUint64(s[32:], size)
	}
	sh(1, 1, 6, 0x800, uint64(dynOff), uint64(len(dyn))) // SHT_DYNAMIC, SHF_COMPRESSED
	sh(2, 10, 3, 0, uint64(strOff), uint64(len(shstr)))
	return b
}

// TestElfDepsCompressedDynamic: a small file whose dynamic section claims
// to inflate to hundreds of MB took that much memory from PID 1.
func TestElfDepsCompressedDynamic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "init")
	if err := os.WriteFile(p, compressedDynamicELF(64<<20), 0o755); err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	_, needed, _, err := elfDeps(p)
	runtime.ReadMemStats(&ms)
	if err == nil || !strings.Contains(err.Error(), "compressed dynamic section") {
		t.Errorf("elfDeps = %v, %v; want the compressed section refused", needed, err)
	}
	if got := ms.TotalAlloc - before; got > 8<<20 {
		t.Errorf("allocated %d MB reading a small file", got>>20)
	}
}
