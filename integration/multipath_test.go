package integration

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/initramfs"
	"github.com/netroot/netroot/pkg/modload"
)

// mpathInit is the probe's /init: mount, load the modules, run the
// probe, power off.
const mpathInit = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
%s
/mpathprobe
poweroff -f
`

// mpathModules are what the probe needs: the QEMU disks, scsi_debug's,
// LIO over tcm_loop with the ALUA handler, LIO's iSCSI target with crc32c,
// device-mapper multipath and its path selectors (dm-multipath and LIO
// load selectors and crc32c by name with request_module, which has no
// modprobe to call here).
var mpathModules = []string{
	"virtio_pci", "virtio_scsi", "sd_mod", "scsi_debug", "scsi_dh_alua",
	"configfs", "target_core_mod", "tcm_loop", "iscsi_target_mod", "crc32c_generic",
	"dm_mod", "dm_multipath", "dm_service_time", "dm_round_robin",
}

// mpathInitramfs writes the probe's initramfs into dir.
func mpathInitramfs(t *testing.T, ctx context.Context, k *rig.Kernel, dir string) string {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skipf("the multipath probe needs busybox-static: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	probe := filepath.Join(dir, "mpathprobe")
	must(rig.GoBuild(ctx, "./integration/cmd/mpathprobe", probe))
	a := initramfs.New()
	must(a.AddHostFile("bin/busybox", busybox, 0o755))
	for _, applet := range []string{"sh", "mount", "insmod", "poweroff"} {
		must(a.AddSymlink("bin/"+applet, "busybox"))
	}
	for _, d := range []string{"dev", "proc", "sys"} {
		must(a.AddDir(d, 0o755))
	}
	must(a.AddCharDev("dev/console", 0o600, 5, 1))
	must(a.AddHostFile("mpathprobe", probe, 0o755))
	idx, err := modload.ScanTree(k.ModulesDir)
	must(err)
	order, err := idx.Resolve(mpathModules...)
	must(err)
	var insmods strings.Builder
	for _, n := range order {
		m, ok := idx.Module(n)
		if !ok {
			continue // built in
		}
		dst := "lib/modules/" + m.Path
		must(a.AddHostFile(dst, filepath.Join(k.ModulesDir, m.Path), 0o644))
		fmt.Fprintf(&insmods, "insmod /%s\n", dst)
	}
	must(a.AddFile("init", []byte(fmt.Sprintf(mpathInit, insmods.String())), 0o755))
	p := filepath.Join(dir, "mpath-probe.img")
	f, err := os.Create(p)
	must(err)
	defer f.Close()
	_, err = a.Write(f, "gzip")
	must(err)
	must(f.Close())
	return p
}

// TestDevmapperMultipathKernel boots Debian's kernel with one disk image
// attached twice (two virtio-scsi controllers, two scsi-hd with the same
// wwn: one LUN on two paths, as two iSCSI sessions show it) and a LIO LUN
// on two tcm_loop port groups, and runs integration/cmd/mpathprobe: the
// SCSI identities against the kernel's, then the multipath maps built
// with pkg/devmapper's ioctls — I/O through them, fail_path and its
// uevent and DM_DEV_WAIT, reinstate_path, a path's SCSI device deleted and
// rescanned back, a reload, removal — and SendTargets discovery (plain and
// CHAP) against LIO's iSCSI target on two loopback portals. The identity attributes the guest
// printed are checked again here, and written to pkg/blockdev/testdata/vpd
// with NETROOT_UPDATE_TESTDATA=1.
func TestDevmapperMultipathKernel(t *testing.T) {
	if reason := rig.Missing(); reason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the boot tests, but: %s", reason)
		}
		t.Skip(reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	k, err := rig.FetchKernel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := rig.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "mpath-tests", t.Name())
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "lun.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	const wwn = "0x5000c50015ea71ac"
	var extra []string
	for i := range 2 {
		extra = append(extra,
			"-device", fmt.Sprintf("virtio-scsi-pci,id=scsi%d", i),
			"-drive", fmt.Sprintf("if=none,id=d%d,file=%s,format=raw,file.locking=off", i, img),
			"-device", fmt.Sprintf("scsi-hd,bus=scsi%d.0,drive=d%d,wwn=%s,serial=mpath0,port_wwn=0x5000c50015ea71a%d,port_index=%d",
				i, i, wwn, i, i+1))
	}
	start := time.Now()
	vm, err := rig.StartVM(rig.VMConfig{
		Kernel: k.Vmlinuz, Initrd: mpathInitramfs(t, ctx, k, dir), Cmdline: rig.Console + " loglevel=1 panic=-1",
		Dir: dir, Extra: extra,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Kill()
	if _, err := vm.WaitFor(ctx, regexp.MustCompile(`MPATH-DONE`)); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, vm.Log())
	}
	if err := vm.Wait(ctx); err != nil {
		t.Errorf("guest did not power off: %v", err)
	}
	t.Logf("probe done in %.1fs", time.Since(start).Seconds())
	log := vm.Log()
	checks := map[string]string{}
	captures := map[string]fstest.MapFS{}
	wwids := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimRight(line, "\r")
		i := strings.Index(line, "MPATH-")
		if i < 0 {
			continue
		}
		f := strings.Fields(line[i:])
		switch f[0] {
		case "MPATH-CHECK":
			checks[f[1]] = strings.Join(f[2:], " ")
		case "MPATH-LOG", "MPATH-DMESG":
			t.Log(strings.Join(f[1:], " "))
		case "MPATH-WWID":
			wwids[f[1]] = f[3]
		case "MPATH-CAPTURE":
			b := []byte{}
			if len(f) > 3 {
				if b, err = hex.DecodeString(f[3]); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
			}
			if captures[f[1]] == nil {
				captures[f[1]] = fstest.MapFS{}
			}
			captures[f[1]]["class/block/x/device/"+f[2]] = &fstest.MapFile{Data: b}
		}
	}
	for _, want := range []string{
		"kernel-wwid-qemu", "kernel-wwid-scsi_debug", "qemu-same-lun", "qemu-alua-refused", "qemu-refused-map-removed",
		"qemu-create", "qemu-uuid", "qemu-io", "qemu-both-active", "qemu-fail-path", "qemu-fail-uevent", "qemu-dev-wait",
		"qemu-failed-status", "qemu-io-one-path", "qemu-reinstate", "qemu-reinstate-uevent", "qemu-reinstated-status",
		"qemu-io-reinstated", "qemu-switch-group", "qemu-delete", "qemu-io-after-delete", "qemu-deleted-failed", "qemu-rescan", "qemu-path-back",
		"qemu-reload", "qemu-reloaded-status", "qemu-io-reloaded", "qemu-remove",
		"lio-setup", "lio-same-lun", "lio-create", "lio-io", "lio-both-active", "lio-fail-path", "lio-failed-status",
		"lio-io-one-path", "lio-reinstate", "lio-reinstated-status", "lio-remove",
		"lio-iscsi-setup", "lio-sendtargets", "lio-sendtargets-needs-chap", "lio-sendtargets-chap", "lio-sendtargets-wrong-chap",
	} {
		if _, ok := checks[want]; !ok {
			t.Errorf("the probe never reported %s", want)
		}
	}
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if checks[n] != "ok" {
			t.Errorf("guest check %s: %s", n, checks[n])
		}
	}
	if t.Failed() {
		t.Logf("console:\n%s", log)
	}

	// The identities again, here, from the bytes the guest printed.
	for label, sys := range captures {
		id, err := blockdev.ReadIdentity(sys, "x")
		if err != nil {
			t.Errorf("%s: %v", label, err)
			continue
		}
		if id.WWID != wwids[label] || id.Page.KernelWWID() != id.KernelWWID {
			t.Errorf("%s: WWID %q (guest %q), kernel wwid %q, ours %q", label, id.WWID, wwids[label], id.KernelWWID, id.Page.KernelWWID())
		}
		t.Logf("%s: ID_SERIAL %s, kernel wwid %s, designators %v", label, id.WWID, id.KernelWWID, id.Page.Designators)
		saveVPD(t, label, sys)
	}
	if got := wwids["qemu"]; got != "3"+strings.TrimPrefix(wwn, "0x") {
		t.Errorf("QEMU disk WWID %q, want 3 + its wwn", got)
	}
}

// saveVPD writes a captured disk's attributes to pkg/blockdev/testdata/vpd
// when NETROOT_UPDATE_TESTDATA=1, or reports how they differ from the
// stored ones.
func saveVPD(t *testing.T, label string, sys fstest.MapFS) {
	root, err := rig.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "pkg/blockdev/testdata/vpd", label)
	for p, f := range sys {
		name := filepath.Join(dir, filepath.Base(p))
		if os.Getenv("NETROOT_UPDATE_TESTDATA") == "1" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if old, err := os.ReadFile(name); err != nil || !bytes.Equal(old, f.Data) {
			t.Logf("%s differs from the stored capture (NETROOT_UPDATE_TESTDATA=1 rewrites it)", name)
		}
	}
}
