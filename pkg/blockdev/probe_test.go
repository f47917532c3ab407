package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

func TestProbeFSAgainstMkfs(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		name      string
		size      int64
		mkfs      string
		args      []string // image path is appended
		wantType  string
		wantLabel string
		wantUUID  string
	}{
		{"ext2", 16 * MiB, "mkfs.ext2", []string{"-q", "-F", "-L", "ISCSI-ROOT", "-U", "6a1f0c2e-9d1b-4c1e-8f5a-1b2c3d4e5f60"}, "ext2", "ISCSI-ROOT", "6a1f0c2e-9d1b-4c1e-8f5a-1b2c3d4e5f60"},
		{"ext3", 16 * MiB, "mkfs.ext3", []string{"-q", "-F", "-L", "root3", "-U", "0f0e0d0c-0b0a-0908-0706-050403020100"}, "ext3", "root3", "0f0e0d0c-0b0a-0908-0706-050403020100"},
		{"ext4", 32 * MiB, "mkfs.ext4", []string{"-q", "-F", "-L", "ISCSI-ROOT", "-U", "d0c4f7a2-7b1e-4b8e-9a55-0123456789ab"}, "ext4", "ISCSI-ROOT", "d0c4f7a2-7b1e-4b8e-9a55-0123456789ab"},
		{"ext4-nocsum", 32 * MiB, "mkfs.ext4", []string{"-q", "-F", "-O", "^metadata_csum", "-L", "x", "-U", "11111111-2222-3333-4444-555555555555"}, "ext4", "x", "11111111-2222-3333-4444-555555555555"},
		{"ext4-no-label", 32 * MiB, "mkfs.ext4", []string{"-q", "-F", "-U", "11111111-2222-3333-4444-555555555555"}, "ext4", "", "11111111-2222-3333-4444-555555555555"},
		{"xfs", 320 * MiB, "mkfs.xfs", []string{"-q", "-f", "-L", "xfsroot", "-m", "uuid=a3c1e0b4-5d6f-4a7b-8c9d-0e1f2a3b4c5d"}, "xfs", "xfsroot", "a3c1e0b4-5d6f-4a7b-8c9d-0e1f2a3b4c5d"},
		{"btrfs", 256 * MiB, "mkfs.btrfs", []string{"-q", "-f", "-L", "btrfs-root", "-U", "5b8d2c4e-1f3a-4b6c-9d8e-7f6a5b4c3d2e"}, "btrfs", "btrfs-root", "5b8d2c4e-1f3a-4b6c-9d8e-7f6a5b4c3d2e"},
		{"fat12", 2 * MiB, "mkfs.vfat", []string{"-F", "12", "-n", "EFI12", "-i", "1234abcd"}, "vfat", "EFI12", "1234-ABCD"},
		{"fat16", 32 * MiB, "mkfs.vfat", []string{"-F", "16", "-n", "BOOT16", "-i", "deadbeef"}, "vfat", "BOOT16", "DEAD-BEEF"},
		{"fat32", 64 * MiB, "mkfs.vfat", []string{"-F", "32", "-n", "ESP", "-i", "0badf00d"}, "vfat", "ESP", "0BAD-F00D"},
		{"fat32-nolabel", 64 * MiB, "mkfs.vfat", []string{"-F", "32", "-i", "0badf00d"}, "vfat", "", "0BAD-F00D"},
		{"swap", 8 * MiB, "mkswap", []string{"-L", "swp", "-U", "99999999-8888-7777-6666-555555555555"}, "swap", "swp", "99999999-8888-7777-6666-555555555555"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			needTool(t, tt.mkfs)
			img := sparseFile(t, tt.name+".img", tt.size)
			run(t, tt.mkfs, append(tt.args, img)...)
			f, size := openImage(t, img)
			info, err := ProbeFS(f, size)
			if err != nil {
				t.Fatalf("ProbeFS: %v", err)
			}
			if info.Type != tt.wantType || info.Label != tt.wantLabel || info.UUID != tt.wantUUID {
				t.Errorf("ProbeFS = %+v, want type %q label %q uuid %q", *info, tt.wantType, tt.wantLabel, tt.wantUUID)
			}
			if b := blkidExport(t, img); b != nil {
				if b["TYPE"] != info.Type || b["LABEL"] != info.Label || b["UUID"] != info.UUID {
					t.Errorf("blkid says TYPE=%q LABEL=%q UUID=%q; we say %+v", b["TYPE"], b["LABEL"], b["UUID"], *info)
				}
			}
		})
	}
}

func TestProbeFSCorruptChecksum(t *testing.T) {
	needTool(t, "mkfs.ext4")
	img := sparseFile(t, "ext4.img", 32<<20)
	run(t, "mkfs.ext4", "-q", "-F", "-L", "x", img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	b[1024+0x78] ^= 0xFF // flip a label byte: checksum must now fail
	_, err = ProbeFS(bytes.NewReader(b), int64(len(b)))
	if !errors.Is(err, ErrProbeFailed) {
		t.Fatalf("ProbeFS on corrupt ext4 = %v, want ErrProbeFailed", err)
	}
}

func TestProbeFSNothing(t *testing.T) {
	for _, size := range []int64{0, 100, 512, 4096, 1 << 20} {
		_, err := ProbeFS(bytes.NewReader(make([]byte, size)), size)
		if !errors.Is(err, ErrNoFilesystem) {
			t.Errorf("size %d: ProbeFS(zeros) = %v, want ErrNoFilesystem", size, err)
		}
	}
	// A size larger than the reader: reads fail and must not panic.
	_, err := ProbeFS(bytes.NewReader(make([]byte, 10)), 1<<30)
	if err == nil {
		t.Error("ProbeFS on short reader succeeded")
	}
}

// TestProbeExtClassification checks the ext2/3/4 feature logic on
// synthetic superblocks (no checksum feature set).
func TestProbeExtClassification(t *testing.T) {
	tests := []struct {
		compat, incompat, ro uint32
		want                 string
	}{
		{0, 0x2, 0x1, "ext2"},
		{0x4, 0x2, 0x3, "ext3"},
		{0x4, 0x2 | 0x40, 0x1, "ext4"}, // extents
		{0x0, 0x2 | 0x40, 0x1, "ext4"}, // ext4 without journal
		{0x4, 0x2, 0x8, "ext4"},        // huge_file
		{0x0, 0x8, 0, "jbd"},
	}
	for _, tt := range tests {
		img := make([]byte, 8192)
		sb := img[1024:]
		binary.LittleEndian.PutUint16(sb[0x38:], 0xEF53)
		binary.LittleEndian.PutUint32(sb[0x5C:], tt.compat)
		binary.LittleEndian.PutUint32(sb[0x60:], tt.incompat)
		binary.LittleEndian.PutUint32(sb[0x64:], tt.ro)
		copy(sb[0x78:], "lbl")
		info, err := ProbeFS(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatalf("%+v: %v", tt, err)
		}
		if info.Type != tt.want || info.Label != "lbl" {
			t.Errorf("%+v: got %+v, want %s", tt, *info, tt.want)
		}
	}
}

// sparseReader is a large virtual device of zeros with data placed at off.
type sparseReader struct {
	off  int64
	data []byte
}

func (s sparseReader) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	// Overlap of [off, off+len(p)) with [s.off, s.off+len(s.data)).
	lo, hi := max(off, s.off), min(off+int64(len(p)), s.off+int64(len(s.data)))
	if lo < hi {
		copy(p[lo-off:hi-off], s.data[lo-s.off:hi-s.off])
	}
	return len(p), nil
}

func FuzzProbe(f *testing.F) {
	ext := make([]byte, 2048)
	binary.LittleEndian.PutUint16(ext[1024+0x38:], 0xEF53)
	f.Add(uint8(0), ext)
	f.Add(uint8(0), append([]byte("XFSB\x00\x00\x10\x00"), make([]byte, 600)...))
	btr := make([]byte, 4096)
	copy(btr[0x40:], "_BHRfS_M")
	f.Add(uint8(2), btr)
	fat := make([]byte, 512)
	copy(fat, []byte{0xEB, 0x3C, 0x90})
	binary.LittleEndian.PutUint16(fat[0x0B:], 512)
	fat[0x0D], fat[0x0E], fat[0x10], fat[0x15], fat[0x16] = 1, 1, 2, 0xF8, 1
	binary.LittleEndian.PutUint16(fat[0x11:], 512)
	binary.LittleEndian.PutUint16(fat[0x13:], 4096)
	fat[510], fat[511] = 0x55, 0xAA
	f.Add(uint8(0), fat)
	swp := make([]byte, 4096)
	copy(swp[4086:], "SWAPSPACE2")
	f.Add(uint8(0), swp)
	f.Fuzz(func(t *testing.T, where uint8, data []byte) {
		offs := []int64{0, 1024, 0x10000, 4096}
		r := sparseReader{off: offs[int(where)%len(offs)], data: data}
		for _, size := range []int64{int64(len(data)), 1 << 20, 1 << 40} {
			info, err := ProbeFS(r, size)
			if err == nil && info.Type == "" {
				t.Fatalf("success without a type")
			}
		}
		_, _ = ProbeFS(bytes.NewReader(data), int64(len(data)))
	})
}
