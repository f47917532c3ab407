package rig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Kernel is an extracted Debian kernel package.
type Kernel struct {
	// Version is the kernel release, e.g. 6.1.0-56-amd64.
	Version string
	// Vmlinuz is the path of the kernel image.
	Vmlinuz string
	// ModulesDir is the /lib/modules/<Version> tree.
	ModulesDir string
}

var kernelMu sync.Mutex

// FetchKernel downloads the package linux-image-amd64 depends on with
// apt-get download, extracts it with dpkg -x under the cache directory and
// returns it. An already extracted package of the same version is reused.
func FetchKernel(ctx context.Context) (*Kernel, error) {
	kernelMu.Lock()
	defer kernelMu.Unlock()
	pkg, err := kernelPackage(ctx)
	if err != nil {
		return nil, err
	}
	return extractKernel(ctx, pkg, func(dir string) (string, error) {
		return runIn(ctx, dir, "apt-get", "download", pkg)
	})
}

// extractKernel returns kernel package pkg extracted under the cache
// directory, fetching it into a directory with download first unless an
// extracted copy is complete. Its modules are under lib/modules or (Debian
// 13 and later) usr/lib/modules.
func extractKernel(ctx context.Context, pkg string, download func(dir string) (string, error)) (*Kernel, error) {
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	version := strings.TrimPrefix(pkg, "linux-image-")
	dir := filepath.Join(cache, "kernel", version)
	k := &Kernel{
		Version:    version,
		Vmlinuz:    filepath.Join(dir, "boot", "vmlinuz-"+version),
		ModulesDir: filepath.Join(dir, "lib", "modules", version),
	}
	usrModules := filepath.Join(dir, "usr", "lib", "modules", version)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		if _, err := os.Stat(k.ModulesDir); err != nil {
			k.ModulesDir = usrModules
		}
		return k, nil
	}
	dl := filepath.Join(cache, "kernel", "deb")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return nil, err
	}
	// apt-get download writes into the working directory.
	if out, err := download(dl); err != nil {
		return nil, fmt.Errorf("rig: fetching %s: %w\n%s", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dl, pkg+"_*.deb"))
	if len(debs) == 0 {
		return nil, fmt.Errorf("rig: apt-get download %s left no .deb in %s", pkg, dl)
	}
	os.RemoveAll(dir)
	if _, err := run(ctx, "dpkg", "-x", debs[len(debs)-1], dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(k.ModulesDir); err != nil {
		k.ModulesDir = usrModules
	}
	for _, p := range []string{k.Vmlinuz, k.ModulesDir} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("rig: kernel package %s lacks %s", pkg, p)
		}
	}
	for _, d := range debs {
		os.Remove(d)
	}
	return k, os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}

// kernelPackage names the versioned image package linux-image-amd64
// depends on, e.g. linux-image-6.1.0-56-amd64.
func kernelPackage(ctx context.Context) (string, error) {
	if p := os.Getenv("NETROOT_KERNEL_PACKAGE"); p != "" {
		return p, nil
	}
	out, err := run(ctx, "apt-cache", "depends", "linux-image-amd64")
	if err != nil || !strings.Contains(out, "linux-image-") {
		// A fresh machine may have no package lists yet.
		if _, uerr := run(ctx, "apt-get", "update", "-q"); uerr != nil {
			return "", fmt.Errorf("rig: apt-get update: %w", uerr)
		}
		if out, err = run(ctx, "apt-cache", "depends", "linux-image-amd64"); err != nil {
			return "", err
		}
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("rig: linux-image-amd64 depends on no linux-image-* package (run apt-get update?):\n%s", out)
}

func runIn(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
