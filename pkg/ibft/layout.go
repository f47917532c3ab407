package ibft

import "encoding/binary"

// The fixed layout of the table (iBFT 1.03; Linux's struct ibft_* in
// drivers/firmware/iscsi_ibft.c). All numbers are little-endian.
const (
	// HeaderLen is the ACPI header (36 bytes) plus 12 reserved bytes;
	// the control structure follows at ControlOffset.
	HeaderLen     = 48
	ControlOffset = HeaderLen
	// ControlLen, InitiatorLen, NICLen and TargetLen are the lengths each
	// structure's header must carry (Linux checks them exactly).
	ControlLen   = 18
	InitiatorLen = 74
	NICLen       = 102
	TargetLen    = 54
	// Revision is the only ACPI revision Linux accepts.
	Revision = 1
	// maxTableLen bounds a table: offsets are 16-bit, and QEMU's
	// -acpitable takes at most 65535 bytes.
	maxTableLen = 0xffff
)

// Structure IDs.
const (
	idControl   = 1
	idInitiator = 2
	idNIC       = 3
	idTarget    = 4
)

// The control structure's slots: the order of its offsets.
const (
	SlotInitiator = iota
	SlotNIC0
	SlotTarget0
	SlotNIC1
	SlotTarget1
	numSlots
)

// slotOffsetField is where slot's offset sits in the table.
func slotOffsetField(slot int) int { return ControlOffset + 8 + 2*slot }

// StructureOffset returns the offset the control structure of raw gives
// slot (SlotInitiator, SlotNIC0, …), 0 for an empty slot or a table too
// short to have one. With FixChecksum it lets a test corrupt one structure
// of a table from Marshal.
func StructureOffset(raw []byte, slot int) int {
	f := slotOffsetField(slot)
	if slot < 0 || slot >= numSlots || f+2 > len(raw) {
		return 0
	}
	return int(binary.LittleEndian.Uint16(raw[f:]))
}

// FixChecksum sets the checksum byte of raw, a whole table, so that its
// bytes sum to zero.
func FixChecksum(raw []byte) {
	if len(raw) < HeaderLen {
		return
	}
	raw[9] = 0
	raw[9] = -sum(raw)
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// signatures are the ACPI signatures Linux looks an iBFT up by.
var signatures = []string{"iBFT", "IBFT", "BIFT"}

func knownSignature(s string) bool {
	for _, k := range signatures {
		if s == k {
			return true
		}
	}
	return false
}
