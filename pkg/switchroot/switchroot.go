// Package switchroot moves from the initramfs to the real root: it checks
// that the new init exists and is executable inside the new root before
// the point of no return, moves /dev, /proc, /sys and /run, frees the
// initramfs (without crossing into other mounts), makes the new root "/"
// and executes its init with a sane environment.
//
// Unlike u-root's mount.SwitchRoot it verifies the init before deleting
// anything and keeps the kernel-given environment and arguments.
package switchroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/netroot/netroot/pkg/hint"
)

// Options for SwitchRoot.
type Options struct {
	// NewRoot is where the real root is mounted, e.g. /sysroot.
	NewRoot string
	// Init is the init program's path inside the new root; default
	// /sbin/init.
	Init string
	// Args are passed to init after argv[0] (the kernel's leftover
	// command-line words such as "single").
	Args []string
	// Env is the environment init starts with; see Env.
	Env []string
	// Moves are the mounts carried over; default /dev, /proc, /sys, /run.
	Moves []string
	// Keep are paths on the initramfs that are not freed: what a mount
	// carried over still shows (a bind of an initramfs directory).
	Keep []string
}

// DefaultPath is the PATH an init gets when the kernel gave none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Env returns base with HOME, TERM and PATH added where missing (the
// kernel starts init with HOME=/ and TERM=linux; PATH it leaves unset).
func Env(base []string) []string {
	out := append([]string(nil), base...)
	has := func(k string) bool {
		for _, kv := range out {
			if strings.HasPrefix(kv, k+"=") {
				return true
			}
		}
		return false
	}
	for _, d := range []string{"HOME=/", "TERM=linux", "PATH=" + DefaultPath} {
		if k, _, _ := strings.Cut(d, "="); !has(k) {
			out = append(out, d)
		}
	}
	return out
}

// ResolveInit follows init's symlinks inside newRoot (an absolute link is
// relative to newRoot, as it will be after the switch) and checks that the
// result is an executable regular file. It returns the path inside the new
// root (e.g. /lib/systemd/systemd for /sbin/init).
func ResolveInit(newRoot, init string) (string, error) {
	if !path.IsAbs(init) {
		return "", fmt.Errorf("init=%s: must be an absolute path", init)
	}
	p, st, err := resolveIn(newRoot, init)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist) && p != "" && p != path.Clean(init):
			// A symlink left by a package removed (systemd-sysv's
			// /sbin/init, say): the link is there, what it names is not.
			return "", hint.Errorf("install what it names in the root image (e.g. systemd-sysv for /sbin/init), or set init=",
				"init %s leads to %s, which does not exist in the new root", init, p)
		case errors.Is(err, fs.ErrNotExist):
			return "", hint.Errorf("check init= or the root image", "init %s does not exist in the new root", init)
		}
		return "", fmt.Errorf("init %s: %w", init, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("init %s (%s) is not a regular file", init, p)
	}
	if st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("init %s (%s) is not executable (mode %v)", init, p, st.Mode().Perm())
	}
	return p, nil
}

// errLinkLoop is the error of a path with too many symlinks to follow.
var errLinkLoop = errors.New("too many levels of symbolic links")

// maxHops bounds the symlinks followed for one path, as the kernel's 40.
const maxHops = 40

// resolveIn follows the symlinks of every component of the absolute path
// p inside root, as they will resolve once root is "/", and returns the
// path (inside root) of what p names, with its Lstat. When what it names
// is missing, the path returned is the one reached.
func resolveIn(root, p string) (string, fs.FileInfo, error) {
	p = path.Clean(p)
	for hops := 0; hops < maxHops; hops++ {
		dir, err := resolveDir(root, path.Dir(p), hops)
		if err != nil {
			return "", nil, err
		}
		p = path.Join(dir, path.Base(p))
		st, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			return p, nil, err // the path reached, for the error's words
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			return p, st, nil
		}
		if p, err = follow(root, p); err != nil {
			return "", nil, err
		}
	}
	return "", nil, errLinkLoop
}

// follow reads the symlink p inside root and returns its target as a path
// inside root: an absolute target is relative to root.
func follow(root, p string) (string, error) {
	target, err := os.Readlink(filepath.Join(root, p))
	if err != nil {
		return "", err
	}
	if path.IsAbs(target) {
		return path.Clean(target), nil
	}
	return path.Join(path.Dir(p), target), nil
}

// resolveDir resolves symlinks in each component of dir inside root.
func resolveDir(root, dir string, hops int) (string, error) {
	out := "/"
	for _, c := range strings.Split(strings.Trim(dir, "/"), "/") {
		if c == "" {
			continue
		}
		next := path.Join(out, c)
		for ; hops < maxHops; hops++ {
			st, err := os.Lstat(filepath.Join(root, next))
			if err != nil || st.Mode()&fs.ModeSymlink == 0 {
				break
			}
			if next, err = follow(root, next); err != nil {
				return "", err
			}
		}
		if hops >= maxHops {
			return "", errLinkLoop
		}
		out = next
	}
	return out, nil
}

// FreeInitramfs deletes everything under root that lives on root's own
// filesystem (device dev), without descending into other mounts and
// skipping the paths in keep (e.g. the new root's mount point). Errors are
// collected, not fatal: memory that cannot be freed is no reason to stop
// a boot.
func FreeInitramfs(root string, dev uint64, keep []string, devOf func(fs.FileInfo) uint64) error {
	var errs []error
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if contains(keep, p) {
				continue
			}
			info, err := os.Lstat(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if devOf(info) != dev {
				continue // another mount: leave it alone
			}
			if info.IsDir() {
				walk(p)
				if err := os.Remove(p); err != nil && !holdsMount(err) {
					errs = append(errs, err)
				}
				continue
			}
			if err := os.Remove(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	walk(root)
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if filepath.Clean(x) == s {
			return true
		}
	}
	return false
}

// holdsMount reports whether a directory could not be removed because a
// mount point (or a busy mount) is inside it, which is expected.
func holdsMount(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EBUSY)
}
