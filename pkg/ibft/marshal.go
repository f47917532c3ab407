package ibft

import (
	"fmt"
	"net/netip"
)

// align is where Marshal starts each structure (iPXE aligns them so).
const align = 16

// Marshal writes t as a raw ACPI table: header (revision 1, checksum),
// control structure, initiator, NICs and targets at 16-byte boundaries,
// then the strings, each NUL-terminated (the lengths exclude the NUL, as
// iPXE writes them). NIC i and target i go in the control structure's
// slot i, so t may have at most two of each. QEMU installs the result
// with -acpitable file=PATH (it keeps the header, rewrites the length and
// the checksum). Parse(Marshal(t)) equals t for every t Marshal accepts,
// but for an empty Signature (written "iBFT") and empty, non-nil slices
// (parsed as nil).
func Marshal(t *Table) ([]byte, error) {
	if t == nil {
		return nil, fmt.Errorf("ibft: marshal: no table")
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if len(t.NICs) > 2 || len(t.Targets) > 2 {
		return nil, fmt.Errorf("ibft: marshal: %d NICs and %d targets: the control structure has slots for two of each (Linux's iscsi_ibft reads no longer one)",
			len(t.NICs), len(t.Targets))
	}
	m := marshaler{}
	if err := m.addrs(t); err != nil {
		return nil, err
	}

	m.grow(HeaderLen + ControlLen)
	sig := t.Signature
	if sig == "" {
		sig = "iBFT"
	}
	copy(m.b[0:4], sig)
	m.b[8] = Revision
	copy(m.b[10:16], t.OEMID)
	copy(m.b[16:24], t.OEMTableID)
	le.PutUint32(m.b[24:], t.OEMRevision)
	copy(m.b[28:32], t.CreatorID)
	le.PutUint32(m.b[32:], t.CreatorRevision)
	m.header(ControlOffset, idControl, ControlLen, 0, uint8(t.Control))

	if in := t.Initiator; in != nil {
		s := m.structure(SlotInitiator, idInitiator, InitiatorLen, in.Index, in.Flags)
		m.addr(s+6, in.ISNSServer)
		m.addr(s+22, in.SLPServer)
		m.addr(s+38, in.PrimaryRADIUS)
		m.addr(s+54, in.SecondaryRADIUS)
		m.str(s+70, in.Name)
	}
	for i := range t.NICs {
		n := &t.NICs[i]
		s := m.structure(SlotNIC0+2*i, idNIC, NICLen, n.Index, n.Flags)
		m.addr(s+6, n.IP)
		m.b[s+22] = n.PrefixLen
		m.b[s+23] = uint8(n.Origin)
		m.addr(s+24, n.Gateway)
		m.addr(s+40, n.PrimaryDNS)
		m.addr(s+56, n.SecondaryDNS)
		m.addr(s+72, n.DHCPServer)
		le.PutUint16(m.b[s+88:], n.VLAN)
		copy(m.b[s+90:s+96], n.MAC)
		le.PutUint16(m.b[s+96:], uint16(n.PCI))
		m.str(s+98, n.Hostname)
	}
	for i := range t.Targets {
		g := &t.Targets[i]
		s := m.structure(SlotTarget0+2*i, idTarget, TargetLen, g.Index, g.Flags)
		m.addr(s+6, g.IP)
		le.PutUint16(m.b[s+22:], g.Port)
		copy(m.b[s+24:s+32], g.LUN[:])
		m.b[s+32] = uint8(g.CHAP)
		m.b[s+33] = g.NICIndex
		m.str(s+34, g.Name)
		m.str(s+38, g.CHAPName)
		m.str(s+42, g.CHAPSecret.v)
		m.str(s+46, g.ReverseCHAPName)
		m.str(s+50, g.ReverseCHAPSecret.v)
	}
	// The strings follow the structures.
	for _, s := range m.strs {
		off := len(m.b)
		m.grow(len(s.v) + 1)
		copy(m.b[off:], s.v)
		le.PutUint16(m.b[s.field:], uint16(len(s.v)))
		le.PutUint16(m.b[s.field+2:], uint16(off))
	}
	if len(m.b) > maxTableLen {
		return nil, fmt.Errorf("ibft: marshal: the table would be %d bytes, more than the %d its 16-bit offsets reach", len(m.b), maxTableLen)
	}
	le.PutUint32(m.b[4:], uint32(len(m.b)))
	FixChecksum(m.b)
	return m.b, nil
}

type marshaler struct {
	b    []byte
	strs []pending
}

// pending is a string whose length and offset go at field once the
// structures are all placed.
type pending struct {
	field int
	v     string
}

func (m *marshaler) grow(n int) { m.b = append(m.b, make([]byte, n)...) }

func (m *marshaler) header(off int, id byte, n int, index uint8, flags uint8) {
	m.b[off] = id
	m.b[off+1] = 1
	le.PutUint16(m.b[off+2:], uint16(n))
	m.b[off+4] = index
	m.b[off+5] = flags
}

// structure places a structure of length n at the next aligned offset,
// records it in slot and returns its offset.
func (m *marshaler) structure(slot int, id byte, n int, index uint8, flags Flags) int {
	off := (len(m.b) + align - 1) / align * align
	m.grow(off + n - len(m.b))
	m.header(off, id, n, index, uint8(flags))
	le.PutUint16(m.b[slotOffsetField(slot):], uint16(off))
	return off
}

// str queues s for the heap; an empty string stays absent (length and
// offset 0).
func (m *marshaler) str(field int, s string) {
	if s != "" {
		m.strs = append(m.strs, pending{field, s})
	}
}

// addr writes a (absent: 16 zero bytes), IPv4 in its IPv4-mapped form.
func (m *marshaler) addr(off int, a netip.Addr) {
	if a.IsValid() {
		b := a.As16()
		copy(m.b[off:off+16], b[:])
	}
}

// addrs rejects addresses Parse would not give back: zones, IPv4-mapped
// IPv6 (write the IPv4 address) and unspecified ones (leave the field
// zero for none).
func (m *marshaler) addrs(t *Table) error {
	type named struct {
		where string
		a     netip.Addr
	}
	var all []named
	if in := t.Initiator; in != nil {
		all = append(all, named{"initiator iSNS server", in.ISNSServer}, named{"initiator SLP server", in.SLPServer},
			named{"initiator primary RADIUS server", in.PrimaryRADIUS}, named{"initiator secondary RADIUS server", in.SecondaryRADIUS})
	}
	for _, n := range t.NICs {
		w := fmt.Sprintf("NIC %d ", n.Index)
		all = append(all, named{w + "address", n.IP}, named{w + "gateway", n.Gateway}, named{w + "primary DNS", n.PrimaryDNS},
			named{w + "secondary DNS", n.SecondaryDNS}, named{w + "DHCP server", n.DHCPServer})
	}
	for _, g := range t.Targets {
		all = append(all, named{fmt.Sprintf("target %d address", g.Index), g.IP})
	}
	for _, n := range all {
		switch a := n.a; {
		case !a.IsValid():
		case a.Zone() != "":
			return fmt.Errorf("ibft: marshal: %s %s has a zone, which the table cannot hold", n.where, a)
		case a.Is4In6():
			return fmt.Errorf("ibft: marshal: %s %s is IPv4-mapped: give the IPv4 address", n.where, a)
		case a.IsUnspecified():
			return fmt.Errorf("ibft: marshal: %s %s is unspecified: leave it the zero netip.Addr for none", n.where, a)
		}
	}
	return nil
}
