package modload

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synthELF builds a minimal little-endian ELF64 relocatable file whose only
// sections are .modinfo (holding data) and .shstrtab.
func synthELF(data []byte) []byte {
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	modOff := uint64(ehsize)
	strOff := modOff + uint64(len(data))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7

	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /*64-bit*/, 1 /*LE*/, 1 /*version*/, 0})
	b.Write(make([]byte, 8))
	binary.Write(&b, le, uint16(1))  // e_type ET_REL
	binary.Write(&b, le, uint16(62)) // e_machine x86-64
	binary.Write(&b, le, uint32(1))  // e_version
	binary.Write(&b, le, uint64(0))  // e_entry
	binary.Write(&b, le, uint64(0))  // e_phoff
	binary.Write(&b, le, shOff)      // e_shoff
	binary.Write(&b, le, uint32(0))  // e_flags
	binary.Write(&b, le, uint16(ehsize))
	binary.Write(&b, le, uint16(0)) // e_phentsize
	binary.Write(&b, le, uint16(0)) // e_phnum
	binary.Write(&b, le, uint16(shentsize))
	binary.Write(&b, le, uint16(3)) // e_shnum
	binary.Write(&b, le, uint16(2)) // e_shstrndx
	b.Write(data)
	b.Write(shstr)
	b.Write(make([]byte, int(shOff)-b.Len()))
	section := func(name, typ uint32, flags, off, size uint64) {
		binary.Write(&b, le, name)
		binary.Write(&b, le, typ)
		binary.Write(&b, le, flags)
		binary.Write(&b, le, uint64(0)) // addr
		binary.Write(&b, le, off)
		binary.Write(&b, le, size)
		binary.Write(&b, le, uint32(0)) // link
		binary.Write(&b, le, uint32(0)) // info
		binary.Write(&b, le, uint64(1)) // align
		binary.Write(&b, le, uint64(0)) // entsize
	}
	section(0, 0, 0, 0, 0)
	section(1, 1 /*PROGBITS*/, 2 /*ALLOC*/, modOff, uint64(len(data)))
	section(10, 3 /*STRTAB*/, 0, strOff, uint64(len(shstr)))
	return b.Bytes()
}

// modinfoBytes joins key=value fields the way .modinfo stores them.
func modinfoBytes(fields ...string) []byte {
	return []byte(strings.Join(fields, "\x00") + "\x00")
}

// writeFile writes data to dir/rel, creating directories.
func writeFile(t *testing.T, dir, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeMod describes a synthetic module of a test tree.
type fakeMod struct {
	path    string // relative, e.g. "kernel/fs/ext4/ext4.ko"
	name    string
	depends string   // comma list
	softdep string   // "pre: … post: …"
	aliases []string // alias= entries
}

// writeTree writes synthetic .ko files (and modules.builtin lines) into a
// fresh temporary directory and returns it.
func writeTree(t *testing.T, mods []fakeMod, builtin ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range mods {
		fields := []string{"license=GPL", "depends=" + m.depends, "name=" + m.name, "vermagic=6.1.0-test SMP mod_unload"}
		if m.softdep != "" {
			fields = append(fields, "softdep="+m.softdep)
		}
		for _, a := range m.aliases {
			fields = append(fields, "alias="+a)
		}
		writeFile(t, dir, m.path, synthELF(modinfoBytes(fields...)))
	}
	if len(builtin) > 0 {
		writeFile(t, dir, "modules.builtin", []byte(strings.Join(builtin, "\n")+"\n"))
	}
	return dir
}

// testMods is a small tree shaped like the real one.
var testMods = []fakeMod{
	{path: "kernel/drivers/scsi/scsi_common.ko", name: "scsi_common"},
	{path: "kernel/drivers/scsi/scsi_mod.ko", name: "scsi_mod", depends: "scsi_common"},
	{path: "kernel/drivers/scsi/sd_mod.ko", name: "sd_mod", depends: "scsi_mod,scsi_common,crc_t10dif"},
	{path: "kernel/drivers/scsi/scsi_transport_iscsi.ko", name: "scsi_transport_iscsi", depends: "scsi_mod"},
	{path: "kernel/drivers/scsi/libiscsi.ko", name: "libiscsi", depends: "scsi_transport_iscsi,scsi_mod"},
	{path: "kernel/drivers/scsi/libiscsi_tcp.ko", name: "libiscsi_tcp", depends: "libiscsi,scsi_transport_iscsi"},
	{path: "kernel/drivers/scsi/iscsi_tcp.ko", name: "iscsi_tcp", depends: "libiscsi,libiscsi_tcp,scsi_transport_iscsi,scsi_mod"},
	{path: "kernel/fs/jbd2/jbd2.ko", name: "jbd2"},
	{path: "kernel/fs/mbcache.ko", name: "mbcache"},
	{path: "kernel/lib/crc16.ko", name: "crc16"},
	{path: "kernel/fs/ext4/ext4.ko", name: "ext4", depends: "jbd2,mbcache,crc16", softdep: "pre: crypto-crc32c", aliases: []string{"fs-ext4", "ext3"}},
	{path: "kernel/crypto/crc32c_generic.ko", name: "crc32c_generic", aliases: []string{"crypto-crc32c", "crc32c", "crc32c-generic"}},
	{path: "kernel/arch/x86/crypto/crc32c-intel.ko", name: "crc32c_intel", aliases: []string{"crypto-crc32c", "crc32c", "cpu:type:x86,ven*fam*mod*:feature:*0094*"}},
	{path: "kernel/drivers/net/failover.ko", name: "failover"},
	{path: "kernel/drivers/net/net_failover.ko", name: "net_failover", depends: "failover"},
	{path: "kernel/drivers/virtio/virtio.ko", name: "virtio"},
	{path: "kernel/drivers/virtio/virtio_ring.ko", name: "virtio_ring"},
	{path: "kernel/drivers/virtio/virtio_pci.ko", name: "virtio_pci", depends: "virtio_ring,virtio", aliases: []string{"pci:v00001AF4d*sv*sd*bc*sc*i*"}},
	{path: "kernel/drivers/net/virtio_net.ko", name: "virtio_net", depends: "virtio_ring,virtio,net_failover", aliases: []string{"virtio:d00000001v*"}},
	{path: "kernel/drivers/net/bonding/bonding.ko", name: "bonding", aliases: []string{"rtnl-link-bond"}},
	{path: "kernel/drivers/net/ethernet/intel/e1000/e1000.ko", name: "e1000", aliases: []string{"pci:v00008086d0000100Esv*sd*bc*sc*i*"}},
}

// testBuiltin are modules.builtin lines of the small tree.
var testBuiltin = []string{"kernel/lib/crc-t10dif.ko", "kernel/crypto/sha256_generic.ko"}
