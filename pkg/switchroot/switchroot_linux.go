package switchroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Filesystem magics an initramfs can be on.
const (
	ramfsMagic = 0x858458f6
	tmpfsMagic = 0x01021994
)

// SwitchRoot moves to opts.NewRoot and executes its init. It returns only
// on failure; failures before the point of no return leave the initramfs
// intact.
func SwitchRoot(opts Options) error {
	if opts.Init == "" {
		opts.Init = "/sbin/init"
	}
	if len(opts.Moves) == 0 {
		opts.Moves = []string{"/dev", "/proc", "/sys", "/run"}
	}
	// Checks first: nothing has changed yet when they fail.
	var rootSt, newSt unix.Stat_t
	if err := unix.Stat("/", &rootSt); err != nil {
		return fmt.Errorf("stat /: %w", err)
	}
	if err := unix.Stat(opts.NewRoot, &newSt); err != nil {
		return fmt.Errorf("stat %s: %w", opts.NewRoot, err)
	}
	if rootSt.Dev == newSt.Dev {
		return fmt.Errorf("%s is not a mount point: the root was not mounted", opts.NewRoot)
	}
	initPath, err := ResolveInit(opts.NewRoot, opts.Init)
	if err != nil {
		return err
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs("/", &sfs); err != nil {
		return fmt.Errorf("statfs /: %w", err)
	}
	onInitramfs := sfs.Type == ramfsMagic || sfs.Type == tmpfsMagic

	for _, m := range opts.Moves {
		dst := filepath.Join(opts.NewRoot, m)
		if _, err := os.Stat(dst); errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(dst, 0o755); err != nil {
				return fmt.Errorf("the new root has no %s to move %s onto: %w", dst, m, err)
			}
		}
		if err := unix.Mount(m, dst, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("moving %s to %s: %w", m, dst, err)
		}
	}

	// Point of no return.
	if err := unix.Chdir(opts.NewRoot); err != nil {
		return fmt.Errorf("chdir %s: %w", opts.NewRoot, err)
	}
	if onInitramfs {
		// Errors only cost memory; carry on.
		FreeInitramfs("/", uint64(rootSt.Dev), append([]string{filepath.Clean(opts.NewRoot)}, opts.Keep...), devOf)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving %s to /: %w", opts.NewRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	argv := append([]string{opts.Init}, opts.Args...)
	env := opts.Env
	if env == nil {
		env = Env(os.Environ())
	}
	err = unix.Exec(initPath, argv, env)
	return fmt.Errorf("executing %s: %w", initPath, err)
}

func devOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
}

// prefetchChunk is the span of one readahead request: the kernel caps a
// POSIX_FADV_WILLNEED at the device's readahead window, so a file is asked
// for chunk by chunk.
const prefetchChunk = 256 << 10

// maxPrefetchBytes bounds what Prefetch asks for in all.
const maxPrefetchBytes = 64 << 20

// Prefetch asks the kernel to read the files exec of init will need (see
// PrefetchList) into the page cache, without waiting for the reads: on a
// network root the page faults of the new init then find memory instead
// of a round trip each. It returns the files asked for. Call it once the
// root is mounted, on its own goroutine; errors only cost time.
func Prefetch(newRoot, init string) ([]string, error) {
	files, err := PrefetchList(newRoot, init)
	if err != nil {
		return nil, err
	}
	var total int64
	var errs []error
	for _, p := range files {
		f, err := os.Open(filepath.Join(newRoot, p))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st, err := f.Stat(); err == nil {
			size := st.Size()
			for off := int64(0); off < size && total < maxPrefetchBytes; off += prefetchChunk {
				if err := unix.Fadvise(int(f.Fd()), off, prefetchChunk, unix.FADV_WILLNEED); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", p, err))
					break
				}
				total += prefetchChunk
			}
		}
		f.Close()
	}
	return files, errors.Join(errs...)
}
