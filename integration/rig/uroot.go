package rig

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// URootModule is the module the u-root image's commands come from; its
// version is the one go.mod requires (tools/tools.go pins it).
const URootModule = "github.com/u-root/u-root"

// URootCommands are the u-root core commands (URootModule/cmds/core/NAME)
// BuildURoot compiles into the busybox binary beside netroot's init, for
// the emergency shell; gosh is the shell (/bin/sh). u-root's own init is
// deliberately absent. tools/tools.go must import each of them.
var URootCommands = []string{
	"cat", "cp", "dmesg", "echo", "grep", "gosh", "ip", "ls", "lsmod",
	"mkdir", "mount", "poweroff", "ps", "sync", "umount", "uname",
}

// URootBuildTags are the Go build tags of the u-root image. goshsmall
// gives gosh its plain line-reading prompt ("$ ") instead of the bubbline
// editor, a full-screen TUI that queries the terminal (OSC 10/11, DSR) and
// redraws the screen: unreadable on a serial console and in its log.
const URootBuildTags = "goshsmall"

// URootOptions are BuildURoot's inputs.
type URootOptions struct {
	// Netroot is the netroot host tool (for netroot build).
	Netroot string
	// Init is netroot's /init binary, for the netroot image built beside
	// the u-root one for comparison.
	Init string
	// ModulesDir is the /lib/modules/<version> tree both images take their
	// modules from.
	ModulesDir string
	// Cmdline is baked into both images; "" bakes none.
	Cmdline string
	// Dir receives base.cpio, netroot.img, uroot.cpio and uroot.img.
	Dir string
}

// URootImage is what BuildURoot made.
type URootImage struct {
	// Path is the u-root image, gzip-compressed (uroot.img).
	Path string
	// Netroot is the image netroot build makes from the same inputs
	// (netroot.img), for comparison.
	Netroot string
	// URootSize and NetrootSize are the images' sizes.
	URootSize, NetrootSize ImageSize
	// Output is what the builders printed.
	Output string
}

// ImageSize is an initramfs's size in bytes.
type ImageSize struct {
	Compressed, Uncompressed int64
}

// String formats the sizes in MB.
func (s ImageSize) String() string {
	return fmt.Sprintf("%.2f MB gzip, %.2f MB uncompressed", float64(s.Compressed)/1e6, float64(s.Uncompressed)/1e6)
}

// URootPackages returns the Go packages BuildURoot compiles: netroot's
// init and URootCommands.
func URootPackages() []string {
	pkgs := []string{"./cmd/init"}
	for _, c := range URootCommands {
		pkgs = append(pkgs, URootModule+"/cmds/core/"+c)
	}
	return pkgs
}

// BuildURoot builds a u-root busybox initramfs with mkuimage (run from the
// module graph: go run github.com/u-root/mkuimage/cmd/mkuimage): one bb
// binary holding netroot's init as /init and URootCommands, gosh as /bin/sh,
// on top of `netroot build -no-init`'s archive so that it carries exactly
// the modules (and baked cmdline) netroot's own image does. It also builds
// that own image, and measures both. The u-root image is gzip-compressed at
// netroot build's level so the figures compare.
func BuildURoot(ctx context.Context, o URootOptions) (*URootImage, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	// mkuimage runs in the repository: make the paths absolute.
	if o.Dir, err = filepath.Abs(o.Dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	img := &URootImage{Path: filepath.Join(o.Dir, "uroot.img"), Netroot: filepath.Join(o.Dir, "netroot.img")}
	base := filepath.Join(o.Dir, "base.cpio")
	raw := filepath.Join(o.Dir, "uroot.cpio")
	var out strings.Builder

	common := []string{"-modules", o.ModulesDir}
	if o.Cmdline != "" {
		common = append(common, "-cmdline", o.Cmdline)
	}
	for _, args := range [][]string{
		append([]string{"build", "-o", base, "-no-init", "-compress", "none"}, common...),
		// gzip like the u-root image, so the sizes compare.
		append([]string{"build", "-o", img.Netroot, "-init", o.Init, "-compress", "gzip"}, common...),
	} {
		b, err := exec.CommandContext(ctx, o.Netroot, args...).CombinedOutput()
		out.Write(b)
		if err != nil {
			return nil, fmt.Errorf("rig: u-root image: netroot %s: %w\n%s", strings.Join(args, " "), err, b)
		}
	}

	args := []string{"run", "github.com/u-root/mkuimage/cmd/mkuimage",
		"-base", base, "-o", raw, "-initcmd", "init", "-defaultsh", "gosh", "-skip-ldd",
		"-go-build-tags", URootBuildTags}
	args = append(args, URootPackages()...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1")
	b, err := cmd.CombinedOutput()
	out.Write(b)
	if err != nil {
		return nil, fmt.Errorf("rig: u-root image: go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	if img.URootSize, err = gzipFile(raw, img.Path); err != nil {
		return nil, fmt.Errorf("rig: u-root image: compressing: %w", err)
	}
	if img.NetrootSize, err = gzipSize(img.Netroot); err != nil {
		return nil, err
	}
	img.Output = out.String()
	return img, nil
}

// gzipFile compresses src into dst (gzip, best compression, as netroot
// build does) and returns both sizes.
func gzipFile(src, dst string) (ImageSize, error) {
	in, err := os.Open(src)
	if err != nil {
		return ImageSize{}, err
	}
	defer in.Close()
	f, err := os.Create(dst)
	if err != nil {
		return ImageSize{}, err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		f.Close()
		return ImageSize{}, err
	}
	n, err := io.Copy(zw, in)
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ImageSize{}, err
	}
	st, err := os.Stat(dst)
	if err != nil {
		return ImageSize{}, err
	}
	return ImageSize{Compressed: st.Size(), Uncompressed: n}, nil
}

// gzipSize returns a gzip file's compressed and uncompressed sizes.
func gzipSize(path string) (ImageSize, error) {
	f, err := os.Open(path)
	if err != nil {
		return ImageSize{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ImageSize{}, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return ImageSize{}, fmt.Errorf("rig: %s: %w", path, err)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil {
		return ImageSize{}, fmt.Errorf("rig: %s: %w", path, err)
	}
	return ImageSize{Compressed: st.Size(), Uncompressed: n}, nil
}
