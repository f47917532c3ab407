package modload

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxModuleSize bounds a decompressed module image (the largest Debian
// module, amdgpu, is about 30 MiB uncompressed).
const maxModuleSize = 512 << 20

// moduleExts are the file suffixes of module files, longest match first.
var moduleExts = []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"}

// compression is how a module file is compressed.
type compression int

const (
	compNone compression = iota
	compXZ
	compZstd
	compGzip
)

// String returns the compression's name as the kernel spells it in
// /sys/module/compression ("xz", "zstd", "gzip"), or "none".
func (c compression) String() string {
	switch c {
	case compXZ:
		return "xz"
	case compZstd:
		return "zstd"
	case compGzip:
		return "gzip"
	}
	return "none"
}

// compressionOf tells the compression from a module's file name.
func compressionOf(path string) compression {
	switch {
	case strings.HasSuffix(path, ".xz"):
		return compXZ
	case strings.HasSuffix(path, ".zst"):
		return compZstd
	case strings.HasSuffix(path, ".gz"):
		return compGzip
	}
	return compNone
}

// parseCompression reads a compression's name as in /sys/module/compression.
func parseCompression(s string) (compression, bool) {
	switch strings.TrimSpace(s) {
	case "xz":
		return compXZ, true
	case "zstd":
		return compZstd, true
	case "gzip":
		return compGzip, true
	}
	return compNone, false
}

// UncompressedPath returns the path of a compressed module file without
// its compression suffix ("kernel/fs/ext4/ext4.ko.xz" →
// "kernel/fs/ext4/ext4.ko"); other paths are returned unchanged.
func UncompressedPath(path string) string {
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		if p, ok := strings.CutSuffix(path, ext); ok && strings.HasSuffix(p, ".ko") {
			return p
		}
	}
	return path
}

// ZstdPath returns the path of a module file compressed with zstd:
// "kernel/fs/ext4/ext4.ko.zst" for "kernel/fs/ext4/ext4.ko" or ".ko.xz".
func ZstdPath(path string) string {
	return UncompressedPath(path) + ".zst"
}

// zstdDecoder is shared: DecodeAll may be called concurrently, and a
// decoder's tables are worth reusing across a tree's thousands of modules.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxModuleSize))
})

// decompress returns the uncompressed image of the compressed module data.
// The data is decoded from memory: the xz decoder reads its input a byte at
// a time, which from an unbuffered file is a system call per byte.
func decompress(c compression, data []byte) ([]byte, error) {
	var dr io.Reader
	switch c {
	case compXZ:
		x, err := xz.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		dr = x
	case compZstd:
		return decodeZstd(data, nil)
	case compGzip:
		g, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		dr = g
	default:
		return data, nil
	}
	// Modules compress 4–6 fold: start near the final size.
	var buf bytes.Buffer
	buf.Grow(min(5*len(data), maxModuleSize))
	if _, err := buf.ReadFrom(io.LimitReader(dr, maxModuleSize+1)); err != nil {
		return nil, fmt.Errorf("decompressing %s: %w", c, err)
	}
	switch {
	case buf.Len() == 0:
		return nil, fmt.Errorf("decompressing %s: no data", c)
	case buf.Len() > maxModuleSize:
		return nil, fmt.Errorf("decompressing %s: image larger than %d bytes", c, maxModuleSize)
	}
	return buf.Bytes(), nil
}

// ReadModuleFile returns the uncompressed ELF image of the module file at
// path: the file itself, or its content decompressed in memory when its
// name ends in .xz, .zst or .gz.
func ReadModuleFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := compressionOf(path)
	if c == compNone {
		return data, nil
	}
	image, err := decompress(c, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return image, nil
}

// decodeZstd decodes the zstd data, appending to dst.
func decodeZstd(data, dst []byte) ([]byte, error) {
	d, err := zstdDecoder()
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	out, err := d.DecodeAll(data, dst)
	switch {
	case err != nil:
		return nil, fmt.Errorf("decompressing zstd: %w", err)
	case len(out) == 0:
		return nil, errors.New("decompressing zstd: no data")
	case len(out) > maxModuleSize:
		return nil, fmt.Errorf("decompressing zstd: image larger than %d bytes", maxModuleSize)
	}
	return out, nil
}

// decompressFile returns the uncompressed image of the module file f,
// compressed with c, and a function that releases the image's memory once
// the module is in. A zstd frame that states its size (netroot build's
// do) is decoded from the mapped file into memory mapped for it and
// unmapped by release, so the modules /init loads do not grow its heap;
// other files are read and decompressed on the heap.
func decompressFile(f *os.File, c compression) (image []byte, release func(), err error) {
	noop := func() {}
	if c == compZstd {
		in, unmapIn, err := mapFile(f)
		if err != nil {
			return nil, nil, err
		}
		defer unmapIn()
		var h zstd.Header
		if h.Decode(in) == nil && h.HasFCS && h.FrameContentSize > 0 && h.FrameContentSize <= maxModuleSize {
			if buf, unmapOut, err := mapAnon(int(h.FrameContentSize)); err == nil {
				// A frame that states less than it holds is decoded on past
				// the mapping, into the heap: still the right image.
				out, err := decodeZstd(in, buf[:0])
				if err != nil {
					unmapOut()
					return nil, nil, err
				}
				return out, unmapOut, nil
			}
		}
		out, err := decodeZstd(in, nil)
		return out, noop, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxModuleSize))
	if err != nil {
		return nil, nil, err
	}
	out, err := decompress(c, data)
	return out, noop, err
}

// ReadModInfoFile reads the .modinfo of the module file at path, which may
// be compressed (.ko.xz, .ko.zst, .ko.gz: decompressed in memory first).
func ReadModInfoFile(path string) (*ModInfo, error) {
	if compressionOf(path) != compNone {
		image, err := ReadModuleFile(path)
		if err != nil {
			return nil, err
		}
		mi, err := ReadModInfo(bytes.NewReader(image), int64(len(image)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return mi, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	mi, err := ReadModInfo(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return mi, nil
}
