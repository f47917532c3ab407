package ibft

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

var le = binary.LittleEndian

// Parse decodes and validates a raw iBFT: the ACPI table as
// /sys/firmware/acpi/tables/iBFT holds it (bytes past the header's length
// are ignored). A malformed table gives a *FormatError naming the part
// that is wrong; a bad checksum is one (errors.Is(err, ErrChecksum)), as
// it is for Linux.
func Parse(raw []byte) (*Table, error) {
	if len(raw) < HeaderLen {
		return nil, formatErr("ACPI header", 0, "the table is %d bytes, shorter than its %d-byte header", len(raw), HeaderLen)
	}
	t := &Table{Signature: string(raw[:4])}
	if !knownSignature(t.Signature) {
		return nil, formatErr("ACPI header", 0, "signature %q, want \"iBFT\" (or \"IBFT\", \"BIFT\")", raw[:4])
	}
	n := le.Uint32(raw[4:])
	switch {
	case n < HeaderLen+ControlLen:
		return nil, formatErr("ACPI header", 4, "length %d is shorter than the header and control structure (%d bytes)", n, HeaderLen+ControlLen)
	case uint64(n) > uint64(len(raw)):
		return nil, formatErr("ACPI header", 4, "length %d, but the table has only %d bytes (truncated)", n, len(raw))
	}
	raw = raw[:n]
	if raw[8] != Revision {
		return nil, formatErr("ACPI header", 8, "revision %d: Linux's iscsi_ibft reads only revision %d", raw[8], Revision)
	}
	if s := sum(raw); s != 0 {
		return nil, &FormatError{Where: "ACPI header", Offset: 9, Err: ErrChecksum,
			Reason: fmt.Sprintf("bad checksum: the table's %d bytes sum to 0x%02x, not 0 (Linux's iscsi_ibft refuses it too)", n, s)}
	}
	t.OEMID = text(raw[10:16])
	t.OEMTableID = text(raw[16:24])
	t.OEMRevision = le.Uint32(raw[24:])
	t.CreatorID = text(raw[28:32])
	t.CreatorRevision = le.Uint32(raw[32:])

	c := raw[ControlOffset : ControlOffset+ControlLen]
	const where = "control structure"
	switch {
	case c[0] != idControl:
		return nil, formatErr(where, ControlOffset, "structure ID %d, want %d", c[0], idControl)
	case c[1] != 1:
		return nil, formatErr(where, ControlOffset, "version %d, want 1", c[1])
	case le.Uint16(c[2:]) != ControlLen:
		return nil, formatErr(where, ControlOffset, "length %d, want %d (Linux's iscsi_ibft reads no other)", le.Uint16(c[2:]), ControlLen)
	case c[4] != 0:
		return nil, formatErr(where, ControlOffset, "index %d, want 0", c[4])
	}
	t.Control = ControlFlags(c[5])

	p := parser{raw: raw}
	for slot := range numSlots {
		off := int(le.Uint16(raw[slotOffsetField(slot):]))
		if off == 0 {
			continue
		}
		var err error
		switch slot {
		case SlotInitiator:
			err = p.initiator(t, off)
		case SlotNIC0, SlotNIC1:
			err = p.nic(t, fmt.Sprintf("NIC slot %d", slot/2), off)
		default:
			err = p.target(t, fmt.Sprintf("target slot %d", slot/2-1), off)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

type span struct {
	where    string
	off, end int
}

type parser struct {
	raw  []byte
	used []span
}

var structNames = map[byte]string{0: "reserved", idControl: "control", idInitiator: "initiator", idNIC: "NIC", idTarget: "target", 5: "extensions"}

func structName(id byte) string {
	if n, ok := structNames[id]; ok {
		return n
	}
	return "unknown"
}

// structure returns the structure of ID id and length n at off, or nil
// when its ID is 0 (reserved: Linux ignores such a slot).
func (p *parser) structure(where string, off int, id byte, n int) ([]byte, error) {
	if off < ControlOffset+ControlLen {
		return nil, formatErr(where, off, "offset points into the ACPI header or the control structure")
	}
	if off+6 > len(p.raw) {
		return nil, formatErr(where, off, "offset is past the end of the %d-byte table", len(p.raw))
	}
	h := p.raw[off:]
	switch {
	case h[0] == 0:
		return nil, nil
	case h[0] != id:
		return nil, formatErr(where, off, "structure ID %d (%s), want %d (%s)", h[0], structName(h[0]), id, structName(id))
	case h[1] != 1:
		return nil, formatErr(where, off, "version %d, want 1", h[1])
	case int(le.Uint16(h[2:])) != n:
		return nil, formatErr(where, off, "length %d, want %d", le.Uint16(h[2:]), n)
	case off+n > len(p.raw):
		return nil, formatErr(where, off, "the %d-byte structure runs past the end of the %d-byte table", n, len(p.raw))
	}
	for _, u := range p.used {
		if off < u.end && u.off < off+n {
			return nil, formatErr(where, off, "overlaps %s at 0x%04x", u.where, u.off)
		}
	}
	p.used = append(p.used, span{where, off, off + n})
	return p.raw[off : off+n], nil
}

// str reads the string whose length and offset are at s[field:]. present
// is false for a zero offset (the kernel shows a NIC's hostname by it).
func (p *parser) str(where string, s []byte, field int) (v string, present bool, err error) {
	n, off := int(le.Uint16(s[field:])), int(le.Uint16(s[field+2:]))
	switch {
	case n == 0:
		return "", off != 0, nil
	case off == 0:
		return "", false, formatErr(where, off, "a %d-byte string at offset 0", n)
	case off < ControlOffset+ControlLen:
		return "", false, formatErr(where, off, "string points into the ACPI header or the control structure")
	case off+n > len(p.raw):
		return "", false, formatErr(where, off, "the %d-byte string runs past the end of the %d-byte table", n, len(p.raw))
	}
	// Linux prints strings with %.*s: they end at a NUL.
	return text(p.raw[off : off+n]), true, nil
}

func (p *parser) initiator(t *Table, off int) error {
	const where = "initiator"
	s, err := p.structure(where, off, idInitiator, InitiatorLen)
	if s == nil || err != nil {
		return err
	}
	in := &Initiator{
		Index: s[4], Flags: Flags(s[5]),
		ISNSServer: addr(s[6:]), SLPServer: addr(s[22:]), PrimaryRADIUS: addr(s[38:]), SecondaryRADIUS: addr(s[54:]),
	}
	if in.Name, _, err = p.str(where+" name", s, 70); err != nil {
		return err
	}
	t.Initiator = in
	return nil
}

func (p *parser) nic(t *Table, where string, off int) error {
	s, err := p.structure(where, off, idNIC, NICLen)
	if s == nil || err != nil {
		return err
	}
	n := NIC{
		Index: s[4], Flags: Flags(s[5]),
		IP: addr(s[6:]), PrefixLen: s[22], Origin: Origin(s[23]),
		Gateway: addr(s[24:]), PrimaryDNS: addr(s[40:]), SecondaryDNS: addr(s[56:]), DHCPServer: addr(s[72:]),
		VLAN: le.Uint16(s[88:]),
		MAC:  net.HardwareAddr(bytes.Clone(s[90:96])),
		PCI:  BDF(le.Uint16(s[96:])),
	}
	if n.Hostname, _, err = p.str(where+" hostname", s, 98); err != nil {
		return err
	}
	t.NICs = append(t.NICs, n)
	return nil
}

func (p *parser) target(t *Table, where string, off int) error {
	s, err := p.structure(where, off, idTarget, TargetLen)
	if s == nil || err != nil {
		return err
	}
	g := Target{
		Index: s[4], Flags: Flags(s[5]),
		IP: addr(s[6:]), Port: le.Uint16(s[22:]),
		LUN:  LUN(s[24:32]),
		CHAP: CHAPType(s[32]), NICIndex: s[33],
	}
	var secret, rsecret string
	for _, f := range []struct {
		name  string
		field int
		dst   *string
	}{
		{"name", 34, &g.Name},
		{"CHAP name", 38, &g.CHAPName},
		{"CHAP secret", 42, &secret},
		{"reverse CHAP name", 46, &g.ReverseCHAPName},
		{"reverse CHAP secret", 50, &rsecret},
	} {
		if *f.dst, _, err = p.str(where+" "+f.name, s, f.field); err != nil {
			return err
		}
	}
	g.CHAPSecret, g.ReverseCHAPSecret = NewSecret(secret), NewSecret(rsecret)
	t.Targets = append(t.Targets, g)
	return nil
}

// addr decodes a 16-byte address: IPv4 in its IPv4-mapped form, else IPv6;
// :: and ::ffff:0.0.0.0 (what firmware writes for none) are absent.
func addr(b []byte) netip.Addr {
	a := netip.AddrFrom16([16]byte(b[:16]))
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// text returns b up to its first NUL.
func text(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
