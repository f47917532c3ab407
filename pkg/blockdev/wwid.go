package blockdev

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Identity is what identifies a SCSI disk's logical unit.
type Identity struct {
	// WWID is the identifier multipath-tools uses (udev's ID_SERIAL): see
	// SCSIIdent. Empty when the device has no usable designator.
	WWID string
	// Ident is udev's view, WWID included.
	Ident SCSIIdent
	// Page is the parsed Device Identification page; nil when the kernel
	// exports none (not a SCSI device, or VPD not supported).
	Page *DeviceIdentification
	// KernelWWID is the kernel's own identifier
	// (/sys/block/<disk>/device/wwid, e.g. "naa.6001405…"), up to its first
	// NUL; empty when the kernel shows none.
	KernelWWID string
}

// ErrNoVPD is wrapped by ReadIdentity when the disk has neither a Device
// Identification page nor a serial number in sysfs (not a SCSI disk, or
// one that does not report VPD pages).
var ErrNoVPD = errors.New("no device identification (vpd_pg83) in sysfs")

// ReadIdentity reads the identity of disk (a kernel name such as "sdb")
// from sysfs: class/block/<disk>/device/{vpd_pg83,vpd_pg80,inquiry,wwid}
// below sys, which is rooted where sysfs is mounted (os.DirFS("/sys")).
// A page that cannot be parsed entirely is used up to the damage, as
// udev's rules do; the error then says what is wrong, with the identity.
func ReadIdentity(sys fs.FS, disk string) (Identity, error) {
	if !validDiskName(disk) {
		return Identity{}, fmt.Errorf("read identity: bad disk name %q", disk)
	}
	dir := path.Join("class/block", disk, "device")
	var id Identity
	vpd83, err := fs.ReadFile(sys, dir+"/vpd_pg83")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return id, fmt.Errorf("read identity of %s: %w", disk, err)
	}
	// The others are optional, as for udev.
	vpd80, _ := fs.ReadFile(sys, dir+"/vpd_pg80")
	inquiry, _ := fs.ReadFile(sys, dir+"/inquiry")
	if w, err := fs.ReadFile(sys, dir+"/wwid"); err == nil {
		id.KernelWWID = cUpToNUL([]byte(strings.TrimRight(string(w), "\n")))
	}
	id.Ident = UdevSCSIIdent(inquiry, vpd80, vpd83)
	id.WWID = id.Ident.Serial
	if vpd83 == nil {
		if id.WWID != "" {
			return id, nil // a serial number alone
		}
		return id, fmt.Errorf("read identity of %s: %w", disk, ErrNoVPD)
	}
	page, perr := ParseDeviceIdentification(vpd83)
	id.Page = page
	if perr != nil {
		return id, fmt.Errorf("read identity of %s: %w", disk, perr)
	}
	return id, nil
}

// validDiskName refuses names that would leave class/block.
func validDiskName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00")
}
