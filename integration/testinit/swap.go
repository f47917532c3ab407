package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Swap on the iSCSI root under memory pressure (fault mode with
// netroot.fault.swap=MB): a swap file on the root, then a memory hog (a
// child of this init, first in line for the OOM killer) that allocates
// until the kernel has swapped pages out, keeps most of it, and leaves a
// little headroom for the keeper's recovery. A keeper paged out now would
// need the disk it recovers to page itself back in; a locked one has
// nothing in swap.

// hogEnv makes this binary the memory hog.
const hogEnv = "NETROOT_TEST_HOG"

const swapFile = "/swapfile"

// cmdlineInt reads a "key=N" word of the kernel command line.
func cmdlineInt(key string) int {
	for _, w := range strings.Fields(read("/proc/cmdline")) {
		if v, ok := strings.CutPrefix(w, key+"="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// swapUnderPressure sets up the swap file of mb MiB and the hog, and
// reports "fault-swap" and "fault-pressure".
func swapUnderPressure(mb int) {
	if err := makeSwap(swapFile, mb); err != nil {
		report("fault-swap", "<"+err.Error()+">")
		return
	}
	report("fault-swap", fmt.Sprintf("on %s %dMiB", swapFile, mb))
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = []string{hogEnv + "=1"}
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		report("fault-pressure", "<"+err.Error()+">")
		return
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "hog: holding") {
				line <- sc.Text()
			}
		}
	}()
	select {
	case l := <-line:
		meminfo := read("/proc/meminfo")
		report("fault-pressure", fmt.Sprintf("%s; swap used %d kB; init VmSwap %s kB; keepers %s", l,
			kBInt(meminfo, "SwapTotal")-kBInt(meminfo, "SwapFree"), kB(read("/proc/self/status"), "VmSwap"), keepersSwap()))
	case <-time.After(3 * time.Minute):
		report("fault-pressure", "<the hog never said it holds its memory>")
	}
}

// keepersSwap is each keeper process's VmSwap, e.g. "[90 keeper 0 kB, 93
// guard 0 kB]".
func keepersSwap() string {
	var s []string
	for _, k := range liveKeepers() {
		s = append(s, fmt.Sprintf("%d %s %s kB", k.pid, k.role, kB(read(fmt.Sprintf("/proc/%d/status", k.pid)), "VmSwap")))
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func kBInt(text, key string) int {
	n, _ := strconv.Atoi(kB(text, key))
	return n
}

// makeSwap writes a swap file of mb MiB (no holes: swapon refuses them)
// with a version-1 header, as mkswap does, and enables it.
func makeSwap(path string, mb int) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	zero := make([]byte, 1<<20)
	for range mb {
		if _, err := f.Write(zero); err != nil {
			return err
		}
	}
	const page = 4096
	hdr := make([]byte, page)
	binary.LittleEndian.PutUint32(hdr[1024:], 1)                     // version
	binary.LittleEndian.PutUint32(hdr[1028:], uint32(mb<<20/page-1)) // last page
	copy(hdr[page-10:], "SWAPSPACE2")
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(p)), 0, 0); e != 0 {
		return fmt.Errorf("swapon %s: %w", path, e)
	}
	return nil
}

// runHog allocates memory in 4 MiB chunks, touching every page, until the
// kernel has swapped out 12 MiB or more (or it holds RAM plus half the
// swap), gives back 24 MiB, says what it holds and keeps the rest. The
// test wants 8 MiB in swap after the giveback, which frees the hog's own
// pages in swap too.
func runHog() {
	os.WriteFile("/proc/self/oom_score_adj", []byte("1000\n"), 0o644)
	const chunk = 4 << 20
	meminfo := func() string { return read("/proc/meminfo") }
	m := meminfo()
	limit := (kBInt(m, "MemTotal") + kBInt(m, "SwapTotal")/2) << 10
	var held [][]byte
	swapped := func() int {
		m := meminfo()
		return kBInt(m, "SwapTotal") - kBInt(m, "SwapFree")
	}
	for len(held)*chunk < limit && swapped() < 12<<10 {
		b, err := unix.Mmap(-1, 0, chunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			break
		}
		for i := 0; i < chunk; i += 4096 {
			b[i] = 1
		}
		held = append(held, b)
	}
	for i := 0; i < 6 && len(held) > 0; i++ {
		unix.Munmap(held[len(held)-1])
		held = held[:len(held)-1]
	}
	fmt.Printf("hog: holding %d MiB\n", len(held)*chunk>>20)
	for {
		time.Sleep(time.Hour)
	}
}
