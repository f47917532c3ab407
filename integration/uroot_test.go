package integration

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/u-root/u-root/pkg/cpio"
)

var (
	urootOnce sync.Once
	urootImg  *rig.URootImage
	urootErr  error
)

// urootImage builds the u-root busybox image (netroot's init as /init,
// gosh as /bin/sh, the modules netroot build carries) once per test
// binary. No cmdline is baked: the tests pass theirs on the kernel's.
func urootImage(t *testing.T) *rig.URootImage {
	t.Helper()
	e := env(t)
	urootOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		urootImg, urootErr = rig.BuildURoot(ctx, rig.URootOptions{
			Netroot: e.Netroot, Init: e.Init, ModulesDir: e.Kernel.ModulesDir,
			Dir: filepath.Join(e.Dir, "uroot"),
		})
		if urootErr == nil {
			t.Logf("u-root image %s: %s; netroot image: %s", urootImg.Path, urootImg.URootSize, urootImg.NetrootSize)
		}
	})
	if urootErr != nil {
		t.Fatalf("building the u-root image: %v", urootErr)
	}
	return urootImg
}

// TestURootToolsPinned checks that tools/tools.go imports mkuimage and
// every command of rig.URootCommands, so that go.mod and go.sum resolve
// what `make uroot` builds.
func TestURootToolsPinned(t *testing.T) {
	root, err := rig.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "tools", "tools.go"), nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var imports []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		imports = append(imports, p)
	}
	want := []string{"github.com/u-root/mkuimage/cmd/mkuimage"}
	for _, c := range rig.URootCommands {
		want = append(want, rig.URootModule+"/cmds/core/"+c)
	}
	for _, w := range want {
		if !slices.Contains(imports, w) {
			t.Errorf("tools/tools.go does not import %s", w)
		}
	}
	// Every package must resolve from go.mod/go.sum, as mkuimage needs.
	args := append([]string{"list", "-e", "-deps", "-f", "{{if .Error}}{{.ImportPath}}: {{.Error}}{{end}}"}, want...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	// Package errors are on stdout (-f); stderr carries "go: downloading"
	// progress on a fresh module cache, which is no error.
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("go list of the u-root image's packages: %v\n%s%s\n(pin them with go get PKG@VERSION)", err, out, stderr.String())
	}
	if slices.Contains(rig.URootCommands, "init") {
		t.Errorf("rig.URootCommands has u-root's init; /init must be netroot's")
	}
}

// cpioEntries reads an uncompressed newc archive into name → record (the
// records read their contents from the file until the test ends).
func cpioEntries(t *testing.T, path string) map[string]cpio.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(f))
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	out := map[string]cpio.Record{}
	for _, rec := range recs {
		out[strings.TrimPrefix(rec.Name, "/")] = rec
	}
	return out
}

// TestURootImage checks the u-root image's layout: /init is netroot's init
// in the bb binary, /bin/sh is gosh, the commands are there and u-root's
// init is not, and it carries the same modules as netroot's own image.
func TestURootImage(t *testing.T) {
	img := urootImage(t)
	dir := filepath.Dir(img.Path)
	got := cpioEntries(t, filepath.Join(dir, "uroot.cpio"))
	base := cpioEntries(t, filepath.Join(dir, "base.cpio"))
	link := func(name string) string {
		rec, ok := got[name]
		if !ok {
			return "<missing>"
		}
		if rec.Mode&cpio.S_IFMT != cpio.S_IFLNK {
			return "<not a symlink>"
		}
		b, _ := io.ReadAll(io.NewSectionReader(rec.ReaderAt, 0, int64(rec.FileSize)))
		return string(b)
	}
	for name, want := range map[string]string{
		"init": "bbin/init", "bin/sh": "../bbin/gosh", "bin/defaultsh": "../bbin/gosh",
	} {
		if l := link(name); l != want {
			t.Errorf("%s -> %s, want -> %s", name, l, want)
		}
	}
	for _, c := range append([]string{"init"}, rig.URootCommands...) {
		if l := link("bbin/" + c); l != "bb" {
			t.Errorf("bbin/%s -> %s, want -> bb", c, l)
		}
	}
	if rec, ok := got["bbin/bb"]; !ok || rec.Mode&cpio.S_IFMT != cpio.S_IFREG || rec.FileSize < 1<<20 {
		t.Errorf("no bb binary in the image")
	}
	// Run as "init" outside PID 1, the bb binary must be netroot's init
	// and refuse to touch this system.
	if rec, ok := got["bbin/bb"]; ok {
		bb := filepath.Join(t.TempDir(), "bb")
		data, _ := io.ReadAll(io.NewSectionReader(rec.ReaderAt, 0, int64(rec.FileSize)))
		if err := os.WriteFile(bb, data, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bb)
		cmd.Args = []string{"init"}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "must run as PID 1") {
			t.Errorf("bb as init outside PID 1: %v, %q; want exit 1 and the PID 1 refusal", err, out)
		}
	}
	var bbin []string
	for name := range got {
		if strings.HasPrefix(name, "bbin/") {
			bbin = append(bbin, strings.TrimPrefix(name, "bbin/"))
		}
	}
	if want := len(rig.URootCommands) + 2; len(bbin) != want { // + init + bb
		slices.Sort(bbin)
		t.Errorf("bbin holds %q, want bb, init and %q", bbin, rig.URootCommands)
	}
	var mods int
	for name, rec := range base {
		if !strings.HasPrefix(name, "lib/modules/") || rec.Mode&cpio.S_IFMT != cpio.S_IFREG {
			continue
		}
		mods++
		if g, ok := got[name]; !ok || g.FileSize != rec.FileSize {
			t.Errorf("%s: in netroot build's archive but not (identically) in the u-root image", name)
		}
	}
	if mods < 10 {
		t.Errorf("netroot build -no-init carried only %d module files", mods)
	}
	if _, ok := base["init"]; ok {
		t.Errorf("netroot build -no-init wrote an /init")
	}
	t.Logf("u-root image: %s; netroot image: %s; %d module files in both", img.URootSize, img.NetrootSize, mods)
}

// TestURootBoot boots the u-root image on the standard scenario (passed
// on the kernel command line) to the real root.
func TestURootBoot(t *testing.T) {
	img := urootImage(t)
	b := start(t, rig.BootSpec{Initramfs: img.Path, Cmdline: rig.ScenarioCmdline, Target: rig.DefaultTarget()})
	log := assertRealRoot(t, b)
	if !strings.Contains(log, "root ready at ") {
		t.Errorf("no timeline summary from netroot's init")
	}
	// The keeper re-executes the bb binary as "@netroot-keeper", a name
	// the busybox dispatcher does not know (boot.KeeperArgs).
	if !regexp.MustCompile(`netroot: keeper: @netroot-keeper pid [0-9]+`).MatchString(log) {
		t.Errorf("the session keeper did not start from the busybox binary")
	}
}

// TestURootKeeperRespawn kills the keeper of a u-root image after
// switch_root: its guard starts a new one from the busybox binary, which
// must know itself as a keeper although the dispatcher dropped its '@'
// argv[0] and /proc/self/cmdline is out of reach (boot.IsPartnerKeeper).
func TestURootKeeperRespawn(t *testing.T) {
	img := urootImage(t)
	f := bootFault(t, rig.BootSpec{Initramfs: img.Path, Target: rig.DefaultTarget()}, 20*time.Second)
	f.waitWriting()
	m := f.command("nrt-kill-keeper", `NETROOT-TEST: fault-keeper-killed=([^\r\n]*)\r?\n`)
	res := f.finish("u-root keeper killed")
	killed := regexp.MustCompile(`^pid=\d+ signal=killed respawned=(\d+) after=[0-9.]+s$`).FindStringSubmatch(m[1])
	if killed == nil {
		t.Fatalf("after SIGKILL: %q, want a new keeper", m[1])
	}
	if !strings.Contains(res.log, "netroot-keeper: pid "+killed[1]+" started by its guard") {
		t.Errorf("the new keeper %s did not start", killed[1])
	}
	assertKeeperPair(t, reported(res.log, "fault-keeper-mem-end"), []string{killed[1]})
}

// TestURootEmergencyShell fails the boot (no such root label) and uses
// u-root's gosh on the serial console: /bin/sh in the u-root image.
func TestURootEmergencyShell(t *testing.T) {
	img := urootImage(t)
	b := start(t, rig.BootSpec{
		Initramfs: img.Path,
		Cmdline:   rig.ScenarioCmdline + " root=LABEL=NOPE rd.retry=3",
		Target:    rig.DefaultTarget(),
	})
	msg := waitFatal(t, b, 4*time.Minute)
	if !strings.Contains(msg, "NOPE") {
		t.Errorf("the error line does not name the missing label")
	}
	waitFor(t, b, `netroot: emergency shell`, time.Minute)
	waitFor(t, b, `emergency shell[^\n]*\n(?s:.*?)\$ `, time.Minute) // gosh's prompt
	if err := b.VM.Send("ls /sys/class/net; echo ls-done-$((6*7))\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, `ls-done-42`, time.Minute)
	log := b.VM.Log()
	out := log[strings.LastIndex(log, "ls /sys/class/net"):strings.LastIndex(log, "ls-done-42")]
	t.Logf("ls /sys/class/net printed:\n%s", out)
	for _, want := range []string{"bond0", "eth0", "eth1", "lo"} {
		if !regexp.MustCompile(`\b` + want + `\b`).MatchString(strings.TrimPrefix(out, "ls /sys/class/net")) {
			t.Errorf("ls /sys/class/net did not list %s", want)
		}
	}
	if n := strings.Count(log, "netroot: FATAL"); n != 1 {
		t.Errorf("%d FATAL lines, want exactly 1", n)
	}
	if strings.Contains(log, "Kernel panic") {
		t.Errorf("kernel panic on the console")
	}
}
