package modload

import (
	"bytes"
	"compress/gzip"

	"fmt"
	"io"
	"os"
	"strings"

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

// String returns the compression's usual file suffix without the dot.
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

// decompress reads the whole compressed stream r into memory.
func decompress(c compression, r io.Reader) ([]byte, error) {
	var dr io.Reader
	switch c {
	case compXZ:
		x, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		dr = x
	case compZstd:
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxModuleSize))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer z.Close()
		dr = z
	case compGzip:
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		dr = g
	default:
		dr = r
	}
	data, err := io.ReadAll(io.LimitReader(dr, maxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing %s: %w", c, err)
	}
	if len(data) > maxModuleSize {
		return nil, fmt.Errorf("decompressing %s: image larger than %d bytes", c, maxModuleSize)
	}
	return data, nil
}

// ReadModInfoFile reads the .modinfo of the module file at path, which may
// be compressed (.ko.xz, .ko.zst, .ko.gz: decompressed in memory first).
func ReadModInfoFile(path string) (*ModInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		r    io.ReaderAt = f
		size int64
	)
	if c := compressionOf(path); c != compNone {
		data, err := decompress(c, f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r, size = bytes.NewReader(data), int64(len(data))
	} else {
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		size = st.Size()
	}
	mi, err := ReadModInfo(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return mi, nil
}
