package rig

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VMConfig describes one guest boot.
type VMConfig struct {
	// Kernel and Initrd are the files QEMU boots.
	Kernel, Initrd string
	// Cmdline is the kernel command line.
	Cmdline string
	// Net is the namespace whose taps the NICs use; MACs gives one MAC per
	// tap, in order. Nil: no NICs, QEMU runs in the host's namespace.
	Net  *Net
	MACs []string
	// MemoryMB defaults to 256.
	MemoryMB int
	// CPUs is the number of virtual CPUs (-smp); 1 when 0.
	CPUs int
	// Dir receives console.log, the console and monitor sockets.
	Dir string
	// Extra are extra QEMU arguments.
	Extra []string
	// NICOptions are appended to every NIC's -device, e.g.
	// "speed=1000,duplex=full" (802.3ad needs a speed and duplex).
	NICOptions string
	// NetBoot boots without Kernel/Initrd/Cmdline: NIC BootNIC's boot ROM
	// (QEMU's iPXE, Debian ipxe-qemu) network-boots it (bootindex=1, strict
	// boot order); the other NICs get no boot ROM. SeaBIOS's screen, which
	// iPXE and pxelinux write to, is copied to the serial console.
	NetBoot bool
	BootNIC int
	// USBNICs lists the NICs (by index) attached as USB NICs — QEMU's
	// usb-net on a qemu-xhci controller — rather than virtio-net-pci.
	USBNICs []int
	// ACPITables are files holding whole ACPI tables (header included,
	// e.g. an iBFT from ibft.Marshal; see WriteACPITables) that QEMU adds
	// to the guest's ACPI tables (-acpitable file=).
	ACPITables []string
	// Taps, when set, are the taps of this guest's NICs instead of
	// Net.Taps (a second guest on the same bridge, e.g. the LIO target).
	Taps []string
	// Relays, where entry i is set, put NIC i behind that impairment relay
	// (StartRelay) instead of on its tap directly.
	Relays []*Relay
	// VCPUNice, when set, is the nice of the guest's vCPU threads on the
	// host (QEMU's other threads and the target keep theirs): a what-if of
	// the rig whose network emulation no longer waits behind the guest's
	// CPUs (make bench -vcpu-nice).
	VCPUNice int
	// OnLine, when set, is called with each line of the console as it
	// arrives (from the goroutine that copies it to the log): a figure
	// taken there is taken when the guest wrote the line, not when a
	// WaitFor's poll next sees it.
	OnLine func(v *VM, line string)
	// Layout, when set, arranges the NICs as it says (its machine, buses
	// and MACs), NIC i on tap i, instead of virtio-net-pci NICs; MACs,
	// NICOptions and USBNICs are then ignored.
	Layout *NICLayout
}

// VM is a running QEMU guest.
type VM struct {
	cfg     VMConfig
	cmd     *exec.Cmd
	done    chan struct{}
	exited  chan struct{} // QEMU exited
	drained chan struct{} // the console's copy to LogPath ended
	err     error
	LogPath string
	console net.Conn
	monitor string
}

// StartVM boots a guest under TCG inside cfg.Net's namespace. Its serial
// console is written to Dir/console.log and can be typed into with Send.
func StartVM(cfg VMConfig) (*VM, error) {
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 256
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	v := &VM{
		cfg:     cfg,
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
		drained: make(chan struct{}),
		LogPath: filepath.Join(cfg.Dir, "console.log"),
		monitor: filepath.Join(cfg.Dir, "monitor.sock"),
	}
	consoleSock := filepath.Join(cfg.Dir, "console.sock")
	os.Remove(v.LogPath)
	os.Remove(consoleSock)
	os.Remove(v.monitor)
	args := []string{
		"qemu-system-x86_64", "-accel", "tcg", "-smp", strconv.Itoa(cfg.CPUs), "-m", strconv.Itoa(cfg.MemoryMB),
		"-display", "none", "-vga", "none", "-no-reboot",
		"-name", "netroot-rig,debug-threads=on", // vCPU threads named "CPU n/TCG" (HostCPU)
		"-S", // paused until the console is connected: nothing is lost
		"-chardev", "socket,id=con,path=" + consoleSock + ",server=on,wait=off",
		"-serial", "chardev:con",
		"-monitor", "unix:" + v.monitor + ",server,nowait",
	}
	if cfg.NetBoot {
		sercon, err := serconFile(cfg.Dir)
		if err != nil {
			return nil, err
		}
		args = append(args, "-boot", "strict=on", "-fw_cfg", "name=etc/sercon-port,file="+sercon)
	} else {
		args = append(args, "-kernel", cfg.Kernel, "-initrd", cfg.Initrd, "-append", cfg.Cmdline)
	}
	var taps []string
	if cfg.Net != nil {
		taps = cfg.Net.Taps
	}
	usb := false
	if cfg.Taps != nil {
		taps = cfg.Taps
	}
	var extraFiles []*os.File
	if cfg.Layout != nil {
		if len(taps) < len(cfg.Layout.NICs) {
			return nil, fmt.Errorf("rig: layout %s has %d NICs, the network %d taps", cfg.Layout.Name, len(cfg.Layout.NICs), len(taps))
		}
		args = append(args, cfg.Layout.QEMUArgs(func(i int, id string) string {
			return fmt.Sprintf("tap,id=%s,ifname=%s,script=no,downscript=no", id, taps[i])
		})...)
		taps = nil
	}
	for i, tap := range taps {
		mac := fmt.Sprintf("52:54:00:77:00:%02x", 0x10+i)
		if i < len(cfg.MACs) {
			mac = cfg.MACs[i]
		}
		dev := fmt.Sprintf("virtio-net-pci,netdev=n%d,mac=%s", i, mac)
		if cfg.NICOptions != "" {
			dev += "," + cfg.NICOptions
		}
		if slices.Contains(cfg.USBNICs, i) {
			if !usb {
				args = append(args, "-device", "qemu-xhci,id=xhci")
				usb = true
			}
			dev = fmt.Sprintf("usb-net,bus=xhci.0,netdev=n%d,mac=%s", i, mac)
		}
		switch {
		case cfg.NetBoot && i == cfg.BootNIC:
			dev += ",bootindex=1"
		case cfg.NetBoot:
			dev += ",romfile="
		}
		netdev := fmt.Sprintf("tap,id=n%d,ifname=%s,script=no,downscript=no", i, tap)
		if i < len(cfg.Relays) && cfg.Relays[i] != nil {
			extraFiles = append(extraFiles, cfg.Relays[i].qemuEnd())
			netdev = cfg.Relays[i].netdev(fmt.Sprintf("n%d", i), 2+len(extraFiles))
		}
		args = append(args, "-netdev", netdev, "-device", dev)
	}
	acpi, err := acpiTableArgs(cfg.ACPITables)
	if err != nil {
		return nil, err
	}
	args = append(args, acpi...)
	args = append(args, cfg.Extra...)
	if cfg.Net != nil {
		args = append([]string{"ip", "netns", "exec", cfg.Net.NS}, args...)
	} else {
		args = append(args, "-nic", "none") // not QEMU's default user-mode NIC
	}
	v.cmd = exec.Command(args[0], args[1:]...)
	v.cmd.ExtraFiles = extraFiles // ip netns exec passes them on to QEMU
	var stderr bytes.Buffer
	v.cmd.Stderr = &stderr
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("rig: starting qemu: %w", err)
	}
	for _, r := range cfg.Relays {
		if r != nil {
			r.handedOver()
		}
	}
	go func() {
		v.err = v.cmd.Wait()
		if v.err != nil && stderr.Len() > 0 {
			v.err = fmt.Errorf("%w: %s", v.err, strings.TrimSpace(stderr.String()))
		}
		close(v.exited)
		<-v.drained
		close(v.done)
	}()
	logf, err := os.Create(v.LogPath)
	if err != nil {
		v.cmd.Process.Kill()
		close(v.drained)
		<-v.done
		return nil, err
	}
	// Connect to the console so Send can type; QEMU creates the socket
	// at once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", consoleSock)
		if err == nil {
			v.console = c
			go v.drain(c, logf)
			break
		}
		if time.Now().After(deadline) {
			logf.Close()
			close(v.drained)
			v.Kill()
			return nil, fmt.Errorf("rig: qemu console socket never appeared: %w (%s)", err, stderr.String())
		}
		select {
		case <-v.exited:
			logf.Close()
			close(v.drained)
			<-v.done
			return nil, fmt.Errorf("rig: qemu exited at start: %v", v.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The monitor's socket is made with the console's but answers only
	// once QEMU is ready; retry until the guest runs.
	for err := v.start(); err != nil; err = v.start() {
		if time.Now().After(deadline) {
			v.Kill()
			return nil, fmt.Errorf("rig: starting the paused guest: %w", err)
		}
		select {
		case <-v.exited:
			v.Kill()
			return nil, fmt.Errorf("rig: qemu exited at start: %v", v.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return v, nil
}

// start sets the vCPU threads' nice (VCPUNice) and resumes the guest.
func (v *VM) start() error {
	if v.cfg.VCPUNice != 0 {
		if err := v.niceVCPUs(v.cfg.VCPUNice); err != nil {
			return err
		}
	}
	return v.resume()
}

// resume starts the guest QEMU holds paused (-S) and checks that it runs.
func (v *VM) resume() error {
	c, err := net.DialTimeout("unix", v.monitor, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var seen []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(seen, []byte("(qemu)")) {
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("monitor prompt: %w", err)
		}
		seen = append(seen, buf[:n]...)
	}
	if _, err := c.Write([]byte("cont\ninfo status\n")); err != nil {
		return err
	}
	for !bytes.Contains(seen, []byte("VM status: running")) {
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("monitor: guest not running after cont: %w (%q)", err, seen)
		}
		seen = append(seen, buf[:n]...)
	}
	return nil
}

// drain copies what the console socket sends to the log file until QEMU
// closes it. (QEMU's own chardev logfile= duplicates a character now and
// then under load; the socket's stream is exact.)
func (v *VM) drain(c net.Conn, log *os.File) {
	defer close(v.drained)
	defer log.Close()
	if v.cfg.OnLine == nil {
		io.Copy(log, c)
		return
	}
	io.Copy(log, io.TeeReader(c, &lineWriter{f: func(l string) { v.cfg.OnLine(v, l) }}))
}

// lineWriter calls f with each complete line written to it.
type lineWriter struct {
	f   func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.f(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Log returns the console output so far.
func (v *VM) Log() string {
	b, _ := os.ReadFile(v.LogPath)
	return string(b)
}

// WaitFor waits until the console log matches re and returns the match, or
// fails when ctx ends or the guest exits first.
func (v *VM) WaitFor(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(v.Log()); m != nil {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("rig: console never showed %q: %w", re, ctx.Err())
		case <-v.done:
			if m := re.FindStringSubmatch(v.Log()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("rig: guest exited (%v) before the console showed %q", v.err, re)
		case <-tick.C:
		}
	}
}

// Wait waits for QEMU to exit (the guest powered off) or ctx to end.
func (v *VM) Wait(ctx context.Context) error {
	select {
	case <-v.done:
		return v.err
	case <-ctx.Done():
		return fmt.Errorf("rig: guest still running: %w", ctx.Err())
	}
}

// Send types s on the serial console.
func (v *VM) Send(s string) error {
	_, err := v.console.Write([]byte(s))
	return err
}

// Monitor sends one command to the QEMU monitor (e.g. "set_link n0 off").
func (v *VM) Monitor(cmd string) error {
	c, err := net.DialTimeout("unix", v.monitor, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		return err
	}
	// Read until the prompt that follows the command: closing earlier can
	// make QEMU drop the command unread.
	var out []byte
	buf := make([]byte, 4096)
	for strings.Count(string(out), "(qemu) ") < 2 {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return fmt.Errorf("rig: monitor %q: %w (got %q)", cmd, err, out)
		}
	}
	return nil
}

// Kill stops the guest at once.
func (v *VM) Kill() {
	select {
	case <-v.done:
	default:
		v.cmd.Process.Kill()
		<-v.done
	}
	if v.console != nil {
		v.console.Close()
	}
}
