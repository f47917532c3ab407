package modload

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Module is one loadable module of an Index.
type Module struct {
	// Name is the normalised module name ('-' → '_').
	Name string
	// Path is the module file relative to the tree, slash-separated, e.g.
	// "kernel/fs/ext4/ext4.ko".
	Path string
	// Depends lists the modules it needs loaded first (hard dependencies).
	Depends []string
	// SoftPre and SoftPost list its soft dependencies: module names or
	// aliases to load before and after it.
	SoftPre, SoftPost []string
	// Aliases lists its alias patterns as the module spells them.
	Aliases []string
}

// Alias is one line of modules.alias: a glob pattern and the module that
// provides it.
type Alias struct {
	// Pattern is the alias as the module spells it, e.g.
	// "pci:v00001AF4d*sv*sd*bc*sc*i*".
	Pattern string
	// Module is the normalised name of the module providing it.
	Module string
}

// alias is an alias pattern normalised for matching, with its source.
type alias struct {
	pattern string // normalised ('-' → '_' outside brackets)
	raw     Alias
}

// Index is what depmod knows about a module tree: the loadable modules,
// their dependencies and aliases, and the modules built into the kernel.
// Build it with ScanTree or LoadIndex (or NewIndex); it is read-only
// afterwards and safe for concurrent use.
type Index struct {
	// Dir is the module tree the paths are relative to, e.g.
	// "/lib/modules/6.1.0-56-amd64".
	Dir string

	modules map[string]*Module
	// builtin maps builtin module names to their modules.builtin lines.
	builtin map[string]string
	// builtinAliases are the aliases of builtin modules.
	builtinAliases []alias
	// byPrefix groups the module aliases by their literal prefix, so
	// matching a modalias only tries the patterns that can match it.
	byPrefix map[string][]alias
}

// NewIndex builds an index from modules and builtin module paths (lines of
// modules.builtin such as "kernel/crypto/sha256_generic.ko") and the
// builtin aliases (module name → alias patterns). Module names and
// dependencies are normalised. Two modules with the same name are an error.
func NewIndex(dir string, modules []Module, builtinPaths []string, builtinAliases map[string][]string) (*Index, error) {
	x := &Index{
		Dir:      dir,
		modules:  make(map[string]*Module, len(modules)),
		builtin:  make(map[string]string, len(builtinPaths)),
		byPrefix: make(map[string][]alias),
	}
	for i := range modules {
		m := modules[i] // copy: the index owns its modules
		m.Name = NormalizeName(m.Name)
		m.Depends = normalizeAll(m.Depends)
		if m.Name == "" {
			return nil, fmt.Errorf("module at %q has no name", m.Path)
		}
		if prev, dup := x.modules[m.Name]; dup {
			return nil, fmt.Errorf("module %s found twice: %s and %s", m.Name, prev.Path, m.Path)
		}
		x.modules[m.Name] = &m
		for _, a := range m.Aliases {
			na := normalizeAlias(a)
			pre := literalPrefix(na)
			x.byPrefix[pre] = append(x.byPrefix[pre], alias{na, Alias{a, m.Name}})
		}
	}
	for _, p := range builtinPaths {
		if name, ok := moduleNameFromPath(p); ok {
			x.builtin[name] = p
		}
	}
	for name, as := range builtinAliases {
		for _, a := range as {
			x.builtinAliases = append(x.builtinAliases, alias{normalizeAlias(a), Alias{a, NormalizeName(name)}})
		}
	}
	sort.Slice(x.builtinAliases, func(i, j int) bool {
		a, b := x.builtinAliases[i], x.builtinAliases[j]
		return a.raw.Module < b.raw.Module || a.raw.Module == b.raw.Module && a.raw.Pattern < b.raw.Pattern
	})
	return x, nil
}

func normalizeAll(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, NormalizeName(n))
	}
	return out
}

// Module returns the loadable module called name (normalised first).
func (x *Index) Module(name string) (Module, bool) {
	m, ok := x.modules[NormalizeName(name)]
	if !ok {
		return Module{}, false
	}
	return *m, true
}

// Names returns the names of all loadable modules, sorted.
func (x *Index) Names() []string {
	names := make([]string, 0, len(x.modules))
	for n := range x.modules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IsBuiltin reports whether the module name is built into the kernel.
func (x *Index) IsBuiltin(name string) bool {
	_, ok := x.builtin[NormalizeName(name)]
	return ok
}

// MatchAliases returns the loadable modules with an alias pattern matching
// modalias (a device's modalias, or any alias name such as "crypto-crc32c"),
// sorted by name, each once. Matching is modprobe's: fnmatch(3) globs, with
// '-' and '_' equivalent outside brackets. Builtin modules are not listed.
func (x *Index) MatchAliases(modalias string) []string {
	s := NormalizeName(modalias)
	var out []string
	for l := 0; l <= len(s); l++ {
		for _, a := range x.byPrefix[s[:l]] {
			if globMatch(a.pattern, s) {
				out = append(out, a.raw.Module)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// matchBuiltinAliases returns the builtin modules with an alias matching s.
func (x *Index) matchBuiltinAliases(s string) []string {
	s = NormalizeName(s)
	var out []string
	for _, a := range x.builtinAliases {
		if globMatch(a.pattern, s) {
			out = append(out, a.raw.Module)
		}
	}
	return slices.Compact(out)
}

// ScanTree builds the index of the module tree dir (e.g.
// /lib/modules/6.1.0-56-amd64) from the module files themselves, as depmod
// does: it reads only the .modinfo section of every *.ko, *.ko.xz, *.ko.zst
// and *.ko.gz, with a small pool of workers, plus modules.builtin and
// modules.builtin.modinfo when present.
func ScanTree(dir string) (*Index, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if _, ok := moduleNameFromPath(d.Name()); ok {
				rel, err := filepath.Rel(dir, p)
				if err != nil {
					return err
				}
				paths = append(paths, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scanning module tree %s: %w", dir, err)
	}
	sort.Strings(paths)

	mods := make([]Module, len(paths))
	errs := make([]error, len(paths))
	workers := min(runtime.GOMAXPROCS(0), 8)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				mi, err := ReadModInfoFile(filepath.Join(dir, filepath.FromSlash(paths[i])))
				if err != nil {
					errs[i] = err
					continue
				}
				mods[i] = Module{
					Name:     mi.Name,
					Path:     paths[i],
					Depends:  mi.Depends,
					SoftPre:  mi.SoftPre,
					SoftPost: mi.SoftPost,
					Aliases:  mi.Aliases,
				}
			}
		})
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("scanning module tree %s: %w", dir, err)
	}

	builtinPaths, builtinAliases, err := readBuiltin(dir)
	if err != nil {
		return nil, err
	}
	return NewIndex(dir, mods, builtinPaths, builtinAliases)
}

// LoadIndex builds the index of the module tree dir from depmod's text
// files (modules.dep, modules.alias, modules.softdep, modules.builtin,
// modules.builtin.alias or modules.builtin.modinfo): the fast boot path.
// Without modules.dep it falls back to ScanTree.
func LoadIndex(dir string) (*Index, error) {
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if errors.Is(err, fs.ErrNotExist) {
		return ScanTree(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("loading module index: %w", err)
	}
	alias, err := readOptional(dir, "modules.alias")
	if err != nil {
		return nil, err
	}
	softdep, err := readOptional(dir, "modules.softdep")
	if err != nil {
		return nil, err
	}
	builtinPaths, builtinAliases, err := readBuiltin(dir)
	if err != nil {
		return nil, err
	}
	x, err := indexFromDepmod(dir, dep, alias, softdep, builtinPaths, builtinAliases)
	if err != nil {
		return nil, fmt.Errorf("loading module index of %s: %w", dir, err)
	}
	return x, nil
}

// indexFromDepmod builds an index from the contents of modules.dep,
// modules.alias and modules.softdep (nil when absent) and the builtin set.
func indexFromDepmod(dir string, dep, alias, softdep []byte, builtinPaths []string, builtinAliases map[string][]string) (*Index, error) {
	mods, err := ParseModulesDep(dep)
	if err != nil {
		return nil, fmt.Errorf("modules.dep: %w", err)
	}
	byName := make(map[string]*Module, len(mods))
	for i := range mods {
		byName[mods[i].Name] = &mods[i]
	}
	aliases, err := ParseModulesAlias(alias)
	if err != nil {
		return nil, fmt.Errorf("modules.alias: %w", err)
	}
	for _, a := range aliases {
		if m := byName[a.Module]; m != nil {
			m.Aliases = append(m.Aliases, a.Pattern)
		}
	}
	soft, err := ParseModulesSoftdep(softdep)
	if err != nil {
		return nil, fmt.Errorf("modules.softdep: %w", err)
	}
	for name, sd := range soft {
		if m := byName[name]; m != nil {
			m.SoftPre = append(m.SoftPre, sd.Pre...)
			m.SoftPost = append(m.SoftPost, sd.Post...)
		}
	}
	return NewIndex(dir, mods, builtinPaths, builtinAliases)
}

// readOptional reads dir/name, returning nil data when it does not exist.
func readOptional(dir, name string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading module index: %w", err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// readBuiltin reads modules.builtin and the builtin aliases, from
// modules.builtin.alias when present, else from modules.builtin.modinfo.
func readBuiltin(dir string) (paths []string, aliases map[string][]string, err error) {
	data, err := readOptional(dir, "modules.builtin")
	if err != nil {
		return nil, nil, err
	}
	paths = ParseModulesBuiltin(data)
	aliases = map[string][]string{}
	if data, err := readOptional(dir, "modules.builtin.alias"); err != nil {
		return nil, nil, err
	} else if data != nil {
		as, err := ParseModulesAlias(data)
		if err != nil {
			return nil, nil, fmt.Errorf("loading module index: modules.builtin.alias: %w", err)
		}
		for _, a := range as {
			aliases[a.Module] = append(aliases[a.Module], a.Pattern)
		}
		return paths, aliases, nil
	}
	if data, err := readOptional(dir, "modules.builtin.modinfo"); err != nil {
		return nil, nil, err
	} else if data != nil {
		aliases = ParseBuiltinModinfoAliases(data)
	}
	return paths, aliases, nil
}

// ParseBuiltinModinfoAliases extracts the aliases from the kernel's
// modules.builtin.modinfo: NUL-separated "module.key=value" strings.
func ParseBuiltinModinfoAliases(data []byte) map[string][]string {
	out := map[string][]string{}
	for _, field := range bytes.Split(data, []byte{0}) {
		kv, value, ok := strings.Cut(string(field), "=")
		if !ok {
			continue
		}
		mod, key, ok := strings.Cut(kv, ".")
		if !ok || key != "alias" || mod == "" || value == "" {
			continue
		}
		mod = NormalizeName(mod)
		out[mod] = append(out[mod], value)
	}
	return out
}

// WithPaths returns a copy of x whose module paths are rename's of x's:
// the index of a copy of the tree whose files were renamed as they were
// (de)compressed, for WriteDepmodFiles — e.g. WithPaths(UncompressedPath)
// names "kernel/fs/ext4/ext4.ko" for "kernel/fs/ext4/ext4.ko.xz" (netroot
// build decompresses modules so). Its Dir is x's, whose files keep their
// names.
func (x *Index) WithPaths(rename func(path string) string) *Index {
	y := *x
	y.modules = make(map[string]*Module, len(x.modules))
	for n, m := range x.modules {
		c := *m
		c.Path = rename(m.Path)
		y.modules[n] = &c
	}
	return &y
}
