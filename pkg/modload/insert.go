package modload

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/prio"
	"github.com/netroot/netroot/pkg/sysfs"
)

// This file is the insert of one module: the file (decompressed in memory
// when it must be), its parameters, the system call, and what its errno
// means.

// insert loads one module's file with its parameters.
func (l *Loader) insert(name string) error {
	m := l.Index.modules[name]
	path := filepath.FromSlash(m.Path)
	if !filepath.IsAbs(path) { // old depmods wrote absolute paths
		path = filepath.Join(l.Index.Dir, path)
	}
	params := strings.Join(l.insertParams(name), " ")
	begin := time.Now()
	err := l.insertFile(path, params)
	if err == nil || errors.Is(err, syscall.EEXIST) {
		t := since("module", name, begin)
		t.background = l.niced()
		l.logf("modload: loaded %s (%.3fs)", t, t.d.Seconds())
		return nil
	}
	ie := &insertError{err: err, path: path, params: params}
	if errors.Is(err, syscall.ENOEXEC) {
		if rel, rerr := os.ReadFile(filepath.Join(l.procRoot(), "sys", "kernel", "osrelease")); rerr == nil {
			ie.release = strings.TrimSpace(string(rel))
		}
	}
	// LoadError keeps the bare cause in Err and the hint apart (Hint).
	return &LoadError{Module: name, Path: path, Err: err, HintText: ie.Hint()}
}

// insertParams returns the parameters to insert the module name with: its
// Params, and async_probe when AsyncProbe is set and they do not say.
func (l *Loader) insertParams(name string) []string {
	p := l.paramsFor(name)
	if !l.AsyncProbe || HasParam(p, "async_probe") {
		return p
	}
	return append(slices.Clip(p), "async_probe")
}

// HasParam reports whether params ("name=value" or "name") set name.
func HasParam(params []string, name string) bool {
	for _, kv := range params {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

// paramsFor returns the parameters of the module name, whose key in Params
// may be spelt with '-' or '_'.
func (l *Loader) paramsFor(name string) []string {
	if p, ok := l.Params[name]; ok {
		return p
	}
	for k, p := range l.Params {
		if NormalizeName(k) == name {
			return p
		}
	}
	return nil
}

// FinitCompressedFile is finit_module(2)'s MODULE_INIT_COMPRESSED_FILE
// flag: the kernel decompresses the file itself (Linux 5.17 and later built
// with CONFIG_MODULE_DECOMPRESS, in the one format of its
// CONFIG_MODULE_COMPRESS_*, which it names in /sys/module/compression).
const FinitCompressedFile = 0x4

// insertFile loads the module file at path. An uncompressed file goes to
// finit_module(2) (init_module(2) on ENOSYS). A compressed one goes to
// finit_module(2) with FinitCompressedFile when the kernel decompresses
// that format (kernelDecompresses), else it is decompressed in memory and
// handed to init_module(2).
func (l *Loader) insertFile(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c := compressionOf(path)
	if c == compNone {
		err = l.Sys.FinitModule(int(f.Fd()), params, 0)
		if !errors.Is(err, syscall.ENOSYS) {
			return err
		}
		image, err := io.ReadAll(io.LimitReader(f, maxModuleSize))
		if err != nil {
			return err
		}
		return l.Sys.InitModule(image, params)
	}
	if l.kernelDecompresses(c) {
		err := l.Sys.FinitModule(int(f.Fd()), params, FinitCompressedFile)
		// The kernel reports EOPNOTSUPP without the decompressor, and
		// ENOSYS without finit_module: then decompress here after all.
		if !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.ENOSYS) {
			return err
		}
		l.logf("modload: the kernel does not decompress %s (%v): decompressing in /init", path, err)
		l.memory().noKernelDecompress()
	}
	// A background batch's decompression is its work as much as the
	// kernel's part is: it runs at the batch's priority too.
	return l.atPriority(func() error {
		image, release, err := decompressFile(f, c)
		if err != nil {
			return err
		}
		defer release()
		return l.Sys.InitModule(image, params)
	})
}

// atPriority runs f at the priority of l's system calls (Niced's).
func (l *Loader) atPriority(f func() error) error {
	if l.niced() {
		return prio.Run(l.Sys.(Niced).Nice, f)
	}
	return f()
}

// kernelDecompresses reports whether the running kernel decompresses
// modules compressed with c in finit_module(2): it names its one format
// in /sys/module/compression (read once per Loader's memory).
func (l *Loader) kernelDecompresses(c compression) bool {
	m := l.memory()
	m.compOnce.Do(func() {
		data, err := sysfs.FS{Root: l.sysfsRoot()}.Read("module/compression")
		if err != nil {
			return
		}
		if kc, ok := parseCompression(string(data)); ok {
			m.kernelComp.Store(int32(kc))
		}
	})
	return c != compNone && compression(m.kernelComp.Load()) == c
}

// insertError is the failed insert of a module file: the cause (from the
// file, its decompression or the kernel) and what is needed to explain it.
type insertError struct {
	err    error
	path   string
	params string
	// release is the running kernel's release, "" when unknown.
	release string
}

// Error returns the cause's message.
func (e *insertError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e *insertError) Unwrap() error { return e.err }

// Hint explains the cause when it is a known errno or a missing file, or
// returns "".
func (e *insertError) Hint() string {
	var pe *fs.PathError
	if errors.As(e.err, &pe) {
		if errors.Is(e.err, fs.ErrNotExist) {
			return "the module file is missing: was it left out of the initramfs?"
		}
		return ""
	}
	var errno syscall.Errno
	if !errors.As(e.err, &errno) {
		return ""
	}
	switch errno {
	case syscall.ENOEXEC:
		h := "not a module for this kernel: built for another kernel version or architecture?"
		if mi, err := ReadModInfoFile(e.path); err == nil && mi.Vermagic != "" {
			h += fmt.Sprintf(" (module vermagic %q)", mi.Vermagic)
		}
		if e.release != "" {
			h += fmt.Sprintf(" (running kernel %s)", e.release)
		}
		return h
	case syscall.ENOENT:
		return "unknown symbol: a dependency is missing or built for another kernel (see dmesg)"
	case syscall.EBADMSG:
		return "malformed module signature"
	case syscall.EINVAL:
		if e.params != "" {
			return fmt.Sprintf("invalid module or parameter (parameters %q; see dmesg)", e.params)
		}
		return "invalid module (see dmesg)"
	case syscall.ENODEV:
		return "the hardware or CPU feature it drives is absent"
	case syscall.EPERM:
		return "module loading disabled (kernel.modules_disabled, lockdown) or no CAP_SYS_MODULE"
	case syscall.ENOSYS:
		return "the kernel has no loadable module support"
	case syscall.EBUSY:
		return "the module is being loaded or unloaded concurrently"
	}
	return signingHint(errno)
}
