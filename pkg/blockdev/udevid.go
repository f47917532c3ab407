package blockdev

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// SCSIIdent is the identity udev gives a SCSI disk on Debian 12 with
// multipath-tools installed: multipath-tools depends on sg3-utils-udev,
// whose 55-scsi-sg3_id.rules run `sg_inq --export --inhex=…/vpd_pg83
// --raw` (and on the inquiry and vpd_pg80 attributes) before systemd's
// scsi_id rule, and compose ID_SERIAL from the SCSI_IDENT_* variables it
// prints. ID_SERIAL is multipath-tools' default uid_attribute: the WWID
// of the paths, and the name of their map when user_friendly_names is no
// (Debian's default).
type SCSIIdent struct {
	// Vars holds the variables sg_inq (sg3_utils 1.46) exports, as udev
	// keeps them: the last of a repeated key wins, empty ones are unset.
	// Keys: SCSI_VENDOR, SCSI_MODEL, SCSI_IDENT_SERIAL and
	// SCSI_IDENT_<LUN|PORT|TARGET>_<VENDOR|T10|ATA|EUI64|NAA_REGEXT|NAA_REG|
	// NAA_EXT|NAA_LOCAL|NAME|RELATIVE|TARGET_PORT_GROUP|LOGICAL_UNIT_GROUP>.
	Vars map[string]string
	// Serial is ID_SERIAL, e.g. "36001405…" (NAA), "2…" (EUI-64),
	// "8iqn.…" (SCSI name string), "1…" (T10 vendor ID); empty when the
	// rules set none.
	Serial string
	// SerialShort is ID_SERIAL_SHORT: Serial without its type digit.
	SerialShort string
}

// idSerialRules is 55-scsi-sg3_id.rules' "Compat ID_SERIAL setting", in
// rule order: the first variable that is set gives ID_SERIAL = prefix +
// value.
var idSerialRules = []struct{ key, prefix string }{
	{"SCSI_IDENT_LUN_NAA_REGEXT", "3"},
	{"SCSI_IDENT_LUN_NAA_REG", "3"},
	{"SCSI_IDENT_LUN_NAA_EXT", "3"},
	{"SCSI_IDENT_LUN_EUI64", "2"},
	{"SCSI_IDENT_LUN_NAME", "8"},
	{"SCSI_IDENT_LUN_T10", "1"},
	{"SCSI_IDENT_LUN_NAA_LOCAL", "3"},
}

// UdevSCSIIdent computes the identity udev derives from a disk's sysfs
// attributes device/inquiry, device/vpd_pg80 and device/vpd_pg83 (raw
// bytes; nil for an attribute that is absent). Only vpd_pg83 matters for
// any LUN that has an NAA, EUI-64, SCSI name or T10 designator, as every
// iSCSI target does; the others serve LUNs with only vendor-specific
// designators or only a serial number.
func UdevSCSIIdent(inquiry, vpd80, vpd83 []byte) SCSIIdent {
	v := map[string]string{}
	set := func(k, val string) {
		if val == "" {
			delete(v, k)
			return
		}
		v[k] = val
	}
	// The rules import the three in this order.
	for _, f := range [][]byte{inquiry, vpd80, vpd83} {
		if f != nil {
			sgInqExport(f, set)
		}
	}
	id := SCSIIdent{Vars: v}
	if ata := v["SCSI_IDENT_LUN_ATA"]; ata != "" {
		// The ata_id compatibility rule comes first.
		id.Serial = ata
		return id
	}
	for _, r := range idSerialRules {
		if val := v[r.key]; val != "" {
			id.Serial, id.SerialShort = r.prefix+val, val
			return id
		}
	}
	if val := v["SCSI_IDENT_LUN_VENDOR"]; val != "" {
		id.Serial, id.SerialShort = "0"+v["SCSI_VENDOR"]+"_"+v["SCSI_MODEL"]+"_"+val, val
		return id
	}
	if val := v["SCSI_IDENT_SERIAL"]; val != "" {
		id.Serial, id.SerialShort = "S"+v["SCSI_VENDOR"]+"_"+v["SCSI_MODEL"]+"_"+val, val
	}
	return id
}

// sgInqExport is `sg_inq --export --inhex=FILE --raw` for the variables
// SCSIIdent keeps. Like sg_inq it guesses from the bytes what FILE holds:
// a standard INQUIRY when byte 2 is above 2 (so a VPD page of 768 bytes or
// more is taken for one, and gives no SCSI_IDENT_* at all), or a VPD page
// whose code is byte 1, except a "page 0x80" whose bytes 5-7 are not
// printable, which is a standard INQUIRY again.
func sgInqExport(file []byte, set func(k, v string)) {
	b := sgBuffer(file)
	switch {
	case b[2] > 2:
		sgExportInquiry(file, set)
	case b[1] == 0x80 && (b[5] < 0x20 || b[5] > 0x80 || b[6] < 0x20 || b[6] > 0x80 || b[7] < 0x20 || b[7] > 0x80):
		sgExportInquiry(file, set)
	case b[1] == 0x80:
		sgExportSerial(file, set)
	case b[1] == 0x83:
		sgExportDeviceIDs(file, set)
	}
}

// sgBuffer copies b into a zeroed buffer with room after it: sg_inq works
// in place on a larger zeroed response buffer and reads past a short
// designator in a few corner cases, which must see zeros here too.
func sgBuffer(b []byte) []byte {
	buf := make([]byte, len(b)+64)
	copy(buf, b)
	return buf
}

// sgExportDeviceIDs emulates sg_inq's export_dev_ids on a Device
// Identification page (what `sg_inq --export --inhex=vpd_pg83 --raw`
// prints), quirks included: the Linux tools name paths by its output.
func sgExportDeviceIDs(page []byte, set func(k, v string)) {
	n := sgVPDLen(page) - 4 // the designator list's length
	buf := sgBuffer(page)
	list := buf[4:]
	var (
		off  = -1
		pre  bool // a pre-SPC-3 page: the whole list is one NAA
		quit bool
	)
	if list[2] != 0 {
		pre = true
	}
	for !quit {
		var (
			ip                         []byte
			iLen                       int
			cSet, assoc, dType, protID byte
		)
		if pre {
			pre = false
			ip, iLen, cSet, assoc, dType, protID = list, n, 1, 0, 3, 0xf
			off = 16
		} else {
			var ok bool
			if off, ok = sgNextDesignator(list, n, off); !ok {
				return
			}
			bp := list[off:]
			iLen = int(bp[3])
			if off+iLen+4 > n {
				return
			}
			ip = bp[4:]
			protID, cSet, assoc, dType = bp[0]>>4, bp[0]&0xf, bp[1]>>4&3, bp[1]&0xf
		}
		_ = protID
		if assoc == 3 {
			return
		}
		a := Association(assoc).String()
		switch DesignatorType(dType) {
		case DesigVendorSpecific:
			if iLen == 0 || iLen > 128 {
				break
			}
			if cSet == 2 || cSet == 3 {
				if k := encodeWhitespaces(ip, iLen); k > 0 {
					set("SCSI_IDENT_"+a+"_VENDOR", udevEscape(ip[:k]))
				}
			} else {
				set("SCSI_IDENT_"+a+"_VENDOR", hex.EncodeToString(ip[:iLen]))
			}
		case DesigT10VendorID:
			if cSet == 2 || cSet == 3 {
				k := encodeWhitespaces(ip, iLen)
				set("SCSI_IDENT_"+a+"_T10", udevEscape(ip[:k]))
				if string(ip[:4]) == "ATA_" {
					// printf("%.*s", k-4, ip+4): a negative
					// precision prints up to the NUL.
					rest := ip[4:]
					if k >= 4 {
						rest = rest[:k-4]
					}
					set("SCSI_IDENT_"+a+"_ATA", cUpToNUL(rest))
				}
			} else {
				set("SCSI_IDENT_"+a+"_T10", hex.EncodeToString(ip[:iLen]))
			}
		case DesigEUI64:
			if cSet == 1 {
				set("SCSI_IDENT_"+a+"_EUI64", hex.EncodeToString(ip[:iLen]))
			}
		case DesigNAA:
			if cSet != 1 {
				break
			}
			suffix := "LOCAL"
			switch ip[0] >> 4 {
			case 6:
				suffix = "REGEXT"
			case 5:
				suffix = "REG"
			case 2:
				suffix = "EXT"
			}
			set("SCSI_IDENT_"+a+"_NAA_"+suffix, hex.EncodeToString(ip[:iLen]))
		case DesigRelativeTargetPort:
			if cSet == 1 && assoc == 1 && iLen == 4 {
				set("SCSI_IDENT_"+a+"_RELATIVE", fmt.Sprint(binary.BigEndian.Uint16(ip[2:])))
			}
		case DesigTargetPortGroup:
			if cSet == 1 && assoc == 1 && iLen == 4 {
				set("SCSI_IDENT_"+a+"_TARGET_PORT_GROUP", fmt.Sprintf("0x%x", binary.BigEndian.Uint16(ip[2:])))
			}
		case DesigLogicalUnitGroup:
			if cSet == 1 && assoc == 0 && iLen == 4 {
				set("SCSI_IDENT_"+a+"_LOGICAL_UNIT_GROUP", fmt.Sprintf("0x%x", binary.BigEndian.Uint16(ip[2:])))
			}
		case DesigSCSIName:
			if cSet == 3 {
				set("SCSI_IDENT_"+a+"_NAME", cUpToNUL(ip[:iLen]))
			}
		}
	}
}

// sgVPDLen is the length sg_inq uses for a VPD page read from a file: the
// page length plus the header, cut to the file's size.
func sgVPDLen(file []byte) int {
	b := sgBuffer(file)
	return min(int(binary.BigEndian.Uint16(b[2:4]))+4, len(file))
}

// sgNextDesignator is sg_vpd_dev_id_iter without filters: the offset of
// the designator after the one at off (-1: the first).
func sgNextDesignator(list []byte, n, off int) (int, bool) {
	k := off
	for k+3 < n {
		if k < 0 {
			k = 0
		} else {
			k += int(list[k+3]) + 4
		}
		if k+4 > n {
			break
		}
		return k, true
	}
	return off, false
}

// sgExportSerial emulates the export of the Unit Serial Number page
// (SCSI_IDENT_SERIAL).
func sgExportSerial(page []byte, set func(k, v string)) {
	const obuffLen = 252 // sg_inq's DEF_ALLOC_LEN: its buffer for the serial
	n := min(sgVPDLen(page)-4, obuffLen-1)
	if n < 0 {
		// C copies a negative length as a huge one and crashes; udev
		// then imports nothing.
		return
	}
	s := sgBuffer(sgBuffer(page)[4 : 4+n])
	if k := encodeWhitespaces(s, n); k > 0 {
		set("SCSI_IDENT_SERIAL", udevEscape(s[:k]))
	}
}

// sgExportInquiry emulates the export of the standard INQUIRY data's
// vendor and product (SCSI_VENDOR, SCSI_MODEL).
func sgExportInquiry(inq []byte, set func(k, v string)) {
	if len(inq) <= 8 {
		return
	}
	field := func(from, n int) string {
		b := make([]byte, n+1)
		copy(b, inq[from:min(from+n, len(inq))])
		if encodeWhitespaces(b, n) == 0 {
			return ""
		}
		return cUpToNUL(b)
	}
	vendor := make([]byte, 9)
	copy(vendor, inq[8:min(16, len(inq))])
	for i := range 8 {
		if vendor[i] == '\t' {
			vendor[i] = ' '
		}
	}
	if encodeWhitespaces(vendor, 8) > 0 {
		set("SCSI_VENDOR", cUpToNUL(vendor))
	}
	if len(inq) > 16 {
		set("SCSI_MODEL", field(16, 16))
	}
}

// encodeWhitespaces is sg3_utils' encode_whitespaces: in place, it skips
// leading blanks and control bytes, drops trailing blanks and NULs, turns
// each run of blanks into one '_' and other unprintable bytes into '.',
// stops at a second NUL in a row, and returns the new length (0 when
// nothing but '_' or '.' would remain). b must have room for the NUL it
// writes at the new end.
func encodeWhitespaces(b []byte, n int) int {
	blank := func(c byte) bool { return c == ' ' || c == '\t' }
	j := 0
	for j < n && blank(b[j]) {
		j++
	}
	if j < n {
		for j < n && b[j] < 0x20 {
			j++
		}
	}
	k, out := j, n
	for out > k && (blank(b[out-1]) || b[out-1] == 0) {
		b[out-1] = 0
		out--
	}
	res, zeroes, valid := 0, 0, false
	for ; k < out; k++ {
		c := b[k]
		switch {
		case blank(c):
			if res > 0 && b[res-1] != '_' {
				b[res] = '_'
				res++
				valid = true
			}
			zeroes = 0
		case c < 0x20 || c > 0x7e:
			if c == 0 {
				if zeroes > 0 {
					k = out // break
					continue
				}
				zeroes++
				continue
			}
			b[res] = '.'
			res++
			zeroes = 0
		default:
			b[res] = c
			res++
			valid = true
			zeroes = 0
		}
	}
	if !valid {
		res = 0
	}
	if res < n {
		b[res] = 0
	}
	return res
}

// udevEscape keeps the characters udev allows in identifiers and writes
// the others as \xNN, as sg_inq does for udev.
func udevEscape(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || strings.IndexByte("#+-.:=@_", c) >= 0 {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, `\x%02x`, c)
		}
	}
	return s.String()
}

// cUpToNUL returns b up to its first NUL, as C's "%.*s" prints it.
func cUpToNUL(b []byte) string {
	if i := indexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
