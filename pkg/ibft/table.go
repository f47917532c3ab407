package ibft

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
)

// Table is an iSCSI Boot Firmware Table.
type Table struct {
	// Signature is the ACPI signature: "iBFT" (the iBFT spec), "IBFT"
	// (the ACPI spec's name) or "BIFT" (Broadcom's offload firmware).
	// Marshal writes "iBFT" when it is empty.
	Signature string
	// OEMID, OEMTableID and CreatorID are the ACPI header's text fields
	// (at most 6, 8 and 4 bytes), without their NUL padding.
	OEMID      string
	OEMTableID string
	CreatorID  string
	// OEMRevision and CreatorRevision are the ACPI header's numbers.
	OEMRevision     uint32
	CreatorRevision uint32
	// Control are the control structure's flags. The kernel does not
	// export them: ReadSysfs leaves them zero.
	Control ControlFlags

	// Initiator is nil when the table describes none.
	Initiator *Initiator
	// NICs and Targets are in the order of the control structure's slots
	// (Parse) or of their indexes (ReadSysfs); the table has at most two
	// of each.
	NICs    []NIC
	Targets []Target
}

// NIC returns the NIC with the given index (what Target.NICIndex names).
func (t *Table) NIC(index uint8) (*NIC, bool) {
	for i := range t.NICs {
		if t.NICs[i].Index == index {
			return &t.NICs[i], true
		}
	}
	return nil, false
}

// ControlFlags are the control structure's flags.
type ControlFlags uint8

// SingleLoginOnly asks the OS to log in only to the target the firmware
// booted from (clear: log in to every target).
const SingleLoginOnly ControlFlags = 1 << 0

// Flags are the flags of an initiator, NIC or target structure.
type Flags uint8

// Flags every structure has, and those of one kind of structure.
const (
	// BlockValid says the structure's contents are valid.
	BlockValid Flags = 1 << 0
	// FirmwareBootSelected says the firmware booted through this
	// initiator, NIC or target.
	FirmwareBootSelected Flags = 1 << 1
	// NICGlobal (NICs): the address is global, not link-local.
	NICGlobal Flags = 1 << 2
	// TargetRADIUSCHAP and TargetRADIUSReverseCHAP (targets): CHAP or
	// reverse CHAP secrets come from a RADIUS server.
	TargetRADIUSCHAP        Flags = 1 << 2
	TargetRADIUSReverseCHAP Flags = 1 << 3
)

// Has reports whether every flag of x is set.
func (f Flags) Has(x Flags) bool { return f&x == x }

// Initiator is the initiator structure.
type Initiator struct {
	Index uint8
	Flags Flags
	// Name is the initiator's iSCSI name.
	Name string
	// ISNSServer, SLPServer, PrimaryRADIUS and SecondaryRADIUS are the
	// invalid netip.Addr when absent.
	ISNSServer      netip.Addr
	SLPServer       netip.Addr
	PrimaryRADIUS   netip.Addr
	SecondaryRADIUS netip.Addr
}

// NIC is a NIC structure: how the firmware configured one network port.
type NIC struct {
	// Index is what targets name in NICIndex; the kernel exports the NIC
	// as ethernet<Index>.
	Index uint8
	Flags Flags
	// IP is the NIC's address (the invalid netip.Addr when absent) and
	// PrefixLen its prefix length (the table stores no subnet mask).
	IP        netip.Addr
	PrefixLen uint8
	// Origin says where IP came from (DHCP, manual, …).
	Origin Origin
	// Gateway, PrimaryDNS, SecondaryDNS and DHCPServer are the invalid
	// netip.Addr when absent.
	Gateway      netip.Addr
	PrimaryDNS   netip.Addr
	SecondaryDNS netip.Addr
	DHCPServer   netip.Addr
	// VLAN is the 802.1Q tag as the firmware wrote it (iPXE writes the
	// VLAN ID); 0 means no VLAN. VLANID returns its 12-bit ID.
	VLAN uint16
	// MAC is the port's 6-byte MAC address.
	MAC net.HardwareAddr
	// PCI is the NIC's PCI bus/device/function (segment 0).
	PCI BDF
	// Hostname is the firmware's hostname for this NIC, "" when absent.
	Hostname string
}

// Prefix returns IP/PrefixLen; false when the NIC has no address.
func (n *NIC) Prefix() (netip.Prefix, bool) {
	if !n.IP.IsValid() {
		return netip.Prefix{}, false
	}
	p := netip.PrefixFrom(n.IP, int(n.PrefixLen))
	return p, p.IsValid()
}

// VLANID returns the VLAN ID of the VLAN tag (0: no VLAN).
func (n *NIC) VLANID() uint16 { return n.VLAN & 0x0fff }

// DHCP reports whether the firmware got the NIC's address over DHCP.
func (n *NIC) DHCP() bool { return n.Origin == OriginDHCP }

// Target is a target structure: one iSCSI target and its boot LUN.
type Target struct {
	// Index: the kernel exports the target as target<Index>.
	Index uint8
	Flags Flags
	// IP and Port are the portal.
	IP   netip.Addr
	Port uint16
	// LUN is the boot LUN.
	LUN LUN
	// CHAP says which of the CHAP fields apply.
	CHAP CHAPType
	// NICIndex is the Index of the NIC the target is reached through.
	NICIndex uint8
	// Name is the target's iSCSI name.
	Name string
	// CHAPName and CHAPSecret authenticate the initiator (one-way and
	// mutual CHAP); ReverseCHAPName and ReverseCHAPSecret authenticate
	// the target (mutual CHAP).
	CHAPName          string
	CHAPSecret        Secret
	ReverseCHAPName   string
	ReverseCHAPSecret Secret
}

// Portal returns IP:Port.
func (t *Target) Portal() netip.AddrPort { return netip.AddrPortFrom(t.IP, t.Port) }

// Origin is where a NIC's address came from (Windows' NL_PREFIX_ORIGIN,
// which the iBFT spec uses).
type Origin uint8

// The origins the spec names.
const (
	OriginOther               Origin = 0
	OriginManual              Origin = 1
	OriginWellKnown           Origin = 2
	OriginDHCP                Origin = 3
	OriginRouterAdvertisement Origin = 4
	OriginUnchanged           Origin = 0x0f
)

func (o Origin) String() string {
	switch o {
	case OriginOther:
		return "other"
	case OriginManual:
		return "manual"
	case OriginWellKnown:
		return "well-known"
	case OriginDHCP:
		return "dhcp"
	case OriginRouterAdvertisement:
		return "router-advertisement"
	case OriginUnchanged:
		return "unchanged"
	}
	return "Origin(" + strconv.Itoa(int(o)) + ")"
}

// CHAPType is a target's authentication.
type CHAPType uint8

// The CHAP types of the spec.
const (
	CHAPNone   CHAPType = 0
	CHAPOneWay CHAPType = 1
	CHAPMutual CHAPType = 2
)

func (c CHAPType) String() string {
	switch c {
	case CHAPNone:
		return "none"
	case CHAPOneWay:
		return "CHAP"
	case CHAPMutual:
		return "mutual CHAP"
	}
	return "CHAPType(" + strconv.Itoa(int(c)) + ")"
}

// LUN is an 8-byte SCSI LUN (SAM format), as in the iSCSI PDUs.
type LUN [8]byte

// LUNFromInt returns the LUN Linux numbers n (int_to_scsilun): 1 is
// 00 01 00 00 00 00 00 00.
func LUNFromInt(n uint64) LUN {
	var l LUN
	for i := 0; i < len(l); i += 2 {
		l[i] = byte(n >> 8)
		l[i+1] = byte(n)
		n >>= 16
	}
	return l
}

// Int returns the number Linux gives the LUN (scsilun_to_int), the L of
// a SCSI device's H:C:T:L and what netroot=iscsi:…:<lun>:… names.
func (l LUN) Int() uint64 {
	var n uint64
	for i := 0; i < len(l); i += 2 {
		n |= (uint64(l[i])<<8 | uint64(l[i+1])) << (uint(i) * 8)
	}
	return n
}

func (l LUN) String() string { return strconv.FormatUint(l.Int(), 10) }

// BDF is a PCI bus/device/function in the iBFT's encoding: bus in the high
// byte, device in bits 7-3, function in bits 2-0.
type BDF uint16

// NewBDF returns the BDF of bus:device.function.
func NewBDF(bus, device, function uint8) BDF {
	return BDF(uint16(bus)<<8 | uint16(device&0x1f)<<3 | uint16(function&7))
}

func (b BDF) Bus() uint8      { return uint8(b >> 8) }
func (b BDF) Device() uint8   { return uint8(b>>3) & 0x1f }
func (b BDF) Function() uint8 { return uint8(b) & 7 }

// String returns the name Linux gives the device, e.g. 0000:00:03.0.
func (b BDF) String() string {
	return fmt.Sprintf("0000:%02x:%02x.%d", b.Bus(), b.Device(), b.Function())
}

// Secret is a CHAP secret. It never prints: fmt shows *** (or nothing
// when empty) whatever the verb.
type Secret struct{ v string }

// NewSecret returns a Secret holding s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String redacts the secret.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return "***"
}

// GoString redacts the secret in %#v output too.
func (s Secret) GoString() string { return `ibft.Secret{"***"}` }

// Format redacts the secret for every verb (%x and %d included).
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, s.String())
}
