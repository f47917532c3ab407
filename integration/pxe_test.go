package integration

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/netroot/netroot/integration/rig"
)

// guestMAC is the MAC rig gives the guest's NIC i.
func guestMAC(i int) string { return fmt.Sprintf("52:54:00:77:00:%02x", 0x10+i) }

// pxeBoot network-boots the scenario from NIC nic in mode; dnsmasq's log
// is printed when the test fails.
func pxeBoot(t *testing.T, mode rig.PXEMode, nic int) *rig.Boot {
	t.Helper()
	if reason := rig.MissingPXE(); reason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the PXE boot tests, but: %s", reason)
		}
		t.Skip(reason)
	}
	b := start(t, rig.BootSpec{
		Cmdline: rig.ScenarioCmdline, Target: rig.DefaultTarget(), Shell: true,
		PXE: &rig.PXESpec{Mode: mode, NIC: nic},
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log (%s):\n%s", b.PXE.LogPath, b.PXE.Log())
		}
	})
	return b
}

// assertPXEDHCP checks dnsmasq's log for the PXE NIC's DHCP exchange
// handing out bootfile, that the other NIC never asked, and returns the
// address leased.
func assertPXEDHCP(t *testing.T, dlog string, nic int, bootfile string) string {
	t.Helper()
	mac := guestMAC(nic)
	for _, re := range []string{
		`DHCPDISCOVER\(br0\) ` + mac,
		`DHCPOFFER\(br0\) 10\.77\.0\.\d+ ` + mac,
		`DHCPREQUEST\(br0\) 10\.77\.0\.\d+ ` + mac,
		`option: 67 bootfile-name  ` + regexp.QuoteMeta(bootfile),
		`next server: 10\.77\.0\.1\b`,
	} {
		if !regexp.MustCompile(re).MatchString(dlog) {
			t.Errorf("dnsmasq log lacks %q", re)
		}
	}
	m := regexp.MustCompile(`DHCPACK\(br0\) (10\.77\.0\.\d+) ` + mac).FindStringSubmatch(dlog)
	if m == nil {
		t.Fatalf("dnsmasq never acknowledged a lease for %s", mac)
	}
	t.Logf("dnsmasq: %s leased %s, boot file %s", mac, m[1], bootfile)
	if other := guestMAC(1 - nic); strings.Contains(dlog, other) {
		t.Errorf("dnsmasq log mentions %s: only NIC %d has a boot ROM", other, nic)
	}
	return m[1]
}

// assertTFTPSent checks that dnsmasq sent each file, in that order, to
// addr over TFTP.
func assertTFTPSent(t *testing.T, dlog, addr string, files ...string) {
	t.Helper()
	last := -1
	for _, f := range files {
		loc := regexp.MustCompile(`dnsmasq-tftp\[\d+\]: sent \S+/tftp/` + regexp.QuoteMeta(f) +
			` to ` + regexp.QuoteMeta(addr) + `\b`).FindStringIndex(dlog)
		switch {
		case loc == nil:
			t.Errorf("dnsmasq did not log sending %s to %s over TFTP", f, addr)
		case loc[0] < last:
			t.Errorf("dnsmasq sent %s out of order", f)
		default:
			t.Logf("dnsmasq: TFTP %s → %s", f, addr)
			last = loc[0]
		}
	}
}

// terminalControls matches ANSI/VT100 control sequences: CSI (ESC [ …)
// and the two-byte escapes (ESC c, ESC 7, ESC M …).
var terminalControls = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|[0-Z\\-~])`)

// assertConsoleOrder checks that the console shows each pattern, in order.
func assertConsoleOrder(t *testing.T, console string, patterns ...string) {
	t.Helper()
	// The firmware and pxelinux draw on a terminal: cursor moves can land
	// in the middle of a line ("Loading v\x1b[25;09H\x1b[25;10Hmlinuz"),
	// depending on when the screen scrolls. Match the text as it reads.
	// A redraw can also put a carriage return there ("P\r\x1b[25;02HXELINUX").
	console = strings.ReplaceAll(terminalControls.ReplaceAllString(console, ""), "\r", "")
	last := -1
	for _, p := range patterns {
		loc := regexp.MustCompile(p).FindStringIndex(console)
		switch {
		case loc == nil:
			t.Errorf("console lacks %q", p)
		case loc[0] < last:
			t.Errorf("console shows %q before what precedes it in the boot", p)
		default:
			last = loc[0]
		}
	}
}

// assertPXERoot checks what /init and the real root saw of a boot from NIC
// nic: BOOTIF reached the kernel command line, /init named the PXE
// interface and made it the bond's primary, so the bond runs on it and
// carries its MAC.
func assertPXERoot(t *testing.T, console string, nic int) {
	t.Helper()
	mac, eth := guestMAC(nic), fmt.Sprintf("eth%d", nic)
	bootif := "BOOTIF=01-" + strings.ReplaceAll(mac, ":", "-")
	if got := reported(console, "cmdline"); len(got) != 1 || !strings.Contains(got[0], bootif) ||
		!strings.Contains(got[0], rig.ScenarioCmdline) {
		t.Errorf("/proc/cmdline in the real root = %q, want the scenario and %s", got, bootif)
	}
	lines := strings.Join(netrootLines(console), "\n")
	for _, re := range []string{
		`(?m)^netroot: links: eth0, eth1 present; PXE interface ` + eth + ` \(`,
		`(?m)^netroot: bond: bond0 active-backup ` + mac + `: ` + eth + ` active`,
		`(?m)^netroot: ip: bond0 10\.77\.0\.10/24`,
		`(?m)^netroot: login: 10\.77\.0\.1:3260 iqn\.2010-01\.org\.example:root`,
		`(?m)^netroot: mount-root: .* \(ro\)`,
		`(?m)^netroot: root ready at `,
	} {
		if !regexp.MustCompile(re).MatchString(lines) {
			t.Errorf("no netroot line matching %q", re)
		}
	}
	want := fmt.Sprintf(`active=%q mac=%q`, eth, mac)
	if got := reported(console, "bond"); len(got) != 1 || !strings.Contains(got[0], want) {
		t.Errorf("bond in the real root = %q, want %s", got, want)
	}
}

// TestPXEBootPXELinux boots like a classic diskless machine: only the
// second NIC has a boot ROM (iPXE); it gets an address and pxelinux.0 from
// dnsmasq, pxelinux reads pxelinux.cfg/default and loads our kernel and
// initramfs over TFTP with BOOTIF appended (IPAPPEND 2), and /init bonds
// both NICs with the PXE NIC as primary — so the bond carries its MAC,
// not the first NIC's — and reaches the iSCSI root.
func TestPXEBootPXELinux(t *testing.T) {
	const nic = 1
	b := pxeBoot(t, rig.PXELinuxMode, nic)
	console := assertRealRoot(t, b)
	dlog := b.PXE.Log()

	addr := assertPXEDHCP(t, dlog, nic, "pxelinux.0")
	// dnsmasq logs a file as sent once the client acknowledges its last
	// block; pxelinux starts the kernel right after the initramfs's, and
	// that acknowledgement can be lost as it shuts its network down. The
	// console's "Loading initrd.img... ok" (below) proves the initramfs
	// arrived whole; only TFTP could bring it (QEMU gets no -initrd here).
	assertTFTPSent(t, dlog, addr, "pxelinux.0", "ldlinux.c32", "pxelinux.cfg/default", rig.PXEKernelName)
	assertConsoleOrder(t, console,
		`SeaBIOS \(version`,
		`iPXE \(http://ipxe\.org\) 00:0[0-9a-f]\.0`,
		`Configuring \(net\d `+guestMAC(nic)+`\)[. ]*ok`,
		`net\d: `+regexp.QuoteMeta(addr)+`/255\.255\.255\.0`,
		`Filename: pxelinux\.0`,
		`PXELINUX \d+\.\d+ PXE`,
		`Loading vmlinuz\.\.\. ?ok`,
		`Loading initrd\.img\.\.\. ?ok`,
		`Linux version `,
		`Command line: BOOT_IMAGE=vmlinuz initrd=initrd\.img .*BOOTIF=01-`,
		`netroot: mount: `,
		`netroot: links: `,
		`netroot: root ready at `,
		`NETROOT-TEST: init=pid=1 `,
		`NETROOT-TEST: done=`,
	)
	assertPXERoot(t, console, nic)
}

// TestPXEBootIPXEScript boots from the first NIC through an iPXE script:
// dnsmasq recognises iPXE (DHCP option 175) and hands it boot.ipxe, whose
// kernel/initrd/boot lines fetch our kernel and initramfs over TFTP and
// add BOOTIF from ${netX/mac}.
func TestPXEBootIPXEScript(t *testing.T) {
	const nic = 0
	b := pxeBoot(t, rig.IPXEScriptMode, nic)
	console := assertRealRoot(t, b)
	dlog := b.PXE.Log()

	addr := assertPXEDHCP(t, dlog, nic, rig.PXEScriptName)
	if !regexp.MustCompile(`tags: ipxe, br0|tags: br0, ipxe`).MatchString(dlog) {
		t.Errorf("dnsmasq did not tag the client ipxe (dhcp-match option 175)")
	}
	assertTFTPSent(t, dlog, addr, rig.PXEScriptName, rig.PXEKernelName, rig.PXEInitrdName)
	assertConsoleOrder(t, console,
		`iPXE \(http://ipxe\.org\) 00:0[0-9a-f]\.0`,
		`Filename: `+regexp.QuoteMeta(rig.PXEScriptName),
		`iPXE script boot\.ipxe from 10\.77\.0\.1: booting `+guestMAC(nic),
		`Linux version `,
		`Command line: .*BOOTIF=01-`,
		`netroot: links: `,
		`netroot: root ready at `,
		`NETROOT-TEST: done=`,
	)
	assertPXERoot(t, console, nic)
}

// TestTerminalControls: the console line pxelinux drew in one CI run reads
// as "Loading vmlinuz... ok" once the cursor moves are dropped.
func TestTerminalControls(t *testing.T) {
	in := "Loading v\x1b[25;09H\x1b[25;10Hmlinuz... ok\r\n\x1b[2J\x1bcLoading initrd.img...ok"
	want := "Loading vmlinuz... ok\r\nLoading initrd.img...ok"
	if got := terminalControls.ReplaceAllString(in, ""); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
