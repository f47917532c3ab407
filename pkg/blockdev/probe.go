package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"
)

// ErrNoFilesystem is returned (wrapped) by ProbeFS when no known filesystem
// signature is found.
var ErrNoFilesystem = errors.New("no known filesystem signature")

// ErrProbeFailed is returned (wrapped) by ProbeFS when a filesystem
// signature was found but its superblock is damaged (bad checksum,
// implausible geometry) or could not be read.
var ErrProbeFailed = errors.New("filesystem signature found but superblock damaged or unreadable")

// FSInfo describes a filesystem found by ProbeFS.
type FSInfo struct {
	// Type is the filesystem type as blkid prints it: "ext2", "ext3",
	// "ext4", "jbd", "xfs", "btrfs", "vfat" or "swap".
	Type string
	// Label is the volume label, "" if none.
	Label string
	// UUID is the filesystem UUID as blkid prints it: lowercase
	// 8-4-4-4-12, or XXXX-XXXX for vfat.
	UUID string
}

// castagnoli is the CRC-32C table, built on first use: building it at
// package init costs /init's start ~10 ms under emulation.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// fsProbe probes for one filesystem type. It returns (nil, nil) when the
// signature is absent.
type fsProbe func(r io.ReaderAt, size int64) (*FSInfo, error)

// ProbeFS identifies the filesystem on a device or image of size bytes read
// through r. It reads at most a few KiB at fixed offsets, validates magic
// numbers and, where the filesystem has one, the superblock checksum. It
// never panics on garbage input. When nothing is recognised the error wraps
// ErrNoFilesystem; when a signature is found but its superblock is damaged
// or unreadable it wraps ErrProbeFailed.
func ProbeFS(r io.ReaderAt, size int64) (*FSInfo, error) {
	probes := []struct {
		name  string
		probe fsProbe
	}{
		{"ext", probeExt},
		{"xfs", probeXFS},
		{"btrfs", probeBtrfs},
		{"swap", probeSwap},
		{"vfat", probeVFAT},
	}
	var errs []error
	for _, p := range probes {
		info, err := p.probe(r, size)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			continue
		}
		if info != nil {
			return info, nil
		}
	}
	if len(errs) > 0 {
		// A signature was present but broken (bad checksum, I/O error):
		// say so, it helps more than "nothing found".
		return nil, fmt.Errorf("probe filesystem: %w: %w", ErrProbeFailed, errors.Join(errs...))
	}
	return nil, fmt.Errorf("probe filesystem: %w", ErrNoFilesystem)
}

// ext2/3/4 superblock feature bits (see ext4 on-disk format).
const (
	extCompatHasJournal = 0x0004

	extIncompatFiletype   = 0x0002
	extIncompatRecover    = 0x0004
	extIncompatJournalDev = 0x0008
	extIncompatMetaBG     = 0x0010

	extROCompatSparseSuper  = 0x0001
	extROCompatLargeFile    = 0x0002
	extROCompatBtreeDir     = 0x0004
	extROCompatMetadataCsum = 0x0400

	ext3IncompatSupported  = extIncompatFiletype | extIncompatRecover | extIncompatMetaBG
	ext2IncompatSupported  = extIncompatFiletype | extIncompatMetaBG
	ext23ROCompatSupported = extROCompatSparseSuper | extROCompatLargeFile | extROCompatBtreeDir
)

// probeExt reads the ext2/3/4 superblock at 1024 and classifies it the way
// libblkid does: journal device → jbd; features ext3 does not know → ext4;
// a journal → ext3; otherwise ext2.
func probeExt(r io.ReaderAt, size int64) (*FSInfo, error) {
	const off, sbSize = 1024, 1024
	if size < off+sbSize {
		return nil, nil
	}
	sb, err := readAt(r, size, off, sbSize)
	if err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint16(sb[0x38:]) != 0xEF53 {
		return nil, nil
	}
	compat := binary.LittleEndian.Uint32(sb[0x5C:])
	incompat := binary.LittleEndian.Uint32(sb[0x60:])
	roCompat := binary.LittleEndian.Uint32(sb[0x64:])
	if roCompat&extROCompatMetadataCsum != 0 {
		want := binary.LittleEndian.Uint32(sb[0x3FC:])
		// crc32c seeded with ~0 and not inverted at the end.
		got := ^crc32.Checksum(sb[:0x3FC], castagnoli())
		if got != want {
			return nil, fmt.Errorf("superblock checksum mismatch (stored %#08x, computed %#08x)", want, got)
		}
	}
	info := &FSInfo{
		Label: cString(sb[0x78 : 0x78+16]),
		UUID:  formatUUID(sb[0x68 : 0x68+16]),
	}
	switch {
	case incompat&extIncompatJournalDev != 0:
		info.Type = "jbd"
	case incompat&^ext3IncompatSupported != 0 || roCompat&^ext23ROCompatSupported != 0:
		info.Type = "ext4"
	case compat&extCompatHasJournal != 0:
		info.Type = "ext3"
	default:
		info.Type = "ext2"
	}
	return info, nil
}

// probeXFS reads the big-endian XFS superblock at offset 0.
func probeXFS(r io.ReaderAt, size int64) (*FSInfo, error) {
	if size < 512 {
		return nil, nil
	}
	sb, err := readAt(r, size, 0, 512)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(sb[0:4], []byte("XFSB")) {
		return nil, nil
	}
	blockSize := binary.BigEndian.Uint32(sb[4:])
	version := binary.BigEndian.Uint16(sb[100:])
	sectSize := binary.BigEndian.Uint16(sb[102:])
	if blockSize < 512 || blockSize > 65536 || blockSize&(blockSize-1) != 0 ||
		sectSize < 512 || sectSize > 32768 || sectSize&(sectSize-1) != 0 {
		return nil, fmt.Errorf("implausible superblock (block size %d, sector size %d)", blockSize, sectSize)
	}
	if version&0xF == 5 {
		// v5 superblocks carry a crc32c over sb_sectsize bytes with the
		// crc field (offset 224, little-endian) taken as zero.
		full, err := readAt(r, size, 0, int(sectSize))
		if err != nil {
			return nil, err
		}
		want := binary.LittleEndian.Uint32(full[224:])
		h := crc32.New(castagnoli())
		h.Write(full[:224])
		h.Write([]byte{0, 0, 0, 0})
		h.Write(full[228:])
		if got := h.Sum32(); got != want {
			return nil, fmt.Errorf("superblock checksum mismatch (stored %#08x, computed %#08x)", want, got)
		}
	}
	return &FSInfo{
		Type:  "xfs",
		Label: cString(sb[108 : 108+12]),
		UUID:  formatUUID(sb[32 : 32+16]),
	}, nil
}

// probeBtrfs reads the primary btrfs superblock at 64 KiB.
func probeBtrfs(r io.ReaderAt, size int64) (*FSInfo, error) {
	const off, sbSize = 0x10000, 0x1000
	if size < off+sbSize {
		return nil, nil
	}
	sb, err := readAt(r, size, off, sbSize)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(sb[0x40:0x48], []byte("_BHRfS_M")) {
		return nil, nil
	}
	if csumType := binary.LittleEndian.Uint16(sb[0xC4:]); csumType == 0 {
		want := binary.LittleEndian.Uint32(sb[0:])
		if got := crc32.Checksum(sb[0x20:], castagnoli()); got != want {
			return nil, fmt.Errorf("superblock checksum mismatch (stored %#08x, computed %#08x)", want, got)
		}
	}
	return &FSInfo{
		Type:  "btrfs",
		Label: cString(sb[0x12B : 0x12B+256]),
		UUID:  formatUUID(sb[0x20 : 0x20+16]),
	}, nil
}

// probeSwap looks for a Linux swap signature at the end of the first page,
// for the page sizes Linux uses.
func probeSwap(r io.ReaderAt, size int64) (*FSInfo, error) {
	for _, page := range []int64{4096, 8192, 16384, 65536} {
		if size < page {
			break
		}
		magic, err := readAt(r, size, page-10, 10)
		if err != nil {
			return nil, err
		}
		switch string(magic) {
		case "SWAPSPACE2":
			hdr, err := readAt(r, size, 1024, 44)
			if err != nil {
				return nil, err
			}
			// version(4) last_page(4) nr_badpages(4) uuid(16) label(16)
			info := &FSInfo{Type: "swap", Label: cString(hdr[28:44])}
			if !isZero(hdr[12:28]) {
				info.UUID = formatUUID(hdr[12:28])
			}
			return info, nil
		case "SWAP-SPACE":
			return &FSInfo{Type: "swap"}, nil
		}
	}
	return nil, nil
}

// probeVFAT recognises a FAT12/16/32 boot sector and returns its volume
// label (from the root directory if present, else the boot sector) and
// volume serial formatted XXXX-XXXX.
func probeVFAT(r io.ReaderAt, size int64) (*FSInfo, error) {
	if size < 512 {
		return nil, nil
	}
	bs, err := readAt(r, size, 0, 512)
	if err != nil {
		return nil, err
	}
	g, ok := parseFATBootSector(bs)
	if !ok {
		return nil, nil
	}
	info := &FSInfo{
		Type: "vfat",
		UUID: fmt.Sprintf("%02X%02X-%02X%02X", g.serial[3], g.serial[2], g.serial[1], g.serial[0]),
	}
	if !g.hasSerial {
		info.UUID = ""
	}
	label := g.label
	if l, ok := fatRootDirLabel(r, size, g); ok {
		label = l
	}
	if label != "NO NAME" {
		info.Label = label
	}
	return info, nil
}

// fatGeometry is what the boot sector tells about a FAT filesystem.
type fatGeometry struct {
	bytesPerSector    int64
	sectorsPerCluster int64
	reserved          int64
	numFATs           int64
	rootEntries       int64
	fatSectors        int64
	totalSectors      int64
	rootCluster       uint32 // FAT32 only
	fat32             bool
	hasSerial         bool
	serial            [4]byte
	label             string // boot sector label, trailing spaces trimmed
}

// parseFATBootSector validates a FAT boot sector the way libblkid does
// (sane geometry, a FAT media byte, a FAT type string or 0x55AA) and returns
// its geometry.
func parseFATBootSector(bs []byte) (fatGeometry, bool) {
	var g fatGeometry
	if len(bs) < 512 {
		return g, false
	}
	// Jump instruction: EB xx 90 or E9 xx xx.
	if !(bs[0] == 0xEB && bs[2] == 0x90) && bs[0] != 0xE9 {
		return g, false
	}
	g.bytesPerSector = int64(binary.LittleEndian.Uint16(bs[0x0B:]))
	g.sectorsPerCluster = int64(bs[0x0D])
	g.reserved = int64(binary.LittleEndian.Uint16(bs[0x0E:]))
	g.numFATs = int64(bs[0x10])
	g.rootEntries = int64(binary.LittleEndian.Uint16(bs[0x11:]))
	total16 := int64(binary.LittleEndian.Uint16(bs[0x13:]))
	media := bs[0x15]
	fat16Len := int64(binary.LittleEndian.Uint16(bs[0x16:]))
	total32 := int64(binary.LittleEndian.Uint32(bs[0x20:]))
	fat32Len := int64(binary.LittleEndian.Uint32(bs[0x24:]))

	switch g.bytesPerSector {
	case 512, 1024, 2048, 4096:
	default:
		return g, false
	}
	if g.sectorsPerCluster == 0 || g.sectorsPerCluster&(g.sectorsPerCluster-1) != 0 {
		return g, false
	}
	if g.reserved == 0 || g.numFATs == 0 || g.numFATs > 4 {
		return g, false
	}
	if media != 0xF0 && media < 0xF8 {
		return g, false
	}
	g.totalSectors = total16
	if g.totalSectors == 0 {
		g.totalSectors = total32
	}
	if g.totalSectors == 0 {
		return g, false
	}
	var ext []byte // extended BPB: drive(1) reserved(1) sig(1) serial(4) label(11) type(8)
	if fat16Len == 0 && fat32Len != 0 {
		g.fat32 = true
		g.fatSectors = fat32Len
		g.rootCluster = binary.LittleEndian.Uint32(bs[0x2C:])
		ext = bs[0x40:0x5A]
	} else {
		if fat16Len == 0 {
			return g, false
		}
		g.fatSectors = fat16Len
		ext = bs[0x24:0x3E]
	}
	fsType := string(ext[18:26])
	if !strings.HasPrefix(fsType, "FAT") && !(bs[510] == 0x55 && bs[511] == 0xAA) {
		return g, false
	}
	if ext[2] == 0x29 || ext[2] == 0x28 {
		g.hasSerial = true
		copy(g.serial[:], ext[3:7])
	}
	if ext[2] == 0x29 {
		g.label = strings.TrimRight(cString(ext[7:18]), " ")
	}
	return g, true
}

// fatRootDirLabel looks for a volume-label entry in the root directory. It
// reads at most a bounded number of sectors/clusters.
func fatRootDirLabel(r io.ReaderAt, size int64, g fatGeometry) (string, bool) {
	const maxBytes = 256 * 1024
	bps := g.bytesPerSector
	if !g.fat32 {
		start := (g.reserved + g.numFATs*g.fatSectors) * bps
		n := g.rootEntries * 32
		if n <= 0 || n > maxBytes {
			return "", false
		}
		buf, err := readAt(r, size, start, int(n))
		if err != nil {
			return "", false
		}
		return fatFindLabel(buf)
	}
	clusterBytes := g.sectorsPerCluster * bps
	if clusterBytes > maxBytes {
		return "", false
	}
	dataStart := (g.reserved + g.numFATs*g.fatSectors) * bps
	fatStart := g.reserved * bps
	cluster := g.rootCluster
	for i := 0; i < maxBytes/int(clusterBytes) && cluster >= 2 && cluster < 0x0FFFFFF7; i++ {
		off := dataStart + int64(cluster-2)*clusterBytes
		buf, err := readAt(r, size, off, int(clusterBytes))
		if err != nil {
			return "", false
		}
		if l, ok := fatFindLabel(buf); ok {
			return l, true
		}
		if fatEnd(buf) {
			return "", false
		}
		next, err := readAt(r, size, fatStart+int64(cluster)*4, 4)
		if err != nil {
			return "", false
		}
		cluster = binary.LittleEndian.Uint32(next) & 0x0FFFFFFF
	}
	return "", false
}

// fatFindLabel scans 32-byte directory entries for a volume label.
func fatFindLabel(buf []byte) (string, bool) {
	for i := 0; i+32 <= len(buf); i += 32 {
		e := buf[i : i+32]
		if e[0] == 0 {
			return "", false
		}
		attr := e[11]
		if e[0] == 0xE5 || attr == 0x0F || attr&0x08 == 0 || attr&0x10 != 0 {
			continue
		}
		name := make([]byte, 11)
		copy(name, e[:11])
		if name[0] == 0x05 {
			name[0] = 0xE5
		}
		return strings.TrimRight(cString(name), " "), true
	}
	return "", false
}

// fatEnd reports whether a directory buffer contains the end marker.
func fatEnd(buf []byte) bool {
	for i := 0; i+32 <= len(buf); i += 32 {
		if buf[i] == 0 {
			return true
		}
	}
	return false
}
