package modload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/modload/modtest"
)

// synthELF builds a minimal module file whose .modinfo holds data.
func synthELF(data []byte) []byte { return modtest.ELF(data) }

// modinfoBytes joins key=value fields the way .modinfo stores them.
func modinfoBytes(fields ...string) []byte { return modtest.ModInfo(fields...) }

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
