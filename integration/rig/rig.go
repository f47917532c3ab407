// Package rig is the test bench for netroot's QEMU boot tests: it fetches
// Debian's kernel package, builds root images, puts a bridge and taps in a
// private network namespace, runs tgtd there — or Linux's kernel target
// (LIO) in a guest of its own on the same bridge (lio.go) — and boots QEMU
// (TCG) on the taps with a serial console the test can read and type into.
//
// Everything it starts lives in namespaces and processes it owns; Close
// methods tear them down even after a failure.
package rig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RepoRoot returns the directory holding the project's go.mod, found by
// walking up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("rig: no go.mod above the working directory")
		}
		dir = parent
	}
}

// CacheDir returns the directory downloads and builds are cached in:
// $NETROOT_CACHE, else <repo>/.cache.
func CacheDir() (string, error) {
	if d := os.Getenv("NETROOT_CACHE"); d != "" {
		return d, os.MkdirAll(d, 0o755)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	d := filepath.Join(root, ".cache")
	return d, os.MkdirAll(d, 0o755)
}

// run runs a command and returns its combined output in the error.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Missing returns the reason the rig cannot run on this machine (not root,
// a tool absent), or "" when it can.
func Missing() string {
	if os.Geteuid() != 0 {
		return "boot tests need root (network namespaces, taps)"
	}
	for _, tool := range []string{"qemu-system-x86_64", "tgtd", "tgtadm", "ip", "mkfs.ext4", "apt-get", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "boot tests need " + tool + " (run `make deps`)"
		}
	}
	return ""
}
