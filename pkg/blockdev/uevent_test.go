package blockdev

import (
	"errors"
	"strings"
	"testing"
)

// Messages as the kernel sends them (recorded from an iSCSI login and a
// loop device on Linux 6.x).
var (
	ueventSCSIDisk = "add@/devices/platform/host2/session1/target2:0:0/2:0:0:1/block/sdb\x00" +
		"ACTION=add\x00DEVPATH=/devices/platform/host2/session1/target2:0:0/2:0:0:1/block/sdb\x00" +
		"SUBSYSTEM=block\x00MAJOR=8\x00MINOR=16\x00DEVNAME=sdb\x00DEVTYPE=disk\x00DISKSEQ=9\x00SEQNUM=2345\x00"
	ueventPartition = "add@/devices/platform/host2/session1/target2:0:0/2:0:0:1/block/sdb/sdb1\x00" +
		"ACTION=add\x00DEVPATH=/devices/platform/host2/session1/target2:0:0/2:0:0:1/block/sdb/sdb1\x00" +
		"SUBSYSTEM=block\x00MAJOR=8\x00MINOR=17\x00DEVNAME=sdb1\x00DEVTYPE=partition\x00DISKSEQ=9\x00PARTN=1\x00PARTNAME=root\x00SEQNUM=2346\x00"
	ueventLoopChange = "change@/devices/virtual/block/loop3\x00ACTION=change\x00DEVPATH=/devices/virtual/block/loop3\x00" +
		"SUBSYSTEM=block\x00MAJOR=7\x00MINOR=3\x00DEVNAME=loop3\x00DEVTYPE=disk\x00DISKSEQ=31\x00SEQNUM=5001"
	ueventSCSIDevice = "bind@/devices/platform/host2/session1/target2:0:0/2:0:0:1\x00ACTION=bind\x00" +
		"DEVPATH=/devices/platform/host2/session1/target2:0:0/2:0:0:1\x00SUBSYSTEM=scsi\x00DEVTYPE=scsi_device\x00DRIVER=sd\x00SEQNUM=2347\x00"
	ueventLibudev = "libudev\x00\xfe\xed\xca\xfe\x28\x00\x00\x00ACTION=add\x00DEVPATH=/devices/virtual/block/loop0\x00SUBSYSTEM=block\x00"
)

func TestParseUevent(t *testing.T) {
	tests := []struct {
		msg                          string
		action, devname, devtype, ss string
		arrival                      bool
	}{
		{ueventSCSIDisk, "add", "sdb", "disk", "block", true},
		{ueventPartition, "add", "sdb1", "partition", "block", true},
		{ueventLoopChange, "change", "loop3", "disk", "block", true},
		{ueventSCSIDevice, "bind", "", "scsi_device", "scsi", false},
	}
	for _, tt := range tests {
		ev, err := ParseUevent([]byte(tt.msg))
		if err != nil {
			t.Errorf("ParseUevent(%q): %v", tt.msg[:30], err)
			continue
		}
		if ev.Action != tt.action || ev.DevName != tt.devname || ev.DevType != tt.devtype || ev.Subsystem != tt.ss ||
			ev.IsBlockArrival() != tt.arrival || !strings.HasPrefix(ev.DevPath, "/devices/") || ev.Env["SEQNUM"] == "" {
			t.Errorf("ParseUevent(%q) = %+v", tt.msg[:30], ev)
		}
	}
	ev, _ := ParseUevent([]byte(ueventPartition))
	if ev.Env["PARTNAME"] != "root" || ev.Env["MAJOR"] != "8" {
		t.Errorf("env = %v", ev.Env)
	}
}

func TestParseUeventRejects(t *testing.T) {
	if _, err := ParseUevent([]byte(ueventLibudev)); !errors.Is(err, ErrNotKernelUevent) {
		t.Errorf("libudev message: err = %v", err)
	}
	for _, msg := range []string{
		"",
		"\x00\x00",
		"add@/devices/x",
		"add/devices/x\x00ACTION=add\x00DEVPATH=/devices/x\x00SUBSYSTEM=block",
		"add@/devices/x\x00ACTION=add\x00DEVPATH=/devices/x",
		"add@/devices/x\x00ACTION=add\x00garbage\x00DEVPATH=/devices/x\x00SUBSYSTEM=block",
		"add@/devices/x\x00ACTION=remove\x00DEVPATH=/devices/x\x00SUBSYSTEM=block",
		"add@/devices/x\x00ACTION=add\x00DEVPATH=/devices/y\x00SUBSYSTEM=block",
		"add@/devices/x\x00ACTION=add\x00DEVPATH=/devices/x\x00SUBSYSTEM=block\x00" + strings.Repeat("A=B\x00", 3000),
	} {
		if ev, err := ParseUevent([]byte(msg)); err == nil {
			t.Errorf("ParseUevent(%q) = %+v, want error", msg, ev)
		}
	}
}

func FuzzParseUevent(f *testing.F) {
	for _, s := range []string{ueventSCSIDisk, ueventPartition, ueventLoopChange, ueventSCSIDevice, ueventLibudev, "", "a@/b\x00=\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		ev, err := ParseUevent(msg)
		if err != nil {
			return
		}
		if ev.Action == "" || ev.DevPath == "" || ev.Subsystem == "" || ev.Env == nil {
			t.Fatalf("incomplete event %+v", ev)
		}
	})
}
