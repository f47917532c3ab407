// Package blockdev finds the root block device inside an initramfs, where
// there is no udev, no /dev/disk/by-* symlinks and no blkid binary.
//
// It has four layers, each usable on its own:
//
//   - probes: ProbeFS reads filesystem superblocks (ext2/3/4, xfs, btrfs,
//     vfat, swap) and ReadPartitionTable reads GPT and DOS/MBR partition
//     tables, both over an io.ReaderAt, reporting types, labels and UUIDs
//     formatted the way blkid prints them;
//   - selectors: ParseSelector understands root= style device names
//     (LABEL=, UUID=, PARTLABEL=, PARTUUID=, /dev/disk/by-*/…, an iSCSI
//     disk's /dev/disk/by-path/ip-…-iscsi-…-lun-N, /dev/NAME)
//     and Match picks the one Device they name, with errors that list every
//     device seen;
//   - scanning: Scanner walks /sys/class/block, opens (or creates) the
//     /dev nodes and probes them, and names iSCSI disks as udev's path_id
//     does (Device.ByPath);
//   - waiting: Watcher listens for kernel block uevents and rescans until
//     the wanted device appears or the context ends;
//   - identity: ParseDeviceIdentification reads a SCSI disk's Device
//     Identification VPD page, UdevSCSIIdent derives the WWID udev and
//     multipath-tools give it (ID_SERIAL), ReadIdentity reads both from
//     sysfs, and GroupPaths/SameLUN tell the same LUN seen through two
//     sessions (Device.WWID) from two disks.
package blockdev
