package iscsi

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func mkfile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestScanAndFindBlockDevice(t *testing.T) {
	root := t.TempDir()
	scan := filepath.Join(root, "class/scsi_host/host5/scan")
	mkfile(t, scan, "")
	if err := Scan(root, 5, 3); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(scan); string(b) != "0 0 3" {
		t.Errorf("scan wrote %q", b)
	}
	if err := Scan(root, 6, 0); err == nil {
		t.Error("scan of a missing host succeeded")
	}

	if _, err := FindBlockDevice(os.DirFS(root), 5, 3); !errors.Is(err, ErrNoBlockDevice) {
		t.Errorf("err = %v, want ErrNoBlockDevice", err)
	}
	// Real sysfs: hostN/device -> .../hostN; sessions below it.
	dev := filepath.Join(root, "devices/platform/host5")
	mkfile(t, filepath.Join(dev, "session2/target5:0:0/5:0:0:3/block/sdc/size"), "2048")
	mkfile(t, filepath.Join(dev, "session2/target5:0:0/5:0:0:1/block/sdb/size"), "2048")
	if err := os.Symlink(dev, filepath.Join(root, "class/scsi_host/host5/device")); err != nil {
		t.Fatal(err)
	}
	for lun, want := range map[uint64]string{3: "sdc", 1: "sdb"} {
		if got, err := FindBlockDevice(os.DirFS(root), 5, lun); err != nil || got != want {
			t.Errorf("LUN %d: %q %v, want %s", lun, got, err, want)
		}
	}
	if _, err := FindBlockDevice(os.DirFS(root), 5, 2); !errors.Is(err, ErrNoBlockDevice) {
		t.Errorf("LUN 2: %v", err)
	}
	mkfile(t, filepath.Join(dev, "session2/target5:0:0/5:0:0:3/block/sdd/size"), "1")
	if _, err := FindBlockDevice(os.DirFS(root), 5, 3); err == nil {
		t.Error("two block devices accepted")
	}
}

func TestSetScheduler(t *testing.T) {
	root := t.TempDir()
	if err := SetScheduler(root, "sda", "none"); err != nil {
		t.Errorf("missing attribute: %v", err)
	}
	p := filepath.Join(root, "block/sda/queue/scheduler")
	mkfile(t, p, "[mq-deadline] none")
	if err := SetScheduler(root, "sda", ""); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "none" {
		t.Errorf("wrote %q", b)
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if err := SetScheduler(root, bad, "none"); err == nil {
			t.Errorf("device %q accepted", bad)
		}
	}
}
