package rig

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// RootImage describes an ext4 root filesystem image built without loop
// mounts (mkfs.ext4 -d).
type RootImage struct {
	// Label is the filesystem label (-L).
	Label string
	// SizeMB is the image size.
	SizeMB int
	// Files maps a path inside the image to a host file copied there with
	// its mode.
	Files map[string]string
	// FSType is the mkfs flavour, "ext4" unless set.
	FSType string
}

// Build writes the image to path.
func (r RootImage) Build(ctx context.Context, path string) error {
	stage, err := os.MkdirTemp("", "netroot-rootfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "sbin", "etc", "var"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	for dst, src := range r.Files {
		if err := copyFile(src, filepath.Join(stage, dst)); err != nil {
			return err
		}
	}
	os.Remove(path)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	size := r.SizeMB
	if size == 0 {
		size = 64
	}
	if err := f.Truncate(int64(size) << 20); err != nil {
		f.Close()
		return err
	}
	f.Close()
	fstype := r.FSType
	if fstype == "" {
		fstype = "ext4"
	}
	_, err = run(ctx, "mkfs."+fstype, "-q", "-F", "-L", r.Label, "-d", stage, path)
	return err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// GoBuild builds a static binary of package pkg (relative to the repo
// root) into out.
func GoBuild(ctx context.Context, pkg, out string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rig: go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// CopySparse copies an image so each boot gets a fresh one.
func CopySparse(ctx context.Context, src, dst string) error {
	_, err := run(ctx, "cp", "--sparse=always", src, dst)
	return err
}

// itoa is strconv.Itoa, named for brevity in argument lists.
var itoa = strconv.Itoa
