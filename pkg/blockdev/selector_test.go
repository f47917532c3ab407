package blockdev

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in    string
		kind  SelectorKind
		value string
	}{
		{"LABEL=ISCSI-ROOT", ByLabel, "ISCSI-ROOT"},
		{"label=root fs", ByLabel, "root fs"},
		{"UUID=D0C4F7A2-7B1E-4B8E-9A55-0123456789AB", ByUUID, "D0C4F7A2-7B1E-4B8E-9A55-0123456789AB"},
		{"PARTLABEL=EFI System", ByPartLabel, "EFI System"},
		{"PARTUUID=5a6b7c8d-02", ByPartUUID, "5a6b7c8d-02"},
		{"LABEL=a=b", ByLabel, "a=b"},
		// dracut's label_uuid_to_dev puts a LABEL='s value into the
		// by-label link name as it is, so udev's escapes mean the same.
		{`LABEL=My\x20Root`, ByLabel, "My Root"},
		{`PARTLABEL=EFI\x20System`, ByPartLabel, "EFI System"},
		{`LABEL=a\x5cx20b`, ByLabel, `a\x20b`},
		{"/dev/disk/by-label/ISCSI-ROOT", ByLabel, "ISCSI-ROOT"},
		{`/dev/disk/by-label/my\x2flabel\x20x`, ByLabel, "my/label x"},
		{"/dev/disk/by-uuid/1234-ABCD", ByUUID, "1234-ABCD"},
		{`/dev/disk/by-partlabel/EFI\x20System`, ByPartLabel, "EFI System"},
		{"/dev/disk/by-partuuid/5a6b7c8d-02", ByPartUUID, "5a6b7c8d-02"},
		{"/dev/sda2", ByName, "sda2"},
		{"/dev/vdb", ByName, "vdb"},
		{"/dev/nvme0n1p3", ByName, "nvme0n1p3"},
		{"/dev/cciss/c0d0p1", ByName, "cciss!c0d0p1"},
		{"/dev/etherd/e0.1p1", ByName, "etherd!e0.1p1"},
		{"/dev/disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.2010-01.org.example:root-lun-1", ByPath, "ip-10.0.0.1:3260-iscsi-iqn.2010-01.org.example:root-lun-1"},
		{"/dev/disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.2010-01.org.example:root-lun-1-part2", ByPath, "ip-10.0.0.1:3260-iscsi-iqn.2010-01.org.example:root-lun-1-part2"},
	}
	for _, tt := range tests {
		s, err := ParseSelector(tt.in)
		if err != nil {
			t.Errorf("ParseSelector(%q): %v", tt.in, err)
			continue
		}
		if s.Kind != tt.kind || s.Value != tt.value || s.String() != tt.in {
			t.Errorf("ParseSelector(%q) = %+v (String %q), want %v %q", tt.in, s, s.String(), tt.kind, tt.value)
		}
	}
}

func TestParseSelectorErrors(t *testing.T) {
	// LVM's /dev/<vg>/<lv> and device-mapper's names are links no scan
	// finds: refused as such.
	for _, in := range []string{"/dev/mapper/vg-root", "/dev/rhel/root", "/dev/vg0/lv_root", "/dev/md/root", "/dev/a/b/c"} {
		_, err := ParseSelector(in)
		if !errors.Is(err, ErrMappedName) || !errors.Is(err, ErrBadSelector) || !strings.Contains(err.Error(), "LVM") {
			t.Errorf("ParseSelector(%q): %v, want ErrMappedName", in, err)
		}
	}
	for _, in := range []string{
		"", "LABEL=", "FOO=bar", "sda1", "/dev/", "/dev/disk/by-path/pci-0000:00:1f.2-ata-1",
		"/dev/disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.x-lun-01", "/dev/disk/by-id/wwn-0x5000",
		"/dev/disk/by-label/", `/dev/disk/by-label/a\x2`, `LABEL=C:\Windows`, `PARTLABEL=a\x2`, `/dev/disk/by-label/a\y20`, `/dev/disk/by-label/a\xZZ`,
		"/dev/disk/by-label/a/b", "/dev/../etc/passwd", "/dev/mapper/vg-root", "PARTUUID=abc/PARTNROFF=1",
	} {
		s, err := ParseSelector(in)
		if err == nil {
			t.Errorf("ParseSelector(%q) = %+v, want error", in, s)
			continue
		}
		if !errors.Is(err, ErrBadSelector) {
			t.Errorf("ParseSelector(%q) error %v does not wrap ErrBadSelector", in, err)
		}
	}
}

var testDevices = []Device{
	{Name: "sda", Path: "/dev/sda", Size: 20 << 30, PTType: "gpt", PTUUID: "8c4e1d52-3f0a-4a2b-9e3c-1d2e3f405162", SCSIAddress: "2:0:0:1"},
	{Name: "sda1", Path: "/dev/sda1", Size: 512 << 20, FSType: "vfat", Label: "EFI", UUID: "0BAD-F00D", Parent: "sda", PartNumber: 1,
		PartLabel: "EFI System", PartUUID: "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9", SCSIAddress: "2:0:0:1"},
	{Name: "sda2", Path: "/dev/sda2", Size: 19 << 30, FSType: "ext4", Label: "ISCSI-ROOT", UUID: "d0c4f7a2-7b1e-4b8e-9a55-0123456789ab",
		Parent: "sda", PartNumber: 2, PartLabel: "root", PartUUID: "11223344-5566-4788-99aa-bbccddeeff00", SCSIAddress: "2:0:0:1"},
	{Name: "sdb", Path: "/dev/sdb", Size: 10 << 30, FSType: "xfs", Label: "data", UUID: "a3c1e0b4-5d6f-4a7b-8c9d-0e1f2a3b4c5d"},
	{Name: "sdc", Path: "/dev/sdc", Size: 10 << 30, FSType: "xfs", Label: "data", UUID: "b3c1e0b4-5d6f-4a7b-8c9d-0e1f2a3b4c5d"},
}

func TestMatch(t *testing.T) {
	tests := []struct {
		sel  string
		want string
	}{
		{"LABEL=ISCSI-ROOT", "sda2"},
		{"UUID=D0C4F7A2-7B1E-4B8E-9A55-0123456789AB", "sda2"},
		{"UUID=0bad-f00d", "sda1"},
		{"PARTLABEL=EFI System", "sda1"},
		{"PARTUUID=11223344-5566-4788-99AA-BBCCDDEEFF00", "sda2"},
		{"/dev/disk/by-partlabel/EFI\\x20System", "sda1"},
		{"/dev/sdb", "sdb"},
		{"/dev/sda", "sda"},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.sel)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Match(sel, testDevices)
		if err != nil {
			t.Errorf("Match(%s): %v", tt.sel, err)
			continue
		}
		if d.Name != tt.want {
			t.Errorf("Match(%s) = %s, want %s", tt.sel, d.Name, tt.want)
		}
	}
}

func TestMatchNotFoundListsEverything(t *testing.T) {
	sel, _ := ParseSelector("LABEL=ISCSI_ROOT")
	_, err := Match(sel, testDevices)
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want *NotFoundError", err)
	}
	if len(nf.Seen) != len(testDevices) {
		t.Errorf("Seen has %d devices, want %d", len(nf.Seen), len(testDevices))
	}
	msg := err.Error()
	for _, want := range []string{
		"no block device matches LABEL=ISCSI_ROOT",
		`/dev/sda2 19G ext4 LABEL="ISCSI-ROOT" UUID="d0c4f7a2-7b1e-4b8e-9a55-0123456789ab" PARTLABEL="root" PARTUUID="11223344-5566-4788-99aa-bbccddeeff00" [scsi 2:0:0:1]`,
		`/dev/sda 20G (gpt partition table)`,
		`/dev/sda1 512M vfat LABEL="EFI" UUID="0BAD-F00D"`,
		`/dev/sdc 10G xfs LABEL="data"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Count(msg, "\n") != len(testDevices) {
		t.Errorf("want one line per device:\n%s", msg)
	}
	_, err = Match(sel, nil)
	if err == nil || !strings.Contains(err.Error(), "no block devices at all") {
		t.Errorf("empty scan: %v", err)
	}
}

func TestMatchAmbiguous(t *testing.T) {
	sel, _ := ParseSelector("LABEL=data")
	_, err := Match(sel, testDevices)
	var amb *AmbiguousError
	if !errors.As(err, &amb) {
		t.Fatalf("err = %v, want *AmbiguousError", err)
	}
	if len(amb.Matches) != 2 || !strings.Contains(err.Error(), "/dev/sdb ") || !strings.Contains(err.Error(), "/dev/sdc ") {
		t.Errorf("ambiguous error: %v", err)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 512: "512B", 1024: "1K", 1536: "1.5K", 20 << 30: "20G", 3 << 40: "3T"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFSModule(t *testing.T) {
	for in, want := range map[string]string{"ext2": "ext4", "ext3": "ext4", "ext4": "ext4", "xfs": "xfs", "btrfs": "btrfs", "vfat": "vfat",
		"swap": "", "": "", "jbd": "", "f2fs": ""} {
		if got := FSModule(in); got != want {
			t.Errorf("FSModule(%q) = %q, want %q", in, got, want)
		}
	}
	if got := strings.Join(FSModules(), " "); got != "ext4 xfs btrfs vfat" {
		t.Errorf("FSModules = %s", got)
	}
}

// TestFilesystemsProbed: every supported root filesystem is one ProbeFS
// reports (FSInfo.Type; TestProbeFSAgainstMkfs proves each), or LABEL=
// and UUID= could never find it.
func TestFilesystemsProbed(t *testing.T) {
	probed := map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "vfat": true}
	for _, f := range Filesystems() {
		if !probed[f.Type] {
			t.Errorf("%s is in the filesystem table but ProbeFS does not recognise it", f.Type)
		}
	}
}

func TestISCSIPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		want ISCSIPath
	}{
		{"ip-10.0.0.1:3260-iscsi-iqn.2010-01.org.example:root-lun-0", ISCSIPath{Address: "10.0.0.1", Port: 3260, Target: "iqn.2010-01.org.example:root"}},
		{"ip-fd00::1:3261-iscsi-iqn.2010-01.org.example:a-lun-b-lun-255-part3", ISCSIPath{Address: "fd00::1", Port: 3261, Target: "iqn.2010-01.org.example:a-lun-b", LUN: 255, Part: 3}},
		{"ip-my-iscsi-server:3260-iscsi-naa.1234-iscsi-x-lun-0x0001000100000000", ISCSIPath{Address: "my-iscsi-server", Port: 3260, Target: "naa.1234-iscsi-x", LUN: 65537}},
	} {
		got, err := ParseISCSIPath(tc.name)
		if err != nil || got != tc.want {
			t.Errorf("ParseISCSIPath(%q) = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
		if s := tc.want.String(); s != tc.name {
			t.Errorf("String() = %q, want %q", s, tc.name)
		}
	}
	for _, bad := range []string{"", "pci-0000:00:1f.2-ata-1", "ip-10.0.0.1-iscsi-t-lun-0", "ip-10.0.0.1:3260-iscsi--lun-0",
		"ip-10.0.0.1:3260-iscsi-t-lun-256", "ip-10.0.0.1:3260-iscsi-t-lun-00", "ip-10.0.0.1:3260-iscsi-t-lun-0-part0",
		"ip-10.0.0.1:99999-iscsi-t-lun-0", "ip-[fd00::1]:3260-iscsi-t-lun-0", "ip-fd00::zz:3260-iscsi-t-lun-0"} {
		if p, err := ParseISCSIPath(bad); err == nil {
			t.Errorf("ParseISCSIPath(%q) = %+v, want an error", bad, p)
		}
	}
}

func TestDeviceSCSI(t *testing.T) {
	h, c, tg, l, ok := Device{SCSIAddress: "3:0:1:7"}.SCSI()
	if !ok || h != 3 || c != 0 || tg != 1 || l != 7 {
		t.Errorf("SCSI() = %d %d %d %d %v", h, c, tg, l, ok)
	}
	if _, _, _, _, ok := (Device{SCSIAddress: "3:x:1:7"}).SCSI(); ok {
		t.Error("bad address parsed")
	}
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"LABEL=x", `/dev/disk/by-label/a\x2fb`, "/dev/sda1", "PARTUUID=12345678-01", `\x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		if sel.Value == "" || sel.Kind < ByLabel || sel.Kind > ByPath {
			t.Fatalf("ParseSelector(%q) = %+v", s, sel)
		}
		// Written out afresh (a plan's Root.Spec), it reads back the same.
		if sel.Kind != ByName {
			again, err := ParseSelector(Selector{Kind: sel.Kind, Value: sel.Value}.String())
			if err != nil || again.Kind != sel.Kind || again.Value != sel.Value {
				t.Fatalf("ParseSelector(%q) = %+v, which reads back as %+v, %v", s, sel, again, err)
			}
		}
		_, _ = Match(sel, testDevices)
	})
}
