//go:build linux

package modload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/netroot/netroot/pkg/bootlog"
)

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

// TestNoAutoload: a module named in NoAutoload (rd.driver.post=) is not
// loaded for a device, new or present, though Load loads it.
func TestNoAutoload(t *testing.T) {
	l, k := newTestLoader(t)
	addDevice(t, l.SysfsRoot, "pci", "0000:00:04.0", "pci:v00008086d0000100Esv00008086sd00001E00bc02sc00i00")
	l.NoAutoload = []string{"e1000"}
	if loaded, err := l.LoadForDevices(context.Background()); err != nil || slices.Contains(loaded, "e1000") {
		t.Errorf("LoadForDevices = %q, %v; want no e1000", loaded, err)
	}
	sent := false
	next := func(context.Context) (string, error) {
		if sent {
			return "", io.EOF
		}
		sent = true
		return "pci:v00008086d0000100Esv00008086sd00001E00bc02sc00i00", nil
	}
	if err := l.LoadForNewDevices(context.Background(), next, nil); !errors.Is(err, io.EOF) {
		t.Errorf("LoadForNewDevices: %v", err)
	}
	if slices.Contains(k.callNames(), "e1000") {
		t.Errorf("e1000 loaded for a device: %q", k.callNames())
	}
	if err := l.Load(context.Background(), "e1000"); err != nil || !slices.Contains(k.callNames(), "e1000") {
		t.Errorf("Load(e1000): %v, calls %q", err, k.callNames())
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

// TestTimedLogLines checks that the lines of timed work carry their
// timing to a logger that keeps a timeline (bootlog under rd.debug), with
// the text unchanged, and that a niced Loader's inserts are background.
func TestTimedLogLines(t *testing.T) {
	var _ bootlog.Timed = timing{}
	l, _ := newTestLoader(t)
	var con bytes.Buffer
	log := bootlog.New(&con, nil, 0, func() float64 { return 1 })
	log.SetDebug(true)
	l.Logf = log.Debugf
	addDevice(t, l.SysfsRoot, "pci", "0000:00:03.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	if _, err := l.LoadForDevices(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.WithSys(Niced{Sys: l.Sys, Nice: 19}).Load(context.Background(), "crc16"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range log.Timeline().Spans {
		if s.Start < 0 || s.Duration < 0 {
			t.Errorf("span %+v", s)
		}
		got = append(got, fmt.Sprintf("%s %s %v", s.Kind, s.Name, s.Background))
	}
	want := []string{
		"scan round 1 false", "module failover false", "module net_failover false", "module virtio false",
		"module virtio_ring false", "module virtio_net false", "module virtio_pci false",
		"scan round 2 false", "module crc16 true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("spans:\n%q\nwant\n%q", got, want)
	}
	for _, line := range []string{"netroot: modload: round 1: drivers for devices: virtio_net virtio_pci (1 new modaliases matched in ",
		"netroot: modload: loaded virtio_pci (0.", "netroot: modload: round 2: no new drivers (0 new modaliases matched in "} {
		if !strings.Contains(con.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, con.String())
		}
	}
}
