package rig

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	// tap, in order.
	Net  *Net
	MACs []string
	// MemoryMB defaults to 256.
	MemoryMB int
	// Dir receives console.log, the console and monitor sockets.
	Dir string
	// Extra are extra QEMU arguments.
	Extra []string
}

// VM is a running QEMU guest.
type VM struct {
	cfg     VMConfig
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	LogPath string
	console net.Conn
	monitor string
}

// StartVM boots a guest under TCG inside cfg.Net's namespace. Its serial
// console is written to Dir/console.log and can be typed into with Send.
func StartVM(cfg VMConfig) (*VM, error) {
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 256
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	v := &VM{
		cfg:     cfg,
		done:    make(chan struct{}),
		LogPath: filepath.Join(cfg.Dir, "console.log"),
		monitor: filepath.Join(cfg.Dir, "monitor.sock"),
	}
	consoleSock := filepath.Join(cfg.Dir, "console.sock")
	os.Remove(v.LogPath)
	os.Remove(consoleSock)
	os.Remove(v.monitor)
	args := []string{
		"netns", "exec", cfg.Net.NS,
		"qemu-system-x86_64", "-accel", "tcg", "-smp", "1", "-m", strconv.Itoa(cfg.MemoryMB),
		"-display", "none", "-vga", "none", "-no-reboot",
		"-kernel", cfg.Kernel, "-initrd", cfg.Initrd, "-append", cfg.Cmdline,
		"-chardev", "socket,id=con,path=" + consoleSock + ",server=on,wait=off,logfile=" + v.LogPath,
		"-serial", "chardev:con",
		"-monitor", "unix:" + v.monitor + ",server,nowait",
	}
	for i, tap := range cfg.Net.Taps {
		mac := fmt.Sprintf("52:54:00:77:00:%02x", 0x10+i)
		if i < len(cfg.MACs) {
			mac = cfg.MACs[i]
		}
		args = append(args,
			"-netdev", fmt.Sprintf("tap,id=n%d,ifname=%s,script=no,downscript=no", i, tap),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=n%d,mac=%s", i, mac))
	}
	args = append(args, cfg.Extra...)
	v.cmd = exec.Command("ip", args...)
	var stderr bytes.Buffer
	v.cmd.Stderr = &stderr
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("rig: starting qemu: %w", err)
	}
	go func() {
		v.err = v.cmd.Wait()
		if v.err != nil && stderr.Len() > 0 {
			v.err = fmt.Errorf("%w: %s", v.err, strings.TrimSpace(stderr.String()))
		}
		close(v.done)
	}()
	// Connect to the console so Send can type; QEMU creates the socket
	// at once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", consoleSock)
		if err == nil {
			v.console = c
			go drain(c)
			break
		}
		if time.Now().After(deadline) {
			v.Kill()
			return nil, fmt.Errorf("rig: qemu console socket never appeared: %w (%s)", err, stderr.String())
		}
		select {
		case <-v.done:
			return nil, fmt.Errorf("rig: qemu exited at start: %v", v.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return v, nil
}

// drain discards what the console socket sends: the log file has it.
func drain(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
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
	buf := make([]byte, 4096)
	c.Read(buf) // banner and echo; the command has been taken
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
