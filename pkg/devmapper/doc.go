// Package devmapper drives the kernel's device-mapper through its ioctl
// interface (/dev/mapper/control, <linux/dm-ioctl.h>), without
// libdevmapper, dmsetup or udev: what an initramfs needs to put a
// multipath map (or a linear one) over disks.
//
// It has two layers:
//
//   - encoding (ioctl.go, pure and tested anywhere): the dm_ioctl header,
//     target specs of a table, target messages, and the decoding of what
//     the kernel answers;
//   - Control (control_linux.go): one open control node and one method per
//     ioctl — Version, Create, Load, Resume, Suspend, Remove, Info
//     (DM_DEV_STATUS), Status and Table (DM_TABLE_STATUS), Message
//     (DM_TARGET_MSG) and Wait (DM_DEV_WAIT).
//
// Errors are *Error values naming the operation, the device and a hint.
// Device names and UUIDs follow the kernel's limits (127 and 128 bytes).
// Uevents are the kernel's own: no udev cookies are set, as there is no
// udev to wait for.
package devmapper
