package integration

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
)

// withRoot returns the scenario cmdline with root= replaced.
func withRoot(root string) string {
	return strings.Replace(rig.ScenarioCmdline, "root=LABEL="+rig.RootLabel, root, 1)
}

// withLUN returns the scenario cmdline with the target's LUN replaced.
func withLUN(lun string) string {
	return strings.Replace(rig.ScenarioCmdline, "::3260:1:", "::3260:"+lun+":", 1)
}

// buildImage builds a root image with the test init into dir.
func buildImage(t *testing.T, img rig.RootImage, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	img.Files = map[string]string{"sbin/init": env(t).TestInit}
	path := filepath.Join(t.TempDir(), name)
	if err := img.Build(ctx, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBootGPTPartLabel finds the root on partition 2 of a GPT-partitioned
// LUN by PARTLABEL=.
func TestBootGPTPartLabel(t *testing.T) {
	root := buildImage(t, rig.RootImage{Label: "GPTROOT", SizeMB: 64}, "part.img")
	disk := filepath.Join(t.TempDir(), "disk.img")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rig.GPTDisk(ctx, disk, []rig.Partition{
		{Name: "spare", SizeMB: 8},
		{Name: "netroot-root", SizeMB: 64, Image: root},
	}); err != nil {
		t.Fatal(err)
	}
	tc := rig.DefaultTarget()
	tc.LUNs = []string{disk}
	b := start(t, rig.BootSpec{Cmdline: withRoot("root=PARTLABEL=netroot-root"), Target: tc})
	log := assertRealRoot(t, b)
	if got := reported(log, "root-mount"); len(got) != 1 || !strings.HasPrefix(got[0], "/dev/sda2 ") {
		t.Errorf("root mount = %q, want /dev/sda2", got)
	}
}

// TestBootXFSByUUID mounts an xfs root found by UUID=, its module loaded on
// demand from the detected type.
func TestBootXFSByUUID(t *testing.T) {
	const uuid = "6e2f3c1a-7b5d-4e8f-9a0b-1c2d3e4f5a6b"
	img := buildImage(t, rig.RootImage{Label: "XFSROOT", SizeMB: 300, FSType: "xfs", UUID: uuid}, "xfs.img")
	tc := rig.DefaultTarget()
	tc.LUNs = []string{img}
	b := start(t, rig.BootSpec{Cmdline: withRoot("root=UUID=" + strings.ToUpper(uuid)), Target: tc,
		BuildArgs: []string{"-fs", "ext4,xfs"}})
	log := assertRealRootFS(t, b, "xfs")
	if !strings.Contains(log, "netroot: mount-root: /dev/sda xfs on /sysroot") {
		t.Errorf("no mount-root line for the xfs root")
	}
}

// TestBootEmptyLUNField boots the way dracut's own iSCSI test does: the
// <LUN> field empty, the root found by LABEL= on LUN 2 of a tgt target
// whose LUN 0 is its controller and LUN 1 another filesystem; /init scans
// every LUN, as dracut's login to the whole target does.
func TestBootEmptyLUNField(t *testing.T) {
	tc := rig.DefaultTarget()
	tc.LUNs = dataThenRoot(t)
	b := start(t, rig.BootSpec{Cmdline: withLUN(""), Target: tc})
	log := assertRealRoot(t, b)
	if !strings.Contains(log, "every LUN scanned (the <LUN> field is empty)") {
		t.Errorf("the disk line does not say every LUN was scanned")
	}
	if !regexp.MustCompile(`netroot: root: LABEL=ISCSI_ROOT is /dev/sd[a-z]+ .*\[scsi \d+:0:0:2 `).MatchString(log) {
		t.Errorf("the root is not LUN 2's disk")
	}
}

// dataThenRoot gives a target's two LUNs: a filesystem labelled DATA,
// then a copy of the marker root.
func dataThenRoot(t *testing.T) []string {
	t.Helper()
	data := buildImage(t, rig.RootImage{Label: "DATA", SizeMB: 16}, "data.img")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := filepath.Join(t.TempDir(), "root.img")
	if err := rig.CopySparse(ctx, env(t).RootImg, root); err != nil {
		t.Fatal(err)
	}
	return []string{data, root}
}

// TestBootSecondLUN boots from LUN 2 of a target with two LUNs, found by
// LABEL=; LUN 1 holds another filesystem, which the real OS sees too: the
// rest of the target is scanned by the keeper beside switch_root, as
// open-iscsi's login scans it all (node.session.scan=auto). With
// node.session.scan=manual the real OS sees LUN 2 only.
func TestBootSecondLUN(t *testing.T) {
	for _, tc := range []struct {
		name, param string
		lun1        bool
	}{
		{"auto", "", true},
		{"manual", " rd.iscsi.param=node.session.scan=manual", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := rig.DefaultTarget()
			target.LUNs = dataThenRoot(t)
			// The keeper scans the other LUNs beside switch_root: the
			// test init waits for tgt's controller and both LUNs.
			b := start(t, rig.BootSpec{Cmdline: withLUN("2") + tc.param + " netroot.test.scsi-devices=3", Target: target})
			log := assertRealRoot(t, b)
			if !strings.Contains(log, "LUN 2 is /dev/sd") {
				t.Errorf("the disk line does not name LUN 2")
			}
			devs := reported(log, "scsi-devices")
			if len(devs) != 1 {
				t.Fatalf("scsi-devices reports %q", devs)
			}
			t.Logf("the real OS's SCSI devices: %s (waited %v)", devs[0], reported(log, "scsi-devices-waited"))
			if scanned := regexp.MustCompile(`netroot-keeper: session \d+: the other LUNs of \S+ scanned`).MatchString(log); scanned != tc.lun1 {
				t.Errorf("the keeper's scan of the other LUNs logged: %v, want %v", scanned, tc.lun1)
			}
			if got := regexp.MustCompile(`\b\d+:0:0:1\b`).MatchString(devs[0]); got != tc.lun1 {
				t.Errorf("LUN 1 in the real OS: %v, want %v (%s)", got, tc.lun1, devs[0])
			}
			if !regexp.MustCompile(`\b\d+:0:0:2\b`).MatchString(devs[0]) {
				t.Errorf("the root's LUN 2 is not among the real OS's SCSI devices %s", devs[0])
			}
		})
	}
}

// TestBootWrongLabel ends in the listing error and a shell: the admin sees
// at once that the label is ISCSI_ROOT, not ISCSI-ROOT.
func TestBootWrongLabel(t *testing.T) {
	waitsMostly(t) // rd.retry runs out
	b := start(t, rig.BootSpec{Cmdline: withRoot("root=LABEL=ISCSI-ROOT") + " rd.retry=3",
		Target: rig.DefaultTarget(), Shell: true})
	msg := waitFatal(t, b, 3*time.Minute)
	if !strings.Contains(msg, "LABEL=ISCSI-ROOT") {
		t.Errorf("error line does not name the selector")
	}
	waitFor(t, b, `netroot:/# `, time.Minute)
	log := b.VM.Log()
	if !strings.Contains(log, `/dev/sda 64M ext4 LABEL="ISCSI_ROOT"`) {
		t.Errorf("the error does not list /dev/sda with its label")
	}
}

// TestBootMountFails: the root is found but cannot be mounted (a mount
// option ext4 does not know). One FATAL line names the step, the device
// and the hint; the keeper, already handed the session when the device
// was found, stays and keeps it logged in for the emergency shell.
func TestBootMountFails(t *testing.T) {
	waitsMostly(t)
	b := start(t, rig.BootSpec{Cmdline: rig.ScenarioCmdline + " rootflags=no_such_option",
		Target: rig.DefaultTarget(), Shell: true})
	msg := waitFatal(t, b, 3*time.Minute)
	for _, want := range []string{"mount-root:", "/dev/sda", "no_such_option", "check rootfstype= and rootflags="} {
		if !strings.Contains(msg, want) {
			t.Errorf("error line lacks %q", want)
		}
	}
	waitFor(t, b, `netroot:/# `, time.Minute)
	if err := b.VM.Send("cat /sys/class/iscsi_session/session1/state /proc/$(cat /run/netroot/keeper.pid)/comm; echo state-$((6*7))\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, `(?s)(LOGGED_IN)\s+(netroot-keeper)\s+state-42`, 30*time.Second)
	log := b.VM.Log()
	if !strings.Contains(log, "netroot-keeper: watching session 1") {
		t.Errorf("the keeper never watched the session")
	}
	if n := strings.Count(log, "netroot: FATAL"); n != 1 {
		t.Errorf("%d FATAL lines, want exactly 1", n)
	}
}
