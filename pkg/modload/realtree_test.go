package modload

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// realTreeDir is the Debian kernel tree the optional tests run against.
const realTreeDir = "/tmp/kpkg/x/lib/modules/6.1.0-56-amd64"

var (
	realOnce  sync.Once
	realIndex *Index
	realErr   error
	realTime  time.Duration
)

// realTree scans the real module tree once per test binary, or skips.
func realTree(t *testing.T) *Index {
	t.Helper()
	dir := os.Getenv("NETROOT_TEST_MODULES_DIR")
	if dir == "" {
		dir = realTreeDir
	}
	if _, err := os.Stat(filepath.Join(dir, "kernel")); err != nil {
		t.Skipf("no real module tree (set NETROOT_TEST_MODULES_DIR): %v", err)
	}
	if testing.Short() {
		t.Skip("real module tree scan skipped in -short mode")
	}
	realOnce.Do(func() {
		start := time.Now()
		realIndex, realErr = ScanTree(dir)
		realTime = time.Since(start)
	})
	if realErr != nil {
		t.Fatalf("ScanTree(%s): %v", dir, realErr)
	}
	return realIndex
}

func TestRealTreeScan(t *testing.T) {
	x := realTree(t)
	n := len(x.Names())
	t.Logf("ScanTree read %d modules in %v", n, realTime)
	if n < 1000 {
		t.Errorf("only %d modules", n)
	}
	if realTime > 20*time.Second {
		t.Errorf("ScanTree took %v, want a few seconds", realTime)
	}
	m, ok := x.Module("ext4")
	if !ok || m.Path != "kernel/fs/ext4/ext4.ko" {
		t.Errorf("Module(ext4) = %+v, %v", m, ok)
	}
	if !x.IsBuiltin("unix") && !x.IsBuiltin("sha256_generic") && len(x.builtin) < 50 {
		t.Errorf("builtin set looks empty: %d", len(x.builtin))
	}
}

func TestRealTreeResolve(t *testing.T) {
	x := realTree(t)
	order, err := x.Resolve("iscsi_tcp", "sd_mod", "bonding", "ext4", "virtio_net")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("order: %v", order)
	pos := map[string]int{}
	for i, m := range order {
		if _, dup := pos[m]; dup {
			t.Errorf("%s twice", m)
		}
		pos[m] = i
	}
	for _, want := range []string{"scsi_mod", "libiscsi", "libiscsi_tcp", "scsi_transport_iscsi",
		"iscsi_tcp", "sd_mod", "bonding", "ext4", "jbd2", "mbcache", "crc16",
		"virtio_net", "net_failover", "failover", "crc32c_generic"} {
		if _, ok := pos[want]; !ok {
			t.Errorf("%s missing from %v", want, order)
		}
	}
	// Every module comes after its hard dependencies.
	for _, m := range order {
		mod, _ := x.Module(m)
		for _, d := range mod.Depends {
			if pos[d] > pos[m] {
				t.Errorf("%s (at %d) before its dependency %s (at %d)", m, pos[m], d, pos[d])
			}
		}
	}
	if pos["crc32c_generic"] > pos["ext4"] {
		t.Errorf("softdep pre crc32c_generic after ext4")
	}
}

func TestRealTreeAliases(t *testing.T) {
	x := realTree(t)
	for _, tc := range []struct{ modalias, want string }{
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", "virtio_pci"},
		{"virtio:d00000001v00001AF4", "virtio_net"},
		{"virtio:d00000002v00001AF4", "virtio_blk"},
		{"crypto-crc32c", "crc32c_generic"},
		{"fs-ext4", "ext4"},
	} {
		got := x.MatchAliases(tc.modalias)
		if !slices.Contains(got, tc.want) {
			t.Errorf("MatchAliases(%q) = %v, want it to contain %s", tc.modalias, got, tc.want)
		}
	}
}

// TestRealTreeResolveAll resolves every module of the tree: none may fail
// (no hard cycle, no unknown dependency).
func TestRealTreeResolveAll(t *testing.T) {
	x := realTree(t)
	start := time.Now()
	order, err := x.Resolve(x.Names()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resolved all %d modules in %v", len(order), time.Since(start))
}

// TestRealTreeDepmodRoundTrip writes the depmod files of a subset and
// reads them back with LoadIndex: same resolution.
func TestRealTreeDepmodRoundTrip(t *testing.T) {
	x := realTree(t)
	names := []string{"iscsi_tcp", "sd_mod", "bonding", "ext4", "virtio_net", "virtio_pci", "8021q", "xfs", "btrfs"}
	subset, err := x.Resolve(names...)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err = x.WriteDepmodFiles(func(name string, data []byte) error {
		return os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}, subset)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	y, err := LoadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("LoadIndex of %d modules took %v", len(subset), time.Since(start))
	got, err := y.Resolve(names...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, subset) {
		t.Errorf("after round trip:\n got %v\nwant %v", got, subset)
	}
	for _, a := range []string{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", "virtio:d00000001v00001AF4"} {
		if !slices.Equal(x.MatchAliases(a), y.MatchAliases(a)) {
			t.Errorf("MatchAliases(%q): tree %v, subset %v", a, x.MatchAliases(a), y.MatchAliases(a))
		}
	}
}

// TestRealTreeHostDevices matches this host's device modaliases against the
// real tree, as LoadForDevices' first round would, and times it.
func TestRealTreeHostDevices(t *testing.T) {
	x := realTree(t)
	aliases, err := DeviceModaliases("/sys")
	if err != nil {
		t.Skipf("no sysfs: %v", err)
	}
	start := time.Now()
	drivers := map[string]bool{}
	for _, a := range aliases {
		for _, m := range x.MatchAliases(a) {
			drivers[m] = true
		}
	}
	t.Logf("%d device modaliases matched %d modules in %v", len(aliases), len(drivers), time.Since(start))
	var names []string
	for m := range drivers {
		names = append(names, m)
	}
	slices.Sort(names)
	t.Logf("drivers: %v", names)
	if _, err := x.Resolve(names...); err != nil {
		t.Errorf("resolving the host's drivers: %v", err)
	}
}
