package multipath

import "fmt"

// A map made before udev runs (an initramfs without udev) has no entry in
// udev's database. At the real system's coldplug, udev's device-mapper
// rules (lvm2's 10-dm.rules, Debian's 55-dm.rules) take the "add" event
// of a dm device as a finished activation only if the database says
// DM_UDEV_PRIMARY_SOURCE_FLAG=1 — what they record when they saw the
// device resumed — and otherwise disable every further rule: no
// /dev/mapper/<name>, no /dev/disk/by-* link to the map (the LUN's label
// then points at one of its paths), systemd never sees the device ready.
// An initramfs running udev leaves that entry behind (the dm rules mark
// it db_persist); UdevDBEntry is the same for a map made without udev.

// UdevDBPath is udev's database file of block device major:minor.
func UdevDBPath(major, minor uint32) string {
	return fmt.Sprintf("/run/udev/data/b%d:%d", major, minor)
}

// UdevDBEntry is the database entry of a map resumed under udev, as the
// device-mapper rules import it (IMPORT{db}) at coldplug.
const UdevDBEntry = "E:DM_UDEV_PRIMARY_SOURCE_FLAG=1\nE:DM_UDEV_RULES_VSN=2\n"
