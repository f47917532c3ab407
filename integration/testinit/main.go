// Command testinit is the /sbin/init of the boot tests' root image. It
// reports what the real root sees — that it runs as PID 1, whether / is
// read-only, the bond and its slaves, the iSCSI session, the netroot
// timeline — as "NETROOT-TEST: key=value" lines on the console, then
// powers the guest off.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func report(key, value string) {
	fmt.Printf("NETROOT-TEST: %s=%s\n", key, value)
}

func read(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return strings.TrimSpace(string(b))
}

func main() {
	if os.Getenv(hogEnv) != "" { // swap.go
		runHog()
	}
	// Like any real init, mount what the initramfs did not hand over
	// (busybox switch_root moves no mounts).
	for _, m := range []struct{ fstype, dir string }{{"proc", "/proc"}, {"sysfs", "/sys"}} {
		if _, err := os.Stat(m.dir + "/self"); m.fstype == "proc" && err == nil {
			continue
		}
		if _, err := os.Stat(m.dir + "/class"); m.fstype == "sysfs" && err == nil {
			continue
		}
		unix.Mount(m.fstype, m.dir, m.fstype, 0, "")
	}
	if testMode("keeper") { // keeper.go
		runKeeperTest()
	}
	if testMode("iscsid") { // iscsid.go
		runIscsidTest()
	}
	if testMode("fault") { // fault.go
		runFaultTest()
	}
	report("init", fmt.Sprintf("pid=%d args=%q", os.Getpid(), os.Args))
	report("uptime", strings.Fields(read("/proc/uptime") + " ")[0])

	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err == nil {
		report("root-ro", fmt.Sprint(st.Flags&unix.ST_RDONLY != 0))
	} else {
		report("root-ro", "<"+err.Error()+">")
	}
	for _, line := range strings.Split(read("/proc/mounts"), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == "/" {
			report("root-mount", f[0]+" "+f[2]+" "+f[3])
			report("root-scheduler", scheduler(f[0]))
		}
	}
	report("crc32c", crc32cDriver())
	report("cpus", fmt.Sprint(runtime.NumCPU()))
	report("env-path", os.Getenv("PATH"))
	report("cmdline", read("/proc/cmdline"))

	bonds, _ := filepath.Glob("/sys/class/net/*/bonding")
	for _, b := range bonds {
		name := filepath.Base(filepath.Dir(b))
		report("bond", fmt.Sprintf("%s mode=%q slaves=%q active=%q mac=%q", name,
			read(b+"/mode"), read(b+"/slaves"), read(b+"/active_slave"), read(filepath.Dir(b)+"/address")))
	}
	// addr: every interface's IPv4 addresses and MAC, e.g.
	// "bond0 10.77.0.77/24 mac=52:54:00:77:00:11".
	if ifs, err := net.Interfaces(); err == nil {
		for _, ifc := range ifs {
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
					report("addr", fmt.Sprintf("%s %s mac=%s mtu=%d", ifc.Name, ipn, ifc.HardwareAddr, ifc.MTU))
				}
			}
		}
	}
	// addr6: every interface's global IPv6 addresses, e.g.
	// "bond0 fd77::1a7/128".
	if ifs, err := net.Interfaces(); err == nil {
		for _, ifc := range ifs {
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() == nil && ipn.IP.IsGlobalUnicast() {
					report("addr6", fmt.Sprintf("%s %s", ifc.Name, ipn))
				}
			}
		}
	}
	// initiatorname: what /init left for the OS's open-iscsi.
	report("initiatorname", read("/run/initiatorname.iscsi"))
	// netroot-file: what /init left in /run/netroot for the OS.
	if files, err := os.ReadDir("/run/netroot"); err == nil {
		for _, f := range files {
			report("netroot-file", f.Name())
		}
	}
	report("resolv", strings.ReplaceAll(read("/run/netroot/resolv.conf"), "\n", " | "))
	report("hostname", read("/proc/sys/kernel/hostname"))
	report("scsi-devices", strings.Join(scsiDevices(), " "))
	// iscsi-tcp: the local and remote ends of the iSCSI connections, e.g.
	// "local=10.78.0.10:53514 remote=10.77.0.1:3260".
	for _, c := range iscsiTCP() {
		report("iscsi-tcp", c)
	}
	sessions, _ := filepath.Glob("/sys/class/iscsi_session/session*")
	for _, s := range sessions {
		report("iscsi-session", fmt.Sprintf("%s target=%q user=%q", filepath.Base(s),
			read(s+"/targetname"), read(s+"/username")))
		report("iscsi-initiator", fmt.Sprintf("%s target=%q initiator=%q", filepath.Base(s), read(s+"/targetname"), read(s+"/initiatorname")))
		conns, _ := filepath.Glob(s + "/device/connection*/iscsi_connection/connection*")
		for _, c := range conns {
			report("iscsi-conn", fmt.Sprintf("%s address=%q port=%q persistent=%s:%s", filepath.Base(c),
				read(c+"/address"), read(c+"/port"), read(c+"/persistent_address"), read(c+"/persistent_port")))
			// What the login negotiated, as the kernel runs it.
			report("iscsi-conn-params", fmt.Sprintf("header_digest=%s data_digest=%s max_recv_dlength=%s max_xmit_dlength=%s",
				read(c+"/header_digest"), read(c+"/data_digest"), read(c+"/max_recv_dlength"), read(c+"/max_xmit_dlength")))
		}
		report("iscsi-session-params", fmt.Sprintf("tpgt=%s initial_r2t=%s immediate_data=%s first_burst_len=%s max_burst_len=%s max_outstanding_r2t=%s erl=%s",
			read(s+"/tpgt"), read(s+"/initial_r2t"), read(s+"/immediate_data"), read(s+"/first_burst_len"),
			read(s+"/max_burst_len"), read(s+"/max_outstanding_r2t"), read(s+"/erl")))
	}
	if b, err := os.ReadFile("/run/netroot/timeline.json"); err == nil {
		report("timeline-bytes", fmt.Sprint(len(b)))
		// The timeline itself, on one line, for the host to draw (the
		// demo runs netroot analyze on it).
		var line bytes.Buffer
		if err := json.Compact(&line, b); err == nil {
			report("timeline", line.String())
		}
	} else {
		report("timeline-bytes", "<"+err.Error()+">")
	}
	report("done", "powering off")
	shutdownThroughInitramfs()
}

// powerOff powers the machine off once the console has sent what was
// written to it: the kernel's own lines at power-off (a disk's "Synchronizing
// SCSI cache") would otherwise land inside the last report, which the rig
// waits for.
func powerOff(sync bool) {
	if sync {
		unix.Sync()
	}
	drainConsole()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		report("poweroff-error", err.Error())
	}
	select {}
}

// drainConsole waits until the console has sent what was written to it
// (tcdrain): a kernel line printed meanwhile would otherwise land inside
// a report still on its way out.
func drainConsole() {
	unix.IoctlSetInt(int(os.Stdout.Fd()), unix.TCSBRK, 1)
}

// scsiDevices are the SCSI devices (H:C:T:L), the LUNs the real OS has.
// With netroot.test.scsi-devices=N on the command line it waits for N of
// them, at most 10 s, as a real OS's fstab waits for a device: the keeper
// scans the target's other LUNs beside switch_root.
func scsiDevices() []string {
	want := 0
	for _, w := range strings.Fields(read("/proc/cmdline")) {
		if v, ok := strings.CutPrefix(w, "netroot.test.scsi-devices="); ok {
			want, _ = strconv.Atoi(v)
		}
	}
	start := time.Now()
	for {
		devs, _ := filepath.Glob("/sys/bus/scsi/devices/*:*:*:*")
		if len(devs) >= want || time.Since(start) > 10*time.Second {
			for i := range devs {
				devs[i] = filepath.Base(devs[i])
			}
			if want > 0 {
				report("scsi-devices-waited", time.Since(start).Round(time.Millisecond).String())
			}
			return devs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// iscsiTCP are the established IPv4 TCP connections to port 3260, from
// /proc/net/tcp (addresses in hex, the IPv4 address in host byte order).
func iscsiTCP() []string {
	addr := func(hex string) string {
		h, p, ok := strings.Cut(hex, ":")
		ip, err1 := strconv.ParseUint(h, 16, 32)
		port, err2 := strconv.ParseUint(p, 16, 16)
		if !ok || err1 != nil || err2 != nil {
			return "?" + hex
		}
		return fmt.Sprintf("%d.%d.%d.%d:%d", byte(ip), byte(ip>>8), byte(ip>>16), byte(ip>>24), port)
	}
	var out []string
	for _, line := range strings.Split(read("/proc/net/tcp"), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[3] == "01" && strings.HasSuffix(f[2], ":0CBC") {
			out = append(out, "local="+addr(f[1])+" remote="+addr(f[2]))
		}
	}
	return out
}

// scheduler is the I/O scheduler line of the disk holding dev (a disk or
// a partition), e.g. "[none] mq-deadline".
func scheduler(dev string) string {
	sys, err := filepath.EvalSymlinks("/sys/class/block/" + filepath.Base(dev))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	if _, err := os.Stat(sys + "/partition"); err == nil {
		sys = filepath.Dir(sys)
	}
	return read(sys + "/queue/scheduler")
}

// crc32cDriver names the kernel's crc32c implementations and priorities
// (/proc/crypto): the highest serves iscsi_tcp's digests.
func crc32cDriver() string {
	var out []string
	for _, block := range strings.Split(read("/proc/crypto"), "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok {
				fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		if fields["name"] == "crc32c" {
			out = append(out, fields["driver"]+"/"+fields["priority"])
		}
	}
	return strings.Join(out, " ")
}
