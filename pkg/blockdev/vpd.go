package blockdev

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// This file reads the identity of a SCSI logical unit: the Device
// Identification VPD page (0x83, SPC-4 §7.8.6) and the WWID Linux derives
// from it. Two paths to one LUN (two iSCSI sessions through two portals)
// show the same WWID; two LUNs never do.

// CodeSet says how a designator's bytes are encoded (SPC-4 table 459).
type CodeSet uint8

// Code sets.
const (
	CodeSetBinary CodeSet = 1
	CodeSetASCII  CodeSet = 2
	CodeSetUTF8   CodeSet = 3
)

// Association says what a designator names (SPC-4 table 460).
type Association uint8

// Associations.
const (
	AssocLogicalUnit  Association = 0
	AssocTargetPort   Association = 1
	AssocTargetDevice Association = 2
)

func (a Association) String() string {
	switch a {
	case AssocLogicalUnit:
		return "LUN"
	case AssocTargetPort:
		return "PORT"
	case AssocTargetDevice:
		return "TARGET"
	}
	return fmt.Sprintf("association(%d)", uint8(a))
}

// DesignatorType is the kind of a designator (SPC-4 table 461).
type DesignatorType uint8

// Designator types.
const (
	DesigVendorSpecific     DesignatorType = 0x0
	DesigT10VendorID        DesignatorType = 0x1
	DesigEUI64              DesignatorType = 0x2
	DesigNAA                DesignatorType = 0x3
	DesigRelativeTargetPort DesignatorType = 0x4
	DesigTargetPortGroup    DesignatorType = 0x5
	DesigLogicalUnitGroup   DesignatorType = 0x6
	DesigMD5                DesignatorType = 0x7
	DesigSCSIName           DesignatorType = 0x8
	DesigProtocolPort       DesignatorType = 0x9
	DesigUUID               DesignatorType = 0xa
)

func (t DesignatorType) String() string {
	switch t {
	case DesigVendorSpecific:
		return "vendor-specific"
	case DesigT10VendorID:
		return "T10"
	case DesigEUI64:
		return "EUI-64"
	case DesigNAA:
		return "NAA"
	case DesigRelativeTargetPort:
		return "relative-port"
	case DesigTargetPortGroup:
		return "target-port-group"
	case DesigLogicalUnitGroup:
		return "lu-group"
	case DesigMD5:
		return "MD5"
	case DesigSCSIName:
		return "SCSI-name"
	case DesigProtocolPort:
		return "protocol-port"
	case DesigUUID:
		return "UUID"
	}
	return fmt.Sprintf("type(%#x)", uint8(t))
}

// Designator is one designation descriptor of the Device Identification
// page.
type Designator struct {
	// ProtocolID is the protocol identifier (5 for iSCSI); it means
	// something only when PIV is set.
	ProtocolID uint8
	PIV        bool
	CodeSet    CodeSet
	// Association is what the designator names: the logical unit, the
	// target port the command came through, or the target device.
	Association Association
	Type        DesignatorType
	// Value is the designator itself (not a copy of the page: do not
	// modify).
	Value []byte
}

// Port returns the 16-bit number of a relative target port or target
// port group designator (the last two bytes of its four).
func (d Designator) Port() (uint16, bool) {
	if (d.Type != DesigRelativeTargetPort && d.Type != DesigTargetPortGroup) || len(d.Value) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint16(d.Value[2:]), true
}

// String formats d for listings, e.g. "LUN NAA 6001405f…" or
// "PORT SCSI-name \"iqn.…,t,0x0001\"".
func (d Designator) String() string {
	v := hex.EncodeToString(d.Value)
	if d.CodeSet == CodeSetASCII || d.CodeSet == CodeSetUTF8 {
		v = fmt.Sprintf("%q", strings.TrimRight(string(d.Value), "\x00"))
	}
	return d.Association.String() + " " + d.Type.String() + " " + v
}

// DeviceIdentification is a parsed Device Identification VPD page.
type DeviceIdentification struct {
	// PeripheralQualifier and DeviceType are byte 0 of the page (device
	// type 0 is a disk).
	PeripheralQualifier, DeviceType uint8
	Designators                     []Designator
}

// ErrNotVPD83 is wrapped by ParseDeviceIdentification when the bytes are
// not a Device Identification page at all.
var ErrNotVPD83 = errors.New("not a Device Identification VPD page (0x83)")

// ParseDeviceIdentification parses a Device Identification VPD page as the
// kernel exports it in /sys/block/<disk>/device/vpd_pg83. Bytes beyond the
// page length are ignored; a page length beyond the data is cut to the
// data, as sg_inq and multipath-tools do. A designator that runs past the
// end stops the list: the designators before it are returned together
// with an error, since the Linux tools derive the WWID from them too. It
// never panics.
func ParseDeviceIdentification(page []byte) (*DeviceIdentification, error) {
	if len(page) < 4 {
		return nil, fmt.Errorf("vpd page 0x83: %d bytes, need a 4-byte header: %w", len(page), ErrNotVPD83)
	}
	if page[1] != 0x83 {
		return nil, fmt.Errorf("vpd page code %#02x: %w", page[1], ErrNotVPD83)
	}
	di := &DeviceIdentification{PeripheralQualifier: page[0] >> 5, DeviceType: page[0] & 0x1f}
	list := page[4:vpdEnd(page)]
	for off := 0; off < len(list); {
		if off+4 > len(list) {
			return di, fmt.Errorf("vpd page 0x83: %d stray bytes after designator %d", len(list)-off, len(di.Designators))
		}
		h := list[off : off+4]
		end := off + 4 + int(h[3])
		if end > len(list) {
			return di, fmt.Errorf("vpd page 0x83: designator %d at offset %d claims %d bytes, %d left",
				len(di.Designators), off+4, h[3], len(list)-off-4)
		}
		di.Designators = append(di.Designators, Designator{
			ProtocolID:  h[0] >> 4,
			CodeSet:     CodeSet(h[0] & 0xf),
			PIV:         h[1]&0x80 != 0,
			Association: Association(h[1] >> 4 & 3),
			Type:        DesignatorType(h[1] & 0xf),
			Value:       list[off+4 : end : end],
		})
		off = end
	}
	return di, nil
}

// vpdEnd is where a VPD page's data ends: the page length plus the header,
// cut to the bytes there are.
func vpdEnd(page []byte) int {
	n := int(binary.BigEndian.Uint16(page[2:4])) + 4
	return min(n, len(page))
}

// TargetPortGroup returns the target port group the path's port belongs
// to (ALUA), when the page names one.
func (di *DeviceIdentification) TargetPortGroup() (uint16, bool) {
	return di.port(DesigTargetPortGroup)
}

// RelativeTargetPort returns the relative number of the target port the
// page was read through, when the page names it. Two paths to one LUN
// through two portals of one target differ here (LIO), or not (tgt, whose
// portals share one port).
func (di *DeviceIdentification) RelativeTargetPort() (uint16, bool) {
	return di.port(DesigRelativeTargetPort)
}

func (di *DeviceIdentification) port(t DesignatorType) (uint16, bool) {
	for _, d := range di.Designators {
		if d.Type == t && d.Association == AssocTargetPort && d.CodeSet == CodeSetBinary {
			if n, ok := d.Port(); ok {
				return n, true
			}
		}
	}
	return 0, false
}

// KernelWWID returns the string the kernel shows in
// /sys/block/<disk>/device/wwid for this page ("naa.6001405…", "eui.…",
// "t10.…" or a SCSI name string), following scsi_vpd_lun_id (Linux 5.10
// and later): among the LU's designators, a SCSI name string first, then
// NAA 6, EUI-64 of 16 and 12 bytes, NAA 5, NAA "4", EUI-64 of 8 bytes, and
// last T10 and NAA 3; a later designator of the same priority replaces an
// earlier one. It is a cross-check: paths are told apart by WWID, the udev
// form, which ranks differently.
func (di *DeviceIdentification) KernelWWID() string {
	var (
		id               string
		curPrio, curSize int
	)
	for _, d := range di.Designators {
		prio := kernelPrio(d)
		if prio == 0 || curPrio > prio {
			continue
		}
		n := len(d.Value)
		switch d.Type {
		case DesigT10VendorID:
			if curSize > n {
				continue
			}
			curPrio, curSize = prio, n
			id = "t10." + kernelEscape(d.Value)
		case DesigEUI64:
			curPrio, curSize = prio, n
			id = "eui." + hex.EncodeToString(d.Value)
		case DesigNAA:
			// A length other than 8 or 16 takes the rank but leaves
			// the string as it was.
			curPrio, curSize = prio, n
			if n == 8 || n == 16 {
				id = "naa." + hex.EncodeToString(d.Value)
			}
		case DesigSCSIName:
			if curSize > n {
				continue
			}
			curPrio, curSize = prio, n
			id = string(d.Value)
		}
	}
	// The kernel shows the SCSI name's bytes; a NUL ends the string.
	if i := strings.IndexByte(id, 0); i >= 0 {
		id = id[:i]
	}
	return id
}

// kernelPrio is the kernel's designator_prio (0: not used).
func kernelPrio(d Designator) int {
	if d.Association != AssocLogicalUnit || len(d.Value) == 0 {
		return 0
	}
	switch d.Type {
	case DesigSCSIName:
		return 9
	case DesigNAA:
		// The kernel ranks NAA 4, where SPC's IEEE Extended is 2.
		return map[byte]int{6: 8, 5: 5, 4: 4, 3: 1}[d.Value[0]>>4]
	case DesigEUI64:
		return map[int]int{16: 7, 12: 6, 8: 3}[len(d.Value)]
	case DesigT10VendorID:
		return 1
	}
	return 0
}

// kernelEscape formats b as the kernel's "%*pE" does (escape only what is
// not printable in the kernel's Latin-1 ctype): C escapes for \t \n \v \f
// \r \a \e and NUL, octal for the other control bytes.
func kernelEscape(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if (c >= 0x20 && c < 0x7f) || c >= 0xa0 {
			s.WriteByte(c)
			continue
		}
		switch c {
		case '\t':
			s.WriteString(`\t`)
		case '\n':
			s.WriteString(`\n`)
		case '\v':
			s.WriteString(`\v`)
		case '\f':
			s.WriteString(`\f`)
		case '\r':
			s.WriteString(`\r`)
		case 0x07:
			s.WriteString(`\a`)
		case 0x1b:
			s.WriteString(`\e`)
		case 0:
			s.WriteString(`\0`)
		default:
			fmt.Fprintf(&s, `\%03o`, c)
		}
	}
	return s.String()
}
