package modload

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxModInfoSize bounds the .modinfo section read from a module; real ones
// are a few KiB (the largest in Debian 6.1 is under 64 KiB).
const maxModInfoSize = 4 << 20

// ModInfo is the metadata a kernel module carries in its .modinfo section.
type ModInfo struct {
	// Name is the module's name (name=), normalised ('-' → '_').
	Name string
	// Depends lists the modules it needs (depends=), normalised, in order.
	Depends []string
	// SoftPre and SoftPost list the soft dependencies (softdep=) to load
	// before and after the module; these are module names or aliases.
	SoftPre, SoftPost []string
	// Aliases lists the alias= patterns (shell globs), in order.
	Aliases []string
	// Vermagic is the vermagic= string, e.g. "6.1.0-56-amd64 SMP preempt …".
	Vermagic string
	// Params lists the parameter descriptions (parm=), "name:description".
	Params []string
}

// ErrNoModInfo is returned by ReadModInfo for an ELF file without a
// .modinfo section: it is not a kernel module.
var ErrNoModInfo = errors.New("no .modinfo section: not a kernel module")

// ReadModInfo reads the .modinfo section of the uncompressed module image r
// of the given size. It never panics on malformed input.
func ReadModInfo(r io.ReaderAt, size int64) (mi *ModInfo, err error) {
	defer func() {
		// debug/elf is hardened, but this runs in PID 1: a malformed
		// file must become an error, never a crash.
		if p := recover(); p != nil {
			mi, err = nil, fmt.Errorf("malformed ELF: %v", p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("reading ELF: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return nil, ErrNoModInfo
	}
	if sec.Flags&elf.SHF_COMPRESSED == 0 && (sec.Offset > uint64(size) || sec.Size > uint64(size)-sec.Offset) {
		return nil, fmt.Errorf(".modinfo section (offset %d, size %d) lies outside the %d-byte file", sec.Offset, sec.Size, size)
	}
	data, err := io.ReadAll(io.LimitReader(sec.Open(), maxModInfoSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading .modinfo: %w", err)
	}
	if len(data) > maxModInfoSize {
		return nil, fmt.Errorf(".modinfo section larger than %d bytes", maxModInfoSize)
	}
	return ParseModInfo(data)
}

// ParseModInfo parses the raw bytes of a .modinfo section: NUL-separated
// key=value strings. Unknown keys are ignored. It returns an error when the
// section names no module (no name= key).
func ParseModInfo(data []byte) (*ModInfo, error) {
	mi := &ModInfo{}
	for _, field := range bytes.Split(data, []byte{0}) {
		key, value, ok := strings.Cut(string(field), "=")
		if !ok {
			continue // padding between entries, or garbage
		}
		switch key {
		case "name":
			mi.Name = NormalizeName(value)
		case "depends":
			for _, d := range strings.Split(value, ",") {
				if d = strings.TrimSpace(d); d != "" {
					mi.Depends = append(mi.Depends, NormalizeName(d))
				}
			}
		case "softdep":
			pre, post := ParseSoftdep(value)
			mi.SoftPre = append(mi.SoftPre, pre...)
			mi.SoftPost = append(mi.SoftPost, post...)
		case "alias":
			if value != "" {
				mi.Aliases = append(mi.Aliases, value)
			}
		case "vermagic":
			mi.Vermagic = value
		case "parm":
			mi.Params = append(mi.Params, value)
		}
	}
	if mi.Name == "" {
		return nil, errors.New(".modinfo has no name= entry")
	}
	return mi, nil
}

// ParseSoftdep parses the value of a softdep (in .modinfo or in
// modules.softdep after the module name): "pre: a b post: c". Names before
// any "pre:"/"post:" keyword are ignored, as kmod does: real modules carry
// such malformed softdeps (cifs has softdep=gcm).
func ParseSoftdep(s string) (pre, post []string) {
	var cur *[]string
	for _, w := range strings.Fields(s) {
		switch w {
		case "pre:":
			cur = &pre
		case "post:":
			cur = &post
		default:
			if cur != nil {
				*cur = append(*cur, w)
			}
		}
	}
	return pre, post
}

// NormalizeName folds a module name the way the kernel does: '-' → '_'.
func NormalizeName(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}

// moduleNameFromPath returns the module name of a file path such as
// "kernel/fs/ext4/ext4.ko" or ".../crc32c-intel.ko.xz", and whether the
// path names a module file at all.
func moduleNameFromPath(p string) (string, bool) {
	base := p
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	for _, ext := range moduleExts {
		if name, ok := strings.CutSuffix(base, ext); ok && name != "" {
			return NormalizeName(name), true
		}
	}
	return "", false
}
