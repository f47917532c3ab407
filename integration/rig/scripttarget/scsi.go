package scripttarget

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// The disk's geometry and identity.
const (
	blockSize = 512
	diskLUN   = 1
	vendor    = "NETROOT "         // 8 bytes
	product   = "SCRIPTED TARGET " // 16 bytes
	revision  = "0001"
)

// SCSI status codes.
const (
	statusGood  = 0x00
	statusCheck = 0x02
)

// result is a command's outcome: data for the initiator (read direction),
// status and fixed-format sense data.
type result struct {
	data   []byte
	status byte
	sense  []byte
}

// Sense data (fixed format) for the failures the target reports.
var (
	senseInvalidOpcode = sense(0x05, 0x20, 0x00) // ILLEGAL REQUEST, invalid command operation code
	senseInvalidField  = sense(0x05, 0x24, 0x00) // ILLEGAL REQUEST, invalid field in CDB
	senseLBARange      = sense(0x05, 0x21, 0x00) // ILLEGAL REQUEST, LBA out of range
	senseNoLUN         = sense(0x05, 0x25, 0x00) // ILLEGAL REQUEST, logical unit not supported
	senseMediumError   = sense(0x03, 0x11, 0x00) // MEDIUM ERROR, unrecovered read error
	senseWriteError    = sense(0x03, 0x0c, 0x00) // MEDIUM ERROR, write error
)

func sense(key, asc, ascq byte) []byte {
	s := make([]byte, 18)
	s[0] = 0x70 // current error, fixed format
	s[2] = key
	s[7] = 10 // additional length
	s[12], s[13] = asc, ascq
	return s
}

func check(s []byte) result { return result{status: statusCheck, sense: s} }

func good(data []byte) result { return result{data: data} }

// decodeLUN reads a single-level LUN (peripheral or flat addressing);
// other forms give a LUN no device has.
func decodeLUN(b []byte) uint64 {
	switch b[0] >> 6 {
	case 0:
		if b[0]&0x3f == 0 {
			return uint64(b[1])
		}
	case 1:
		return uint64(b[0]&0x3f)<<8 | uint64(b[1])
	}
	return 1 << 63
}

// encodeLUN writes a LUN below 256 in peripheral addressing.
func encodeLUN(lun uint64) []byte {
	b := make([]byte, 8)
	b[1] = byte(lun)
	return b
}

// allocation returns data cut to the CDB's allocation length.
func allocation(data []byte, n int) []byte {
	if len(data) > n {
		return data[:n]
	}
	return data
}

// serial is the disk's unit serial number, stable for a target name.
func (t *Target) serial() string {
	h := sha256.Sum256([]byte(t.cfg.IQN))
	return fmt.Sprintf("NRST%x", h[:6])
}

// execute runs one CDB for lun; out is a write's data.
func (t *Target) execute(lun uint64, cdb []byte, out []byte) result {
	op := cdb[0]
	switch op {
	case 0x12: // INQUIRY
		return t.inquiry(lun, cdb)
	case 0xa0: // REPORT LUNS
		data := make([]byte, 16)
		binary.BigEndian.PutUint32(data[0:], 8)
		copy(data[8:], encodeLUN(diskLUN))
		return good(allocation(data, int(binary.BigEndian.Uint32(cdb[6:]))))
	case 0x03: // REQUEST SENSE: nothing pending
		return good(allocation(sense(0, 0, 0), int(cdb[4])))
	}
	if lun != diskLUN {
		return check(senseNoLUN)
	}
	switch op {
	case 0x00, 0x1b, 0x1e, 0x2f: // TEST UNIT READY, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, VERIFY(10)
		return good(nil)
	case 0x25: // READ CAPACITY(10)
		data := make([]byte, 8)
		binary.BigEndian.PutUint32(data[0:], uint32(min(t.blocks-1, 0xffffffff)))
		binary.BigEndian.PutUint32(data[4:], blockSize)
		return good(data)
	case 0x9e: // SERVICE ACTION IN(16)
		if cdb[1]&0x1f != 0x10 {
			return check(senseInvalidField)
		}
		data := make([]byte, 32) // READ CAPACITY(16): no protection, no provisioning
		binary.BigEndian.PutUint64(data[0:], t.blocks-1)
		binary.BigEndian.PutUint32(data[8:], blockSize)
		return good(allocation(data, int(binary.BigEndian.Uint32(cdb[10:]))))
	case 0x1a, 0x5a: // MODE SENSE(6), (10)
		return modeSense(cdb)
	case 0x35, 0x91: // SYNCHRONIZE CACHE(10), (16)
		if err := t.disk.Sync(); err != nil {
			return check(senseWriteError)
		}
		return good(nil)
	case 0x08, 0x28, 0x88, 0x0a, 0x2a, 0x8a: // READ, WRITE (6, 10, 16)
		return t.readWrite(cdb, out)
	}
	return check(senseInvalidOpcode)
}

// readWrite runs READ and WRITE (6, 10, 16).
func (t *Target) readWrite(cdb []byte, out []byte) result {
	var lba, n uint64
	switch cdb[0] {
	case 0x08, 0x0a:
		lba = uint64(cdb[1]&0x1f)<<16 | uint64(cdb[2])<<8 | uint64(cdb[3])
		n = uint64(cdb[4])
		if n == 0 {
			n = 256
		}
	case 0x28, 0x2a:
		lba = uint64(binary.BigEndian.Uint32(cdb[2:]))
		n = uint64(binary.BigEndian.Uint16(cdb[7:]))
	default:
		lba = binary.BigEndian.Uint64(cdb[2:])
		n = uint64(binary.BigEndian.Uint32(cdb[10:]))
	}
	if lba > t.blocks || n > t.blocks-lba {
		return check(senseLBARange)
	}
	write := cdb[0] == 0x0a || cdb[0] == 0x2a || cdb[0] == 0x8a
	if !write {
		data := make([]byte, n*blockSize)
		if _, err := t.disk.ReadAt(data, int64(lba*blockSize)); err != nil {
			return check(senseMediumError)
		}
		return good(data)
	}
	if uint64(len(out)) != n*blockSize {
		// The initiator's Expected Data Transfer Length disagrees with
		// the CDB: refuse rather than guess.
		return check(senseInvalidField)
	}
	if _, err := t.disk.WriteAt(out, int64(lba*blockSize)); err != nil {
		return check(senseWriteError)
	}
	return good(nil)
}

// inquiry answers INQUIRY: standard data, or the VPD pages 0x00, 0x80 and
// 0x83. LUN 0 answers "peripheral qualifier 1, no device type" (a target
// is here, no device at this LUN), other LUNs "not connected".
func (t *Target) inquiry(lun uint64, cdb []byte) result {
	alloc := int(binary.BigEndian.Uint16(cdb[3:]))
	pdt := byte(0x00) // direct-access block device
	switch {
	case lun == 0:
		pdt = 0x3f
	case lun != diskLUN:
		pdt = 0x7f
	}
	if cdb[1]&0x01 == 0 { // standard data
		if cdb[2] != 0 {
			return check(senseInvalidField)
		}
		data := make([]byte, 36)
		data[0] = pdt
		data[2] = 0x05 // SPC-3
		data[3] = 0x02 // response data format 2
		data[4] = byte(len(data) - 5)
		data[7] = 0x02 // CmdQue
		copy(data[8:], vendor)
		copy(data[16:], product)
		copy(data[32:], revision)
		return good(allocation(data, alloc))
	}
	if lun != diskLUN {
		return check(senseInvalidField)
	}
	var page []byte
	switch cdb[2] {
	case 0x00: // supported pages
		page = []byte{0x00, 0x80, 0x83}
	case 0x80: // unit serial number
		page = []byte(t.serial())
	case 0x83: // device identification: a T10 vendor ID and an NAA name
		id := vendor + t.serial()
		page = append(page, 0x02, 0x01, 0x00, byte(len(id)))
		page = append(page, id...)
		h := sha256.Sum256([]byte(t.cfg.IQN))
		naa := []byte{0x60, 0x01, 0x40, 0x50 | h[0]&0x0f, h[1], h[2], h[3], h[4]} // NAA 6 + an OUI-like prefix
		naa = append(naa, h[5:13]...)
		page = append(page, 0x01, 0x03, 0x00, byte(len(naa)))
		page = append(page, naa...)
	default:
		return check(senseInvalidField)
	}
	data := append([]byte{pdt, cdb[2], 0, 0}, page...)
	binary.BigEndian.PutUint16(data[2:], uint16(len(page)))
	return good(allocation(data, alloc))
}

// modeSense answers MODE SENSE(6) and (10) with the caching page (write
// cache enabled: the initiator sends SYNCHRONIZE CACHE for fsync) and the
// control page, no block descriptors, not write-protected.
func modeSense(cdb []byte) result {
	caching := make([]byte, 20)
	caching[0], caching[1], caching[2] = 0x08, 0x12, 0x04 // WCE
	control := make([]byte, 12)
	control[0], control[1] = 0x0a, 0x0a
	var pages []byte
	switch cdb[2] & 0x3f {
	case 0x08:
		pages = caching
	case 0x0a:
		pages = control
	case 0x3f:
		pages = append(append(pages, caching...), control...)
	default:
		return check(senseInvalidField)
	}
	if cdb[0] == 0x1a {
		data := append([]byte{byte(3 + len(pages)), 0, 0, 0}, pages...)
		return good(allocation(data, int(cdb[4])))
	}
	data := append(make([]byte, 8), pages...)
	binary.BigEndian.PutUint16(data[0:], uint16(6+len(pages)))
	return good(allocation(data, int(binary.BigEndian.Uint16(cdb[7:]))))
}
