package ibft

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Where the kernel puts the table, relative to /sys.
const (
	SysfsDir     = "firmware/ibft"
	ACPITableDir = "firmware/acpi/tables"
)

// maxAttr is the most a sysfs attribute holds (one page).
const maxAttr = 4096

// ReadSysfs reads the iBFT from sys, a view of /sys (os.DirFS("/sys")):
// from the directories iscsi_ibft exports under firmware/ibft (initiator,
// ethernet<N>, target<N>, acpi_header), or, when that is absent (the
// module not loaded, or refusing the table), by parsing the raw table
// firmware/acpi/tables/{iBFT,IBFT,BIFT} (also when the kernel exports no
// structure at all). Without either it returns an error wrapping
// ErrNoTable.
//
// The kernel exports no control flags, ACPI OEM revision or creator
// fields: those stay zero. A NIC's PCI address comes from its "device"
// link, which the kernel makes only when a PCI device sits at the
// table's address (else PCI is 0). The kernel skips structures it finds
// malformed (a wrong ID or length, an offset outside the table) and
// exports the others; Parse would fail on them.
func ReadSysfs(sys fs.FS) (*Table, error) {
	entries, err := fs.ReadDir(sys, SysfsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return readACPI(sys, "absent (is iscsi_ibft loaded? it refuses a malformed table)")
	}
	if err != nil {
		return nil, &FormatError{Where: "/sys/" + SysfsDir, Offset: -1, Reason: "cannot list it", Err: err}
	}
	r := sysfsReader{sys: sys}
	t := &Table{}
	for _, e := range entries {
		name := e.Name()
		dir := path.Join(SysfsDir, name)
		switch {
		case name == "acpi_header":
			t.Signature, _ = r.text(dir, "signature")
			t.OEMID, _ = r.text(dir, "oem_id")
			t.OEMTableID, _ = r.text(dir, "oem_table_id")
		case name == "initiator":
			t.Initiator = r.initiator(dir)
		case strings.HasPrefix(name, "ethernet"):
			if n, ok := r.nic(dir, name); ok {
				t.NICs = append(t.NICs, n)
			}
		case strings.HasPrefix(name, "target"):
			if g, ok := r.target(dir, name); ok {
				t.Targets = append(t.Targets, g)
			}
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if t.Initiator == nil && len(t.NICs) == 0 && len(t.Targets) == 0 {
		// The kernel skipped every structure: the raw table, if any,
		// says why.
		return readACPI(sys, "holds no initiator, NIC or target")
	}
	slices.SortFunc(t.NICs, func(a, b NIC) int { return int(a.Index) - int(b.Index) })
	slices.SortFunc(t.Targets, func(a, b Target) int { return int(a.Index) - int(b.Index) })
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// readACPI parses the raw table from the ACPI tables directory; why says
// what is wrong with /sys/firmware/ibft when there is none.
func readACPI(sys fs.FS, why string) (*Table, error) {
	for _, sig := range signatures {
		p := path.Join(ACPITableDir, sig)
		raw, err := readLimited(sys, p, maxTableLen+1)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, &FormatError{Where: "/sys/" + p, Offset: -1, Reason: "cannot read the raw table", Err: err}
		}
		t, err := Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%w (read from /sys/%s)", err, p)
		}
		return t, nil
	}
	return nil, &FormatError{Where: "/sys/" + SysfsDir, Offset: -1, Err: ErrNoTable,
		Reason: why + ", and /sys/" + ACPITableDir + " has no iBFT (does the firmware publish one?)"}
}

func readLimited(sys fs.FS, name string, limit int) ([]byte, error) {
	f, err := sys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return b, nil
}

// sysfsReader reads attributes, keeping the first error.
type sysfsReader struct {
	sys fs.FS
	err error
}

func (r *sysfsReader) fail(p, format string, a ...any) {
	if r.err == nil {
		r.err = &FormatError{Where: "/sys/" + p, Offset: -1, Reason: fmt.Sprintf(format, a...)}
	}
}

// text returns an attribute without the newline the kernel ends it with;
// false when the kernel does not show it.
func (r *sysfsReader) text(dir, name string) (string, bool) {
	if r.err != nil {
		return "", false
	}
	p := path.Join(dir, name)
	b, err := readLimited(r.sys, p, maxAttr)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		r.err = &FormatError{Where: "/sys/" + p, Offset: -1, Reason: "cannot read it", Err: err}
		return "", false
	}
	return strings.TrimSuffix(string(b), "\n"), true
}

// always reads an attribute the kernel always shows.
func (r *sysfsReader) always(dir, name string) (string, bool) {
	s, ok := r.text(dir, name)
	if !ok && r.err == nil {
		r.fail(path.Join(dir, name), "missing: the kernel always shows it")
	}
	return s, ok
}

// uint reads a number the kernel always shows.
func (r *sysfsReader) uint(dir, name string, bits int) uint64 {
	s, ok := r.always(dir, name)
	if !ok {
		return 0
	}
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		r.fail(path.Join(dir, name), "%q is not a %d-bit number", s, bits)
	}
	return v
}

func (r *sysfsReader) addr(dir, name string) netip.Addr {
	s, ok := r.text(dir, name)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		r.fail(path.Join(dir, name), "%q is not an IP address", s)
		return netip.Addr{}
	}
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// index reads the index attribute and checks it against the directory's
// name (kind<index>).
func (r *sysfsReader) index(dir, name, kind string) uint8 {
	i := uint8(r.uint(dir, "index", 8))
	if r.err == nil && name != kind+strconv.Itoa(int(i)) {
		r.fail(path.Join(dir, "index"), "index %d in directory %s", i, name)
	}
	return i
}

func (r *sysfsReader) initiator(dir string) *Initiator {
	in := &Initiator{
		Index:           uint8(r.uint(dir, "index", 8)),
		Flags:           Flags(r.uint(dir, "flags", 8)),
		ISNSServer:      r.addr(dir, "isns-server"),
		SLPServer:       r.addr(dir, "slp-server"),
		PrimaryRADIUS:   r.addr(dir, "pri-radius-server"),
		SecondaryRADIUS: r.addr(dir, "sec-radius-server"),
	}
	in.Name, _ = r.text(dir, "initiator-name")
	return in
}

func (r *sysfsReader) nic(dir, name string) (NIC, bool) {
	n := NIC{
		Index:        r.index(dir, name, "ethernet"),
		Flags:        Flags(r.uint(dir, "flags", 8)),
		IP:           r.addr(dir, "ip-addr"),
		Origin:       Origin(r.uint(dir, "origin", 8)),
		Gateway:      r.addr(dir, "gateway"),
		PrimaryDNS:   r.addr(dir, "primary-dns"),
		SecondaryDNS: r.addr(dir, "secondary-dns"),
		DHCPServer:   r.addr(dir, "dhcp"),
		VLAN:         uint16(r.uint(dir, "vlan", 16)),
	}
	n.PrefixLen = r.prefix(dir)
	if s, ok := r.always(dir, "mac"); ok {
		mac, err := net.ParseMAC(s)
		if err != nil || len(mac) != 6 {
			r.fail(path.Join(dir, "mac"), "%q is not a 6-byte MAC address", s)
		}
		n.MAC = mac
	}
	n.Hostname, _ = r.text(dir, "hostname")
	n.PCI = r.pci(dir)
	return n, r.err == nil
}

// prefix reads prefix-len, or, from kernels without it, subnet-mask (a
// dotted mask; some old kernels printed the prefix length there).
func (r *sysfsReader) prefix(dir string) uint8 {
	if s, ok := r.text(dir, "prefix-len"); ok {
		v, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			r.fail(path.Join(dir, "prefix-len"), "%q is not a prefix length", s)
		}
		return uint8(v)
	}
	s, ok := r.text(dir, "subnet-mask")
	if !ok {
		return 0
	}
	if v, err := strconv.ParseUint(s, 10, 8); err == nil {
		return uint8(v)
	}
	ip := net.ParseIP(s).To4()
	if ip == nil {
		r.fail(path.Join(dir, "subnet-mask"), "%q is not a subnet mask", s)
		return 0
	}
	ones, bits := net.IPMask(ip).Size()
	if bits == 0 {
		r.fail(path.Join(dir, "subnet-mask"), "%q is not a contiguous subnet mask", s)
	}
	return uint8(ones)
}

// pci reads the NIC's PCI address from its device link, e.g.
// ../../../devices/pci0000:00/0000:00:03.0.
func (r *sysfsReader) pci(dir string) BDF {
	if r.err != nil {
		return 0
	}
	p := path.Join(dir, "device")
	target, err := fs.ReadLink(r.sys, p)
	if err != nil {
		// No link: the kernel found no PCI device at the table's
		// address (or the view has no links).
		return 0
	}
	var dom, bus, dev, fn uint
	base := path.Base(target)
	if n, err := fmt.Sscanf(base, "%4x:%2x:%2x.%1x", &dom, &bus, &dev, &fn); n != 4 || err != nil ||
		dom != 0 || dev > 0x1f || fn > 7 || len(base) != len("0000:00:00.0") {
		r.fail(p, "link to %q, not a PCI device of segment 0", target)
		return 0
	}
	return NewBDF(uint8(bus), uint8(dev), uint8(fn))
}

func (r *sysfsReader) target(dir, name string) (Target, bool) {
	g := Target{
		Index:    r.index(dir, name, "target"),
		Flags:    Flags(r.uint(dir, "flags", 8)),
		IP:       r.addr(dir, "ip-addr"),
		Port:     uint16(r.uint(dir, "port", 16)),
		CHAP:     CHAPType(r.uint(dir, "chap-type", 8)),
		NICIndex: uint8(r.uint(dir, "nic-assoc", 8)),
	}
	if s, ok := r.always(dir, "lun"); ok {
		lun, err := parseSysfsLUN(s)
		if err != nil {
			r.fail(path.Join(dir, "lun"), "%q: %v", s, err)
		}
		g.LUN = lun
	}
	g.Name, _ = r.text(dir, "target-name")
	g.CHAPName, _ = r.text(dir, "chap-name")
	s, _ := r.text(dir, "chap-secret")
	g.CHAPSecret = NewSecret(s)
	g.ReverseCHAPName, _ = r.text(dir, "rev-chap-name")
	// Linux names the reverse secret rev-chap-name-secret.
	s, ok := r.text(dir, "rev-chap-name-secret")
	if !ok {
		s, _ = r.text(dir, "rev-chap-secret")
	}
	g.ReverseCHAPSecret = NewSecret(s)
	return g, r.err == nil
}

// parseSysfsLUN decodes the kernel's LUN attribute, which prints each of
// the 8 bytes with %x: 00 01 00 … is "01000000". The byte boundaries are
// lost; a byte of two digits never starts with 0. When several readings
// remain, the one LUN in use is taken: a single level (bytes 2-7 zero)
// with peripheral addressing on bus 0 or flat addressing (byte 0 is 0 or
// 0x40-0x7f). Anything else with two readings is refused.
func parseSysfsLUN(s string) (LUN, error) {
	if len(s) < 8 || len(s) > 16 {
		return LUN{}, fmt.Errorf("%d hex digits, want 8 to 16", len(s))
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return LUN{}, errors.New("not hex digits")
		}
	}
	// Every reading: at most C(8,4) = 70.
	var found []LUN
	var cur LUN
	var walk func(pos, i int)
	walk = func(pos, i int) {
		if i == len(cur) {
			if pos == len(s) {
				found = append(found, cur)
			}
			return
		}
		if left, bytesLeft := len(s)-pos, len(cur)-i; left < bytesLeft || left > 2*bytesLeft {
			return
		}
		v, _ := strconv.ParseUint(s[pos:pos+1], 16, 8)
		cur[i] = byte(v)
		walk(pos+1, i+1)
		if pos+2 <= len(s) && s[pos] != '0' {
			v, _ := strconv.ParseUint(s[pos:pos+2], 16, 8)
			cur[i] = byte(v)
			walk(pos+2, i+1)
		}
	}
	walk(0, 0)
	if len(found) == 1 {
		return found[0], nil
	}
	var common []LUN
	for _, l := range found {
		if [6]byte(l[2:]) == [6]byte{} && (l[0] == 0 || l[0]&0xc0 == 0x40) {
			common = append(common, l)
		}
	}
	switch {
	case len(found) == 0:
		return LUN{}, errors.New("not 8 bytes printed with %x")
	case len(common) == 1:
		return common[0], nil
	}
	return LUN{}, fmt.Errorf("the kernel's %%x-per-byte form has %d readings", len(found))
}
