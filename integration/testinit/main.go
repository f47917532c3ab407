// Command testinit is the /sbin/init of the boot tests' root image. It
// reports what the real root sees — that it runs as PID 1, whether / is
// read-only, the bond and its slaves, the iSCSI session, the netroot
// timeline — as "NETROOT-TEST: key=value" lines on the console, then
// powers the guest off.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
		}
	}
	report("env-path", os.Getenv("PATH"))

	bonds, _ := filepath.Glob("/sys/class/net/*/bonding")
	for _, b := range bonds {
		name := filepath.Base(filepath.Dir(b))
		report("bond", fmt.Sprintf("%s mode=%q slaves=%q active=%q", name,
			read(b+"/mode"), read(b+"/slaves"), read(b+"/active_slave")))
	}
	sessions, _ := filepath.Glob("/sys/class/iscsi_session/session*")
	for _, s := range sessions {
		report("iscsi-session", fmt.Sprintf("%s target=%q user=%q", filepath.Base(s),
			read(s+"/targetname"), read(s+"/username")))
		conns, _ := filepath.Glob(s + "/device/connection*/iscsi_connection/connection*")
		for _, c := range conns {
			report("iscsi-conn", fmt.Sprintf("%s address=%q port=%q persistent=%s:%s", filepath.Base(c),
				read(c+"/address"), read(c+"/port"), read(c+"/persistent_address"), read(c+"/persistent_port")))
		}
	}
	if b, err := os.ReadFile("/run/netroot/timeline.json"); err == nil {
		report("timeline-bytes", fmt.Sprint(len(b)))
	} else {
		report("timeline-bytes", "<"+err.Error()+">")
	}
	report("done", "powering off")
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		report("poweroff-error", err.Error())
	}
	select {}
}
