// Package ibfttest models what Linux's iscsi_ibft module (6.1) exports for
// an iBFT, for tests of code that reads /sys/firmware/ibft: Sysfs returns
// the files, Exported the table ReadSysfs gives back from them. The boot
// test TestIBFTTableKernel checks the model against the real kernel.
package ibfttest

import (
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/netroot/netroot/pkg/ibft"
)

// Sysfs returns the files the kernel shows for t, rooted like /sys
// (firmware/ibft/…), each NIC with a "device" link to its PCI address.
// With raw set (Marshal's output) it adds firmware/acpi/tables/<signature>,
// as when the firmware put the table in the ACPI tables.
func Sysfs(t *ibft.Table, raw []byte) fstest.MapFS {
	m := fstest.MapFS{}
	file := func(p, v string) { m["firmware/ibft/"+p] = &fstest.MapFile{Data: []byte(v), Mode: 0o400} }
	dir := func(p string) { m["firmware/ibft/"+p] = &fstest.MapFile{Mode: fs.ModeDir | 0o755} }
	num := func(v uint64) string { return fmt.Sprintf("%d\n", v) }
	sig := t.Signature
	if sig == "" {
		sig = "iBFT"
	}
	dir("acpi_header")
	file("acpi_header/signature", sig+"\n")
	file("acpi_header/oem_id", t.OEMID+"\n")
	file("acpi_header/oem_table_id", t.OEMTableID+"\n")
	if in := t.Initiator; in != nil {
		dir("initiator")
		file("initiator/index", num(uint64(in.Index)))
		file("initiator/flags", num(uint64(in.Flags)))
		for _, a := range []struct {
			name string
			a    netip.Addr
		}{{"isns-server", in.ISNSServer}, {"slp-server", in.SLPServer}, {"pri-radius-server", in.PrimaryRADIUS}, {"sec-radius-server", in.SecondaryRADIUS}} {
			if a.a.IsValid() {
				file("initiator/"+a.name, ipaddr(a.a))
			}
		}
		if in.Name != "" {
			file("initiator/initiator-name", in.Name+"\n")
		}
	}
	for _, n := range t.NICs {
		d := fmt.Sprintf("ethernet%d/", n.Index)
		dir(d[:len(d)-1])
		file(d+"index", num(uint64(n.Index)))
		file(d+"flags", num(uint64(n.Flags)))
		if n.IP.IsValid() {
			file(d+"ip-addr", ipaddr(n.IP))
		}
		if n.PrefixLen != 0 {
			file(d+"prefix-len", num(uint64(n.PrefixLen)))
			// ~((1 << (32-prefix)) - 1) as a 32-bit int (the shift
			// count masked to 5 bits, as x86 does), printed with %pI4
			// and no newline.
			mask := ^(uint32(1)<<((32-uint32(n.PrefixLen))&31) - 1)
			file(d+"subnet-mask", netip.AddrFrom4([4]byte{byte(mask >> 24), byte(mask >> 16), byte(mask >> 8), byte(mask)}).String())
		}
		file(d+"origin", num(uint64(n.Origin)))
		for _, a := range []struct {
			name string
			a    netip.Addr
		}{{"gateway", n.Gateway}, {"primary-dns", n.PrimaryDNS}, {"secondary-dns", n.SecondaryDNS}, {"dhcp", n.DHCPServer}} {
			if a.a.IsValid() {
				file(d+a.name, ipaddr(a.a))
			}
		}
		file(d+"vlan", num(uint64(n.VLAN)))
		file(d+"mac", n.MAC.String()+"\n")
		if n.Hostname != "" {
			file(d+"hostname", n.Hostname+"\n")
		}
		m["firmware/ibft/"+d+"device"] = &fstest.MapFile{Data: []byte("../../../devices/pci0000:00/" + n.PCI.String()), Mode: fs.ModeSymlink | 0o777}
	}
	for _, g := range t.Targets {
		d := fmt.Sprintf("target%d/", g.Index)
		dir(d[:len(d)-1])
		file(d+"index", num(uint64(g.Index)))
		file(d+"flags", num(uint64(g.Flags)))
		file(d+"ip-addr", ipaddr(g.IP))
		file(d+"port", num(uint64(g.Port)))
		var lun strings.Builder
		for _, b := range g.LUN {
			fmt.Fprintf(&lun, "%x", b)
		}
		file(d+"lun", lun.String()+"\n")
		file(d+"nic-assoc", num(uint64(g.NICIndex)))
		file(d+"chap-type", num(uint64(g.CHAP)))
		if g.Name != "" {
			file(d+"target-name", g.Name+"\n")
		}
		if g.CHAPName != "" {
			file(d+"chap-name", g.CHAPName+"\n")
			file(d+"chap-secret", g.CHAPSecret.Reveal()+"\n")
		}
		if g.ReverseCHAPName != "" {
			file(d+"rev-chap-name", g.ReverseCHAPName+"\n")
			file(d+"rev-chap-name-secret", g.ReverseCHAPSecret.Reveal()+"\n")
		}
	}
	if raw != nil {
		m["firmware/acpi/tables/"+sig] = &fstest.MapFile{Data: raw, Mode: 0o400}
	}
	return m
}

// ipaddr prints a like the kernel: %pI4 for IPv4 (IPv4-mapped in the
// table), else %pI6 (eight groups of four hex digits), then a newline;
// an absent address is 16 zero bytes, which is not IPv4-mapped.
func ipaddr(a netip.Addr) string {
	if a.Is4() {
		return a.String() + "\n"
	}
	b := a.As16()
	var s strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			s.WriteByte(':')
		}
		fmt.Fprintf(&s, "%02x%02x", b[i], b[i+1])
	}
	return s.String() + "\n"
}

// Exported returns what ReadSysfs gives back for t from the kernel's
// files: no control flags, OEM revision or creator fields; CHAP secrets
// only with their names; NICs and targets sorted by index.
func Exported(t *ibft.Table) *ibft.Table {
	e := &ibft.Table{Signature: t.Signature, OEMID: t.OEMID, OEMTableID: t.OEMTableID}
	if e.Signature == "" {
		e.Signature = "iBFT"
	}
	if t.Initiator != nil {
		in := *t.Initiator
		e.Initiator = &in
	}
	e.NICs = slices.Clone(t.NICs)
	for _, g := range t.Targets {
		if g.CHAPName == "" {
			g.CHAPSecret = ibft.Secret{}
		}
		if g.ReverseCHAPName == "" {
			g.ReverseCHAPSecret = ibft.Secret{}
		}
		e.Targets = append(e.Targets, g)
	}
	slices.SortFunc(e.NICs, func(a, b ibft.NIC) int { return int(a.Index) - int(b.Index) })
	slices.SortFunc(e.Targets, func(a, b ibft.Target) int { return int(a.Index) - int(b.Index) })
	return e
}
