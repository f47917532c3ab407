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
//     (LABEL=, UUID=, PARTLABEL=, PARTUUID=, /dev/disk/by-*/…, /dev/NAME)
//     and Match picks the one Device they name, with errors that list every
//     device seen;
//   - scanning: Scanner walks /sys/class/block, opens (or creates) the
//     /dev nodes and probes them;
//   - waiting: Watcher listens for kernel block uevents and rescans until
//     the wanted device appears or the context ends.
package blockdev
