package iscsi

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netroot/netroot/pkg/sysfs"
)

// AllLUNs asks Scan for every LUN the target reports (REPORT LUNS).
const AllLUNs = ^uint64(0)

// Scan asks the kernel to scan only one LUN of an iSCSI host by writing
// "0 0 <lun>" (channel, target id, LUN) to
// <root>/class/scsi_host/host<hostNo>/scan (root is where sysfs is
// mounted), or every LUN ("0 0 -") for AllLUNs. It does not wait for the
// disk: the caller waits for the block device uevent.
func Scan(root string, hostNo uint32, lun uint64) error {
	return ScanWith(sysfs.FS{Root: root}.Write, hostNo, lun)
}

// ScanWith is Scan through write, which writes value to the file rel
// under sysfs's root: for a caller that reaches sysfs by a directory
// descriptor (the keeper, after switch_root).
func ScanWith(write func(rel, value string) error, hostNo uint32, lun uint64) error {
	rel := filepath.Join("class", "scsi_host", "host"+strconv.FormatUint(uint64(hostNo), 10), "scan")
	which, what := strconv.FormatUint(lun, 10), "LUN "+strconv.FormatUint(lun, 10)
	if lun == AllLUNs {
		which, what = "-", "every LUN"
	}
	if err := write(rel, "0 0 "+which); err != nil {
		return fmt.Errorf("iscsi: scan %s on host%d: %w", what, hostNo, err)
	}
	return nil
}

// ErrNoBlockDevice reports that the LUN has no block device (yet).
var ErrNoBlockDevice = errors.New("iscsi: no block device for LUN")

// FindBlockDevice returns the block device name (e.g. "sda") of LUN lun on
// SCSI host hostNo, looking under
// class/scsi_host/host<N>/device/session*/target<N>:0:0/<N>:0:0:<lun>/block/
// of sys, rooted where sysfs is mounted (os.DirFS("/sys"), or a
// sysfs.FS reached by its descriptor). It returns an error wrapping
// ErrNoBlockDevice when the device is not there (the caller waits for a
// uevent and calls again).
func FindBlockDevice(sys fs.FS, hostNo uint32, lun uint64) (string, error) {
	h := strconv.FormatUint(uint64(hostNo), 10)
	hctl := fmt.Sprintf("%s:0:0:%d", h, lun)
	pattern := path.Join("class/scsi_host", "host"+h, "device", "session*", "target"+h+":0:0", hctl, "block", "*")
	matches, err := fs.Glob(sys, pattern)
	if err != nil {
		return "", fmt.Errorf("iscsi: find block device of %s: %w", hctl, err)
	}
	var names []string
	for _, m := range matches {
		if name := path.Base(m); validDevName(name) {
			names = append(names, name)
		}
	}
	switch len(names) {
	case 0:
		return "", fmt.Errorf("%w %s (host%s)", ErrNoBlockDevice, hctl, h)
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("iscsi: LUN %s has several block devices %v", hctl, names)
}

func validDevName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00")
}

// SetScheduler writes sched (normally "none", the blk-mq no-op scheduler;
// "noop" is the legacy name and is rejected by blk-mq) to
// <root>/block/<dev>/queue/scheduler. A missing attribute (no scheduler
// support) is not an error.
func SetScheduler(root, dev, sched string) error {
	if !validDevName(dev) {
		return fmt.Errorf("iscsi: set scheduler: invalid device name %q", dev)
	}
	if sched == "" {
		sched = "none"
	}
	rel := filepath.Join("block", dev, "queue", "scheduler")
	if err := (sysfs.FS{Root: root}).Write(rel, sched); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("iscsi: set scheduler of %s to %s: %w", dev, sched, err)
	}
	return nil
}
