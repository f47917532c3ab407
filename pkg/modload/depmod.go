package modload

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// This file reads and writes depmod(8)'s text files:
//
//	modules.dep          kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko …
//	modules.alias        alias fs-ext4 ext4
//	modules.softdep      softdep ext4 pre: crypto-crc32c
//	modules.builtin      kernel/crypto/sha256_generic.ko
//	modules.builtin.alias alias crypto-sha256 sha256_generic
//
// Lines starting with '#' and blank lines are ignored.

// Softdep is a module's soft dependencies, as in modules.softdep.
type Softdep struct {
	// Pre and Post are the module names or aliases to load before and
	// after the module.
	Pre, Post []string
}

// lines calls fn with each non-blank, non-comment line and its number.
func lines(data []byte, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}

// ParseModulesDep parses modules.dep: "path: dep-path dep-path …" per
// module. The modules get Name, Path and Depends (the names of the listed
// dependencies, which depmod writes transitively closed).
func ParseModulesDep(data []byte) ([]Module, error) {
	var mods []Module
	err := lines(data, func(_ int, line string) error {
		path, deps, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("%q: missing ':' after the module path", line)
		}
		path = strings.TrimSpace(path)
		name, ok := moduleNameFromPath(path)
		if !ok {
			return fmt.Errorf("%q is not a module file (.ko, .ko.xz, .ko.zst, .ko.gz)", path)
		}
		m := Module{Name: name, Path: path}
		for _, d := range strings.Fields(deps) {
			dn, ok := moduleNameFromPath(d)
			if !ok {
				return fmt.Errorf("dependency %q of %s is not a module file", d, name)
			}
			m.Depends = append(m.Depends, dn)
		}
		mods = append(mods, m)
		return nil
	})
	return mods, err
}

// ParseModulesAlias parses modules.alias (or modules.builtin.alias):
// "alias PATTERN MODULE" per line.
func ParseModulesAlias(data []byte) ([]Alias, error) {
	var out []Alias
	err := lines(data, func(_ int, line string) error {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return fmt.Errorf("%q: want \"alias PATTERN MODULE\"", line)
		}
		out = append(out, Alias{Pattern: f[1], Module: NormalizeName(f[2])})
		return nil
	})
	return out, err
}

// ParseModulesSoftdep parses modules.softdep: "softdep MODULE pre: … post: …"
// per line, merged per module.
func ParseModulesSoftdep(data []byte) (map[string]Softdep, error) {
	out := map[string]Softdep{}
	err := lines(data, func(_ int, line string) error {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "softdep" {
			return fmt.Errorf("%q: want \"softdep MODULE pre: … post: …\"", line)
		}
		pre, post := ParseSoftdep(strings.Join(f[2:], " "))
		name := NormalizeName(f[1])
		sd := out[name]
		sd.Pre = append(sd.Pre, pre...)
		sd.Post = append(sd.Post, post...)
		out[name] = sd
		return nil
	})
	return out, err
}

// ParseModulesBuiltin parses modules.builtin: one module path per line.
// Lines that are not module paths are skipped.
func ParseModulesBuiltin(data []byte) []string {
	var out []string
	_ = lines(data, func(_ int, line string) error {
		if _, ok := moduleNameFromPath(line); ok {
			out = append(out, line)
		}
		return nil
	})
	return out
}

// WriteDepmodFiles writes depmod's text files for the modules named in
// subset (every module when subset is empty) by calling w with each file
// name and content: modules.dep, modules.alias, modules.softdep,
// modules.builtin and modules.builtin.alias. The output is sorted and
// byte-for-byte reproducible. Builtin names in subset are skipped; an
// unknown name, or a module whose hard dependency is not in subset, is an
// error (the initramfs would be unable to load it). Soft dependencies
// outside the subset are written as they are and ignored at load time.
// modules.order and the binary .bin indexes are not written.
func (x *Index) WriteDepmodFiles(w func(name string, data []byte) error, subset []string) error {
	in := map[string]bool{}
	if len(subset) == 0 {
		for n := range x.modules {
			in[n] = true
		}
	}
	for _, s := range subset {
		n := NormalizeName(s)
		switch {
		case x.modules[n] != nil:
			in[n] = true
		case x.IsBuiltin(n):
		default:
			return fmt.Errorf("writing depmod files: %s", x.unknownModule(n))
		}
	}
	names := make([]string, 0, len(in))
	for n := range in {
		for _, d := range x.modules[n].Depends {
			if !in[d] && !x.IsBuiltin(d) {
				return fmt.Errorf("writing depmod files: module %s depends on %s, which is not in the subset", n, d)
			}
		}
		names = append(names, n)
	}
	// depmod lists modules in modules.order order; path order is the
	// closest reproducible stand-in.
	sort.Slice(names, func(i, j int) bool { return x.modules[names[i]].Path < x.modules[names[j]].Path })

	var dep, al, soft bytes.Buffer
	al.WriteString("# Aliases extracted from modules themselves.\n")
	soft.WriteString("# Soft dependencies extracted from modules themselves.\n")
	for _, n := range names {
		m := x.modules[n]
		closure, err := x.depClosure(n)
		if err != nil {
			return fmt.Errorf("writing depmod files: %w", err)
		}
		dep.WriteString(m.Path)
		dep.WriteByte(':')
		// depmod writes the closure so that loading from the last entry
		// to the first is a valid order.
		for i := len(closure) - 1; i >= 0; i-- {
			dep.WriteByte(' ')
			dep.WriteString(x.modules[closure[i]].Path)
		}
		dep.WriteByte('\n')
		for _, a := range m.Aliases {
			fmt.Fprintf(&al, "alias %s %s\n", a, n)
		}
		if len(m.SoftPre)+len(m.SoftPost) > 0 {
			fmt.Fprintf(&soft, "softdep %s", n)
			if len(m.SoftPre) > 0 {
				fmt.Fprintf(&soft, " pre: %s", strings.Join(m.SoftPre, " "))
			}
			if len(m.SoftPost) > 0 {
				fmt.Fprintf(&soft, " post: %s", strings.Join(m.SoftPost, " "))
			}
			soft.WriteByte('\n')
		}
	}

	var builtin, balias bytes.Buffer
	paths := make([]string, 0, len(x.builtin))
	for _, p := range x.builtin {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		builtin.WriteString(p)
		builtin.WriteByte('\n')
	}
	balias.WriteString("# Aliases for built-in modules.\n")
	for _, a := range x.builtinAliases {
		fmt.Fprintf(&balias, "alias %s %s\n", a.raw.Pattern, a.raw.Module)
	}

	for _, f := range []struct {
		name string
		data []byte
	}{
		{"modules.dep", dep.Bytes()},
		{"modules.alias", al.Bytes()},
		{"modules.softdep", soft.Bytes()},
		{"modules.builtin", builtin.Bytes()},
		{"modules.builtin.alias", balias.Bytes()},
	} {
		if err := w(f.name, f.data); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	return nil
}

// depClosure returns the transitive hard dependencies of the module name
// (not including it) in a valid load order, dependencies first, ties broken
// by name. Builtin dependencies are left out; unknown ones and cycles are
// errors.
func (x *Index) depClosure(name string) ([]string, error) {
	const (
		white = iota
		grey
		black
	)
	state := map[string]int{}
	var order, stack []string
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case grey:
			i := slices.Index(stack, n)
			return fmt.Errorf("dependency cycle: %s", strings.Join(append(slices.Clone(stack[i:]), n), " → "))
		case black:
			return nil
		}
		state[n] = grey
		stack = append(stack, n)
		deps := slices.Clone(x.modules[n].Depends)
		sort.Strings(deps)
		for _, d := range deps {
			if x.modules[d] == nil {
				if x.IsBuiltin(d) {
					continue
				}
				return fmt.Errorf("module %s depends on %s, which is not in the index", n, d)
			}
			if err := visit(d); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = black
		order = append(order, n)
		return nil
	}
	if err := visit(name); err != nil {
		return nil, err
	}
	return order[:len(order)-1], nil
}
