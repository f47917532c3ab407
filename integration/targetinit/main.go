// Command targetinit is /init of the QEMU rig's target guest: a Debian
// kernel serving storage with its own targets (LIO's iSCSI target today;
// nvmet is configfs too). It mounts the pseudo-filesystems, loads the
// modules named on the command line (netroot.target.modules=a,b,…) with
// pkg/modload, addresses eth0 (netroot.target.ip=CIDR), mounts configfs,
// and then serves the control protocol of package ctl on the virtio
// serial port named netroot.ctl: the rig configures, restarts and tears
// down targets through it. It logs to the console as "netroot-target: …".
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netroot/netroot/integration/targetinit/ctl"
	"github.com/netroot/netroot/pkg/modload"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	configfs = "/sys/kernel/config"
	portName = "netroot.ctl"
)

var start = time.Now()

func logf(format string, args ...any) {
	fmt.Printf("netroot-target: [%6.3f] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

// fatal reports and powers off: the rig sees QEMU exit.
func fatal(step string, err error) {
	logf("FATAL %s: %v", step, err)
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func main() {
	for _, m := range []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.src, m.dir, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			fatal("mount "+m.dir, err)
		}
	}
	args := cmdline()
	var uts unix.Utsname
	unix.Uname(&uts)
	kernel := unix.ByteSliceToString(uts.Release[:])

	mods := strings.Split(args["netroot.target.modules"], ",")
	if err := loadModules(kernel, mods); err != nil {
		fatal("modules", err)
	}
	logf("modules: %s loaded", strings.Join(mods, " "))
	if err := unix.Mount("configfs", configfs, "configfs", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		fatal("mount configfs", err)
	}
	if err := network(args["netroot.target.ip"]); err != nil {
		fatal("network", err)
	}
	port, err := controlPort()
	if err != nil {
		fatal("control port", err)
	}
	disks := virtioDisks()
	logf("ready: control port %s, disks %v", port, disks)
	serve(port, ctl.InfoReply{Disks: disks, Modules: mods, Kernel: kernel})
}

// cmdline returns the kernel command line's key=value words.
func cmdline() map[string]string {
	b, _ := os.ReadFile("/proc/cmdline")
	out := map[string]string{}
	for _, w := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(w, "=")
		out[k] = v
	}
	return out
}

func loadModules(kernel string, names []string) error {
	idx, err := modload.LoadIndex("/lib/modules/" + kernel)
	if err != nil {
		return err
	}
	l := &modload.Loader{Index: idx, Sys: modload.KernelSyscalls{}, Logf: func(f string, a ...any) {}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return l.Load(ctx, names...)
}

// network addresses eth0 and brings it and lo up. The NIC's driver was
// just loaded; its netdev appears within moments.
func network(cidr string) error {
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("netroot.target.ip=%q: %w", cidr, err)
	}
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	var link netlink.Link
	deadline := time.Now().Add(10 * time.Second)
	for link, err = netlink.LinkByName("eth0"); err != nil; link, err = netlink.LinkByName("eth0") {
		if time.Now().After(deadline) {
			return fmt.Errorf("no eth0: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return err
	}
	logf("network: eth0 %s up", cidr)
	return nil
}

// controlPort finds the virtio serial port named netroot.ctl.
func controlPort() (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil && strings.TrimSpace(string(b)) == portName {
				return "/dev/" + filepath.Base(filepath.Dir(n)), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no virtio serial port named %s (ports: %v)", portName, names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// virtioDisks maps each virtio disk's serial to its device node.
func virtioDisks() map[string]string {
	out := map[string]string{}
	serials, _ := filepath.Glob("/sys/block/vd*/serial")
	for _, s := range serials {
		b, err := os.ReadFile(s)
		if err == nil && len(strings.TrimSpace(string(b))) > 0 {
			out[strings.TrimSpace(string(b))] = "/dev/" + filepath.Base(filepath.Dir(s))
		}
	}
	return out
}

func serve(port string, info ctl.InfoReply) {
	f, err := os.OpenFile(port, os.O_RDWR, 0)
	if err != nil {
		fatal("control port", err)
	}
	exec := &ctl.Executor{Root: configfs}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		for sc.Scan() {
			line := sc.Text()
			if strings.TrimSpace(line) == "" {
				continue
			}
			req, err := ctl.ParseRequest(line)
			if err != nil {
				logf("control: %v", err)
				continue
			}
			reply := handle(req, exec, info)
			if _, err := f.Write([]byte(reply)); err != nil {
				logf("control: reply: %v", err)
			}
		}
		// The host closed its end (EOF); the port stays ours: read on.
		if err := sc.Err(); err != nil {
			logf("control: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		sc = bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
	}
}

func handle(req ctl.Request, exec *ctl.Executor, info ctl.InfoReply) string {
	switch req.Verb {
	case ctl.Ping:
		return ctl.FormatOK(req.ID, nil)
	case ctl.Info:
		if b, err := os.ReadFile("/proc/uptime"); err == nil {
			fmt.Sscan(string(b), &info.Uptime)
		}
		return ctl.FormatOK(req.ID, info)
	case ctl.Batch:
		var ops []ctl.Op
		if err := json.Unmarshal(req.Arg, &ops); err != nil {
			return ctl.FormatErr(req.ID, err)
		}
		t0 := time.Now()
		out, err := exec.Run(ops)
		if err != nil {
			logf("batch of %d ops: %v", len(ops), err)
			return ctl.FormatErr(req.ID, err)
		}
		logf("batch of %d ops done in %.3fs", len(ops), time.Since(t0).Seconds())
		return ctl.FormatOK(req.ID, out)
	case ctl.Drop:
		var arg ctl.DropArg
		if err := json.Unmarshal(req.Arg, &arg); err != nil {
			return ctl.FormatErr(req.ID, err)
		}
		n, err := drop(arg.Port)
		logf("drop: %d connection(s) of port %d reset (%v)", n, arg.Port, err)
		if err != nil {
			return ctl.FormatErr(req.ID, err)
		}
		return ctl.FormatOK(req.ID, n)
	case ctl.DropOnLogin:
		var arg ctl.DropOnLoginArg
		if err := json.Unmarshal(req.Arg, &arg); err != nil {
			return ctl.FormatErr(req.ID, err)
		}
		info, err := ctl.CleanPath(arg.Info)
		if err != nil {
			return ctl.FormatErr(req.ID, err)
		}
		go dropOnLogin(arg.Port, filepath.Join(configfs, info), arg.After, exec)
		logf("drop-on-login: armed for port %d", arg.Port)
		return ctl.FormatOK(req.ID, nil)
	}
	return ctl.FormatErr(req.ID, fmt.Errorf("unknown verb %q", req.Verb))
}

// dropOnLogin polls info until it shows a session logged in, then drops
// the port's connections and runs after. It gives up after ten minutes.
func dropOnLogin(port int, info string, after []ctl.Op, exec *ctl.Executor) {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(info); err == nil && strings.Contains(string(b), "TARG_SESS_STATE_LOGGED_IN") {
			n, err := drop(port)
			logf("drop-on-login: session logged in; %d connection(s) of port %d reset (%v)", n, port, err)
			if len(after) > 0 {
				_, err := exec.Run(after)
				logf("drop-on-login: %d op(s) after the drop (%v)", len(after), err)
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	logf("drop-on-login: no session logged in within ten minutes; disarmed")
}

// drop aborts the established TCP connections whose local port is port
// (SOCK_DESTROY through inet_diag: the kernel resets them as if the
// connection had failed, and LIO sees its socket error out).
func drop(port int) (int, error) {
	socks, err := netlink.SocketDiagTCP(unix.AF_INET)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, s := range socks {
		if s.State != 1 /* TCP_ESTABLISHED */ || int(s.ID.SourcePort) != port {
			continue
		}
		local := &net.TCPAddr{IP: s.ID.Source, Port: int(s.ID.SourcePort)}
		remote := &net.TCPAddr{IP: s.ID.Destination, Port: int(s.ID.DestinationPort)}
		if err := netlink.SocketDestroy(local, remote); err != nil {
			errs = append(errs, fmt.Errorf("%s→%s: %w", local, remote, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
