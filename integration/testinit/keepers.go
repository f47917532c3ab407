package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The keeper runs as two processes (the keeper and its guard), both
// named netroot-keeper and children of this init: these helpers find and
// describe them.

// keeperProc is one live keeper process.
type keeperProc struct {
	pid, ppid int
	// role is the process's NETROOT_KEEPER_ROLE, "keeper" for the one
	// /init started (it has none).
	role string
}

// liveKeepers lists the processes named netroot-keeper that have not
// exited (zombies are left out), by pid.
func liveKeepers() []keeperProc {
	var out []keeperProc
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if read(d+"/comm") != "netroot-keeper" {
			continue
		}
		f := statFields(d + "/stat")
		if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		k := keeperProc{role: "keeper"}
		k.pid, _ = strconv.Atoi(filepath.Base(d))
		k.ppid, _ = strconv.Atoi(f[1])
		env, _ := os.ReadFile(d + "/environ")
		for _, e := range strings.Split(string(env), "\x00") {
			if v, ok := strings.CutPrefix(e, "NETROOT_KEEPER_ROLE="); ok {
				k.role = v
			}
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

// statFields returns the fields of a /proc/<pid>[/task/<tid>]/stat file
// after the command's name (which may hold spaces and parentheses): the
// state first, then ppid, pgrp, …; nil when it cannot be read.
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// keepersSummary is e.g. "[90 keeper ppid=1, 93 guard ppid=1]", "none".
func keepersSummary() string {
	ks := liveKeepers()
	if len(ks) == 0 {
		return "none"
	}
	var s []string
	for _, k := range ks {
		s = append(s, fmt.Sprintf("%d %s ppid=%d", k.pid, k.role, k.ppid))
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// keepersSummaryOf is keepersSummary once n keeper processes are seen,
// or after timeout with those seen then.
func keepersSummaryOf(n int, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for len(liveKeepers()) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return keepersSummary()
}

// waitKeepersGone waits up to timeout for every keeper process to exit.
func waitKeepersGone(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && len(liveKeepers()) > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	return keepersSummary()
}

// kB reads the "Key: N kB" line of a /proc status-like text.
func kB(text, key string) string {
	m := regexp.MustCompile(`(?m)^` + key + `:\s+(\d+) kB`).FindStringSubmatch(text)
	if m == nil {
		return "?"
	}
	return m[1]
}

// keeperMem describes how hard a keeper process is to lose, e.g.
// "pid=90 role=keeper ppid=1 nice=0 oom_score_adj=-1000 VmLck=1708388 Locked=7012
// Pss=4100 Rss=8156 Swap=0 exe=/init (deleted)" (sizes in kB): its OOM
// score adjustment, its locked virtual memory (mlockall), the resident
// memory in locked mappings (smaps_rollup Locked), and where its binary
// is mapped from (the initramfs, deleted by switch_root).
func keeperMem(k keeperProc) string {
	d := fmt.Sprintf("/proc/%d", k.pid)
	status, rollup := read(d+"/status"), read(d+"/smaps_rollup")
	exe, err := os.Readlink(d + "/exe")
	if err != nil {
		exe = "<" + err.Error() + ">"
	}
	return fmt.Sprintf("pid=%d role=%s ppid=%d nice=%s oom_score_adj=%s VmLck=%s Locked=%s Pss=%s Rss=%s Swap=%s exe=%s",
		k.pid, k.role, k.ppid, threadNice(k.pid), read(d+"/oom_score_adj"), kB(status, "VmLck"), kB(rollup, "Locked"),
		kB(rollup, "Pss"), kB(rollup, "Rss"), kB(status, "VmSwap"), exe)
}

// threadNice lists the distinct nice values of pid's threads, e.g. "0"
// (/init starts the keeper at 19; it raises every thread once it has
// work).
func threadNice(pid int) string {
	seen := map[string]bool{}
	var out []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, t := range tasks {
		// state ppid pgrp session tty tpgid flags minflt cminflt majflt
		// cmajflt utime stime cutime cstime priority nice
		if f := statFields(t); len(f) > 16 && !seen[f[16]] {
			seen[f[16]] = true
			out = append(out, f[16])
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// reportKeeperMem reports keeperMem of every live keeper process.
func reportKeeperMem(key string) {
	for _, k := range liveKeepers() {
		report(key, keeperMem(k))
	}
}
