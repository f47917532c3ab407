//go:build linux

package modload

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

// fdReader reads an open file descriptor without owning it.
type fdReader int

func (fd fdReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := syscall.Pread(int(fd), p, off)
	if err != nil {
		return n, err
	}
	if n < len(p) {
		return n, fmt.Errorf("short read at %d", off)
	}
	return n, nil
}

// call is one system call seen by the fake kernel.
type call struct {
	module, params string
	finit          bool
}

// fakeKernel implements Syscalls: it identifies the module from the image
// (its .modinfo), checks its dependencies are loaded, and records calls.
type fakeKernel struct {
	t   *testing.T
	idx *Index

	mu       sync.Mutex
	calls    []call
	loaded   map[string]bool
	fail     map[string]error // module → error to return
	finitErr error            // returned by every FinitModule (ENOSYS tests)
	inFlight int
	maxIn    int
	onLoad   func(module string) // called after a successful load
	gate     chan struct{}       // when set, each load waits on it
	entered  chan string         // when set, each load sends its module first
}

func newFakeKernel(t *testing.T, idx *Index) *fakeKernel {
	return &fakeKernel{t: t, idx: idx, loaded: map[string]bool{}, fail: map[string]error{}}
}

func (k *fakeKernel) FinitModule(fd int, params string, flags int) error {
	if flags != 0 {
		k.t.Errorf("FinitModule flags %#x", flags)
	}
	if k.finitErr != nil {
		return k.finitErr
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return err
	}
	mi, err := ReadModInfo(fdReader(fd), st.Size)
	if err != nil {
		return syscall.ENOEXEC
	}
	return k.load(mi.Name, params, true)
}

func (k *fakeKernel) InitModule(image []byte, params string) error {
	mi, err := ReadModInfo(bytes.NewReader(image), int64(len(image)))
	if err != nil {
		return syscall.ENOEXEC
	}
	return k.load(mi.Name, params, false)
}

func (k *fakeKernel) load(name, params string, finit bool) error {
	k.mu.Lock()
	k.calls = append(k.calls, call{name, params, finit})
	k.inFlight++
	k.maxIn = max(k.maxIn, k.inFlight)
	m, _ := k.idx.Module(name)
	for _, d := range m.Depends {
		if !k.loaded[d] && !k.idx.IsBuiltin(d) {
			k.t.Errorf("%s loaded before its dependency %s", name, d)
		}
	}
	gate, entered := k.gate, k.entered
	k.mu.Unlock()
	if entered != nil {
		entered <- name
	}
	if gate != nil {
		select {
		case <-gate:
		case <-time.After(5 * time.Second):
			k.t.Errorf("%s: gate never opened", name)
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.inFlight--
	if err := k.fail[name]; err != nil {
		return err
	}
	if k.loaded[name] {
		return syscall.EEXIST
	}
	k.loaded[name] = true
	if k.onLoad != nil {
		k.onLoad(name)
	}
	return nil
}

func (k *fakeKernel) callNames() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, c := range k.calls {
		out = append(out, c.module)
	}
	return out
}

// newTestLoader returns a loader over the synthetic tree with a fake
// kernel and an empty /proc.
func newTestLoader(t *testing.T) (*Loader, *fakeKernel) {
	t.Helper()
	x := testIndex(t)
	k := newFakeKernel(t, x)
	proc := t.TempDir()
	writeFile(t, proc, "modules", nil)
	return &Loader{Index: x, Sys: k, ProcRoot: proc, SysfsRoot: t.TempDir(), Parallel: 1, Logf: t.Logf}, k
}

func TestLoadOrderAndParams(t *testing.T) {
	l, k := newTestLoader(t)
	l.Params = map[string][]string{"iscsi_tcp": {"debug_iscsi_tcp=1", "x=y z"}, "scsi-mod": {"scan=sync"}}
	if err := l.Load(context.Background(), "iscsi_tcp", "sd_mod"); err != nil {
		t.Fatal(err)
	}
	want := []call{
		{"scsi_common", "", true}, {"scsi_mod", "scan=sync", true}, {"scsi_transport_iscsi", "", true},
		{"libiscsi", "", true}, {"libiscsi_tcp", "", true}, {"iscsi_tcp", "debug_iscsi_tcp=1 x=y z", true},
		{"sd_mod", "", true}, // crc_t10dif is builtin: no call
	}
	if !slices.Equal(k.calls, want) {
		t.Errorf("calls\n %+v\nwant\n %+v", k.calls, want)
	}
	// A second Load of the same modules makes no call.
	k.calls = nil
	if err := l.Load(context.Background(), "iscsi_tcp", "crc_t10dif"); err != nil {
		t.Fatal(err)
	}
	if len(k.calls) != 0 {
		t.Errorf("reloading made calls %+v", k.calls)
	}
}

func TestLoadAlreadyLoaded(t *testing.T) {
	l, k := newTestLoader(t)
	writeFile(t, l.ProcRoot, "modules", []byte("jbd2 180224 1 ext4, Live 0x0000000000000000\ncrc16 16384 1 ext4, Live 0x0\n"))
	k.loaded["jbd2"], k.loaded["crc16"] = true, true
	k.loaded["mbcache"] = true // loaded behind our back: EEXIST
	if err := l.Load(context.Background(), "ext4"); err != nil {
		t.Fatal(err)
	}
	got := k.callNames()
	if want := []string{"mbcache", "crc32c_generic", "crc32c_intel", "ext4"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		names   []string
		fail    map[string]error
		remove  string // module file to delete
		black   []string
		wantErr []string // substrings
		noCall  []string // modules that must not be tried
		is      error
	}{
		{
			name: "dependency fails", names: []string{"iscsi_tcp"},
			fail:    map[string]error{"libiscsi": syscall.ENOEXEC},
			wantErr: []string{"loading module iscsi_tcp: not loaded: its dependency failed", "loading module libiscsi (", "libiscsi.ko): exec format error", "vermagic \"6.1.0-test SMP mod_unload\"", "(running kernel 6.1.0-56-amd64)"},
			noCall:  []string{"libiscsi_tcp", "iscsi_tcp"}, is: syscall.ENOEXEC,
		},
		{
			name: "missing file", names: []string{"bonding"}, remove: "kernel/drivers/net/bonding/bonding.ko",
			wantErr: []string{"loading module bonding (", "no such file or directory", "missing"}, is: os.ErrNotExist,
		},
		{
			name: "unknown symbol", names: []string{"bonding"}, fail: map[string]error{"bonding": syscall.ENOENT},
			wantErr: []string{"unknown symbol"},
		},
		{
			name: "bad parameter", names: []string{"bonding"}, fail: map[string]error{"bonding": syscall.EINVAL},
			wantErr: []string{`parameters "max_bonds=0"`},
		},
		{
			name: "signature", names: []string{"bonding"}, fail: map[string]error{"bonding": syscall.Errno(0x81) /* EKEYREJECTED */},
			wantErr: []string{"signature rejected"},
		},
		{
			name: "one crc32c provider fails: fine", names: []string{"crc32c", "ext4"},
			fail: map[string]error{"crc32c_intel": syscall.ENODEV},
		},
		{
			name: "every crc32c provider fails: softdep error, ext4 still loads", names: []string{"ext4"},
			fail:    map[string]error{"crc32c_intel": syscall.ENODEV, "crc32c_generic": syscall.ENOMEM},
			wantErr: []string{"crypto-crc32c (softdep of ext4)", "no such device", "cannot allocate memory"},
		},
		{
			name: "blacklisted and needed", names: []string{"virtio_net", "bonding"}, black: []string{"net-failover"},
			wantErr: []string{"net_failover is needed by virtio_net but blacklisted"},
			noCall:  []string{"virtio_net", "net_failover"},
		},
		{
			name: "unknown name does not stop the others", names: []string{"nosuch", "bonding"},
			wantErr: []string{`unknown module "nosuch"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, k := newTestLoader(t)
			l.Params = map[string][]string{"bonding": {"max_bonds=0"}}
			l.Blacklist = tc.black
			for m, err := range tc.fail {
				k.fail[m] = err
			}
			writeFile(t, l.ProcRoot, "sys/kernel/osrelease", []byte("6.1.0-56-amd64\n"))
			if tc.remove != "" {
				os.Remove(filepath.Join(l.Index.Dir, tc.remove))
			}
			err := l.Load(context.Background(), tc.names...)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
			} else if err == nil {
				t.Fatal("Load: no error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			var le *LoadError
			if len(tc.fail) > 0 && len(tc.wantErr) > 0 && !errors.As(err, &le) {
				t.Errorf("no *LoadError in %v", err)
			}
			calls := k.callNames()
			for _, m := range tc.noCall {
				if slices.Contains(calls, m) {
					t.Errorf("%s was tried: %q", m, calls)
				}
			}
			// Modules not concerned still load.
			if slices.Contains(tc.names, "bonding") && tc.fail["bonding"] == nil && tc.remove == "" && !slices.Contains(calls, "bonding") {
				t.Errorf("bonding not loaded: %q", calls)
			}
		})
	}
}

func TestLoadCompressedAndENOSYS(t *testing.T) {
	img := synthELF(modinfoBytes("name=bonding", "depends="))
	var gz, xzb bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(img)
	gw.Close()
	xw, _ := xz.NewWriter(&xzb)
	xw.Write(img)
	xw.Close()
	for _, tc := range []struct {
		file     string
		data     []byte
		finitErr error
		wantFin  bool
	}{
		{"bonding.ko", img, nil, true},
		{"bonding.ko.gz", gz.Bytes(), nil, false},
		{"bonding.ko.xz", xzb.Bytes(), nil, false},
		{"bonding.ko", img, syscall.ENOSYS, false},
	} {
		dir := t.TempDir()
		writeFile(t, dir, "kernel/"+tc.file, tc.data)
		x, err := ScanTree(dir)
		if err != nil {
			t.Fatal(err)
		}
		k := newFakeKernel(t, x)
		k.finitErr = tc.finitErr
		l := &Loader{Index: x, Sys: k, ProcRoot: dir, Params: map[string][]string{"bonding": {"mode=1"}}}
		if err := l.Load(context.Background(), "bonding"); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if want := []call{{"bonding", "mode=1", tc.wantFin}}; !slices.Equal(k.calls, want) {
			t.Errorf("%s (finit err %v): calls %+v, want %+v", tc.file, tc.finitErr, k.calls, want)
		}
	}
}

func TestLoadParallel(t *testing.T) {
	l, k := newTestLoader(t)
	l.Parallel = 3
	k.gate = make(chan struct{})
	done := make(chan error)
	go func() { done <- l.Load(context.Background(), "bonding", "e1000", "crc16") }()
	// All three are independent: they must be in flight together.
	deadline := time.After(5 * time.Second)
	for {
		k.mu.Lock()
		n := k.inFlight
		k.mu.Unlock()
		if n == 3 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("only %d loads in flight", n)
		case <-time.After(time.Millisecond):
		}
	}
	close(k.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// With dependencies the fake kernel checks the order (it fails the
	// test when a module comes before a dependency).
	l2, k2 := newTestLoader(t)
	l2.Parallel = 4
	if err := l2.Load(context.Background(), "iscsi_tcp", "ext4", "virtio_net", "virtio_pci", "sd_mod", "bonding"); err != nil {
		t.Fatal(err)
	}
	if len(k2.calls) != 20 {
		t.Errorf("%d calls: %q", len(k2.calls), k2.callNames())
	}
}

func TestLoadContextCanceled(t *testing.T) {
	l, k := newTestLoader(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := l.Load(ctx, "ext4")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	if len(k.calls) != 0 {
		t.Errorf("calls after cancel: %+v", k.calls)
	}
}

// addDevice creates sysfs/bus/BUS/devices/NAME/modalias.
func addDevice(t *testing.T, sysfs, bus, name, modalias string) {
	writeFile(t, sysfs, filepath.Join("bus", bus, "devices", name, "modalias"), []byte(modalias+"\n"))
}

func TestDeviceModaliases(t *testing.T) {
	sysfs := t.TempDir()
	addDevice(t, sysfs, "pci", "0000:00:03.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	addDevice(t, sysfs, "pci", "0000:00:04.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	addDevice(t, sysfs, "virtio", "virtio0", "virtio:d00000001v00001AF4")
	addDevice(t, sysfs, "platform", "x", "")
	os.MkdirAll(filepath.Join(sysfs, "bus", "cpu", "devices", "cpu0"), 0o755) // no modalias
	got, err := DeviceModaliases(sysfs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", "virtio:d00000001v00001AF4"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := DeviceModaliases(filepath.Join(sysfs, "nope")); err == nil {
		t.Error("missing sysfs: no error")
	}
}

func TestLoadForDevicesFixedPoint(t *testing.T) {
	l, k := newTestLoader(t)
	sysfs := l.SysfsRoot
	addDevice(t, sysfs, "pci", "0000:00:03.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	addDevice(t, sysfs, "pci", "0000:00:04.0", "pci:v00008086d0000100Esv00008086sd00001E00bc02sc00i00")
	addDevice(t, sysfs, "pci", "0000:00:05.0", "pci:v0000DEADd0000BEEFsv00000000sd00000000bc02sc00i00")
	addDevice(t, sysfs, "cpu", "cpu0", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0094")
	// virtio_pci "probes" the PCI device: a virtio device appears.
	k.onLoad = func(m string) {
		if m == "virtio_pci" {
			addDevice(t, sysfs, "virtio", "virtio0", "virtio:d00000001v00001AF4")
		}
	}
	k.fail["e1000"] = syscall.ENODEV // an unrelated NIC driver fails
	l.Blacklist = []string{"crc32c_intel"}

	loaded, err := l.LoadForDevices(context.Background())
	if want := []string{"virtio_net", "virtio_pci"}; !slices.Equal(loaded, want) {
		t.Errorf("loaded %q, want %q", loaded, want)
	}
	var le *LoadError
	if !errors.As(err, &le) || le.Module != "e1000" || !errors.Is(err, syscall.ENODEV) {
		t.Errorf("err = %v, want the e1000 failure", err)
	}
	calls := k.callNames()
	if slices.Contains(calls, "crc32c_intel") {
		t.Errorf("blacklisted module loaded: %q", calls)
	}
	if !slices.Contains(calls, "virtio_pci") || !slices.Contains(calls, "virtio_net") {
		t.Errorf("calls %q", calls)
	}

	// Nothing new: a second call loads nothing and makes no call.
	k.calls = nil
	loaded, err = l.LoadForDevices(context.Background())
	if len(k.calls) != 0 {
		// e1000 said ENODEV (no such hardware): a new call reports it
		// again but does not make the kernel load it again.
		t.Errorf("second call: calls %+v", k.calls)
	}
	if !errors.As(err, &le) || le.Module != "e1000" {
		t.Errorf("second call: err = %v, want the e1000 failure again", err)
	}
	if len(loaded) != 0 {
		t.Errorf("second call loaded %q", loaded)
	}
}

func TestLoadForDevicesMaxRounds(t *testing.T) {
	// A chain of drivers each creating the next device.
	var mods []Module
	const n = 5
	for i := range n {
		mods = append(mods, Module{Name: fmt.Sprintf("d%d", i), Path: fmt.Sprintf("d%d.ko", i), Aliases: []string{fmt.Sprintf("chain:%d", i)}})
	}
	dir := t.TempDir()
	for _, m := range mods {
		writeFile(t, dir, m.Path, synthELF(modinfoBytes("name="+m.Name)))
	}
	x, err := NewIndex(dir, mods, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		maxRounds int
		loaded    int
		wantErr   bool
	}{{n, n, false}, {2, 2, true}} {
		sysfs := t.TempDir()
		addDevice(t, sysfs, "chain", "c0", "chain:0")
		k := newFakeKernel(t, x)
		k.onLoad = func(m string) {
			var i int
			fmt.Sscanf(m, "d%d", &i)
			addDevice(t, sysfs, "chain", fmt.Sprintf("c%d", i+1), fmt.Sprintf("chain:%d", i+1))
		}
		l := &Loader{Index: x, Sys: k, SysfsRoot: sysfs, ProcRoot: sysfs, MaxRounds: tc.maxRounds}
		loaded, err := l.LoadForDevices(context.Background())
		if len(loaded) != tc.loaded || (err != nil) != tc.wantErr {
			t.Errorf("MaxRounds %d: loaded %q, err %v", tc.maxRounds, loaded, err)
		}
		if err != nil && !strings.Contains(err.Error(), "after 2 rounds") {
			t.Errorf("err = %v", err)
		}
	}
}

func TestLoaderNeedsIndexAndSys(t *testing.T) {
	if err := (&Loader{}).Load(context.Background(), "x"); err == nil {
		t.Error("zero Loader: no error")
	}
	if _, err := (&Loader{}).LoadForDevices(context.Background()); err == nil {
		t.Error("zero Loader: no error")
	}
}

func TestDeviceScannerReadsNewDevicesOnly(t *testing.T) {
	sysfs := t.TempDir()
	addDevice(t, sysfs, "pci", "0000:00:03.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	d := newDeviceScanner(sysfs)
	got, err := d.scan(nil)
	if err != nil || !slices.Equal(got, []string{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"}) {
		t.Fatalf("first scan: %q, %v", got, err)
	}
	// A device seen before is not read again, even if its modalias
	// changed; a new one is.
	addDevice(t, sysfs, "pci", "0000:00:03.0", "pci:changed")
	addDevice(t, sysfs, "virtio", "virtio0", "virtio:d00000001v00001AF4")
	got, err = d.scan(nil)
	if err != nil || !slices.Equal(got, []string{"virtio:d00000001v00001AF4"}) {
		t.Fatalf("second scan: %q, %v", got, err)
	}
	if got, err = d.scan(nil); err != nil || len(got) != 0 {
		t.Fatalf("third scan: %q, %v", got, err)
	}
}

func TestAbsentHardwareTriedOnce(t *testing.T) {
	l, k := newTestLoader(t)
	k.fail = map[string]error{"crc32c_intel": syscall.ENODEV}
	var logged []string
	l.Logf = func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); strings.Contains(msg, "crc32c_intel") {
			logged = append(logged, msg)
		}
	}
	for i := 0; i < 3; i++ {
		if err := l.Load(context.Background(), "crc32c", "ext4"); err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
	}
	n := 0
	for _, c := range k.calls {
		if c.module == "crc32c_intel" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("crc32c_intel inserted %d times, want once (ENODEV is remembered)", n)
	}
	if len(logged) != 1 {
		t.Errorf("crc32c_intel's ENODEV logged %d times, want once: %q", len(logged), logged)
	}
}

func TestWithSysSharesMemory(t *testing.T) {
	l, k := newTestLoader(t)
	k.fail = map[string]error{"crc32c_intel": syscall.ENODEV}
	bg := l.WithSys(k)
	if err := bg.Load(context.Background(), "crc32c", "ext4"); err != nil {
		t.Fatal(err)
	}
	k.calls = nil
	// What bg loaded, and what said ENODEV to it, l does not load again.
	if err := l.Load(context.Background(), "ext4"); err != nil {
		t.Fatal(err)
	}
	if len(k.calls) != 0 {
		t.Errorf("l made calls %+v after bg loaded the same modules", k.calls)
	}
}

func TestConcurrentCallsShareAnInsert(t *testing.T) {
	l, k := newTestLoader(t)
	bg := l.WithSys(k)
	k.gate = make(chan struct{})
	k.entered = make(chan string, 2)
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- l.Load(ctx, "crc16") }()
	select {
	case <-k.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the first load never reached the kernel")
	}
	// A second batch wants the same module while it is being inserted: it
	// must wait for that insert, not make its own.
	second := make(chan error, 1)
	go func() { second <- bg.Load(ctx, "crc16") }()
	select {
	case m := <-k.entered:
		t.Fatalf("a second insert of %s reached the kernel while the first was in flight", m)
	case <-time.After(200 * time.Millisecond):
	}
	close(k.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := k.callNames(); len(got) != 1 {
		t.Errorf("kernel calls %q, want crc16 once", got)
	}
}

// TestAsyncProbeParam checks that AsyncProbe adds "async_probe" to every
// insert, after the module's own parameters, unless they set it.
func TestAsyncProbeParam(t *testing.T) {
	l, k := newTestLoader(t)
	l.AsyncProbe = true
	l.Params = map[string][]string{"virtio-pci": {"force_legacy=1"}, "virtio_net": {"async_probe=0"}}
	if err := l.Load(context.Background(), "virtio_pci", "virtio_net"); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range k.calls {
		got[c.module] = c.params
	}
	want := map[string]string{
		"virtio":       "async_probe",
		"virtio_ring":  "async_probe",
		"virtio_pci":   "force_legacy=1 async_probe",
		"failover":     "async_probe",
		"net_failover": "async_probe",
		"virtio_net":   "async_probe=0", // the user's choice stands
	}
	if !maps.Equal(got, want) {
		t.Errorf("params %q, want %q", got, want)
	}
	// WithSys keeps the setting; Params are not modified.
	if !l.WithSys(k).AsyncProbe {
		t.Error("WithSys dropped AsyncProbe")
	}
	if p := l.Params["virtio-pci"]; !slices.Equal(p, []string{"force_legacy=1"}) {
		t.Errorf("Params modified: %q", p)
	}
}

// TestLoadForNewDevices feeds the modaliases of added devices, as the
// uevents of an asynchronous probe bring them, and checks which drivers
// load and what is reported.
func TestLoadForNewDevices(t *testing.T) {
	l, k := newTestLoader(t)
	l.AsyncProbe = true
	l.Blacklist = []string{"e1000"}
	if err := l.Load(context.Background(), "virtio_pci"); err != nil {
		t.Fatal(err)
	}
	k.fail["bonding"] = syscall.EINVAL
	events := []string{
		"virtio:d00000001v00001AF4",                             // virtio_net (and its dependencies)
		"virtio:d00000001v00001AF4",                             // a second NIC: nothing more to load
		"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", // virtio_pci: loaded before
		"pci:v00008086d0000100Esv00008086sd00001E00bc02sc00i00", // e1000: blacklisted
		"platform:nothing-matches",
		"rtnl-link-bond", // bonding fails
		"rtnl-link-bond", // … and is not tried again
	}
	stop := errors.New("no more events")
	i := 0
	next := func(ctx context.Context) (string, error) {
		if i == len(events) {
			return "", stop
		}
		i++
		return events[i-1], nil
	}
	type rep struct {
		alias  string
		loaded []string
		err    error
	}
	var reps []rep
	k.calls = nil
	err := l.LoadForNewDevices(context.Background(), next, func(alias string, loaded []string, err error) {
		reps = append(reps, rep{alias, loaded, err})
	})
	if err != stop {
		t.Errorf("err = %v, want next's error", err)
	}
	if got, want := k.callNames(), []string{"failover", "net_failover", "virtio_net", "bonding"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if len(reps) != 2 {
		t.Fatalf("reports %+v, want 2", reps)
	}
	if r := reps[0]; r.alias != events[0] || !slices.Equal(r.loaded, []string{"virtio_net"}) || r.err != nil {
		t.Errorf("first report %+v", r)
	}
	var le *LoadError
	if r := reps[1]; r.alias != "rtnl-link-bond" || len(r.loaded) != 0 || !errors.As(r.err, &le) || le.Module != "bonding" {
		t.Errorf("second report %+v, want bonding's failure", r)
	}
	for _, c := range k.calls {
		if !strings.HasSuffix(c.params, "async_probe") {
			t.Errorf("%s inserted with %q", c.module, c.params)
		}
	}

	// A cancelled context ends the loop with next's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = l.LoadForNewDevices(ctx, func(ctx context.Context) (string, error) { return "", ctx.Err() }, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// TestLoadForDevicesFirstBuses checks that the drivers of the first buses'
// devices (the NICs on pci) load before the other buses are read.
func TestLoadForDevicesFirstBuses(t *testing.T) {
	l, k := newTestLoader(t)
	sysfs := l.SysfsRoot
	addDevice(t, sysfs, "acpi", "LNXSYSTM:00", "rtnl-link-bond") // sorts first, matches bonding
	addDevice(t, sysfs, "pci", "0000:00:03.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	loaded, err := l.LoadForDevices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	calls := k.callNames()
	if i, j := slices.Index(calls, "virtio_pci"), slices.Index(calls, "bonding"); i < 0 || j < 0 || j < i {
		t.Errorf("calls %q: want virtio_pci (pci) before bonding (acpi)", calls)
	}
	if want := []string{"virtio_net", "virtio_pci", "bonding"}; !slices.Equal(loaded, want) {
		t.Errorf("loaded %q, want %q", loaded, want)
	}

	// Without first-bus devices every bus is read in round 1.
	l, _ = newTestLoader(t)
	addDevice(t, l.SysfsRoot, "acpi", "LNXSYSTM:00", "rtnl-link-bond")
	if loaded, err := l.LoadForDevices(context.Background()); err != nil || !slices.Equal(loaded, []string{"bonding"}) {
		t.Errorf("acpi only: loaded %q, err %v", loaded, err)
	}
}

// The driver of the virtio device a virtio PCI function becomes loads in
// the same round as virtio_pci, so it is there when virtio_pci's probe
// registers the device, not a sysfs round later.
func TestLoadForDevicesVirtioChild(t *testing.T) {
	l, k := newTestLoader(t)
	sysfs := l.SysfsRoot
	addDevice(t, sysfs, "pci", "0000:00:03.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	var netReady bool
	k.onLoad = func(m string) {
		if m == "virtio_pci" {
			netReady = k.loaded["virtio_net"]
			addDevice(t, sysfs, "virtio", "virtio0", "virtio:d00000001v00001AF4")
		}
	}
	var rounds []string
	l.Logf = func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); strings.HasPrefix(msg, "modload: round") {
			rounds = append(rounds, msg)
		}
	}
	loaded, err := l.LoadForDevices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !netReady {
		t.Errorf("virtio_net not loaded when virtio_pci probed (calls %q)", k.callNames())
	}
	if want := []string{"virtio_net", "virtio_pci"}; !slices.Equal(loaded, want) {
		t.Errorf("loaded %q, want %q", loaded, want)
	}
	if len(rounds) != 2 || !strings.Contains(rounds[1], "no new drivers") {
		t.Errorf("rounds %q: want the virtio device's round to find nothing new", rounds)
	}
}

func TestImpliedAliases(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", "virtio:d00000001v00001AF4"}, // transitional net
		{"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", "virtio:d00000002v00001AF4"}, // transitional block
		{"pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00", "virtio:d00000001v00001AF4"}, // modern net
		{"pci:v00001AF4d00001042sv0000CAFEsd00001100bc01sc00i00", "virtio:d00000002v0000CAFE"}, // modern block, other vendor
		{"pci:v00001AF4d0000107Fsv00001AF4sd00000000bc00sc00i00", "virtio:d0000003Fv00001AF4"},
		{"pci:v00001AF4d00001000sv00001AF4sd00000000bc02sc00i00", ""}, // type 0 is reserved
		{"pci:v00001AF4d00001040sv00001AF4sd00000001bc02sc00i00", ""}, // modern type 0
		{"pci:v00001AF4d00001080sv00001AF4sd00000001bc02sc00i00", ""}, // not virtio's range
		{"pci:v00001AF4d00000FFFsv00001AF4sd00000001bc02sc00i00", ""},
		{"pci:v00008086d0000100Esv00008086sd00001E00bc02sc00i00", ""}, // not virtio
		{"virtio:d00000001v00001AF4", ""},
		{"pci:v00001AF4d00001000sv00001AF4sd0000000", ""}, // cut short
		{"pci:v00001AF4d0000100Gsv00001AF4sd00000001", ""},
		{"pci:", ""},
		{"", ""},
	} {
		got := strings.Join(impliedAliases(tc.in), ",")
		if got != tc.want {
			t.Errorf("impliedAliases(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzImpliedAliases(f *testing.F) {
	f.Add("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	f.Add("pci:v00001AF4d00001042sv00001AF4sd00001100bc01sc00i00")
	f.Add("pci:v00001AF4d0000")
	f.Fuzz(func(t *testing.T, a string) {
		for _, got := range impliedAliases(a) {
			if !strings.HasPrefix(a, "pci:v00001") || len(got) != len("virtio:d00000001v00001AF4") || !strings.HasPrefix(got, "virtio:d") {
				t.Errorf("impliedAliases(%q) = %q", a, got)
			}
		}
	})
}

func TestHasParam(t *testing.T) {
	params := []string{"max_bonds=0", "async_probe", "miimon=100=x"}
	for name, want := range map[string]bool{"max_bonds": true, "async_probe": true, "miimon": true, "max": false, "0": false, "": false} {
		if got := HasParam(params, name); got != want {
			t.Errorf("HasParam(%q) = %v, want %v", name, got, want)
		}
	}
	if HasParam(nil, "max_bonds") {
		t.Error("HasParam(nil) = true")
	}
}
