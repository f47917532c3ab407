// Command mpathprobe runs inside the QEMU guest of TestDevmapperMultipathKernel
// (started by a busybox /init that loaded the modules). It proves netroot's
// SCSI identity and multipath libraries against the real kernel:
//
//   - every SCSI disk's sysfs identity is printed raw (MPATH-CAPTURE lines,
//     the test's fixtures) and checked: our rendering of the kernel's wwid
//     from the page equals the kernel's own;
//   - two QEMU scsi-hd on one image with one wwn (two controllers, like two
//     sessions) come out as one LUN; a map is built over them as multipathd
//     would, written and read through, a path failed by message, by
//     deleting its SCSI device, re-added by a rescan and a reload;
//   - two LIO paths (tcm_loop, two target port groups to one backstore)
//     get multipathd's LIO table (ALUA handler, queue_if_no_path).
//
// Results are "MPATH-CHECK <name> ok|FAIL <detail>" lines, then
// "MPATH-DONE".
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/devmapper"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/multipath"
)

func check(name string, err error) bool {
	if err != nil {
		fmt.Printf("MPATH-CHECK %s FAIL %v\n", name, err)
		return false
	}
	fmt.Printf("MPATH-CHECK %s ok\n", name)
	return true
}

func logf(format string, args ...any) { fmt.Printf("MPATH-LOG "+format+"\n", args...) }

func main() {
	defer fmt.Println("MPATH-DONE")
	defer dmesg()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w, err := blockdev.NewWatcher()
	if !check("uevent-watcher", err) {
		return
	}
	defer w.Close()
	scan := blockdev.NewScanner().Scan

	// The QEMU pair and scsi_debug's disk are there at boot.
	qemu, err := waitDisks(ctx, w, scan, "QEMU", 2)
	if !check("qemu-disks", err) {
		return
	}
	dbg, err := waitDisks(ctx, w, scan, "Linux", 1)
	check("scsi-debug-disk", err)
	if err == nil {
		capture("scsi_debug", dbg[0])
	}
	capture("qemu", qemu[0])

	ctl, err := devmapper.Open()
	if !check("dm-control", err) {
		return
	}
	defer ctl.Close()
	v, err := ctl.Version()
	check("dm-version", err)
	logf("device-mapper ioctl interface %d.%d.%d", v[0], v[1], v[2])

	qemuPaths(ctx, w, ctl, scan, qemu)
	if lioPaths(ctx, w, ctl, scan) {
		lioDiscovery(ctx)
	}
}

// dmesg prints the kernel's device-mapper, SCSI and target messages (the
// console is kept quiet so that they do not cut our lines).
func dmesg() {
	buf := make([]byte, 1<<20)
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		for _, k := range []string{"device-mapper", "multipath", "alua", "sd ", "scsi", "tcm_loop", "TARGET_CORE", "target_core"} {
			if strings.Contains(line, k) {
				fmt.Println("MPATH-DMESG " + line)
				break
			}
		}
	}
}

// vendorOf reads a disk's INQUIRY vendor from sysfs.
func vendorOf(d blockdev.Device) string {
	b, _ := os.ReadFile("/sys/class/block/" + d.Name + "/device/vendor")
	return strings.TrimSpace(string(b))
}

func modelOf(d blockdev.Device) string {
	b, _ := os.ReadFile("/sys/class/block/" + d.Name + "/device/model")
	return strings.TrimSpace(string(b))
}

// waitDisks waits for n whole SCSI disks of vendor (with a WWID).
func waitDisks(ctx context.Context, w *blockdev.Watcher, scan blockdev.ScanFunc, vendor string, n int) ([]blockdev.Device, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var found []blockdev.Device
	_, err := w.WaitFunc(ctx, fmt.Sprintf("%d %s disks", n, vendor), func(d blockdev.Device) bool {
		if d.IsPartition() || d.WWID == "" || vendorOf(d) != vendor {
			return false
		}
		for _, f := range found {
			if f.Name == d.Name {
				return len(found) >= n
			}
		}
		found = append(found, d)
		return len(found) >= n
	}, scan)
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	return found, err
}

// capture prints a disk's identity attributes raw and checks our
// rendering of the kernel's wwid.
func capture(label string, d blockdev.Device) {
	dir := "/sys/class/block/" + d.Name + "/device/"
	for _, f := range []string{"inquiry", "vpd_pg80", "vpd_pg83", "wwid", "vendor", "model"} {
		if b, err := os.ReadFile(dir + f); err == nil {
			fmt.Printf("MPATH-CAPTURE %s %s %s\n", label, f, hex.EncodeToString(b))
		}
	}
	id, err := blockdev.ReadIdentity(os.DirFS("/sys"), d.Name)
	if !check("identity-"+label, err) {
		return
	}
	fmt.Printf("MPATH-WWID %s %s %s\n", label, d.Name, id.WWID)
	if id.Page.KernelWWID() != id.KernelWWID {
		check("kernel-wwid-"+label, fmt.Errorf("ours %q, kernel %q", id.Page.KernelWWID(), id.KernelWWID))
	} else {
		check("kernel-wwid-"+label, nil)
	}
}

// block is an O_DIRECT block of 4 KiB (page aligned), so every read and
// write goes to the device.
type block []byte

func newBlock() block {
	b, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		panic(err)
	}
	return b
}

func (b block) fill(tag string) {
	h := sha256.Sum256([]byte(tag))
	for i := 0; i < len(b); i += len(h) {
		copy(b[i:], h[:])
	}
}

func writeAt(dev string, off int64, b block) error {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return f.Sync()
}

func readAt(dev string, off int64) (block, error) {
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := newBlock()
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// roundTrip writes a block tagged tag through the map and reads it back
// through the map and through each of the given raw paths.
func roundTrip(mapDev string, off int64, tag string, raw ...string) error {
	b := newBlock()
	b.fill(tag)
	if err := writeAt(mapDev, off, b); err != nil {
		return fmt.Errorf("write %s: %w", mapDev, err)
	}
	for _, dev := range append([]string{mapDev}, raw...) {
		got, err := readAt(dev, off)
		if err != nil {
			return fmt.Errorf("read %s: %w", dev, err)
		}
		if !bytes.Equal(got, b) {
			return fmt.Errorf("read %s: not what was written through %s", dev, mapDev)
		}
	}
	return nil
}

func devOf(d blockdev.Device) string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// expectPaths checks which paths of the map are up.
func expectPaths(ctl *devmapper.Control, name string, active, failedDevs []string) error {
	s, err := multipath.GetStatus(ctl, name)
	if err != nil {
		return err
	}
	_, raw, _ := ctl.Status(name)
	logf("status %s: %s (kernel: %v)", name, s, raw)
	for _, d := range active {
		if p, ok := s.Path(d); !ok || !p.Active {
			return fmt.Errorf("path %s not active: %s", d, s)
		}
	}
	for _, d := range failedDevs {
		if p, ok := s.Path(d); !ok || p.Active {
			return fmt.Errorf("path %s not failed: %s", d, s)
		}
	}
	return nil
}

// pathEvent waits for the map's dm uevent about dev.
func pathEvent(ctx context.Context, w *blockdev.Watcher, name, dev string, fail bool) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			return fmt.Errorf("no uevent for path %s of %s: %w", dev, name, err)
		}
		pe, ok := multipath.ParsePathEvent(ev.Env)
		if ok && pe.Map == name && pe.Path == dev && pe.Failed == fail {
			logf("uevent %s: %+v", ev.DevPath, pe)
			return nil
		}
	}
}

func qemuPaths(ctx context.Context, w *blockdev.Watcher, ctl *devmapper.Control, scan blockdev.ScanFunc, disks []blockdev.Device) {
	lun, ok := blockdev.SameLUN(disks)
	if !check("qemu-same-lun", errIf(!ok, "disks %v are not one LUN", disks)) {
		return
	}
	paths, sectors, wwid, err := multipath.PathsOf(lun.Devices)
	if !check("qemu-paths", err) {
		return
	}
	cfg := multipath.ConfigFor(vendorOf(disks[0]), modelOf(disks[0]))
	params, _ := cfg.Params(paths)
	logf("qemu map %s: %s", wwid, params)

	// multipathd's LIO table on a disk without ALUA: the kernel refuses
	// the handler, and nothing is left behind.
	_, err = multipath.Create(ctl, wwid, sectors, paths, multipath.ConfigFor("LIO-ORG", ""))
	var dmErr *devmapper.Error
	check("qemu-alua-refused", errIf(err == nil || !errors.As(err, &dmErr), "created with an ALUA handler: %v", err))
	if err != nil {
		logf("as expected: %v", err)
	}
	_, infoErr := ctl.Info(multipath.MapName(wwid))
	check("qemu-refused-map-removed", errIf(!errors.Is(infoErr, unix.ENXIO), "map left behind: %v", infoErr))

	m, err := multipath.Create(ctl, wwid, sectors, paths, cfg)
	if !check("qemu-create", err) {
		return
	}
	mapDev := m.Info.DevNode()
	info, _ := ctl.Info(m.Name)
	_, table, _ := ctl.Table(m.Name)
	logf("map %s uuid %s dev %s, kernel table: %v", info.Name, info.UUID, mapDev, table)
	check("qemu-uuid", errIf(info.UUID != "mpath-"+wwid, "uuid %q", info.UUID))
	a, b := paths[0].Dev, paths[1].Dev
	rawA, rawB := "/dev/"+disks[0].Name, "/dev/"+disks[1].Name
	check("qemu-io", roundTrip(mapDev, 0, "first", rawA, rawB))
	check("qemu-both-active", expectPaths(ctl, m.Name, []string{a, b}, nil))

	// fail_path: the event, the status, I/O goes on.
	ev0, _ := ctl.Info(m.Name)
	waited := make(chan error, 1)
	go func() {
		_, ts, err := ctl.Wait(m.Name, ev0.EventNr)
		if err == nil && (len(ts) != 1 || !strings.Contains(ts[0].Params, a+" F")) {
			err = fmt.Errorf("status after the event: %v", ts)
		}
		waited <- err
	}()
	check("qemu-fail-path", multipath.FailPath(ctl, m.Name, a))
	check("qemu-fail-uevent", pathEvent(ctx, w, m.Name, a, true))
	select {
	case err := <-waited:
		check("qemu-dev-wait", err)
	case <-time.After(20 * time.Second):
		check("qemu-dev-wait", errors.New("DM_DEV_WAIT did not return"))
	}
	check("qemu-failed-status", expectPaths(ctl, m.Name, []string{b}, []string{a}))
	check("qemu-io-one-path", roundTrip(mapDev, 1<<20, "second", rawB))
	check("qemu-reinstate", multipath.ReinstatePath(ctl, m.Name, a))
	check("qemu-reinstate-uevent", pathEvent(ctx, w, m.Name, a, false))
	check("qemu-reinstated-status", expectPaths(ctl, m.Name, []string{a, b}, nil))
	check("qemu-io-reinstated", roundTrip(mapDev, 2<<20, "third", rawA, rawB))

	// The first path's SCSI device goes away (a session lost for good)
	// while its group carries the I/O: the next I/O fails it and goes on
	// through the other.
	host, _, _, _, _ := disks[0].SCSI()
	check("qemu-switch-group", multipath.SwitchGroup(ctl, m.Name, 1))
	if !check("qemu-delete", os.WriteFile("/sys/class/block/"+disks[0].Name+"/device/delete", []byte("1"), 0)) {
		return
	}
	for i := range 8 {
		if err := roundTrip(mapDev, int64(3+i)<<20, fmt.Sprint("after delete ", i), rawB); err != nil {
			check("qemu-io-after-delete", err)
			return
		}
	}
	check("qemu-io-after-delete", nil)
	check("qemu-deleted-failed", expectPaths(ctl, m.Name, []string{b}, []string{a}))

	// A rescan brings it back as a new disk; the map is reloaded with it.
	scanHost := fmt.Sprintf("/sys/class/scsi_host/host%d/scan", host)
	if !check("qemu-rescan", os.WriteFile(scanHost, []byte("- - -"), 0)) {
		return
	}
	ctx2, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	back, err := w.WaitFunc(ctx2, "the re-added path", func(d blockdev.Device) bool {
		return !d.IsPartition() && d.WWID == wwid && devOf(d) != b
	}, scan)
	if !check("qemu-path-back", err) {
		return
	}
	logf("path back as %s (%s)", back.Name, devOf(*back))
	check("qemu-reload", multipath.Reload(ctl, m, []multipath.Path{{Dev: devOf(*back)}, {Dev: b}}, cfg))
	check("qemu-reloaded-status", expectPaths(ctl, m.Name, []string{devOf(*back), b}, nil))
	check("qemu-io-reloaded", roundTrip(mapDev, 12<<20, "fourth", "/dev/"+back.Name, rawB))
	check("qemu-remove", multipath.Remove(ctl, m.Name))
}

// lioPaths makes a LIO ramdisk LUN reachable through two tcm_loop target
// port groups and maps it as multipathd maps LIO LUNs.
func lioPaths(ctx context.Context, w *blockdev.Watcher, ctl *devmapper.Control, scan blockdev.ScanFunc) bool {
	if !check("lio-setup", setupLIO()) {
		return false
	}
	disks, err := waitDisks(ctx, w, scan, "LIO-ORG", 2)
	if !check("lio-disks", err) {
		return true
	}
	for i, d := range disks {
		capture(fmt.Sprintf("lio-path%d", i+1), d)
	}
	lun, ok := blockdev.SameLUN(disks)
	if !check("lio-same-lun", errIf(!ok, "disks %v are not one LUN", disks)) {
		return true
	}
	paths, sectors, wwid, err := multipath.PathsOf(lun.Devices)
	if !check("lio-paths", err) {
		return true
	}
	for i, d := range lun.Devices {
		dir := "/sys/class/block/" + d.Name + "/device/"
		state, _ := os.ReadFile(dir + "access_state")
		pref, _ := os.ReadFile(dir + "preferred_path")
		dh, _ := os.ReadFile(dir + "dh_state")
		paths[i].Priority = multipath.ALUAPriority(strings.TrimSpace(string(state)), strings.TrimSpace(string(pref)) == "1")
		logf("%s: dh_state %q access_state %q priority %d", d.Name, strings.TrimSpace(string(dh)), strings.TrimSpace(string(state)), paths[i].Priority)
	}
	cfg := multipath.ConfigFor(vendorOf(disks[0]), modelOf(disks[0]))
	params, _ := cfg.Params(paths)
	logf("lio map %s: %s", wwid, params)
	m, err := multipath.Create(ctl, wwid, sectors, paths, cfg)
	if !check("lio-create", err) {
		return true
	}
	_, table, _ := ctl.Table(m.Name)
	logf("kernel table: %v", table)
	mapDev := m.Info.DevNode()
	rawA, rawB := "/dev/"+disks[0].Name, "/dev/"+disks[1].Name
	check("lio-io", roundTrip(mapDev, 0, "lio first", rawA, rawB))
	a, b := paths[0].Dev, paths[1].Dev
	check("lio-both-active", expectPaths(ctl, m.Name, []string{a, b}, nil))
	check("lio-fail-path", multipath.FailPath(ctl, m.Name, b))
	check("lio-failed-status", expectPaths(ctl, m.Name, []string{a}, []string{b}))
	check("lio-io-one-path", roundTrip(mapDev, 1<<20, "lio second", rawA))
	check("lio-reinstate", multipath.ReinstatePath(ctl, m.Name, b))
	check("lio-reinstated-status", expectPaths(ctl, m.Name, []string{a, b}, nil))
	check("lio-remove", multipath.Remove(ctl, m.Name))
	return true
}

// lioDiscovery exports the LIO ramdisk through an iSCSI target with two
// portals on loopback (127.0.0.1 and 127.0.0.2, like two subnets) and asks
// it SendTargets with netroot's initiator: without, then with discovery
// CHAP enforced.
func lioDiscovery(ctx context.Context) {
	const (
		iqn  = "iqn.2024-01.org.netroot:lio"
		user = "disc-user"
		pass = "disc-secret-1234"
	)
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if !check("lio-iscsi-lo", err) {
		return
	}
	const cfs = "/sys/kernel/config/target"
	tpg := cfs + "/iscsi/" + iqn + "/tpgt_1"
	steps := []step{
		{"mkdir", tpg, ""},
		{"mkdir", tpg + "/np/127.0.0.1:3260", ""},
		{"mkdir", tpg + "/np/127.0.0.2:3260", ""},
		{"mkdir", tpg + "/lun/lun_0", ""},
		{"link", tpg + "/lun/lun_0/port", cfs + "/core/rd_mcp_1/ramdisk"},
		{"write", tpg + "/attrib/authentication", "0"},
		{"write", tpg + "/attrib/generate_node_acls", "1"},
		{"write", tpg + "/enable", "1"},
	}
	if !check("lio-iscsi-setup", configfs(steps)) {
		return
	}
	cfg := iscsi.DiscoveryConfig{InitiatorName: "iqn.2024-01.org.netroot:probe", Portal: "127.0.0.1:3260"}
	opts := iscsi.ConnectOptions{MaxAttempts: 1, AttemptTimeout: 20 * time.Second}
	targets, err := iscsi.DiscoverPortal(ctx, cfg, opts)
	logf("LIO SendTargets: %+v", targets)
	want := "[{Name:" + iqn + " Portals:[127.0.0.1:3260,1 127.0.0.2:3260,1]}]"
	if err == nil && fmt.Sprintf("%+v", targets) != want {
		err = fmt.Errorf("got %+v, want %s", targets, want)
	}
	check("lio-sendtargets", err)

	auth := cfs + "/iscsi/discovery_auth"
	if !check("lio-discovery-auth-setup", configfs([]step{
		{"write", auth + "/userid", user}, {"write", auth + "/password", pass}, {"write", auth + "/enforce_discovery_auth", "1"},
	})) {
		return
	}
	_, err = iscsi.DiscoverPortal(ctx, cfg, opts)
	var le *iscsi.LoginError
	check("lio-sendtargets-needs-chap", errIf(!errors.As(err, &le) || le.Status() != 0x0201, "without credentials: %v", err))
	logf("without credentials: %v", err)
	cfg.Credentials = iscsi.Credentials{Username: user, Password: pass}
	targets, err = iscsi.DiscoverPortal(ctx, cfg, opts)
	if err == nil && fmt.Sprintf("%+v", targets) != want {
		err = fmt.Errorf("got %+v, want %s", targets, want)
	}
	check("lio-sendtargets-chap", err)
	cfg.Credentials.Password = "wrong-secret-0000"
	_, err = iscsi.DiscoverPortal(ctx, cfg, opts)
	check("lio-sendtargets-wrong-chap", errIf(!errors.As(err, &le) || le.Status() != 0x0201, "with a wrong secret: %v", err))
}

// step is one configfs operation: mkdir path, write value to path, or link
// path to value.
type step struct{ op, path, value string }

// configfs runs the steps.
func configfs(steps []step) error {
	for _, s := range steps {
		var err error
		switch s.op {
		case "mkdir":
			err = os.MkdirAll(s.path, 0o755)
		case "write":
			err = os.WriteFile(s.path, []byte(s.value), 0)
		case "link":
			err = os.Symlink(s.value, s.path)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", s.op, s.path, err)
		}
	}
	return nil
}

// setupLIO builds, in configfs, a 16 MiB ramdisk backstore with a fixed
// unit serial, exported as LUN 0 of two tcm_loop target port groups.
func setupLIO() error {
	const cfs = "/sys/kernel/config"
	if err := unix.Mount("configfs", cfs, "configfs", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount configfs: %w", err)
	}
	core := cfs + "/target/core/rd_mcp_1/ramdisk"
	wwn := cfs + "/target/loopback/naa.5001405000000001"
	steps := []step{
		{"mkdir", core, ""},
		{"write", core + "/control", "rd_pages=4096"},
		{"write", core + "/wwn/vpd_unit_serial", "2f1d5b0e-4c8a-4d3e-9a51-6e0c7b3d2a10"},
		{"write", core + "/enable", "1"},
		{"mkdir", wwn, ""},
	}
	for tpgt := 1; tpgt <= 2; tpgt++ {
		tpg := wwn + "/tpgt_" + strconv.Itoa(tpgt)
		steps = append(steps,
			// The nexus (the initiator side) first: linking the LUN
			// adds its SCSI device at once.
			step{"mkdir", tpg, ""},
			step{"write", tpg + "/nexus", fmt.Sprintf("naa.50014050000001%02d", tpgt)},
			step{"mkdir", tpg + "/lun/lun_0", ""},
			step{"link", tpg + "/lun/lun_0/port", core},
		)
	}
	return configfs(steps)
}

func errIf(cond bool, format string, args ...any) error {
	if cond {
		return fmt.Errorf(format, args...)
	}
	return nil
}
