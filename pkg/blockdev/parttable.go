package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// ErrNoPartitionTable is returned (wrapped) by ReadPartitionTable when the
// device carries neither a GPT nor a DOS partition table.
var ErrNoPartitionTable = errors.New("no partition table")

// PartitionTable is a disk's partition table.
type PartitionTable struct {
	// Type is "gpt" or "dos", as blkid prints PTTYPE.
	Type string
	// UUID is the disk GUID (gpt) or the disk signature as 8 hex digits
	// (dos), as blkid prints PTUUID.
	UUID string
	// SectorSize is the logical block size the table was read with.
	SectorSize int
	// Partitions lists the partitions in table order.
	Partitions []Partition
}

// Partition is one entry of a partition table.
type Partition struct {
	// Number is the partition number the kernel gives it (sda<Number>):
	// the GPT entry index + 1, 1-4 for DOS primaries, 5+ for logicals.
	Number int
	// Start and Size are in bytes.
	Start, Size int64
	// Type is the GPT partition type GUID or the DOS type as "0x83".
	Type string
	// Name is the GPT partition name (PARTLABEL); DOS has none.
	Name string
	// UUID is the PARTUUID as blkid prints it: the unique partition GUID
	// (gpt) or SSSSSSSS-PP (dos: disk signature, partition number).
	UUID string
}

// Limits on what a table may make us read, so a hostile header cannot make
// PID 1 allocate or read much.
const (
	maxGPTEntriesBytes = 1 << 20
	// maxGPTPartitions is the kernel's limit (state->limit-1 of
	// DISK_MAX_PARTS).
	maxGPTPartitions = 255
	maxDOSLogical    = 128
)

// ReadPartitionTable reads the GPT or DOS partition table of a disk of size
// bytes. sectorSize is the logical block size; 0 means try 512 then 4096
// for GPT (DOS tables always use 512 unless sectorSize says otherwise).
// GPT headers and entry arrays are checked against their CRC32, and the
// backup GPT header is used if the primary is damaged. A DOS boot sector
// that is really a FAT filesystem is not taken for a partition table.
// When nothing is found the error wraps ErrNoPartitionTable.
func ReadPartitionTable(r io.ReaderAt, size int64, sectorSize int) (*PartitionTable, error) {
	if size < 512 {
		return nil, fmt.Errorf("read partition table: device too small (%d bytes): %w", size, ErrNoPartitionTable)
	}
	mbr, err := readAt(r, size, 0, 512)
	if err != nil {
		return nil, fmt.Errorf("read partition table: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return nil, fmt.Errorf("read partition table: no 0x55AA boot signature: %w", ErrNoPartitionTable)
	}
	sizes := []int{sectorSize}
	if sectorSize == 0 {
		sizes = []int{512, 4096}
	}
	if hasProtectiveEntry(mbr) {
		var errs []error
		for _, ss := range sizes {
			pt, err := readGPT(r, size, ss)
			if err == nil {
				return pt, nil
			}
			errs = append(errs, fmt.Errorf("sector size %d: %w", ss, err))
		}
		return nil, fmt.Errorf("read partition table: protective MBR but no valid GPT: %w", errors.Join(errs...))
	}
	ss := sectorSize
	if ss == 0 {
		ss = 512
	}
	pt, err := readDOS(r, size, ss, mbr)
	if err != nil {
		return nil, fmt.Errorf("read partition table: %w", err)
	}
	return pt, nil
}

// hasProtectiveEntry reports whether one of the four MBR entries has type
// 0xEE (GPT protective, possibly in a hybrid MBR).
func hasProtectiveEntry(mbr []byte) bool {
	for i := 0; i < 4; i++ {
		if mbr[446+16*i+4] == 0xEE {
			return true
		}
	}
	return false
}

func readGPT(r io.ReaderAt, size int64, ss int) (*PartitionTable, error) {
	if ss < 512 || ss > 65536 || ss&(ss-1) != 0 {
		return nil, fmt.Errorf("bad sector size %d", ss)
	}
	hdr, perr := readGPTHeader(r, size, ss, 1)
	if perr == nil {
		pt, err := readGPTEntries(r, size, ss, hdr)
		if err == nil {
			return pt, nil
		}
		perr = err
	}
	lastLBA := size/int64(ss) - 1
	if lastLBA <= 1 {
		return nil, fmt.Errorf("primary GPT: %w", perr)
	}
	hdr, berr := readGPTHeader(r, size, ss, lastLBA)
	if berr != nil {
		return nil, fmt.Errorf("primary GPT: %w; backup GPT: %w", perr, berr)
	}
	pt, berr := readGPTEntries(r, size, ss, hdr)
	if berr != nil {
		return nil, fmt.Errorf("primary GPT: %w; backup GPT: %w", perr, berr)
	}
	return pt, nil
}

type gptHeader struct {
	diskGUID   []byte
	entriesLBA int64
	numEntries uint32
	entrySize  uint32
	entriesCRC uint32
	firstLBA   uint64
	lastLBA    uint64
}

func readGPTHeader(r io.ReaderAt, size int64, ss int, lba int64) (*gptHeader, error) {
	b, err := readAt(r, size, lba*int64(ss), ss)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(b[0:8], []byte("EFI PART")) {
		return nil, fmt.Errorf("no \"EFI PART\" signature at LBA %d", lba)
	}
	hsize := binary.LittleEndian.Uint32(b[12:])
	if hsize < 92 || int(hsize) > ss {
		return nil, fmt.Errorf("bad GPT header size %d at LBA %d", hsize, lba)
	}
	want := binary.LittleEndian.Uint32(b[16:])
	h := make([]byte, hsize)
	copy(h, b[:hsize])
	binary.LittleEndian.PutUint32(h[16:], 0)
	if got := crc32.ChecksumIEEE(h); got != want {
		return nil, fmt.Errorf("GPT header CRC mismatch at LBA %d (stored %#08x, computed %#08x)", lba, want, got)
	}
	if my := binary.LittleEndian.Uint64(b[24:]); my != uint64(lba) {
		return nil, fmt.Errorf("GPT header at LBA %d says it is at LBA %d", lba, my)
	}
	hdr := &gptHeader{
		firstLBA:   binary.LittleEndian.Uint64(b[40:]),
		lastLBA:    binary.LittleEndian.Uint64(b[48:]),
		diskGUID:   b[56:72],
		numEntries: binary.LittleEndian.Uint32(b[80:]),
		entrySize:  binary.LittleEndian.Uint32(b[84:]),
		entriesCRC: binary.LittleEndian.Uint32(b[88:]),
	}
	elba := binary.LittleEndian.Uint64(b[72:])
	if elba > uint64(size/int64(ss)) {
		return nil, fmt.Errorf("GPT entry array LBA %d beyond the disk", elba)
	}
	hdr.entriesLBA = int64(elba)
	// The kernel reads only 128-byte entries (is_gpt_valid).
	if hdr.entrySize != 128 {
		return nil, fmt.Errorf("bad GPT entry size %d (the kernel reads 128)", hdr.entrySize)
	}
	if uint64(hdr.numEntries)*uint64(hdr.entrySize) > maxGPTEntriesBytes {
		return nil, fmt.Errorf("GPT entry array too large (%d × %d bytes)", hdr.numEntries, hdr.entrySize)
	}
	return hdr, nil
}

func readGPTEntries(r io.ReaderAt, size int64, ss int, hdr *gptHeader) (*PartitionTable, error) {
	n := int(hdr.numEntries) * int(hdr.entrySize)
	buf, err := readAt(r, size, hdr.entriesLBA*int64(ss), n)
	if err != nil {
		return nil, fmt.Errorf("GPT entry array: %w", err)
	}
	if got := crc32.ChecksumIEEE(buf); got != hdr.entriesCRC {
		return nil, fmt.Errorf("GPT entry array CRC mismatch (stored %#08x, computed %#08x)", hdr.entriesCRC, got)
	}
	pt := &PartitionTable{Type: "gpt", UUID: formatGUID(hdr.diskGUID), SectorSize: ss}
	// The CRC covers the whole array; the kernel makes partitions of
	// the first maxGPTPartitions entries only, and so the table lists
	// no more.
	for i := 0; i < int(hdr.numEntries) && i < maxGPTPartitions; i++ {
		e := buf[i*int(hdr.entrySize) : (i+1)*int(hdr.entrySize)]
		if isZero(e[0:16]) {
			continue // unused entry
		}
		first := binary.LittleEndian.Uint64(e[32:])
		last := binary.LittleEndian.Uint64(e[40:])
		lastLBA := uint64(size)/uint64(ss) - 1
		if last < first || last > lastLBA {
			continue // nonsense, or past the disk's end: the kernel skips it too (is_pte_valid)
		}
		pt.Partitions = append(pt.Partitions, Partition{
			Number: i + 1,
			Start:  int64(first) * int64(ss),
			Size:   int64(last-first+1) * int64(ss),
			Type:   formatGUID(e[0:16]),
			UUID:   formatGUID(e[16:32]),
			Name:   utf16String(e[56:128]),
		})
	}
	return pt, nil
}

func isExtendedType(t byte) bool { return t == 0x05 || t == 0x0F || t == 0x85 }

func readDOS(r io.ReaderAt, size int64, ss int, mbr []byte) (*PartitionTable, error) {
	if ss < 512 || ss > 65536 || ss&(ss-1) != 0 {
		return nil, fmt.Errorf("bad sector size %d", ss)
	}
	// Boot indicators must be 0x00 or 0x80, as libblkid and the kernel
	// require; otherwise this is boot code, not a table.
	for i := 0; i < 4; i++ {
		if b := mbr[446+16*i]; b != 0 && b != 0x80 {
			return nil, fmt.Errorf("invalid boot indicator %#02x in entry %d: %w", b, i+1, ErrNoPartitionTable)
		}
	}
	if _, ok := parseFATBootSector(mbr); ok {
		return nil, fmt.Errorf("sector 0 is a FAT boot sector: %w", ErrNoPartitionTable)
	}
	sig := binary.LittleEndian.Uint32(mbr[440:])
	pt := &PartitionTable{Type: "dos", UUID: fmt.Sprintf("%08x", sig), SectorSize: ss}
	s := int64(ss)
	var extStart, extSize int64
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i : 446+16*(i+1)]
		typ := e[4]
		start := int64(binary.LittleEndian.Uint32(e[8:]))
		n := int64(binary.LittleEndian.Uint32(e[12:]))
		if typ == 0 || n == 0 {
			continue
		}
		pt.Partitions = append(pt.Partitions, Partition{
			Number: i + 1, Start: start * s, Size: n * s,
			Type: fmt.Sprintf("0x%x", typ),
			UUID: fmt.Sprintf("%08x-%02x", sig, i+1),
		})
		if isExtendedType(typ) && extStart == 0 {
			extStart, extSize = start, n
		}
	}
	if extStart != 0 {
		pt.Partitions = append(pt.Partitions, readLogical(r, size, s, sig, extStart, extSize)...)
	}
	return pt, nil
}

// readLogical follows the EBR chain of an extended partition. Damage ends
// the chain quietly: the primaries are still worth reporting.
func readLogical(r io.ReaderAt, size, s int64, sig uint32, extStart, extSize int64) []Partition {
	var parts []Partition
	seen := map[int64]bool{}
	ebr := extStart
	num := 5
	for i := 0; i < maxDOSLogical; i++ {
		if seen[ebr] || ebr < extStart || ebr >= extStart+extSize {
			break
		}
		seen[ebr] = true
		b, err := readAt(r, size, ebr*s, 512)
		if err != nil || b[510] != 0x55 || b[511] != 0xAA {
			break
		}
		var next int64
		for j := 0; j < 4; j++ {
			e := b[446+16*j : 446+16*(j+1)]
			typ := e[4]
			start := int64(binary.LittleEndian.Uint32(e[8:]))
			n := int64(binary.LittleEndian.Uint32(e[12:]))
			if typ == 0 || n == 0 {
				continue
			}
			if isExtendedType(typ) {
				if next == 0 {
					next = extStart + start
				}
				continue
			}
			parts = append(parts, Partition{
				Number: num, Start: (ebr + start) * s, Size: n * s,
				Type: fmt.Sprintf("0x%x", typ),
				UUID: fmt.Sprintf("%08x-%02x", sig, num),
			})
			num++
		}
		if next == 0 {
			break
		}
		ebr = next
	}
	return parts
}
