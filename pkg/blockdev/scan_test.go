package blockdev

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeSys builds a fake sysfs tree below root.
type fakeSys struct {
	t    *testing.T
	root string
}

func (f fakeSys) write(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// device adds a device directory at devpath (below /sys) with a
// class/block symlink, as the kernel lays it out.
func (f fakeSys) device(devpath, dev string, sectors int64, partition int) {
	f.t.Helper()
	name := filepath.Base(devpath)
	f.write(filepath.Join(devpath, "dev"), dev)
	f.write(filepath.Join(devpath, "size"), itoa(sectors))
	f.write(filepath.Join(devpath, "ro"), "0")
	if partition > 0 {
		f.write(filepath.Join(devpath, "partition"), itoa(int64(partition)))
	} else {
		f.write(filepath.Join(devpath, "queue", "logical_block_size"), "512")
	}
	class := filepath.Join(f.root, "class", "block")
	if err := os.MkdirAll(class, 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "..", devpath), filepath.Join(class, name)); err != nil {
		f.t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestScanFakeTree(t *testing.T) {
	needTool(t, "mkfs.ext4")
	needTool(t, "mkfs.vfat")
	sysRoot := filepath.Join(t.TempDir(), "sys")
	devRoot := filepath.Join(t.TempDir(), "dev")
	if err := os.MkdirAll(devRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	fs := fakeSys{t, sysRoot}

	// An iSCSI disk sdb with a GPT: sdb1 ext4 "ISCSI-ROOT", sdb2 vfat.
	e1 := gptEntry("root", 34, 35)
	e2 := gptEntry("EFI System", 36, 37)
	e2[31] = 0x99
	gpt := buildGPT(512, [][128]byte{e1, e2})
	if err := os.WriteFile(filepath.Join(devRoot, "sdb"), gpt, 0o644); err != nil {
		t.Fatal(err)
	}
	ext4 := sparseFile(t, "ext4.img", 32<<20)
	run(t, "mkfs.ext4", "-q", "-F", "-L", "ISCSI-ROOT", "-U", "d0c4f7a2-7b1e-4b8e-9a55-0123456789ab", ext4)
	copyFile(t, ext4, filepath.Join(devRoot, "sdb1"))
	vfat := sparseFile(t, "vfat.img", 2<<20)
	run(t, "mkfs.vfat", "-n", "ESP", "-i", "0badf00d", vfat)
	// sdb2's node is missing: the scanner must mknod it.

	const scsiDisk = "devices/platform/host2/session1/target2:0:0/2:0:0:1/block/sdb"
	fs.device(scsiDisk, "8:16", int64(len(gpt))/512, 0)
	fs.device(scsiDisk+"/sdb1", "8:17", 32<<20/512, 1)
	fs.device(scsiDisk+"/sdb2", "8:18", 2<<20/512, 2)
	// The session's sysfs entries udev's path_id reads for by-path.
	fs.write("class/iscsi_session/session1/targetname", "iqn.2010-01.org.example:root")
	fs.write("class/iscsi_connection/connection1:0/persistent_address", "10.77.0.1")
	fs.write("class/iscsi_connection/connection1:0/persistent_port", "3260")
	fs.device("devices/virtual/block/loop0", "7:0", 0, 0)
	fs.device("devices/virtual/block/ram0", "1:0", 16384, 0)
	if err := os.WriteFile(filepath.Join(devRoot, "ram0"), make([]byte, 16384*512), 0o644); err != nil {
		t.Fatal(err)
	}
	// A whole-disk filesystem with no partition table and a look-alike
	// label.
	fs.device("devices/pci0000:00/0000:00:04.0/virtio1/block/vda", "253:0", 2<<20/512, 0)
	vda := sparseFile(t, "vda.img", 2<<20)
	run(t, "mkfs.vfat", "-n", "ISCSI_ROOT", "-i", "12345678", vda)
	copyFile(t, vda, filepath.Join(devRoot, "vda"))

	var mknods []string
	s := &Scanner{SysRoot: sysRoot, DevRoot: devRoot, Mknod: func(path string, major, minor uint32) error {
		mknods = append(mknods, path+" "+itoa(int64(major))+":"+itoa(int64(minor)))
		copyFile(t, vfat, path) // stands in for the real node
		return nil
	}}
	devs, err := s.Scan()
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if want := []string{filepath.Join(devRoot, "sdb2") + " 8:18"}; strings.Join(mknods, ",") != strings.Join(want, ",") {
		t.Errorf("mknod calls = %v, want %v", mknods, want)
	}
	var names []string
	for _, d := range devs {
		names = append(names, d.Name)
	}
	if got := strings.Join(names, " "); got != "sdb sdb1 sdb2 vda" {
		t.Fatalf("scanned %q, want \"sdb sdb1 sdb2 vda\" (loop0 has size 0, ram0 is empty)", got)
	}
	sdb, sdb1, sdb2, vdaDev := devs[0], devs[1], devs[2], devs[3]
	if sdb.PTType != "gpt" || sdb.PTUUID != "04030201-0605-0807-090a-0b0c0d0e0f10" || sdb.SCSIAddress != "2:0:0:1" ||
		sdb.Major != 8 || sdb.Minor != 16 || sdb.DevPath != "/"+scsiDisk || sdb.IsPartition() || sdb.ProbeError != "" {
		t.Errorf("sdb = %+v", sdb)
	}
	if sdb1.FSType != "ext4" || sdb1.Label != "ISCSI-ROOT" || sdb1.UUID != "d0c4f7a2-7b1e-4b8e-9a55-0123456789ab" ||
		sdb1.PartLabel != "root" || sdb1.PartUUID != "12345678-9abc-def0-0102-030405060708" || sdb1.Parent != "sdb" ||
		sdb1.PartNumber != 1 || sdb1.SCSIAddress != "2:0:0:1" || sdb1.Size != 32<<20 || sdb1.Path != filepath.Join(devRoot, "sdb1") {
		t.Errorf("sdb1 = %+v", sdb1)
	}
	if sdb2.FSType != "vfat" || sdb2.Label != "ESP" || sdb2.UUID != "0BAD-F00D" || sdb2.PartLabel != "EFI System" ||
		sdb2.PartUUID != "12345678-9abc-def0-0102-030405060799" {
		t.Errorf("sdb2 = %+v", sdb2)
	}
	const byPath = "ip-10.77.0.1:3260-iscsi-iqn.2010-01.org.example:root-lun-1"
	if sdb.ByPath != byPath || sdb1.ByPath != byPath+"-part1" || sdb2.ByPath != byPath+"-part2" {
		t.Errorf("by-path names: %q %q %q", sdb.ByPath, sdb1.ByPath, sdb2.ByPath)
	}
	if vdaDev.FSType != "vfat" || vdaDev.Label != "ISCSI_ROOT" || vdaDev.PTType != "" || vdaDev.SCSIAddress != "" || vdaDev.ByPath != "" {
		t.Errorf("vda = %+v", vdaDev)
	}

	for sel, want := range map[string]string{
		"LABEL=ISCSI-ROOT": "sdb1", "PARTLABEL=EFI System": "sdb2", "/dev/vda": "vda",
		"PARTUUID=12345678-9ABC-DEF0-0102-030405060708": "sdb1", "UUID=1234-5678": "vda",
		"/dev/disk/by-path/" + byPath: "sdb", "/dev/disk/by-path/" + byPath + "-part1": "sdb1",
	} {
		s, err := ParseSelector(sel)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Match(s, devs)
		if err != nil || d.Name != want {
			t.Errorf("Match(%s) = %v, %v; want %s", sel, d, err, want)
		}
	}
}

// A Scanner reads a device once: a later Scan reuses what the probe found
// while the device's number, size and diskseq stay, and probes again when
// one changes or the probe failed.
func TestScanRemembersProbes(t *testing.T) {
	needTool(t, "mkfs.vfat")
	sysRoot := filepath.Join(t.TempDir(), "sys")
	devRoot := t.TempDir()
	fs := fakeSys{t, sysRoot}
	const disk = "devices/platform/host0/session1/target0:0:0/0:0:0:1/block/sda"
	fs.device(disk, "8:0", 2<<20/512, 0)
	fs.write(disk+"/diskseq", "9")
	img := func(label string) {
		t.Helper()
		p := sparseFile(t, "vfat.img", 2<<20)
		run(t, "mkfs.vfat", "-n", label, p)
		copyFile(t, p, filepath.Join(devRoot, "sda"))
	}
	s := &Scanner{SysRoot: sysRoot, DevRoot: devRoot}
	label := func() string {
		t.Helper()
		devs, err := s.Scan()
		if err != nil || len(devs) != 1 {
			t.Fatalf("Scan = %+v, %v", devs, err)
		}
		return devs[0].Label + devs[0].ProbeError
	}

	img("FIRST")
	if got := label(); got != "FIRST" {
		t.Fatalf("first scan: label %q", got)
	}
	img("SECOND") // behind the kernel's back: the same disk to the scanner
	if got := label(); got != "FIRST" {
		t.Errorf("second scan read the device again: label %q, want the remembered FIRST", got)
	}
	fs.write(disk+"/diskseq", "10") // the disk reappeared
	if got := label(); got != "SECOND" {
		t.Errorf("after a new diskseq: label %q, want SECOND", got)
	}
	img("THIRD")
	fs.write(disk+"/size", itoa(1<<20/512)) // resized
	if got := label(); got != "THIRD" {
		t.Errorf("after a resize: label %q, want THIRD", got)
	}

	// A failed probe is not remembered.
	if err := os.Remove(filepath.Join(devRoot, "sda")); err != nil {
		t.Fatal(err)
	}
	fs.write(disk+"/diskseq", "11")
	if got := label(); !strings.Contains(got, "sda") {
		t.Errorf("without the node: %q, want the open error", got)
	}
	img("FOURTH")
	if got := label(); got != "FOURTH" {
		t.Errorf("after a failed probe: label %q, want FOURTH", got)
	}
}

func TestScanErrors(t *testing.T) {
	s := &Scanner{SysRoot: filepath.Join(t.TempDir(), "nosys"), DevRoot: t.TempDir()}
	if _, err := s.Scan(); err == nil || !strings.Contains(err.Error(), "sysfs") {
		t.Errorf("Scan without sysfs: %v", err)
	}
	// Missing node without mknod: recorded per device, scan goes on.
	sysRoot := t.TempDir()
	fakeSys{t, sysRoot}.device("devices/virtual/block/vdz", "253:9", 100, 0)
	s = &Scanner{SysRoot: sysRoot, DevRoot: t.TempDir()}
	devs, err := s.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || !strings.Contains(devs[0].ProbeError, "node missing") {
		t.Errorf("devs = %+v", devs)
	}
	if msg := devs[0].String(); !strings.Contains(msg, "probe error") {
		t.Errorf("String() = %q", msg)
	}
}

func TestIsSCSIAddress(t *testing.T) {
	for s, want := range map[string]bool{
		"2:0:0:1": true, "10:0:12:255": true,
		"": false, "2:0:0": false, "2:0:0:1:0": false, "2:0::1": false, "a:0:0:1": false,
		"target2:0:0": false, "host2": false, "2:0:0:1 ": false, "-1:0:0:1": false,
	} {
		if got := isSCSIAddress(s); got != want {
			t.Errorf("isSCSIAddress(%q) = %v, want %v", s, got, want)
		}
	}
}
