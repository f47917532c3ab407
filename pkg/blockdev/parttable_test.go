package blockdev

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// sfdiskJSON is the subset of `sfdisk --json` output we cross-check.
type sfdiskJSON struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int    `json:"sectorsize"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func sfdiskDump(t *testing.T, img string) sfdiskJSON {
	t.Helper()
	var j sfdiskJSON
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", img)), &j); err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	return j
}

// partNumber extracts N from the node name "/path/img.imgN".
func partNumber(node, img string) int {
	var n int
	fmt.Sscanf(strings.TrimPrefix(node, img), "%d", &n)
	return n
}

func TestGPTAgainstSgdisk(t *testing.T) {
	needTool(t, "sgdisk")
	img := sparseFile(t, "gpt.img", 64<<20)
	run(t, "sgdisk",
		"-U", "8C4E1D52-3F0A-4A2B-9E3C-1D2E3F405162",
		"-n", "1:2048:+8M", "-t", "1:ef00", "-c", "1:EFI System", "-u", "1:0A1B2C3D-4E5F-4061-8293-A4B5C6D7E8F9",
		"-n", "2:0:+16M", "-t", "2:8304", "-c", "2:ISCSI-ROOT", "-u", "2:11223344-5566-4788-99AA-BBCCDDEEFF00",
		"-n", "4:0:0", "-c", "4:data ünïcode",
		img)
	f, size := openImage(t, img)
	pt, err := ReadPartitionTable(f, size, 0)
	if err != nil {
		t.Fatalf("ReadPartitionTable: %v", err)
	}
	if pt.Type != "gpt" || pt.UUID != "8c4e1d52-3f0a-4a2b-9e3c-1d2e3f405162" || pt.SectorSize != 512 {
		t.Errorf("table = %s %s %d", pt.Type, pt.UUID, pt.SectorSize)
	}
	want := []Partition{
		{Number: 1, Start: 2048 * 512, Size: 8 << 20, Type: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", Name: "EFI System", UUID: "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9"},
		{Number: 2, Start: 2048*512 + 8<<20, Size: 16 << 20, Type: "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", Name: "ISCSI-ROOT", UUID: "11223344-5566-4788-99aa-bbccddeeff00"},
	}
	if len(pt.Partitions) != 3 {
		t.Fatalf("got %d partitions, want 3: %+v", len(pt.Partitions), pt.Partitions)
	}
	for i, w := range want {
		if pt.Partitions[i] != w {
			t.Errorf("partition %d = %+v, want %+v", i, pt.Partitions[i], w)
		}
	}
	if p := pt.Partitions[2]; p.Number != 4 || p.Name != "data ünïcode" {
		t.Errorf("partition 4 = %+v", p)
	}
	// Cross-check everything with sfdisk's reading of the same image.
	j := sfdiskDump(t, img).PartitionTable
	if !strings.EqualFold(j.ID, pt.UUID) || j.Label != "gpt" {
		t.Errorf("sfdisk says %s %s", j.Label, j.ID)
	}
	if len(j.Partitions) != len(pt.Partitions) {
		t.Fatalf("sfdisk sees %d partitions, we see %d", len(j.Partitions), len(pt.Partitions))
	}
	for i, sp := range j.Partitions {
		p := pt.Partitions[i]
		if partNumber(sp.Node, img) != p.Number || sp.Start*512 != p.Start || sp.Size*512 != p.Size ||
			!strings.EqualFold(sp.UUID, p.UUID) || sp.Name != p.Name || !strings.EqualFold(sp.Type, p.Type) {
			t.Errorf("sfdisk %+v vs ours %+v", sp, p)
		}
	}
	if b := blkidExport(t, img); b != nil && (b["PTTYPE"] != "gpt" || b["PTUUID"] != pt.UUID) {
		t.Errorf("blkid PTTYPE=%q PTUUID=%q", b["PTTYPE"], b["PTUUID"])
	}

	// Damage the primary header: the backup must be used.
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	data[512+60] ^= 0xFF
	pt2, err := ReadPartitionTable(bytes.NewReader(data), int64(len(data)), 512)
	if err != nil {
		t.Fatalf("with damaged primary header: %v", err)
	}
	if len(pt2.Partitions) != 3 || pt2.Partitions[1] != want[1] || pt2.UUID != pt.UUID {
		t.Errorf("from backup: %+v", pt2)
	}
	// Damage the backup too: now it must fail, and say why.
	last := len(data) - 512
	data[last+60] ^= 0xFF
	_, err = ReadPartitionTable(bytes.NewReader(data), int64(len(data)), 512)
	if err == nil || !strings.Contains(err.Error(), "CRC") {
		t.Errorf("with both headers damaged: err = %v, want CRC error", err)
	}
}

func TestDOSAgainstSfdisk(t *testing.T) {
	needTool(t, "sfdisk")
	img := sparseFile(t, "dos.img", 64<<20)
	script := `label: dos
label-id: 0x5a6b7c8d
start=2048, size=8192, type=83, bootable
start=10240, size=16384, type=83
start=26624, type=5
start=28672, size=4096, type=82
start=34816, size=8192, type=83
`
	cmd := exec.Command(needTool(t, "sfdisk"), "-q", img)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	f, size := openImage(t, img)
	pt, err := ReadPartitionTable(f, size, 0)
	if err != nil {
		t.Fatalf("ReadPartitionTable: %v", err)
	}
	if pt.Type != "dos" || pt.UUID != "5a6b7c8d" {
		t.Errorf("table %s %s", pt.Type, pt.UUID)
	}
	wantUUIDs := map[int]string{1: "5a6b7c8d-01", 2: "5a6b7c8d-02", 3: "5a6b7c8d-03", 5: "5a6b7c8d-05", 6: "5a6b7c8d-06"}
	got := map[int]string{}
	for _, p := range pt.Partitions {
		got[p.Number] = p.UUID
	}
	if fmt.Sprint(got) != fmt.Sprint(wantUUIDs) {
		t.Errorf("PARTUUIDs = %v, want %v", got, wantUUIDs)
	}
	j := sfdiskDump(t, img).PartitionTable
	if j.ID != "0x5a6b7c8d" {
		t.Errorf("sfdisk id %s", j.ID)
	}
	if len(j.Partitions) != len(pt.Partitions) {
		t.Fatalf("sfdisk sees %d partitions, we see %d: %+v", len(j.Partitions), len(pt.Partitions), pt.Partitions)
	}
	for i, sp := range j.Partitions {
		p := pt.Partitions[i]
		if partNumber(sp.Node, img) != p.Number || sp.Start*512 != p.Start || sp.Size*512 != p.Size || "0x"+sp.Type != p.Type {
			t.Errorf("sfdisk %+v vs ours %+v", sp, p)
		}
	}
	if b := blkidExport(t, img); b != nil && (b["PTTYPE"] != "dos" || b["PTUUID"] != pt.UUID) {
		t.Errorf("blkid PTTYPE=%q PTUUID=%q", b["PTTYPE"], b["PTUUID"])
	}
}

func TestFATIsNotAPartitionTable(t *testing.T) {
	needTool(t, "mkfs.vfat")
	img := sparseFile(t, "fat.img", 32<<20)
	run(t, "mkfs.vfat", "-F", "16", img)
	f, size := openImage(t, img)
	if pt, err := ReadPartitionTable(f, size, 0); !errors.Is(err, ErrNoPartitionTable) {
		t.Errorf("ReadPartitionTable(FAT) = %+v, %v; want ErrNoPartitionTable", pt, err)
	}
}

// buildGPT writes a minimal valid GPT (primary only) with the given sector
// size, for tests and fuzz seeds that must not depend on sgdisk.
func buildGPT(ss int, entries [][128]byte) []byte {
	return buildGPTArray(ss, 128, 128, 6, entries)
}

// buildGPTArray is buildGPT with num entries of entrySize bytes in the
// array (which starts at LBA 2), then spare sectors, then the backup
// header's.
func buildGPTArray(ss, num, entrySize, spare int, entries [][128]byte) []byte {
	arr := make([]byte, num*entrySize)
	for i, e := range entries {
		copy(arr[i*entrySize:], e[:])
	}
	arrSectors := (len(arr) + ss - 1) / ss
	sectors := max(40, 2+arrSectors+spare)
	img := make([]byte, ss*sectors)
	mbr := img[:512]
	mbr[446+4] = 0xEE
	binary.LittleEndian.PutUint32(mbr[446+8:], 1)
	binary.LittleEndian.PutUint32(mbr[446+12:], uint32(sectors-1))
	mbr[510], mbr[511] = 0x55, 0xAA
	copy(img[2*ss:], arr)
	h := img[ss : ss+92]
	copy(h, "EFI PART")
	binary.LittleEndian.PutUint32(h[8:], 0x00010000)
	binary.LittleEndian.PutUint32(h[12:], 92)
	binary.LittleEndian.PutUint64(h[24:], 1)
	binary.LittleEndian.PutUint64(h[32:], uint64(sectors-1))
	binary.LittleEndian.PutUint64(h[40:], uint64(2+arrSectors))
	binary.LittleEndian.PutUint64(h[48:], uint64(sectors-2))
	copy(h[56:72], []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	binary.LittleEndian.PutUint64(h[72:], 2)
	binary.LittleEndian.PutUint32(h[80:], uint32(num))
	binary.LittleEndian.PutUint32(h[84:], uint32(entrySize))
	binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(arr))
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
	return img
}

// TestGPTAsTheKernelReadsIt: the kernel reads 128-byte entries only, makes
// partitions of the first 255 and skips an entry past the disk's end;
// the table says the same (a hostile array of 8192 entries was built and
// kept for every disk).
func TestGPTAsTheKernelReadsIt(t *testing.T) {
	var many [][128]byte
	for i := 0; i < 300; i++ {
		many = append(many, gptEntry("p", 80+uint64(i), 80+uint64(i)))
	}
	img := buildGPTArray(512, 300, 128, 400, many)
	pt, err := ReadPartitionTable(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil || len(pt.Partitions) != 255 {
		t.Errorf("300 entries: %d partitions, %v; want the kernel's 255", len(pt.Partitions), err)
	}
	img = buildGPTArray(512, 128, 136, 6, [][128]byte{gptEntry("root", 34, 38)})
	if _, err := ReadPartitionTable(bytes.NewReader(img), int64(len(img)), 512); err == nil || !strings.Contains(err.Error(), "entry size 136") {
		t.Errorf("136-byte entries: %v", err)
	}
	img = buildGPT(512, [][128]byte{gptEntry("root", 34, 38), gptEntry("past", 36, 1000)})
	pt, err = ReadPartitionTable(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil || len(pt.Partitions) != 1 || pt.Partitions[0].Name != "root" {
		t.Errorf("an entry past the end: %+v, %v; want it skipped", pt, err)
	}
}

func gptEntry(name string, first, last uint64) [128]byte {
	var e [128]byte
	copy(e[0:16], []byte{0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4})
	copy(e[16:32], []byte{0x78, 0x56, 0x34, 0x12, 0xBC, 0x9A, 0xF0, 0xDE, 1, 2, 3, 4, 5, 6, 7, 8})
	binary.LittleEndian.PutUint64(e[32:], first)
	binary.LittleEndian.PutUint64(e[40:], last)
	for i, r := range name {
		binary.LittleEndian.PutUint16(e[56+2*i:], uint16(r))
	}
	return e
}

func TestGPTSectorSizes(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		img := buildGPT(ss, [][128]byte{gptEntry("root", 34, 38)})
		for _, param := range []int{0, ss} {
			pt, err := ReadPartitionTable(bytes.NewReader(img), int64(len(img)), param)
			if err != nil {
				t.Fatalf("ss %d param %d: %v", ss, param, err)
			}
			p := pt.Partitions
			if pt.SectorSize != ss || len(p) != 1 || p[0].Name != "root" || p[0].Start != int64(34*ss) || p[0].Size != int64(5*ss) ||
				p[0].UUID != "12345678-9abc-def0-0102-030405060708" || pt.UUID != "04030201-0605-0807-090a-0b0c0d0e0f10" {
				t.Errorf("ss %d param %d: %+v", ss, param, pt)
			}
		}
	}
	// Entry array CRC is checked.
	img := buildGPT(512, [][128]byte{gptEntry("root", 34, 38)})
	img[2*512+56] = 'R'
	if _, err := ReadPartitionTable(bytes.NewReader(img), int64(len(img)), 512); err == nil || !strings.Contains(err.Error(), "entry array CRC") {
		t.Errorf("tampered entry: err = %v", err)
	}
}

func TestNoPartitionTable(t *testing.T) {
	for _, b := range [][]byte{nil, make([]byte, 100), make([]byte, 4096)} {
		if _, err := ReadPartitionTable(bytes.NewReader(b), int64(len(b)), 0); !errors.Is(err, ErrNoPartitionTable) {
			t.Errorf("len %d: err = %v", len(b), err)
		}
	}
	// Bad boot indicator: boot code, not a table.
	b := make([]byte, 512)
	b[446] = 0x12
	b[446+4] = 0x83
	b[510], b[511] = 0x55, 0xAA
	if _, err := ReadPartitionTable(bytes.NewReader(b), 512, 0); !errors.Is(err, ErrNoPartitionTable) {
		t.Errorf("bad boot indicator: err = %v", err)
	}
}

func TestDOSLogicalLoop(t *testing.T) {
	// An EBR pointing at itself must end the chain, not loop forever.
	img := make([]byte, 64*512)
	mbr := img[:512]
	mbr[446+4] = 0x05
	binary.LittleEndian.PutUint32(mbr[446+8:], 8)
	binary.LittleEndian.PutUint32(mbr[446+12:], 50)
	mbr[510], mbr[511] = 0x55, 0xAA
	ebr := img[8*512 : 9*512]
	ebr[446+4] = 0x83
	binary.LittleEndian.PutUint32(ebr[446+8:], 1)
	binary.LittleEndian.PutUint32(ebr[446+12:], 4)
	ebr[462+4] = 0x05
	binary.LittleEndian.PutUint32(ebr[462+8:], 0) // next EBR = itself
	binary.LittleEndian.PutUint32(ebr[462+12:], 10)
	ebr[510], ebr[511] = 0x55, 0xAA
	pt, err := ReadPartitionTable(bytes.NewReader(img), int64(len(img)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pt.Partitions) != 2 || pt.Partitions[1].Number != 5 || pt.Partitions[1].Start != 9*512 {
		t.Errorf("partitions = %+v", pt.Partitions)
	}
}

func FuzzPartitions(f *testing.F) {
	f.Add(uint16(512), buildGPT(512, [][128]byte{gptEntry("root", 34, 38)}))
	f.Add(uint16(4096), buildGPT(4096, [][128]byte{gptEntry("x", 34, 35)})[:8192+512])
	dos := make([]byte, 1024)
	dos[446+4] = 0x05
	binary.LittleEndian.PutUint32(dos[446+8:], 1)
	binary.LittleEndian.PutUint32(dos[446+12:], 100)
	dos[510], dos[511] = 0x55, 0xAA
	dos[512+446+4] = 0x83
	dos[512+510], dos[512+511] = 0x55, 0xAA
	f.Add(uint16(0), dos)
	f.Fuzz(func(t *testing.T, ss uint16, data []byte) {
		for _, size := range []int64{int64(len(data)), 1 << 30} {
			r := sparseReader{data: data}
			pt, err := ReadPartitionTable(r, size, int(ss))
			if err != nil {
				continue
			}
			for _, p := range pt.Partitions {
				if p.Size <= 0 || p.Start < 0 || p.Number <= 0 {
					t.Fatalf("nonsense partition %+v", p)
				}
			}
		}
	})
}
