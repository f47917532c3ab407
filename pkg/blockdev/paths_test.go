package blockdev

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestScanTwoPathsOneLUN: two sessions (hosts 2 and 3) show the same LUN
// as sdb and sdc. Both carry the root's label, so Match finds two devices;
// their WWIDs say they are one disk.
func TestScanTwoPathsOneLUN(t *testing.T) {
	needTool(t, "mkfs.ext4")
	sysRoot := filepath.Join(t.TempDir(), "sys")
	devRoot := filepath.Join(t.TempDir(), "dev")
	if err := os.MkdirAll(devRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	img := sparseFile(t, "lun.img", 8<<20)
	run(t, "mkfs.ext4", "-q", "-F", "-L", "ISCSI_ROOT", img)
	fs := fakeSys{t, sysRoot}
	page := string(lioPage())
	for i, name := range []string{"sdb", "sdc"} {
		host := []string{"host2/session1/target2:0:0/2:0:0:1", "host3/session2/target3:0:0/3:0:0:1"}[i]
		dev := "devices/platform/" + host
		fs.device(dev+"/block/"+name, []string{"8:16", "8:32"}[i], 8<<20/512, 0)
		// sysfs binary attributes have no trailing newline.
		if err := os.WriteFile(filepath.Join(sysRoot, dev, "vpd_pg83"), []byte(page), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../../../"+filepath.Base(dev), filepath.Join(sysRoot, dev, "block", name, "device")); err != nil {
			t.Fatal(err)
		}
		copyFile(t, img, filepath.Join(devRoot, name))
	}
	// A local disk without VPD stays alone.
	fs.device("devices/pci0000:00/0000:00:04.0/virtio1/block/vda", "254:0", 8, 0)
	if err := os.WriteFile(filepath.Join(devRoot, "vda"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}

	s := &Scanner{SysRoot: sysRoot, DevRoot: devRoot}
	devs, err := s.Scan()
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := ParseSelector("LABEL=ISCSI_ROOT")
	_, err = Match(sel, devs)
	var amb *AmbiguousError
	if !errors.As(err, &amb) {
		t.Fatalf("Match: %v, want an AmbiguousError", err)
	}
	t.Log(err)
	lun, ok := SameLUN(amb.Matches)
	if !ok || lun.WWID != "3"+naa6 || !lun.Multipath() || len(lun.Devices) != 2 {
		t.Fatalf("SameLUN = %+v, %v", lun, ok)
	}
	if d := lun.Disks(); len(d) != 2 || d[0] != "sdb" || d[1] != "sdc" {
		t.Errorf("Disks = %v", d)
	}
	groups := GroupPaths(devs)
	if len(groups) != 2 || groups[0].WWID != "3"+naa6 || groups[1].WWID != "" || groups[1].Devices[0].Name != "vda" {
		t.Errorf("GroupPaths = %+v", groups)
	}
}

func TestGroupPaths(t *testing.T) {
	devs := []Device{
		{Name: "sdb", WWID: "3600a"},
		{Name: "sdb1", Parent: "sdb", PartNumber: 1, WWID: "3600a"},
		{Name: "sdc", WWID: "3600a"},
		{Name: "sdc1", Parent: "sdc", PartNumber: 1, WWID: "3600a"},
		{Name: "sdd", WWID: "3600b"},
		{Name: "vda"},
		{Name: "vdb"},
	}
	g := GroupPaths(devs)
	if len(g) != 5 {
		t.Fatalf("GroupPaths = %+v", g)
	}
	if g[0].WWID != "3600a" || g[0].PartNumber != 0 || len(g[0].Devices) != 2 || g[1].PartNumber != 1 || len(g[1].Devices) != 2 {
		t.Errorf("groups of 3600a: %+v", g[:2])
	}
	if g[3].Devices[0].Name != "vda" || g[4].Devices[0].Name != "vdb" {
		t.Errorf("devices without WWID were grouped: %+v", g[3:])
	}
	if lun, ok := SameLUN([]Device{devs[1], devs[3]}); !ok || lun.PartNumber != 1 {
		t.Errorf("partitions of one LUN: %+v %v", lun, ok)
	} else if d := lun.Disks(); len(d) != 2 || d[0] != "sdb" || d[1] != "sdc" {
		t.Errorf("Disks of partitions = %v", d)
	}
	for _, tc := range [][]Device{
		{devs[0], devs[4]}, // two LUNs
		{devs[0], devs[1]}, // a disk and its partition
		{devs[5], devs[6]}, // no WWIDs
		{devs[0]},          // one path
		{devs[0], devs[2], devs[4]},
	} {
		if lun, ok := SameLUN(tc); ok {
			t.Errorf("SameLUN(%v) = %+v", tc, lun)
		}
	}
}
