package switchroot

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

// MaxPrefetchFiles bounds the files PrefetchList returns.
const MaxPrefetchFiles = 32

// multiarch is the Debian multiarch directory name of each GOARCH, where
// the new root keeps its shared libraries (/lib/x86_64-linux-gnu …).
var multiarch = map[string]string{
	"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "386": "i386-linux-gnu",
	"arm": "arm-linux-gnueabihf", "riscv64": "riscv64-linux-gnu", "ppc64le": "powerpc64le-linux-gnu",
	"s390x": "s390x-linux-gnu", "loong64": "loongarch64-linux-gnu",
}

// libraryDirs are the directories the dynamic loader searches by default
// (after an object's DT_RUNPATH), inside the new root.
func libraryDirs() []string {
	var dirs []string
	if t := multiarch[runtime.GOARCH]; t != "" {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

// PrefetchList returns the files exec of init will read inside newRoot:
// init itself (symlinks resolved), then, for a dynamically linked ELF
// program, its interpreter and the shared libraries it needs, transitively
// (DT_RUNPATH/DT_RPATH with $ORIGIN, then the default library
// directories), at most MaxPrefetchFiles in all. Paths are inside newRoot.
// A library that cannot be found or parsed is skipped: the list is a
// hint for the page cache, exec reports what is really missing.
func PrefetchList(newRoot, init string) ([]string, error) {
	p, err := ResolveInit(newRoot, init)
	if err != nil {
		return nil, err
	}
	out := []string{p}
	seen := map[string]bool{p: true}
	add := func(q string) bool {
		if seen[q] || len(out) >= MaxPrefetchFiles {
			return false
		}
		seen[q] = true
		out = append(out, q)
		return true
	}
	for i := 0; i < len(out); i++ {
		interp, needed, runpath, err := elfDeps(filepath.Join(newRoot, out[i]))
		if err != nil {
			if i == 0 {
				return out, nil // a script or a static program: nothing more
			}
			continue
		}
		if interp != "" {
			if q, err := resolveFile(newRoot, interp); err == nil {
				add(q)
			}
		}
		origin := path.Dir(out[i])
		var dirs []string
		for _, d := range runpath {
			dirs = append(dirs, strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin))
		}
		dirs = append(dirs, libraryDirs()...)
		for _, lib := range needed {
			if strings.Contains(lib, "/") {
				if q, err := resolveFile(newRoot, path.Join(origin, lib)); err == nil {
					add(q)
				}
				continue
			}
			for _, d := range dirs {
				if !path.IsAbs(d) {
					continue
				}
				if q, err := resolveFile(newRoot, path.Join(d, lib)); err == nil {
					add(q)
					break
				}
			}
		}
	}
	return out, nil
}

// Interpreter is the program interpreter (PT_INTERP: the dynamic loader)
// the ELF file needs to run: "" for a static program, and for a file that
// is no ELF (a script).
func Interpreter(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	magic := make([]byte, len(elf.ELFMAG))
	_, err = io.ReadFull(f, magic)
	f.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	if string(magic) != elf.ELFMAG {
		return "", nil
	}
	interp, _, _, err := elfDeps(file)
	return interp, err
}

// elfDeps reads an ELF file's interpreter, DT_NEEDED libraries and
// DT_RUNPATH (or DT_RPATH) directories. A malformed file is an error,
// never a panic.
func elfDeps(file string) (interp string, needed, runpath []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			interp, needed, runpath = "", nil, nil
			err = fmt.Errorf("%s: malformed ELF: %v", file, r)
		}
	}()
	f, err := elf.Open(file)
	if err != nil {
		return "", nil, nil, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP || p.Filesz == 0 || p.Filesz > 4096 {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err == nil {
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if f.Section(".dynamic") == nil && interp == "" {
		return "", nil, nil, nil
	}
	// A compressed section is inflated to the size its header claims,
	// whatever the file's: a small file could take all the memory.
	// Linkers never compress the dynamic section or its strings.
	if ds := f.SectionByType(elf.SHT_DYNAMIC); ds != nil {
		if ds.Flags&elf.SHF_COMPRESSED != 0 ||
			(int(ds.Link) < len(f.Sections) && f.Sections[ds.Link].Flags&elf.SHF_COMPRESSED != 0) {
			return interp, nil, nil, fmt.Errorf("%s: malformed ELF: compressed dynamic section", file)
		}
	}
	needed, _ = f.ImportedLibraries()
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		if v, err := f.DynString(tag); err == nil && len(v) > 0 {
			for _, s := range v {
				runpath = append(runpath, strings.Split(s, ":")...)
			}
			break
		}
	}
	return interp, needed, runpath, nil
}

// resolveFile follows symlinks of p inside root and returns the path of
// the regular file it names.
func resolveFile(root, p string) (string, error) {
	q, st, err := resolveIn(root, p)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", q)
	}
	return q, nil
}
