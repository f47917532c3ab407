package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The hand-off test mode (netroot.test=iscsid): the root image carries
// Debian's open-iscsi. Like a real OS, start iscsid; the keeper must see it
// and exit by itself, iscsid must adopt the session from sysfs, and then
// recover it through the test's outage while the writer runs.
func runIscsidTest() {
	report("init", fmt.Sprintf("pid=%d args=%q", os.Getpid(), os.Args))
	os.MkdirAll("/run/lock/iscsi", 0o755)
	keeperPid, _ := strconv.Atoi(strings.TrimSpace(read("/run/netroot/keeper.pid")))
	report("keeper-pid", fmt.Sprint(keeperPid))

	cmd := exec.Command("/sbin/iscsid", "-f")
	stderr, err := cmd.StderrPipe()
	if err == nil {
		cmd.Stdout = cmd.Stderr
		err = cmd.Start()
	}
	if err != nil {
		report("iscsid-start", "<"+err.Error()+">")
		report("done", "powering off")
		powerOff(true)
	}
	started := time.Now()
	report("iscsid-start", fmt.Sprintf("pid=%d", cmd.Process.Pid))
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Printf("iscsid: %s\n", sc.Text())
		}
	}()

	// The keeper polls for iscsid's socket every few seconds.
	report("iscsid-keeper", waitExit(keeperPid, 30*time.Second, started))
	// Its guard steps aside with it.
	report("iscsid-keepers-left", waitKeepersGone(5*time.Second))

	// iscsid adopts the sessions it finds in sysfs at startup.
	deadline := time.Now().Add(30 * time.Second)
	var sessions string
	for {
		out, err := exec.Command("/sbin/iscsiadm", "-m", "session").CombinedOutput()
		sessions = strings.Join(strings.Fields(string(out)), " ")
		if err == nil && strings.Contains(sessions, "tcp:") || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	report("iscsid-session", sessions)

	writeAndVerify()

	out, _ := exec.Command("/sbin/iscsiadm", "-m", "session", "-P", "1").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "State:") || strings.Contains(l, "Target:") {
			report("iscsid-state", strings.TrimSpace(l))
		}
	}
	report("done", "powering off")
	powerOff(true)
}

// waitExit waits for the child pid to exit and says how and when.
func waitExit(pid int, timeout time.Duration, since time.Time) string {
	if pid <= 0 {
		return "no keeper pid"
	}
	status, err := waitChild(pid, timeout)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("exited status=%d after=%.1fs", status, time.Since(since).Seconds())
}
