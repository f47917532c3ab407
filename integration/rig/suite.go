package rig

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// HostSuite returns the machine's Debian release codename (VERSION_CODENAME
// of /etc/os-release), e.g. bookworm.
func HostSuite() (string, error) {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok {
			return strings.Trim(v, `"'`), nil
		}
	}
	return "", fmt.Errorf("rig: /etc/os-release names no VERSION_CODENAME")
}

// aptSuite is apt pointed at one suite of the machine's Debian mirror
// through a sources list, package lists and cache of its own under the
// cache directory: the machine's apt setup is never touched.
type aptSuite struct {
	suite string
	dir   string
}

var (
	aptSuiteMu sync.Mutex
	aptUpdated = map[string]bool{}
)

// listsMaxAge is how old a suite's package lists may be before the first
// use in a test run updates them.
const listsMaxAge = 12 * time.Hour

// newAptSuite prepares apt for suite, updating its package lists once per
// process when they are missing or older than listsMaxAge.
func newAptSuite(ctx context.Context, suite string) (*aptSuite, error) {
	aptSuiteMu.Lock()
	defer aptSuiteMu.Unlock()
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	mirror, err := DebianMirror()
	if err != nil {
		return nil, err
	}
	a := &aptSuite{suite: suite, dir: filepath.Join(cache, "apt-"+suite)}
	for _, d := range []string{"lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	list := fmt.Sprintf("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n", mirror, suite)
	old, _ := os.ReadFile(a.sourcesList())
	if string(old) != list {
		if err := os.WriteFile(a.sourcesList(), []byte(list), 0o644); err != nil {
			return nil, err
		}
		os.Remove(filepath.Join(a.dir, ".updated"))
	}
	if aptUpdated[suite] {
		return a, nil
	}
	if st, err := os.Stat(filepath.Join(a.dir, ".updated")); err != nil || time.Since(st.ModTime()) > listsMaxAge {
		if out, err := run(ctx, "apt-get", a.args("update", "-q")...); err != nil {
			return nil, fmt.Errorf("rig: apt-get update for %s: %w\n%s", suite, err, out)
		}
		if err := os.WriteFile(filepath.Join(a.dir, ".updated"), nil, 0o644); err != nil {
			return nil, err
		}
	}
	aptUpdated[suite] = true
	return a, nil
}

func (a *aptSuite) sourcesList() string { return filepath.Join(a.dir, "sources.list") }

// args returns apt arguments using the suite's own list, then args.
func (a *aptSuite) args(args ...string) []string {
	return append([]string{
		"-o", "Dir::Etc::sourcelist=" + a.sourcesList(),
		"-o", "Dir::Etc::sourceparts=-",
		"-o", "Dir::State::Lists=" + filepath.Join(a.dir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(a.dir, "cache"),
	}, args...)
}

// kernelPackage names the versioned image package linux-image-amd64
// depends on in the suite, e.g. linux-image-6.12.57+deb13-amd64.
func (a *aptSuite) kernelPackage(ctx context.Context) (string, error) {
	out, err := run(ctx, "apt-cache", a.args("depends", "linux-image-amd64")...)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("rig: linux-image-amd64 of %s depends on no linux-image-* package:\n%s", a.suite, out)
}

// FetchKernelSuite is FetchKernel for a Debian suite other than the
// machine's (e.g. trixie): the package comes from the same mirror through
// a sources list of the rig's own. The machine's own suite (or "") is
// FetchKernel.
func FetchKernelSuite(ctx context.Context, suite string) (*Kernel, error) {
	if host, err := HostSuite(); suite == "" || (err == nil && suite == host) {
		return FetchKernel(ctx)
	}
	a, err := newAptSuite(ctx, suite)
	if err != nil {
		return nil, err
	}
	kernelMu.Lock()
	defer kernelMu.Unlock()
	pkg, err := a.kernelPackage(ctx)
	if err != nil {
		return nil, err
	}
	return extractKernel(ctx, pkg, func(dir string) (string, error) {
		return runIn(ctx, dir, "apt-get", a.args("download", pkg)...)
	})
}
