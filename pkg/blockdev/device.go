package blockdev

import (
	"fmt"
	"strconv"
	"strings"
)

// Device is a block device (whole disk or partition) as seen by a scan.
type Device struct {
	// Name is the kernel name, e.g. "sda2" ("cciss!c0d0p1" style names
	// keep the "!").
	Name string
	// Path is the device node, e.g. "/dev/sda2".
	Path string
	// Major and Minor are the device numbers from sysfs "dev".
	Major, Minor uint32
	// Size is in bytes.
	Size int64
	// ReadOnly is true when sysfs "ro" says 1.
	ReadOnly bool

	// FSType, Label and UUID describe the filesystem, as blkid prints
	// TYPE, LABEL and UUID; empty if none was recognised.
	FSType, Label, UUID string

	// PTType and PTUUID describe the partition table of a whole disk
	// ("gpt"/"dos"); empty for partitions and unpartitioned disks.
	PTType, PTUUID string

	// Parent is the disk a partition belongs to ("sda"); empty for disks.
	Parent string
	// PartNumber is the partition number (2 for sda2); 0 for disks.
	PartNumber int
	// PartLabel and PartUUID come from the parent's partition table.
	PartLabel, PartUUID string

	// DevPath is the sysfs path below /sys, e.g.
	// "/devices/platform/host2/session1/target2:0:0/2:0:0:1/block/sdb".
	DevPath string
	// SCSIAddress is "H:C:T:L" when the device (or its disk) sits on a
	// SCSI host, e.g. an iSCSI session; empty otherwise.
	SCSIAddress string
	// ByPath is the name of the device's /dev/disk/by-path/ link as
	// udev's path_id makes it for a disk of an iSCSI session (and
	// "-part<n>" for its partitions), e.g.
	// "ip-10.0.0.1:3260-iscsi-iqn.2010-01.org.example:root-lun-1";
	// empty for other devices.
	ByPath string
	// WWID identifies the logical unit of a SCSI disk (and of its
	// partitions) the way multipath-tools does (udev's ID_SERIAL, see
	// ReadIdentity): the same LUN reached through two sessions has the
	// same WWID. Empty when the disk reports none.
	WWID string

	// ProbeError says why probing failed (open error, bad checksum), so
	// that listings can show it; empty when probing worked or simply
	// found nothing.
	ProbeError string
}

// IsPartition reports whether d is a partition.
func (d Device) IsPartition() bool { return d.PartNumber > 0 }

// SCSI splits SCSIAddress into host, channel, target and LUN. ok is false
// when the device has no SCSI address.
func (d Device) SCSI() (host, channel, target, lun int, ok bool) {
	return parseSCSIAddress(d.SCSIAddress)
}

func parseSCSIAddress(s string) (host, channel, target, lun int, ok bool) {
	f := strings.Split(s, ":")
	if len(f) != 4 {
		return 0, 0, 0, 0, false
	}
	var n [4]int
	for i, x := range f {
		v, err := strconv.Atoi(x)
		if err != nil || v < 0 {
			return 0, 0, 0, 0, false
		}
		n[i] = v
	}
	return n[0], n[1], n[2], n[3], true
}

// String gives a one-line summary used in error listings, e.g.
//
//	/dev/sdb1 20G ext4 LABEL="ISCSI-ROOT" UUID="…" PARTLABEL="root" PARTUUID="…" [scsi 2:0:0:1]
func (d Device) String() string {
	var b strings.Builder
	path := d.Path
	if path == "" {
		path = "/dev/" + d.Name
	}
	fmt.Fprintf(&b, "%s %s", path, HumanSize(d.Size))
	switch {
	case d.FSType != "":
		b.WriteString(" " + d.FSType)
	case d.PTType != "":
		b.WriteString(" (" + d.PTType + " partition table)")
	default:
		b.WriteString(" (no filesystem)")
	}
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
	}
	field("LABEL", d.Label)
	field("UUID", d.UUID)
	field("PARTLABEL", d.PartLabel)
	field("PARTUUID", d.PartUUID)
	field("PTUUID", d.PTUUID)
	switch {
	case d.SCSIAddress != "" && d.WWID != "":
		fmt.Fprintf(&b, " [scsi %s wwid %s]", d.SCSIAddress, d.WWID)
	case d.SCSIAddress != "":
		fmt.Fprintf(&b, " [scsi %s]", d.SCSIAddress)
	}
	if d.ByPath != "" {
		fmt.Fprintf(&b, " by-path/%s", d.ByPath)
	}
	if d.ProbeError != "" {
		fmt.Fprintf(&b, " (probe error: %s)", d.ProbeError)
	}
	return b.String()
}
