package rig

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Files a PXE boot serves over TFTP, by their Debian locations.
const (
	// PXELinuxBin is Debian pxelinux's BIOS network bootloader.
	PXELinuxBin = "/usr/lib/PXELINUX/pxelinux.0"
	// LDLinuxC32 is syslinux-common's core module pxelinux.0 loads first.
	LDLinuxC32 = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	// PXEKernelName, PXEInitrdName and PXEScriptName are the names the
	// kernel, the initramfs and the iPXE script get in the TFTP root.
	PXEKernelName = "vmlinuz"
	PXEInitrdName = "initrd.img"
	PXEScriptName = "boot.ipxe"
	// PXERangeStart and PXERangeEnd bound the addresses the PXE server's
	// DHCP hands out: away from the guest's static .10.
	PXERangeStart = "10.77.0.100"
	PXERangeEnd   = "10.77.0.199"
)

// PXEMode says what the PXE server's DHCP tells the firmware to load.
type PXEMode int

const (
	// PXELinuxMode serves pxelinux.0, which reads pxelinux.cfg/default and
	// loads the kernel and initramfs, appending BOOTIF (IPAPPEND 2).
	PXELinuxMode PXEMode = iota
	// IPXEScriptMode serves an iPXE script (to clients that say they are
	// iPXE, DHCP option 175) whose kernel/initrd/boot lines load the
	// kernel and initramfs over TFTP.
	IPXEScriptMode
)

func (m PXEMode) String() string {
	switch m {
	case PXELinuxMode:
		return "pxelinux"
	case IPXEScriptMode:
		return "ipxe-script"
	}
	return fmt.Sprintf("PXEMode(%d)", int(m))
}

// PXESpec asks Env.Start to boot the guest from the network instead of
// QEMU's -kernel: dnsmasq in the boot's namespace serves DHCP and TFTP, and
// one NIC's boot ROM (QEMU's iPXE) boots from it. The kernel command line
// is BootSpec.Cmdline plus Console.
type PXESpec struct {
	// Mode picks pxelinux or an iPXE script.
	Mode PXEMode
	// NIC is the index of the NIC that network-boots (the others get no
	// boot ROM).
	NIC int
	// Script, when set (IPXEScriptMode), makes the iPXE script for the
	// kernel command line instead of IPXEScript.
	Script func(cmdline string) string
}

// PXELinuxConfig returns a pxelinux.cfg/default in the shape of a classic
// diskless setup: one label loading PXEKernelName with PXEInitrdName and
// cmdline, and IPAPPEND 2 so pxelinux appends BOOTIF=01-<mac> of the NIC
// it booted from.
func PXELinuxConfig(cmdline string) string {
	return "DEFAULT netroot\n" +
		"LABEL netroot\n" +
		"  KERNEL " + PXEKernelName + "\n" +
		"  APPEND initrd=" + PXEInitrdName + " " + strings.TrimSpace(cmdline) + "\n" +
		"  IPAPPEND 2\n"
}

// IPXEScript returns an iPXE script that loads PXEKernelName and
// PXEInitrdName from the TFTP server that handed it out (${next-server})
// and boots them with cmdline plus BOOTIF= of the NIC iPXE booted from —
// what pxelinux's IPAPPEND 2 adds. The initrd= argument names the initrd
// for EFI stubs; BIOS kernels ignore it.
func IPXEScript(cmdline string) string {
	return "#!ipxe\n" +
		"echo iPXE script " + PXEScriptName + " from ${next-server}: booting ${netX/mac}\n" +
		"kernel tftp://${next-server}/" + PXEKernelName + " initrd=" + PXEInitrdName + " " +
		strings.TrimSpace(cmdline) + " BOOTIF=01-${netX/mac:hexhyp}\n" +
		"initrd tftp://${next-server}/" + PXEInitrdName + "\n" +
		"boot\n"
}

// PXEServerConfig describes one dnsmasq serving DHCP and TFTP.
type PXEServerConfig struct {
	// Mode picks the DHCP boot file.
	Mode PXEMode
	// Interface is the namespace interface to serve on (the bridge).
	Interface string
	// ServerAddr is Interface's address (TFTP next-server).
	ServerAddr string
	// TFTPRoot is the directory served over TFTP.
	TFTPRoot string
	// Dir receives dnsmasq.log, its pid file and its lease file.
	Dir string
}

// dnsmasqArgs returns dnsmasq's arguments for c: no config file, no DNS,
// DHCP on PXERangeStart..PXERangeEnd bound to c.Interface, TFTP from
// c.TFTPRoot, every DHCP exchange and transfer logged to stderr.
func dnsmasqArgs(c PXEServerConfig) []string {
	args := []string{
		"--no-daemon",
		"--conf-file=/dev/null",
		"--port=0", // no DNS
		"--interface=" + c.Interface,
		"--bind-interfaces",
		"--dhcp-range=" + PXERangeStart + "," + PXERangeEnd + ",255.255.255.0,1h",
		"--dhcp-authoritative",
		"--dhcp-leasefile=" + filepath.Join(c.Dir, "dnsmasq.leases"),
		"--pid-file=" + filepath.Join(c.Dir, "dnsmasq.pid"),
		"--enable-tftp",
		"--tftp-root=" + c.TFTPRoot,
		"--log-dhcp",
		"--log-facility=-",
		"--user=root",
		"--group=root",
	}
	switch c.Mode {
	case PXELinuxMode:
		args = append(args, "--dhcp-boot=pxelinux.0,,"+c.ServerAddr)
	case IPXEScriptMode:
		// Clients that are iPXE already (option 175) get the script;
		// plain PXE ROMs get iPXE to chain-load first (undionly.kpxe
		// from Debian's ipxe package, on real hardware).
		args = append(args,
			"--dhcp-match=set:ipxe,175",
			"--dhcp-boot=tag:!ipxe,undionly.kpxe,,"+c.ServerAddr,
			"--dhcp-boot=tag:ipxe,"+PXEScriptName+",,"+c.ServerAddr)
	}
	return args
}

// AssembleTFTPRoot fills dir with what mode serves: the kernel and the
// initramfs under PXEKernelName and PXEInitrdName, plus pxelinux.0,
// ldlinux.c32 and pxelinux.cfg/default (PXELinuxMode) or PXEScriptName
// (IPXEScriptMode), all booting cmdline.
func AssembleTFTPRoot(dir string, mode PXEMode, kernel, initrd, cmdline string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	copies := map[string]string{PXEKernelName: kernel, PXEInitrdName: initrd}
	files := map[string]string{}
	switch mode {
	case PXELinuxMode:
		copies["pxelinux.0"] = PXELinuxBin
		copies["ldlinux.c32"] = LDLinuxC32
		files[filepath.Join("pxelinux.cfg", "default")] = PXELinuxConfig(cmdline)
	case IPXEScriptMode:
		files[PXEScriptName] = IPXEScript(cmdline)
	default:
		return fmt.Errorf("rig: tftp root: unknown %v", mode)
	}
	for dst, src := range copies {
		if err := copyTFTPFile(src, filepath.Join(dir, dst)); err != nil {
			return fmt.Errorf("rig: tftp root: %w (pxelinux.0 is Debian's pxelinux, ldlinux.c32 syslinux-common: run `make deps`)", err)
		}
	}
	for dst, text := range files {
		p := filepath.Join(dir, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyTFTPFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// PXEServer is a running dnsmasq serving DHCP and TFTP in a namespace.
type PXEServer struct {
	// LogPath holds dnsmasq's log: DHCP exchanges and TFTP transfers.
	LogPath string
	cmd     *exec.Cmd
	logf    *os.File
	done    chan struct{}
	once    sync.Once
}

// StartPXEServer runs dnsmasq in the foreground inside n and waits until it
// serves TFTP.
func StartPXEServer(ctx context.Context, n *Net, c PXEServerConfig) (*PXEServer, error) {
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		return nil, fmt.Errorf("rig: PXE server: %w (Debian's dnsmasq-base: run `make deps`)", err)
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	s := &PXEServer{LogPath: filepath.Join(c.Dir, "dnsmasq.log"), done: make(chan struct{})}
	f, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	s.logf = f
	// Not CommandContext: the server must outlive the setup context.
	s.cmd = exec.Command("ip", append([]string{"netns", "exec", n.NS, "dnsmasq"}, dnsmasqArgs(c)...)...)
	s.cmd.Stdout = f
	s.cmd.Stderr = f
	if err := s.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("rig: starting dnsmasq: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(s.Log(), "TFTP root is") {
		select {
		case <-s.done:
			s.logf.Close()
			return nil, fmt.Errorf("rig: dnsmasq exited at start: %s", strings.TrimSpace(s.Log()))
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("rig: dnsmasq never said it serves TFTP: %w (log %s)", ctx.Err(), s.LogPath)
		case <-tick.C:
		}
	}
	return s, nil
}

// Log returns dnsmasq's output so far.
func (s *PXEServer) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// Stop ends dnsmasq.
func (s *PXEServer) Stop() {
	s.once.Do(func() {
		s.cmd.Process.Kill()
		<-s.done
		s.logf.Close()
	})
}

// startPXE assembles the boot's TFTP root, starts the PXE server and turns
// vc into a network boot from NIC p.NIC.
func (b *Boot) startPXE(ctx context.Context, kernel string, p PXESpec, cmdline string, vc *VMConfig) error {
	if p.NIC < 0 || p.NIC >= len(b.Net.Taps) {
		return fmt.Errorf("rig: PXE NIC %d: the guest has %d NICs", p.NIC, len(b.Net.Taps))
	}
	root := filepath.Join(b.Dir, "tftp")
	if err := AssembleTFTPRoot(root, p.Mode, kernel, b.Initramfs, cmdline); err != nil {
		return err
	}
	if p.Script != nil {
		if err := os.WriteFile(filepath.Join(root, PXEScriptName), []byte(p.Script(cmdline)), 0o644); err != nil {
			return err
		}
	}
	prefix, err := netip.ParsePrefix(b.Net.Addr)
	if err != nil {
		return fmt.Errorf("rig: PXE server address %q: %w", b.Net.Addr, err)
	}
	b.PXE, err = StartPXEServer(ctx, b.Net, PXEServerConfig{
		Mode: p.Mode, Interface: b.Net.Bridge, ServerAddr: prefix.Addr().String(), TFTPRoot: root, Dir: b.Dir,
	})
	if err != nil {
		return err
	}
	vc.Kernel, vc.Initrd, vc.Cmdline = "", "", ""
	vc.NetBoot, vc.BootNIC = true, p.NIC
	return nil
}

// serconFile writes the fw_cfg file etc/sercon-port (0x3f8, COM1) into dir:
// with it SeaBIOS copies its screen — its own messages and the iPXE and
// pxelinux text written through the BIOS — to the serial console, which a
// guest without VGA otherwise never shows.
func serconFile(dir string) (string, error) {
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, uint16(0x3f8)); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "sercon-port")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("rig: sercon-port: %w", err)
	}
	return p, nil
}

// MissingPXE returns why a PXE boot cannot run here (dnsmasq, pxelinux or
// QEMU's iPXE boot ROM absent), or "" when it can.
func MissingPXE() string {
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		return "PXE boots need dnsmasq (Debian dnsmasq-base; run `make deps`)"
	}
	for _, f := range []string{PXELinuxBin, LDLinuxC32, "/usr/lib/ipxe/qemu/efi-virtio.rom"} {
		if _, err := os.Stat(f); err != nil {
			return "PXE boots need " + f + " (Debian pxelinux, syslinux-common, ipxe-qemu; run `make deps`)"
		}
	}
	return ""
}
