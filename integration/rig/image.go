package rig

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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
	// Texts maps a path inside the image to its contents (mode 0644).
	Texts map[string]string
	// Dirs are extra empty directories to create.
	Dirs []string
	// FSType is the mkfs flavour: "ext4" (default) or "xfs".
	FSType string
	// UUID is the filesystem UUID; random when empty.
	UUID string
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
	for _, d := range r.Dirs {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	for dst, src := range r.Files {
		if err := copyFile(src, filepath.Join(stage, dst)); err != nil {
			return err
		}
	}
	for dst, text := range r.Texts {
		p := filepath.Join(stage, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
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
	switch fstype {
	case "ext4":
		args := []string{"-q", "-F", "-L", r.Label, "-d", stage}
		if r.UUID != "" {
			args = append(args, "-U", r.UUID)
		}
		_, err = run(ctx, "mkfs.ext4", append(args, path)...)
	case "xfs":
		// mkfs.xfs has no -d; a proto file lists what to copy in.
		proto := filepath.Join(stage, ".proto")
		if len(r.Texts) > 0 || len(r.Dirs) > 0 {
			return fmt.Errorf("rig: xfs root images take Files only")
		}
		if err := os.WriteFile(proto, []byte(xfsProto(stage, r.Files)), 0o644); err != nil {
			return err
		}
		args := []string{"-q", "-f", "-L", r.Label, "-p", proto}
		if r.UUID != "" {
			args = append(args, "-m", "uuid="+r.UUID)
		}
		_, err = run(ctx, "mkfs.xfs", append(args, path)...)
	default:
		return fmt.Errorf("rig: root images can be ext4 or xfs, not %s", fstype)
	}
	return err
}

// xfsProto renders an mkfs.xfs proto file: the standard directories plus
// files (path in the image → host source), all owned by root.
func xfsProto(stage string, files map[string]string) string {
	type node struct {
		dirs  map[string]*node
		files map[string]string
	}
	newNode := func() *node { return &node{dirs: map[string]*node{}, files: map[string]string{}} }
	root := newNode()
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "sbin", "etc", "var"} {
		root.dirs[d] = newNode()
	}
	for dst := range files {
		parts := strings.Split(strings.Trim(dst, "/"), "/")
		n := root
		for _, p := range parts[:len(parts)-1] {
			if n.dirs[p] == nil {
				n.dirs[p] = newNode()
			}
			n = n.dirs[p]
		}
		// The staged copy (made by Build) keeps the mode; the proto names it.
		n.files[parts[len(parts)-1]] = filepath.Join(stage, dst)
	}
	var b strings.Builder
	b.WriteString("/dev/null\n0 0\nd--755 0 0\n")
	var walk func(n *node)
	walk = func(n *node) {
		for _, name := range sortedKeys(n.files) {
			mode := "644"
			if st, err := os.Stat(n.files[name]); err == nil && st.Mode().Perm()&0o111 != 0 {
				mode = "755"
			}
			fmt.Fprintf(&b, "%s ---%s 0 0 %s\n", name, mode, n.files[name])
		}
		for _, name := range sortedKeys(n.dirs) {
			fmt.Fprintf(&b, "%s d--755 0 0\n", name)
			walk(n.dirs[name])
		}
		b.WriteString("$\n")
	}
	walk(root)
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Partition is one partition of a GPT disk image.
type Partition struct {
	// Name is the GPT partition name (PARTLABEL).
	Name string
	// SizeMB is the partition's size.
	SizeMB int
	// Image, when set, is copied into the partition (its size must not
	// exceed SizeMB).
	Image string
}

// GPTDisk writes a GPT-partitioned disk image with sgdisk, the partitions
// 1 MiB aligned, each filled from its Image.
func GPTDisk(ctx context.Context, path string, parts []Partition) error {
	total := 2 // MiB: alignment at the start, backup GPT at the end
	for _, p := range parts {
		total += p.SizeMB
	}
	os.Remove(path)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(total) << 20); err != nil {
		f.Close()
		return err
	}
	f.Close()
	args := []string{"-o"}
	start := int64(2048) // sectors
	for i, p := range parts {
		n := itoa(i + 1)
		end := start + int64(p.SizeMB)<<11 - 1
		args = append(args, "-n", fmt.Sprintf("%s:%d:%d", n, start, end), "-c", n+":"+p.Name)
		start = end + 1
	}
	if _, err := run(ctx, "sgdisk", append(args, path)...); err != nil {
		return err
	}
	start = 2048
	for _, p := range parts {
		if p.Image != "" {
			if _, err := run(ctx, "dd", "if="+p.Image, "of="+path, "bs=1M", "seek="+itoa(int(start>>11)),
				"conv=notrunc,sparse", "status=none"); err != nil {
				return err
			}
		}
		start += int64(p.SizeMB) << 11
	}
	return nil
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

// CopySparse copies an image so each boot gets a fresh one, and writes
// the copy out before it returns: left to the host's writeback (which
// starts some 30 s after the copy), a root image's hundreds of megabytes
// went to disk during whichever boot came next, slowing it, so that the
// bench's real-OS rows measured the previous row's copy.
func CopySparse(ctx context.Context, src, dst string) error {
	if _, err := run(ctx, "cp", "--sparse=always", src, dst); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("rig: writing out %s: %w", dst, err)
	}
	return f.Close()
}

// itoa is strconv.Itoa, named for brevity in argument lists.
var itoa = strconv.Itoa
