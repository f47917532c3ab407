package blockdev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func newTestWatcher(t *testing.T) *Watcher {
	t.Helper()
	w, err := NewWatcher()
	if err != nil {
		t.Skipf("cannot open uevent socket here: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestWatcherDeadline(t *testing.T) {
	w := newTestWatcher(t)
	sel, _ := ParseSelector("LABEL=ISCSI_ROOT")
	var scans atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := w.WaitFor(ctx, sel, func() ([]Device, error) {
		scans.Add(1)
		return testDevices, nil
	})
	if el := time.Since(start); el < 250*time.Millisecond || el > 5*time.Second {
		t.Errorf("WaitFor returned after %v, want about 300ms", el)
	}
	var nf *NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want *NotFoundError wrapping DeadlineExceeded", err)
	}
	if len(nf.Seen) != len(testDevices) || !strings.Contains(err.Error(), `LABEL="ISCSI-ROOT"`) {
		t.Errorf("error does not list the devices seen:\n%v", err)
	}
	if scans.Load() < 1 {
		t.Error("no scan")
	}
	// The watcher is reusable after a deadline.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	d, err := w.WaitFor(ctx2, Selector{Kind: ByLabel, Value: "ISCSI-ROOT"}, func() ([]Device, error) { return testDevices, nil })
	if err != nil || d.Name != "sda2" {
		t.Errorf("second WaitFor = %v, %v", d, err)
	}
}

func TestWatcherImmediateResults(t *testing.T) {
	w := newTestWatcher(t)
	ctx := context.Background()
	_, err := w.WaitFor(ctx, Selector{Kind: ByLabel, Value: "data"}, func() ([]Device, error) { return testDevices, nil })
	var amb *AmbiguousError
	if !errors.As(err, &amb) {
		t.Errorf("ambiguous: err = %v", err)
	}
	boom := errors.New("boom")
	if _, err := w.WaitFor(ctx, Selector{Kind: ByLabel, Value: "x"}, func() ([]Device, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("scan error: err = %v", err)
	}
	d, err := w.WaitFunc(ctx, "SCSI 2:0:0:1 disk", func(d Device) bool {
		h, _, _, l, ok := d.SCSI()
		return ok && h == 2 && l == 1 && !d.IsPartition()
	}, func() ([]Device, error) { return testDevices, nil })
	if err != nil || d.Name != "sda" {
		t.Errorf("WaitFunc = %v, %v", d, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next on cancelled ctx: %v", err)
	}
}

// TestLoopEndToEnd attaches an ext4 image to a loop device while WaitFor is
// waiting, so the real uevent path, real sysfs and real device nodes are
// exercised. It needs root, losetup and mkfs.ext4. (A whole-disk
// filesystem is used because loop partition scanning is not available in
// every sandbox; partition tables are covered by TestScanFakeTree.)
func TestLoopEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no loop device support")
	}
	needTool(t, "losetup")
	needTool(t, "mkfs.ext4")
	w := newTestWatcher(t)

	tag := fmt.Sprintf("nrt-%d", time.Now().UnixNano()%1e9)
	img := sparseFile(t, "disk.img", 32<<20)
	run(t, "mkfs.ext4", "-q", "-F", "-L", tag, img)

	sel, err := ParseSelector("LABEL=" + tag)
	if err != nil {
		t.Fatal(err)
	}
	scanner := &Scanner{SysRoot: "/sys", DevRoot: "/dev"} // no mknod: devtmpfs makes nodes
	var scans atomic.Int32
	attached := make(chan string, 1)
	scan := func() ([]Device, error) {
		devs, err := scanner.Scan()
		if scans.Add(1) == 1 {
			// Attach only once the first scan is done, so the device
			// can only be found through a uevent.
			go func() {
				out, err := exec.Command(needTool(t, "losetup"), "-f", "--show", img).CombinedOutput()
				if err != nil {
					t.Errorf("losetup: %v: %s", err, out)
					attached <- ""
					return
				}
				attached <- strings.TrimSpace(string(out))
			}()
		}
		return devs, err
	}
	var loopDev string
	t.Cleanup(func() {
		if loopDev == "" && scans.Load() > 0 {
			loopDev = <-attached
		}
		if loopDev != "" {
			exec.Command("losetup", "-d", loopDev).Run()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := w.WaitFor(ctx, sel, scan)
	loopDev = <-attached
	if err != nil {
		t.Fatalf("WaitFor(%s): %v", sel, err)
	}
	if scans.Load() < 2 {
		t.Errorf("found after %d scans; the first scan ran before the attach", scans.Load())
	}
	if d.Path != loopDev || d.FSType != "ext4" || d.Label != tag || d.IsPartition() || d.Size != 32<<20 {
		t.Errorf("found %+v (loop device %s)", d, loopDev)
	}
	if b := blkidExport(t, d.Path); b != nil && (b["UUID"] != d.UUID || b["LABEL"] != tag || b["TYPE"] != "ext4") {
		t.Errorf("blkid on %s: %v; we found %+v", d.Path, b, d)
	}
	// BLKRRPART on a loop device without partition scanning fails with
	// EINVAL; what matters is that the call reaches the kernel.
	if err := RereadPartitions(loopDev); err != nil && !strings.Contains(err.Error(), "BLKRRPART") {
		t.Errorf("RereadPartitions(%s): %v", loopDev, err)
	}
	if err := RereadPartitions("/nonexistent/dev"); err == nil {
		t.Error("RereadPartitions on a missing path succeeded")
	}
}
