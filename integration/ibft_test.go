package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/netroot/netroot/pkg/ibft"
	"github.com/netroot/netroot/pkg/ibft/ibfttest"
	"github.com/netroot/netroot/pkg/initramfs"
	"github.com/netroot/netroot/pkg/modload"
)

// ibftDumpScript is the /init of the iBFT probe: it loads iscsi_ibft (and
// virtio_net, so each NIC's device link leads to a net device), prints
// every file and link under /sys/firmware/ibft and the raw ACPI table in
// hex, the net devices behind the NICs and the kernel's iBFT messages,
// then powers off.
const ibftDumpScript = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
%s
dump() { echo "IBFT-FILE $1 $(od -An -v -tx1 "$1" | tr -d ' \n')"; }
for f in $(find /sys/firmware/ibft -type f 2>/dev/null); do dump "$f"; done
for l in $(find /sys/firmware/ibft -type l 2>/dev/null); do echo "IBFT-LINK $l $(readlink "$l")"; done
for f in /sys/firmware/acpi/tables/iBFT /sys/firmware/acpi/tables/IBFT /sys/firmware/acpi/tables/BIFT; do
	[ -e "$f" ] && dump "$f"
done
for d in /sys/firmware/ibft/ethernet*; do
	for n in "$d"/device/virtio*/net/*; do
		[ -e "$n/address" ] && echo "IBFT-NET ${d##*/} ${n##*/} $(cat "$n/address")"
	done
done
dmesg | grep -i -e ibft -e bift | sed 's/^/IBFT-DMESG /'
%s
echo IBFT-DONE
poweroff -f
`

// ibftHold makes the probe wait for a line on the console before it
// powers off, so the test can read the guest's memory.
const ibftHold = "echo IBFT-HOLD; read line"

// ibftInitramfs writes the probe's initramfs (static busybox, the
// modules with their dependencies, the dump script) into dir.
func ibftInitramfs(t *testing.T, k *rig.Kernel, dir string, hold bool) string {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skipf("the iBFT probe needs busybox-static: %v", err)
	}
	a := initramfs.New()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.AddHostFile("bin/busybox", busybox, 0o755))
	for _, applet := range []string{"sh", "mount", "insmod", "find", "od", "tr", "readlink", "cat", "dmesg", "grep", "sed", "poweroff", "echo"} {
		must(a.AddSymlink("bin/"+applet, "busybox"))
	}
	for _, d := range []string{"dev", "proc", "sys"} {
		must(a.AddDir(d, 0o755))
	}
	must(a.AddCharDev("dev/console", 0o600, 5, 1))
	idx, err := modload.ScanTree(k.ModulesDir)
	must(err)
	order, err := idx.Resolve("iscsi_ibft", "virtio_pci", "virtio_net")
	must(err)
	var insmods strings.Builder
	for _, n := range order {
		m, ok := idx.Module(n)
		if !ok {
			continue // built in
		}
		dst := "lib/modules/" + m.Path
		must(a.AddHostFile(dst, filepath.Join(k.ModulesDir, m.Path), 0o644))
		fmt.Fprintf(&insmods, "insmod /%s\n", dst)
	}
	wait := ""
	if hold {
		wait = ibftHold
	}
	must(a.AddFile("init", []byte(fmt.Sprintf(ibftDumpScript, insmods.String(), wait)), 0o755))
	p := filepath.Join(dir, "ibft-probe.img")
	f, err := os.Create(p)
	must(err)
	defer f.Close()
	_, err = a.Write(f, "gzip")
	must(err)
	must(f.Close())
	return p
}

// ibftDump is what the probe printed.
type ibftDump struct {
	sys    fstest.MapFS // files and links, rooted like /sys
	raw    []byte       // the raw ACPI table, nil when absent
	netdev map[string]string
	dmesg  []string
}

func parseIBFTDump(t *testing.T, log string) ibftDump {
	t.Helper()
	d := ibftDump{sys: fstest.MapFS{}, netdev: map[string]string{}}
	for _, line := range strings.Split(log, "\n") {
		// A line can follow the firmware's terminal escapes.
		i := strings.Index(line, "IBFT-")
		if i < 0 {
			continue
		}
		line = strings.TrimRight(line[i:], "\r")
		f := strings.SplitN(line, " ", 3)
		switch {
		case len(f) >= 2 && f[0] == "IBFT-FILE":
			hexed := ""
			if len(f) == 3 {
				hexed = f[2]
			}
			b, err := hex.DecodeString(hexed)
			if err != nil {
				t.Fatalf("console line %q: %v", line, err)
			}
			p := strings.TrimPrefix(f[1], "/sys/")
			if strings.HasPrefix(p, ibft.ACPITableDir+"/") {
				d.raw = b
			}
			d.sys[p] = &fstest.MapFile{Data: b, Mode: 0o400}
		case len(f) == 3 && f[0] == "IBFT-LINK":
			d.sys[strings.TrimPrefix(f[1], "/sys/")] = &fstest.MapFile{Data: []byte(f[2]), Mode: fs.ModeSymlink | 0o777}
		case len(f) == 3 && f[0] == "IBFT-NET":
			name, mac, _ := strings.Cut(f[2], " ")
			d.netdev[f[1]] = name + " " + mac
		case strings.HasPrefix(line, "IBFT-DMESG "):
			d.dmesg = append(d.dmesg, strings.TrimPrefix(line, "IBFT-DMESG "))
		}
	}
	return d
}

// ibftRig fetches the kernel and makes the test's directory (under the
// rig's cache) and a namespace with two taps.
func ibftRig(t *testing.T, ctx context.Context) (*rig.Kernel, string, *rig.Net) {
	t.Helper()
	if reason := rig.Missing(); reason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the boot tests, but: %s", reason)
		}
		t.Skip(reason)
	}
	k, err := rig.FetchKernel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := rig.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "ibft-tests", strings.ReplaceAll(t.Name(), "/", "-"))
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n, err := rig.NewNet(ctx, rig.HostAddr+"/24", 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return k, dir, n
}

// startIBFTVM starts vc and prints its console when the test fails.
func startIBFTVM(t *testing.T, vc rig.VMConfig) *rig.VM {
	t.Helper()
	vm, err := rig.StartVM(vc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console log (%s):\n%s", vm.LogPath, vm.Log())
		}
		vm.Kill()
	})
	return vm
}

// finishIBFTProbe waits for the probe to end and returns what it printed.
func finishIBFTProbe(t *testing.T, ctx context.Context, vm *rig.VM) ibftDump {
	t.Helper()
	if _, err := vm.WaitFor(ctx, regexp.MustCompile(`IBFT-DONE`)); err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(ctx); err != nil {
		t.Errorf("guest did not power off: %v", err)
	}
	d := parseIBFTDump(t, vm.Log())
	t.Logf("kernel: %s", strings.Join(d.dmesg, " | "))
	return d
}

// bootIBFTProbe boots the rig's kernel with the probe initramfs, two
// virtio NICs (at PCI 00:02.0 and 00:03.0, MACs guestMAC(0), guestMAC(1))
// and raw added to the ACPI tables, and returns what the probe printed.
func bootIBFTProbe(t *testing.T, raw []byte) ibftDump {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	k, dir, n := ibftRig(t, ctx)
	tables, err := rig.WriteACPITables(dir, [][]byte{raw})
	if err != nil {
		t.Fatal(err)
	}
	vm := startIBFTVM(t, rig.VMConfig{
		Kernel: k.Vmlinuz, Initrd: ibftInitramfs(t, k, dir, false), Cmdline: rig.Console + " quiet panic=-1",
		Net: n, Dir: dir, ACPITables: tables,
	})
	return finishIBFTProbe(t, ctx, vm)
}

// assertKernelModel checks the kernel's files against ibfttest's model of
// tab, file by file, and that ReadSysfs reads them back as
// ibfttest.Exported(tab).
func assertKernelModel(t *testing.T, d ibftDump, tab *ibft.Table, raw []byte) {
	t.Helper()
	want := ibfttest.Sysfs(tab, raw)
	for _, p := range sortedNames(want, d.sys) {
		w, g := want[p], d.sys[p]
		switch {
		case g == nil:
			t.Errorf("kernel lacks /sys/%s (model: %q)", p, w.Data)
		case w == nil:
			t.Errorf("kernel has /sys/%s = %q, which the model lacks", p, g.Data)
		case !bytes.Equal(w.Data, g.Data) || w.Mode.Type() != g.Mode.Type():
			t.Errorf("/sys/%s: kernel %q (%v), model %q (%v)", p, g.Data, g.Mode.Type(), w.Data, w.Mode.Type())
		}
	}
	exported := 0
	for p := range d.sys {
		if strings.HasPrefix(p, ibft.SysfsDir+"/") {
			exported++
		}
	}
	t.Logf("kernel exported %d files and links under /sys/%s, as modelled", exported, ibft.SysfsDir)
	got, err := ibft.ReadSysfs(d.sys)
	if err != nil {
		t.Fatalf("ReadSysfs(guest's files): %v", err)
	}
	if w := ibfttest.Exported(tab); !reflect.DeepEqual(got, w) {
		t.Errorf("ReadSysfs(guest's files) =\n%+v\nwant\n%+v", got, w)
	}
}

// ibftKernelTable is the table the kernel test generates: two NICs at the
// rig's NICs' PCI addresses and MACs (one on VLAN 100, with an IPv6 DNS
// server), two targets (one-way CHAP; mutual CHAP over IPv6 on a flat
// space LUN).
func ibftKernelTable() *ibft.Table {
	ip := netip.MustParseAddr
	mac := func(i int) net.HardwareAddr { m, _ := net.ParseMAC(guestMAC(i)); return m }
	return &ibft.Table{
		Signature: "iBFT", OEMID: "NETRT", OEMTableID: "NRTIBFT", OEMRevision: 2, CreatorID: "NRT", CreatorRevision: 1,
		Control: ibft.SingleLoginOnly,
		Initiator: &ibft.Initiator{
			Flags: ibft.BlockValid | ibft.FirmwareBootSelected, Name: rig.InitiatorIQN,
			ISNSServer: ip("10.77.0.5"), SecondaryRADIUS: ip("2001:db8::7"),
		},
		NICs: []ibft.NIC{{
			Index: 0, Flags: ibft.BlockValid | ibft.FirmwareBootSelected | ibft.NICGlobal,
			IP: ip("10.77.0.10"), PrefixLen: 24, Origin: ibft.OriginManual, Gateway: ip(rig.HostAddr),
			PrimaryDNS: ip(rig.HostAddr), SecondaryDNS: ip("2001:db8::53"),
			MAC: mac(0), PCI: ibft.NewBDF(0, 2, 0), Hostname: "client",
		}, {
			Index: 1, Flags: ibft.BlockValid, IP: ip("10.78.0.10"), PrefixLen: 17, Origin: ibft.OriginDHCP,
			DHCPServer: ip("10.78.0.1"), VLAN: 100, MAC: mac(1), PCI: ibft.NewBDF(0, 3, 0),
		}},
		Targets: []ibft.Target{{
			Index: 0, Flags: ibft.BlockValid | ibft.FirmwareBootSelected, IP: ip(rig.HostAddr), Port: 3260,
			LUN: ibft.LUNFromInt(1), NICIndex: 0, Name: rig.TargetIQN,
			CHAP: ibft.CHAPOneWay, CHAPName: "client-user", CHAPSecret: ibft.NewSecret("forward-secret-1"),
		}, {
			Index: 1, Flags: ibft.BlockValid, IP: ip("2001:db8::1"), Port: 3261, LUN: ibft.LUNFromInt(0x4005),
			NICIndex: 1, Name: "iqn.2010-01.org.example:data",
			CHAP: ibft.CHAPMutual, CHAPName: "client-user", CHAPSecret: ibft.NewSecret("forward-secret-2"),
			ReverseCHAPName: "target-user", ReverseCHAPSecret: ibft.NewSecret("reverse-secret-2"),
		}},
	}
}

// TestIBFTTableKernel gives Debian's kernel a table from ibft.Marshal
// through QEMU's -acpitable and checks that iscsi_ibft exports exactly
// what ibfttest models (file by file), that ReadSysfs reads back the
// table, that the raw ACPI table is Marshal's bytes, and that each NIC's
// device link leads to the NIC with the table's MAC.
func TestIBFTTableKernel(t *testing.T) {
	tab := ibftKernelTable()
	raw, err := ibft.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	d := bootIBFTProbe(t, raw)
	if !slices.ContainsFunc(d.dmesg, func(s string) bool { return strings.Contains(s, "iBFT detected") }) {
		t.Errorf("the kernel never said \"iBFT detected\": %q", d.dmesg)
	}

	if !bytes.Equal(d.raw, raw) {
		t.Errorf("raw ACPI table in the guest (%d bytes) differs from Marshal's (%d bytes)", len(d.raw), len(raw))
	}
	if p, err := ibft.Parse(d.raw); err != nil || !reflect.DeepEqual(p, tab) {
		t.Errorf("Parse(guest's raw table) = %+v, %v\nwant %+v", p, err, tab)
	}

	assertKernelModel(t, d, tab, raw)
	// Without iscsi_ibft's files, ReadSysfs falls back to the raw table.
	acpiOnly := fstest.MapFS{}
	for p, f := range d.sys {
		if !strings.HasPrefix(p, ibft.SysfsDir+"/") {
			acpiOnly[p] = f
		}
	}
	if got, err := ibft.ReadSysfs(acpiOnly); err != nil || !reflect.DeepEqual(got, tab) {
		t.Errorf("ReadSysfs of the raw table alone = %+v, %v\nwant %+v", got, err, tab)
	}

	for i, n := range tab.NICs {
		dev := fmt.Sprintf("ethernet%d", n.Index)
		nd := d.netdev[dev]
		if !strings.HasSuffix(nd, " "+n.MAC.String()) {
			t.Errorf("%s's device link leads to net device %q, want one with MAC %s (NIC %d)", dev, nd, n.MAC, i)
		}
		t.Logf("%s → %s (%s)", dev, nd, n.PCI)
	}
}

// TestIBFTTableKernelMalformed gives the kernel malformed tables and
// checks what iscsi_ibft does with each against what ReadSysfs reports:
// a table it refuses (ACPI revision 2, two NICs with one index) leaves no
// /sys/firmware/ibft, and ReadSysfs names the fault from the raw table; a
// structure it skips (a target of the wrong length) leaves the others
// exported, which ReadSysfs returns, while Parse of the raw table fails.
func TestIBFTTableKernelMalformed(t *testing.T) {
	for _, c := range []struct {
		name    string
		edit    func(raw []byte)
		kernel  string // in the kernel's messages
		refused bool   // no /sys/firmware/ibft
		parse   string // Parse's error
	}{
		{"revision", func(raw []byte) { raw[8] = 2 }, "supports only revision 1", true,
			"ACPI header at 0x0008: revision 2: Linux's iscsi_ibft reads only revision 1"},
		{"repeated NIC index", func(raw []byte) { raw[ibft.StructureOffset(raw, ibft.SlotNIC1)+4] = 0 }, "", true,
			"NIC 0: two NICs have index 0"},
		{"target length", func(raw []byte) { raw[ibft.StructureOffset(raw, ibft.SlotTarget1)+2] = 50 },
			"expected the target field header.length to have 54 but found 50", false,
			"target slot 1 at 0x01c0: length 50, want 54"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tab := ibftKernelTable()
			raw, err := ibft.Marshal(tab)
			if err != nil {
				t.Fatal(err)
			}
			c.edit(raw)
			ibft.FixChecksum(raw)
			d := bootIBFTProbe(t, raw)
			if !slices.ContainsFunc(d.dmesg, func(s string) bool { return strings.Contains(s, c.kernel) }) {
				t.Errorf("the kernel never said %q", c.kernel)
			}
			if _, err := ibft.Parse(d.raw); err == nil || !strings.Contains(err.Error(), c.parse) {
				t.Errorf("Parse(guest's raw table): %v, want %q", err, c.parse)
			}
			exported := slices.ContainsFunc(slices.Collect(maps.Keys(d.sys)), func(p string) bool { return strings.HasPrefix(p, ibft.SysfsDir+"/") })
			got, err := ibft.ReadSysfs(d.sys)
			switch {
			case c.refused && exported:
				t.Errorf("the kernel exported /sys/%s for a table it refused", ibft.SysfsDir)
			case c.refused:
				if err == nil || !strings.Contains(err.Error(), c.parse) || !strings.Contains(err.Error(), ibft.ACPITableDir) {
					t.Errorf("ReadSysfs: %v, want the raw table's error %q", err, c.parse)
				}
				t.Logf("ReadSysfs: %v", err)
			default:
				skipped := *tab
				skipped.Targets = tab.Targets[:1]
				assertKernelModel(t, d, &skipped, d.raw)
				t.Logf("ReadSysfs: %d NICs, targets %d (target 1 skipped by the kernel)", len(got.NICs), len(got.Targets))
			}
		})
	}
}

func sortedNames(ms ...fstest.MapFS) []string {
	var names []string
	for _, m := range ms {
		for p, f := range m {
			if f.Mode.IsDir() || slices.Contains(names, p) {
				continue
			}
			names = append(names, p)
		}
	}
	slices.Sort(names)
	return names
}

// ipxeSanhookScript hooks the rig's target as iPXE's SAN drive (which
// makes iPXE publish an iBFT), then loads the kernel and the probe.
func ipxeSanhookScript(cmdline string) string {
	return "#!ipxe\n" +
		"echo IPXE-SCRIPT ${netX/mac} ${netX/ip}\n" +
		"set initiator-iqn " + rig.InitiatorIQN + "\n" +
		"set username " + ipxeCHAP.User + "\n" +
		"set password " + ipxeCHAP.Password + "\n" +
		"set reverse-username " + ipxeCHAP.OutUser + "\n" +
		"set reverse-password " + ipxeCHAP.OutPassword + "\n" +
		"sanhook --drive 0x80 iscsi:" + rig.HostAddr + "::3260:1:" + rig.TargetIQN + " || goto failed\n" +
		"echo IPXE-SANHOOK-OK\n" +
		"kernel tftp://${next-server}/" + rig.PXEKernelName + " " + cmdline + "\n" +
		"initrd tftp://${next-server}/" + rig.PXEInitrdName + "\n" +
		"boot\n" +
		":failed\n" +
		"echo IPXE-SANHOOK-FAILED ${errno}\n"
}

// ipxeCHAP is the mutual CHAP the target of TestIBFTiPXESanhook wants.
var ipxeCHAP = rig.TargetConfig{User: "client-user", Password: "forward-secret-1", OutUser: "target-user", OutPassword: "reverse-secret-2"}

// TestIBFTiPXESanhook has QEMU's iPXE boot ROM (Debian ipxe-qemu) hook
// the rig's tgtd target with mutual CHAP (sanhook), then boot the kernel
// with the probe: iPXE leaves an iBFT in base memory, the kernel's
// low-memory scan finds it, and iscsi_ibft must export what the table
// holds. The test reads the table's bytes from the guest's memory
// (QEMU's pmemsave), parses them and checks them against the boot.
func TestIBFTiPXESanhook(t *testing.T) {
	if reason := rig.MissingPXE(); reason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the PXE boot tests, but: %s", reason)
		}
		t.Skip(reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	k, dir, n := ibftRig(t, ctx)

	lun := filepath.Join(dir, "lun1.img")
	if err := os.WriteFile(lun, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(lun, 16<<20); err != nil {
		t.Fatal(err)
	}
	tc := ipxeCHAP
	tc.Portal, tc.IQN, tc.LUNs = rig.HostAddr+":3260", rig.TargetIQN, []string{lun}
	target, err := rig.StartTarget(ctx, n, tc, filepath.Join(dir, "tgtd.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Stop)

	cmdline := rig.Console + " quiet panic=-1"
	root := filepath.Join(dir, "tftp")
	if err := rig.AssembleTFTPRoot(root, rig.IPXEScriptMode, k.Vmlinuz, ibftInitramfs(t, k, dir, true), cmdline); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, rig.PXEScriptName), []byte(ipxeSanhookScript(cmdline)), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := rig.StartPXEServer(ctx, n, rig.PXEServerConfig{
		Mode: rig.IPXEScriptMode, Interface: n.Bridge, ServerAddr: rig.HostAddr, TFTPRoot: root, Dir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", srv.Log())
		}
		srv.Stop()
	})
	vm := startIBFTVM(t, rig.VMConfig{Net: n, Dir: dir, NetBoot: true, BootNIC: 0})
	m, err := vm.WaitFor(ctx, regexp.MustCompile(`IPXE-SANHOOK-(OK|FAILED[^\r\n]*)\r?\n`))
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != "OK" {
		t.Fatalf("iPXE: sanhook %s", m[1])
	}
	if _, err := vm.WaitFor(ctx, regexp.MustCompile(`IBFT-HOLD`)); err != nil {
		t.Fatal(err)
	}
	// The kernel scans 0x80000-0xfffff (but the VGA window) for the
	// table, 16-byte aligned.
	memFile := filepath.Join(dir, "lowmem.bin")
	// Quoted: HMP reads an unquoted "/path" after a number as a division.
	if err := vm.Monitor(fmt.Sprintf("pmemsave 0x80000 0x80000 %q", memFile)); err != nil {
		t.Fatal(err)
	}
	if err := vm.Send("\n"); err != nil {
		t.Fatal(err)
	}
	d := finishIBFTProbe(t, ctx, vm)

	mem, err := os.ReadFile(memFile)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for off := 0; off+ibft.HeaderLen <= len(mem); off += 16 {
		if s := string(mem[off : off+4]); s == "iBFT" || s == "BIFT" {
			n := int(binary.LittleEndian.Uint32(mem[off+4:]))
			if off+n > len(mem) {
				t.Fatalf("table at %#x claims %d bytes", 0x80000+off, n)
			}
			raw = mem[off : off+n]
			t.Logf("iPXE's iBFT at %#x, %d bytes (saved in %s)", 0x80000+off, n, filepath.Join(dir, "ipxe-ibft.bin"))
			os.WriteFile(filepath.Join(dir, "ipxe-ibft.bin"), raw, 0o644)
			break
		}
	}
	if raw == nil {
		t.Fatal("no iBFT in the guest's memory from 0x80000 to 0xfffff")
	}
	tab, err := ibft.Parse(raw)
	if err != nil {
		t.Fatalf("Parse(iPXE's table): %v", err)
	}
	t.Logf("iPXE's table: %+v", tab)
	for _, nic := range tab.NICs {
		t.Logf("  NIC %+v", nic)
	}
	for _, g := range tab.Targets {
		t.Logf("  target %+v", g)
	}
	if d.raw != nil {
		t.Errorf("iPXE's table also in the ACPI tables (%d bytes): expected the low-memory copy only", len(d.raw))
	}
	assertKernelModel(t, d, tab, nil)

	if len(tab.NICs) != 1 || len(tab.Targets) != 1 || tab.Initiator == nil {
		t.Fatalf("iPXE's table has %d NICs, %d targets, initiator %v; want one each", len(tab.NICs), len(tab.Targets), tab.Initiator)
	}
	nic, g := tab.NICs[0], tab.Targets[0]
	if nic.MAC.String() != guestMAC(0) || !nic.Flags.Has(ibft.BlockValid|ibft.FirmwareBootSelected) ||
		nic.Origin != ibft.OriginDHCP || nic.PCI != ibft.NewBDF(0, 2, 0) {
		t.Errorf("NIC %+v: want %s at 00:02.0, valid, boot-selected, from DHCP", nic, guestMAC(0))
	}
	if nd := d.netdev["ethernet0"]; !strings.HasSuffix(nd, " "+guestMAC(0)) {
		t.Errorf("ethernet0's device is %q, want the NIC with %s", nd, guestMAC(0))
	}
	if tab.Initiator.Name != rig.InitiatorIQN || g.Name != rig.TargetIQN || g.Portal().String() != rig.HostAddr+":3260" ||
		g.LUN.Int() != 1 || g.CHAP != ibft.CHAPMutual || g.CHAPName != ipxeCHAP.User || g.CHAPSecret.Reveal() != ipxeCHAP.Password ||
		g.ReverseCHAPName != ipxeCHAP.OutUser || g.ReverseCHAPSecret.Reveal() != ipxeCHAP.OutPassword {
		t.Errorf("initiator %q, target %+v: want what the iPXE script hooked", tab.Initiator.Name, g)
	}
}
