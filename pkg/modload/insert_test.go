//go:build linux

package modload

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/modload/modtest"
)

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
				if !strings.Contains(withHints(err), w) {
					t.Errorf("error %q\nlacks %q", withHints(err), w)
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

// withHints renders err as the boot does: each failure joined in it with
// its hint.
func withHints(err error) string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, withHints(e))
		}
		return strings.Join(out, "\n")
	}
	return hint.Format(err)
}

// TestInsertCompressed checks how each module file reaches the kernel:
// finit_module for a plain file, finit_module with FinitCompressedFile
// for a compressed one in the format /sys/module/compression names, else
// decompressed here and init_module; and the fallbacks.
func TestInsertCompressed(t *testing.T) {
	img := synthELF(modinfoBytes("name=bonding", "depends="))
	for _, tc := range []struct {
		name     string
		ext      string // module file suffix after .ko
		sysfs    string // /sys/module/compression, "" for none
		kernel   compression
		finitErr error
		// want: finit_module called (plain or flagged), the kernel
		// decompressed it (flagged), the error.
		wantFinit, wantKernel bool
		wantErr               error
	}{
		{name: "plain", wantFinit: true},
		{name: "plain, no finit_module", finitErr: syscall.ENOSYS},
		{name: "plain, kernel decompresses xz", sysfs: "xz\n", kernel: compXZ, wantFinit: true},
		{name: "xz, kernel decompresses xz", ext: ".xz", sysfs: "xz\n", kernel: compXZ, wantFinit: true, wantKernel: true},
		{name: "zstd, kernel decompresses zstd", ext: ".zst", sysfs: "zstd\n", kernel: compZstd, wantFinit: true, wantKernel: true},
		{name: "gzip, kernel decompresses gzip", ext: ".gz", sysfs: "gzip", kernel: compGzip, wantFinit: true, wantKernel: true},
		{name: "xz, kernel without decompression", ext: ".xz"},
		{name: "zstd, kernel decompresses xz only", ext: ".zst", sysfs: "xz\n", kernel: compXZ},
		{name: "gzip, kernel decompresses xz only", ext: ".gz", sysfs: "xz\n", kernel: compXZ},
		{name: "xz, unknown format in sysfs", ext: ".xz", sysfs: "lz4\n", kernel: compXZ},
		{name: "xz, sysfs says xz but EOPNOTSUPP", ext: ".xz", sysfs: "xz\n", kernel: compNone},
		{name: "xz, sysfs says xz but no finit_module", ext: ".xz", sysfs: "xz\n", kernel: compXZ, finitErr: syscall.ENOSYS},
		{name: "xz, kernel refuses the module", ext: ".xz", sysfs: "xz\n", kernel: compXZ, finitErr: syscall.EINVAL, wantErr: syscall.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := modtest.Compress(tc.ext, img)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			writeFile(t, dir, "kernel/bonding.ko"+tc.ext, data)
			x, err := ScanTree(dir)
			if err != nil {
				t.Fatal(err)
			}
			k := newFakeKernel(t, x)
			k.finitErr, k.decompresses = tc.finitErr, tc.kernel
			sysfs := t.TempDir()
			if tc.sysfs != "" {
				writeFile(t, sysfs, "module/compression", []byte(tc.sysfs))
			}
			writeFile(t, dir, "modules", nil)
			l := &Loader{Index: x, Sys: k, ProcRoot: dir, SysfsRoot: sysfs, Params: map[string][]string{"bonding": {"mode=1"}}, Logf: t.Logf}
			err = l.Load(context.Background(), "bonding")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Load: %v, want %v", err, tc.wantErr)
				}
				if len(k.calls) != 0 {
					t.Errorf("calls %+v after the kernel refused the module: want no retry", k.calls)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := []call{{"bonding", "mode=1", tc.wantFinit}}; !slices.Equal(k.calls, want) {
				t.Errorf("calls %+v, want %+v", k.calls, want)
			}
			if got := len(k.compressed) > 0; got != tc.wantKernel {
				t.Errorf("the kernel decompressed: %v, want %v", got, tc.wantKernel)
			}
		})
	}
}

// TestInsertCompressedFallbackOnce checks that once the kernel refused
// to decompress (EOPNOTSUPP despite /sys/module/compression), the other
// modules are decompressed here at once, without asking it again.
func TestInsertCompressedFallbackOnce(t *testing.T) {
	dir := t.TempDir()
	for _, m := range testMods {
		data, err := modtest.Compress(".xz", synthELF(modinfoBytes("name="+m.name, "depends="+m.depends)))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, m.path+".xz", data)
	}
	x, err := ScanTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := newFakeKernel(t, x)
	var finits int
	sys := countFinit{k, &finits}
	sysfs := t.TempDir()
	writeFile(t, sysfs, "module/compression", []byte("xz\n"))
	writeFile(t, dir, "modules", nil)
	l := &Loader{Index: x, Sys: sys, ProcRoot: dir, SysfsRoot: sysfs, Parallel: 1, Logf: t.Logf}
	if err := l.Load(context.Background(), "iscsi_tcp"); err != nil {
		t.Fatal(err)
	}
	// scsi_common, scsi_mod, scsi_transport_iscsi, libiscsi, libiscsi_tcp, iscsi_tcp.
	if len(k.calls) != 6 || finits != 1 {
		t.Errorf("%d inserts, %d finit_module calls: want 6 inserts after one refused finit_module", len(k.calls), finits)
	}
}

// countFinit counts FinitModule calls.
type countFinit struct {
	*fakeKernel
	n *int
}

func (c countFinit) FinitModule(fd int, params string, flags int) error {
	*c.n++
	return c.fakeKernel.FinitModule(fd, params, flags)
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
