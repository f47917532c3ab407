package integration

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/netroot/netroot/integration/writelog"
)

// TestRealRootMultipath: Debian 12 with multipath-tools as Debian installs
// it (rig.BookwormMultipath) boots on netroot's multipath root over two
// subnets (rd.netroot.multipath=1, twoSubnetsSpec). The OS's multipathd
// adopts /init's map: `multipathd show maps` lists it under the name
// multipathd gives it (the WWID) with both paths active, and the root
// filesystem is on it. Then, while the root writes, eth0's path is cut
// (host side: the guest keeps carrier) for outage: no I/O error, no lost
// record, no stall as long as the outage; after the link returns the
// keeper recovers the session, multipathd — not the keeper, which steps
// aside — reinstates the path, and both paths are active again. After a
// reboot multipathd adopts the map again (its WWID now in
// /etc/multipath/wwids); the filesystem is clean after the poweroff.
func TestRealRootMultipath(t *testing.T) {
	d := rig.BookwormMultipath
	r, sum := startMultipathRoot(t, d)
	defer sum.log(t)

	// 1. Multi-user with multipathd running; it adopted the map. (With
	// find_multipaths "strict" and the WWID not yet in
	// /etc/multipath/wwids, multipathd first tries to flush the map and
	// keeps it as the root holds it: logged, not asserted.)
	wwid := checkAdoption(t, r, d, sum, "")

	// 2. eth0's path cut for outage while the root writes.
	ctx, cancel := context.WithTimeout(context.Background(), realRootCommand)
	if err := r.StartWriter(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	cancel()
	time.Sleep(5 * time.Second)
	ctx, cancel = context.WithTimeout(context.Background(), outage+time.Minute)
	defer cancel()
	if err := r.Net.SetLink(ctx, "tap0", false); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	t.Logf("tap0 (eth0's path) down for %v", outage)
	// The path fails while the link is down.
	failedSeen := false
	for time.Since(cut) < outage {
		time.Sleep(3 * time.Second)
		if !failedSeen && activePaths(t, r, wwid) == 1 {
			failedSeen = true
			t.Logf("multipathd shows the cut path failed %.1fs after the cut", time.Since(cut).Seconds())
			sum.add("path_failed_after", fmt.Sprintf("%.1fs", time.Since(cut).Seconds()))
		}
	}
	if err := r.Net.SetLink(ctx, "tap0", true); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("tap0 up after %.1fs", back.Sub(cut).Seconds())
	if !failedSeen {
		t.Errorf("multipathd never showed the cut path failed during the %v outage", outage)
	}
	osLog(t, r, "multipathd show paths format '%w %d %D %t %T %o %C'")
	// multipathd reinstates it once the keeper recovered the session.
	bothPaths(t, r, sum, wwid, back, "reinstated")
	osLog(t, r, "multipath -ll; multipathd show paths format '%w %d %D %t %T %o %C'")
	time.Sleep(5 * time.Second)
	rep := stopWriter(t, r, sum)
	if rep.MaxGap >= outage {
		t.Errorf("the root stalled %.1fs: the map waited for the cut path instead of using the other", rep.MaxGap.Seconds())
	}
	noMapIOErrors(t, r, "during the outage")
	// The keeper recovered the session and left the path to multipathd.
	log := r.VM.Log()
	for _, l := range regexp.MustCompile(`netroot-keeper: [^\r\n]*`).FindAllString(log, -1) {
		t.Log(l)
	}
	if !strings.Contains(log, "netroot-keeper: recovered session") {
		t.Errorf("the keeper did not recover the cut path's session")
	}
	if !regexp.MustCompile(`netroot-keeper: multipathd runs: it checks and reinstates the paths of ` + regexp.QuoteMeta(wwid)).MatchString(log) {
		t.Errorf("the keeper did not say it leaves the map to multipathd")
	}
	if regexp.MustCompile(`netroot-keeper: session [0-9]+: path [0-9]+:[0-9]+ back in multipath map`).MatchString(log) {
		t.Errorf("the keeper reinstated the path itself although multipathd runs")
	}

	// 3. Reboot: the machine comes back on the same LUN, whose
	// /etc/multipath/wwids multipathd wrote on the first boot: it adopts
	// the map again, this time without trying to flush it.
	ctx, cancel = context.WithTimeout(context.Background(), realRootShutdown+time.Minute)
	from := len(r.VM.Log())
	took, err := r.Shutdown(ctx, "reboot", realRootShutdown)
	logShutdown(t, r, "reboot", from)
	cancel()
	if err != nil {
		t.Errorf("%s: reboot: %v", d.Name, err)
		sum.add("reboot", "hang")
	} else {
		sum.add("reboot", fmt.Sprintf("%.1fs", took.Seconds()))
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	err = r.Restart(ctx)
	cancel()
	if err != nil {
		t.Fatalf("booting again: %v", err)
	}
	if again := checkAdoption(t, r, d, sum, "2"); again != wwid {
		t.Errorf("second boot: map %s, first boot %s", again, wwid)
	}
	if out, _ := osRun(t, r, "journalctl -b --no-pager -q -u multipathd | grep -E 'unable to flush|map in use'"); strings.TrimSpace(out) != "" {
		t.Errorf("second boot: multipathd still does not know the map from /etc/multipath/wwids:\n%s", out)
	}

	// 4. Poweroff, then the filesystem. The shutdown role tells the map
	// to fail what it would queue once the sessions end.
	from = len(r.VM.Log())
	poweroffClean(t, r, d, sum)
	if want := "multipath: 1 of 1 map(s) fail I/O once no path is left: " + wwid; !strings.Contains(consoleSince(r, from), want) {
		t.Errorf("the shutdown role did not say %q", want)
	}
}

// mapWWID is the WWID of the map /init made (its name), from the boot log.
func mapWWID(t *testing.T, log string) string {
	t.Helper()
	m := regexp.MustCompile(`netroot: multipath: map ([0-9a-f]+) `).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no multipath map in /init's log")
	}
	return m[1]
}

// activePaths counts the paths of map wwid that multipathd has active
// (dm state) and ready (its checker).
func activePaths(t *testing.T, r *rig.RealRoot, wwid string) int {
	t.Helper()
	out, _ := osRun(t, r, "multipathd show paths format '%w %t %T'")
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == wwid && f[1] == "active" && f[2] == "ready" {
			n++
		}
	}
	return n
}

// monoTime is the [seconds] stamp of the first line of a short-monotonic
// journal matching re, or -1.
func monoTime(journal, re string) float64 {
	m := regexp.MustCompile(`\[\s*([0-9]+\.[0-9]+)\][^\n]*` + re).FindStringSubmatch(journal)
	if m == nil {
		return -1
	}
	var v float64
	fmt.Sscan(m[1], &v)
	return v
}

// mapDevNode is the /dev/dm-N of a dm device "254:N".
func mapDevNode(majMin string) string {
	_, minor, _ := strings.Cut(majMin, ":")
	return "/dev/dm-" + minor
}

// checkAdoption waits for multi-user and asserts that multipathd adopted
// /init's map: multipathd runs and lists the map (named by its WWID) with
// both paths active, the root is on it, udev linked it, and the keeper
// stepped aside only once multipathd answered. It returns the WWID.
func checkAdoption(t *testing.T, r *rig.RealRoot, d rig.Distro, sum *summary, n string) string {
	t.Helper()
	bootStart := time.Now()
	state, _ := bootToMultiUser(t, r, d, sum, n)
	sum.add("state"+n, state)
	sum.add("boot"+n, fmt.Sprintf("%.1fs", time.Since(bootStart).Seconds()))
	log := r.VM.Log()
	for _, l := range netrootLines(log) {
		t.Log(l)
	}
	t.Logf("root ready at %.2f s since kernel start", rootReadyAt(t, log))
	t.Logf("matched: %s", wantLine(t, log, `^netroot: multipath: map [0-9a-f]+ \(/dev/dm-0\) over 2 path\(s\)`))
	osLog(t, r, "systemd-analyze time; cat /proc/cmdline; cat /run/netroot/multipath.json; ls -l /etc/multipath* /etc/multipath/ 2>&1; cat /etc/multipath/wwids 2>&1")
	osLog(t, r, "journalctl -b --no-pager -q -o short-monotonic -u multipathd | head -60; "+
		"journalctl -b -k --no-pager -q -o short-monotonic | grep -iE 'multipath|device-mapper|dm-[0-9]|netroot-keeper' | head -40")
	if out, code := osRun(t, r, "systemctl is-active multipathd.service"); code != 0 {
		t.Fatalf("multipathd.service is not active: %s", out)
	}
	wwid := mapWWID(t, r.VM.Log())
	osLog(t, r, "multipath -ll; dmsetup table; dmsetup info -c -o name,uuid,major,minor,open; lsblk -o NAME,MAJ:MIN,TYPE,FSTYPE,MOUNTPOINT 2>/dev/null || lsblk")
	// The root is on the map.
	rootDev, _ := osRun(t, r, "findmnt -no MAJ:MIN /")
	mapDev, code := osRun(t, r, "dmsetup info -c --noheadings -o major,minor --separator : "+wwid)
	rootDev, mapDev = strings.TrimSpace(rootDev), strings.TrimSpace(mapDev)
	t.Logf("root on %s; map %s is %s", rootDev, wwid, mapDev)
	if code != 0 || rootDev == "" || rootDev != mapDev {
		t.Errorf("the root (%q) is not on map %s (%q)", rootDev, wwid, mapDev)
	}
	// multipathd has the map: its name, the UUID, both paths up.
	maps := osLog(t, r, "multipathd show maps format '%n %w %d %N %Q'")
	listed := false
	for _, l := range strings.Split(maps, "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == wwid && f[1] == wwid && strings.HasPrefix(f[2], "dm-") && f[3] == "2" {
			listed = true
		}
	}
	if !listed {
		t.Errorf("multipathd does not list map %s with 2 paths:\n%s", wwid, maps)
	}
	osLog(t, r, "for d in sda sdb dm-0; do echo \"$d: $(udevadm info -q property -n /dev/$d | grep -E '^(DM_MULTIPATH_DEVICE_PATH|ID_FS_TYPE|SYSTEMD_READY|DM_NAME|DM_UUID)=' | tr '\\n' ' ')\"; done; "+
		"ls -l /dev/mapper /dev/disk/by-label /dev/disk/by-id | grep -v '^total'")
	// udev linked the map (/init's udev database entry): /dev/mapper, the
	// label, and systemd sees the device.
	links := osLog(t, r, "readlink -f /dev/mapper/"+wwid+" /dev/disk/by-label/"+rig.RootLabel+"; "+
		"systemctl show -p ActiveState --value \"$(systemd-escape -p --suffix=device /dev/mapper/"+wwid+")\"")
	if want := mapDevNode(mapDev) + "\n" + mapDevNode(mapDev) + "\nactive"; strings.TrimSpace(links) != want {
		t.Errorf("/dev/mapper/%s, /dev/disk/by-label/%s and the device unit: %q, want %q", wwid, rig.RootLabel, links, want)
	}
	// The keeper stepped aside when multipathd answered, not when
	// systemd's multipathd.socket began to listen.
	mono := osLog(t, r, "journalctl -b --no-pager -q -o short-monotonic | grep -E 'netroot-keeper: multipathd runs|multipathd\\[[0-9]+\\]: .*start up|Listening on multipathd.socket'")
	if aside, up := monoTime(mono, `netroot-keeper: multipathd runs`), monoTime(mono, `multipathd\[[0-9]+\]: .*start up`); aside < 0 || up < 0 || aside < up {
		t.Errorf("the keeper stepped aside at %.1fs, multipathd started at %.1fs: want after", aside, up)
	} else {
		sum.add("keeper_aside_after_mpathd"+n, fmt.Sprintf("%.1fs", aside-up))
	}
	if n := activePaths(t, r, wwid); n != 2 {
		t.Errorf("after boot: %d paths of %s active ready in multipathd, want 2", n, wwid)
	}
	sum.add("adopted"+n, !t.Failed())
	return wwid
}

// TestRealRootMultipathJoin: Debian 12 with multipath-tools
// (rig.BookwormMultipath) boots on netroot's multipath root with eth1's
// path cut at the host from power-on (its portal silent; the guest has
// carrier): the map has one path, and /init hands the other to the
// keeper. Once multipathd runs and the link is back, the keeper logs in
// to the path and leaves the disk to multipathd, which adds it from its
// uevent: multipathd shows both paths active. The root writes meanwhile:
// no I/O error, no lost record. The poweroff is clean.
func TestRealRootMultipathJoin(t *testing.T) {
	d := rig.BookwormMultipath
	r, sum := startMultipathRoot(t, d, "tap1")
	defer sum.log(t)

	// 1. Multi-user on a map of one path; multipathd runs.
	state, _ := bootToMultiUser(t, r, d, sum, "")
	sum.add("state", state)
	log := r.VM.Log()
	for _, l := range netrootLines(log) {
		t.Log(l)
	}
	t.Logf("matched: %s", wantLine(t, log, `^netroot: multipath: map [0-9a-f]+ \(/dev/dm-0\) over 1 path\(s\)`))
	t.Logf("matched: %s", wantLine(t, log, `^netroot: keeper: @netroot-keeper pid \d+ keeps 1 session\(s\) and logs in to 1 path\(s\) of the multipath map once they answer`))
	if out, code := osRun(t, r, "systemctl is-active multipathd.service"); code != 0 {
		t.Fatalf("multipathd.service is not active: %s", out)
	}
	wwid := mapWWID(t, log)
	if n := activePaths(t, r, wwid); n != 1 {
		t.Errorf("multipathd shows %d active paths of %s before the link, want 1", n, wwid)
	}

	// 2. The link back while the root writes.
	ctx, cancel := context.WithTimeout(context.Background(), realRootCommand)
	if err := r.StartWriter(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Net.SetLink(ctx, "tap1", true); err != nil {
		t.Fatal(err)
	}
	bothPaths(t, r, sum, wwid, time.Now(), "joined")
	osLog(t, r, "multipath -ll; multipathd show paths format '%w %d %D %t %T %o %C'; iscsiadm -m session 2>/dev/null; ls /sys/class/iscsi_session")
	stopWriter(t, r, sum)
	noMapIOErrors(t, r, "while the path joined")
	// The keeper logged in and left the disk to multipathd.
	log = r.VM.Log()
	for _, l := range regexp.MustCompile(`netroot-keeper: [^\r\n]*`).FindAllString(log, -1) {
		t.Log(l)
	}
	if !regexp.MustCompile(`netroot-keeper: path ` + regexp.QuoteMeta(otherSubnet) + `:3260 of map ` + wwid + ` \(\S+ LUN 1\): session \d+ logged in via \S+ after [0-9.]+s \(\d+ attempt\(s\)\); multipathd runs: it adds its disk sd[a-z]+ \(\d+:\d+\) to map ` + wwid).MatchString(log) {
		t.Errorf("the keeper did not log in to the path and leave its disk to multipathd")
	}

	// 3. Poweroff, then the filesystem.
	poweroffClean(t, r, d, sum)
}

// startMultipathRoot boots d on a multipath root over two subnets
// (twoSubnetsSpec), the taps cut at the host from power-on. The summary
// is logged by its log method, deferred by the test.
func startMultipathRoot(t *testing.T, d rig.Distro, cut ...string) (*rig.RealRoot, *summary) {
	t.Helper()
	img := realRootImage(t, d)
	sum := &summary{start: time.Now()}
	cmdline := strings.TrimSuffix(twoSubnetsCmdline, " ro") + " rw rd.netroot.multipath=1" +
		" rd.iscsi.param=node.conn[0].timeo.noop_out_interval=5 rd.iscsi.param=node.conn[0].timeo.noop_out_timeout=5"
	spec := twoSubnetsSpec("multipath", cmdline)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	r, err := env(t).StartRealRoot(ctx, rig.RealRootSpec{
		Name: t.Name(), Image: img, Cmdline: cmdline, Target: spec.Target,
		NetSetup: func(ctx context.Context, n *rig.Net) error {
			if err := spec.NetSetup(ctx, n); err != nil {
				return err
			}
			for _, tap := range cut {
				if err := n.SetLink(ctx, tap, false); err != nil {
					return err
				}
			}
			return nil
		},
		// netroot build carries the device-mapper modules for a command
		// line that asks for multipath.
		Baked: cmdline, DHCP: rig.RealRootDHCP(),
	})
	cancel()
	if err != nil {
		t.Fatalf("starting %s: %v", d.Name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console tail (full log %s, shell %s/shell.log*):\n%s", r.VM.LogPath, r.Dir, r.ConsoleTail(80))
		}
		r.Close()
	})
	sum.add("variant", d.Name)
	return r, sum
}

// stopWriter stops the root's writer and checks its records: all there
// and intact.
func stopWriter(t *testing.T, r *rig.RealRoot, sum *summary) writelog.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), realRootCommand)
	writerLog, err := r.StopWriter(ctx)
	cancel()
	t.Logf("root writer: %s", strings.TrimSpace(writerLog))
	if err != nil {
		t.Errorf("root writer: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), realRootCommand)
	rep, err := r.WriterRecords(ctx)
	cancel()
	if err != nil {
		t.Fatalf("reading the root writer's records: %v", err)
	}
	t.Logf("root writer's records: %v", rep)
	sum.add("records", rep.Records)
	sum.add("max_gap", fmt.Sprintf("%.1fs", rep.MaxGap.Seconds()))
	if !rep.OK() || rep.Records == 0 {
		t.Errorf("root writer's records: %v", rep)
	}
	return rep
}

// noMapIOErrors checks the kernel's log for I/O errors on a dm device
// or the filesystem, when (for the message).
func noMapIOErrors(t *testing.T, r *rig.RealRoot, when string) {
	t.Helper()
	kmsg := osLog(t, r, "journalctl -b -k --no-pager -q -o short-monotonic | grep -E 'I/O error|multipath|netroot-keeper|connection[0-9]+:|session' | tail -40; "+
		"journalctl -b --no-pager -q -o short-monotonic -u multipathd | tail -30")
	if regexp.MustCompile(`(?i)(buffer )?I/O error[^\n]*dm-|EXT4-fs error`).MatchString(kmsg) {
		t.Errorf("I/O errors on the map or the filesystem %s", when)
	}
}

// bothPaths waits up to 2 minutes from back (a link's return) for
// multipathd to show both paths of wwid active, and sums up how long
// that took as what.
func bothPaths(t *testing.T, r *rig.RealRoot, sum *summary, wwid string, back time.Time, what string) {
	t.Helper()
	for time.Since(back) < 2*time.Minute {
		if activePaths(t, r, wwid) == 2 {
			t.Logf("both paths of %s active ready %.1fs after the link returned", wwid, time.Since(back).Seconds())
			sum.add(what, fmt.Sprintf("%.1fs", time.Since(back).Seconds()))
			return
		}
		time.Sleep(2 * time.Second)
	}
	t.Errorf("map %s does not have both paths active 2 minutes after the link returned", wwid)
	sum.add(what, "never")
}
