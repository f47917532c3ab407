//go:build linux

package modload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	// decompresses is the format FinitModule decompresses with
	// FinitCompressedFile (compNone: EOPNOTSUPP, as without
	// CONFIG_MODULE_DECOMPRESS); compressed lists the modules it did.
	decompresses compression
	compressed   []string
	inFlight     int
	maxIn        int
	onLoad       func(module string) // called after a successful load
	gate         chan struct{}       // when set, each load waits on it
	entered      chan string         // when set, each load sends its module first
}

func newFakeKernel(t *testing.T, idx *Index) *fakeKernel {
	return &fakeKernel{t: t, idx: idx, loaded: map[string]bool{}, fail: map[string]error{}}
}

func (k *fakeKernel) FinitModule(fd int, params string, flags int) error {
	if flags&^FinitCompressedFile != 0 {
		k.t.Errorf("FinitModule flags %#x", flags)
	}
	if k.finitErr != nil {
		return k.finitErr
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return err
	}
	if flags&FinitCompressedFile != 0 {
		// As the kernel: its one format, checked by its magic.
		if k.decompresses == compNone {
			return syscall.EOPNOTSUPP
		}
		data := make([]byte, st.Size)
		if _, err := fdReader(fd).ReadAt(data, 0); err != nil {
			return err
		}
		if sniffCompression(data) != k.decompresses {
			return syscall.EINVAL
		}
		image, err := decompress(k.decompresses, data)
		if err != nil {
			return syscall.EINVAL
		}
		mi, err := ReadModInfo(bytes.NewReader(image), int64(len(image)))
		if err != nil {
			return syscall.ENOEXEC
		}
		k.mu.Lock()
		k.compressed = append(k.compressed, mi.Name)
		k.mu.Unlock()
		return k.load(mi.Name, params, true)
	}
	mi, err := ReadModInfo(fdReader(fd), st.Size)
	if err != nil {
		return syscall.ENOEXEC
	}
	return k.load(mi.Name, params, true)
}

// sniffCompression tells a compressed stream's format from its magic.
func sniffCompression(data []byte) compression {
	switch {
	case bytes.HasPrefix(data, []byte("\xfd7zXZ\x00")):
		return compXZ
	case bytes.HasPrefix(data, []byte("\x28\xb5\x2f\xfd")):
		return compZstd
	case bytes.HasPrefix(data, []byte("\x1f\x8b")):
		return compGzip
	}
	return compNone
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

func TestLoaderNeedsIndexAndSys(t *testing.T) {
	if err := (&Loader{}).Load(context.Background(), "x"); err == nil {
		t.Error("zero Loader: no error")
	}
	if _, err := (&Loader{}).LoadForDevices(context.Background()); err == nil {
		t.Error("zero Loader: no error")
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

// A provider that declares CPU features this CPU lacks is not tried when
// another provider remains; with the feature, or with no CPU modalias to
// tell, every provider is.
func TestCPUUnfitProviderSkipped(t *testing.T) {
	for _, tc := range []struct {
		name     string
		modalias string // "": no <sysfs>/devices/system/cpu/modalias
		load     []string
		want     []string
	}{
		{"feature absent", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,00E3\n", []string{"crc32c"}, []string{"crc32c_generic"}},
		{"feature present", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0094,00E3\n", []string{"crc32c"}, []string{"crc32c_generic", "crc32c_intel"}},
		{"no modalias", "", []string{"crc32c"}, []string{"crc32c_generic", "crc32c_intel"}},
		// ext4's softdep "pre: crc32c" is filtered the same way.
		{"softdep", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000\n", []string{"ext4"}, []string{"crc16", "jbd2", "mbcache", "crc32c_generic", "ext4"}},
		// Named on its own it is tried: the caller asked for it.
		{"named", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000\n", []string{"crc32c_intel"}, []string{"crc32c_intel"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, k := newTestLoader(t)
			if tc.modalias != "" {
				writeFile(t, l.SysfsRoot, "devices/system/cpu/modalias", []byte(tc.modalias))
			}
			if err := l.Load(context.Background(), tc.load...); err != nil {
				t.Fatal(err)
			}
			if got := k.callNames(); !slices.Equal(got, tc.want) {
				t.Errorf("calls %q, want %q", got, tc.want)
			}
		})
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
