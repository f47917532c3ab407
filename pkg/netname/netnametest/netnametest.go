// Package netnametest builds the sysfs trees netname's tests run on from
// their text form (pkg/netname/testdata/*.sysfs): one entry a line,
//
//	d PATH          a directory
//	l PATH TARGET   a symbolic link
//	f PATH QUOTED   a file, its content as a Go quoted string
//
// with paths relative to /sys and "#" starting a comment line. Parent
// directories are implied.
package netnametest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"testing/fstest"
)

// Parse builds the tree text describes. A line it cannot read is an error.
func Parse(text string) (fstest.MapFS, error) {
	m := fstest.MapFS{}
	for i, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := add(m, line); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return m, nil
}

func add(m fstest.MapFS, line string) error {
	kind, rest, _ := strings.Cut(line, " ")
	p, val, _ := strings.Cut(rest, " ")
	if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") || p == "." || strings.HasPrefix(p, "../") || p == ".." {
		return fmt.Errorf("bad path in %q", line)
	}
	switch kind {
	case "d":
		if val != "" {
			return fmt.Errorf("a directory has no value: %q", line)
		}
		m[p] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	case "l":
		if val == "" {
			return fmt.Errorf("a link needs a target: %q", line)
		}
		m[p] = &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte(val)}
	case "f":
		s, err := strconv.Unquote(val)
		if err != nil {
			return fmt.Errorf("bad file content in %q: %w", line, err)
		}
		m[p] = &fstest.MapFile{Mode: 0o444, Data: []byte(s)}
	default:
		return fmt.Errorf("unknown entry %q", line)
	}
	return nil
}

// Load reads and parses the file name.
func Load(name string) (fstest.MapFS, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	m, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// Udev is what `udevadm test-builtin net_id` exported, as recorded in
// testdata/*.udev: Props[build][scheme][ifname][key] = value, where build is
// "252" or "257" (the udev that ran) and key an ID_NET_* property.
type Udev struct {
	Props map[string]map[string]map[string]map[string]string
}

// ParseUdev reads a .udev file: "<build> <scheme> <ifname> KEY=VALUE" lines.
func ParseUdev(text string) (Udev, error) {
	u := Udev{Props: map[string]map[string]map[string]map[string]string{}}
	for i, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 4)
		if len(f) != 4 {
			return u, fmt.Errorf("line %d: want <build> <scheme> <ifname> KEY=VALUE: %q", i+1, line)
		}
		k, v, ok := strings.Cut(f[3], "=")
		if !ok {
			return u, fmt.Errorf("line %d: no KEY=VALUE: %q", i+1, line)
		}
		u.Get(f[0], f[1], f[2], true)[k] = v
	}
	return u, nil
}

// Get returns the properties of ifname (nil when none were exported),
// creating the map when create is set.
func (u Udev) Get(build, scheme, ifname string, create bool) map[string]string {
	b := u.Props[build]
	if b == nil {
		if !create {
			return nil
		}
		b = map[string]map[string]map[string]string{}
		u.Props[build] = b
	}
	s := b[scheme]
	if s == nil {
		if !create {
			return nil
		}
		s = map[string]map[string]string{}
		b[scheme] = s
	}
	if s[ifname] == nil && create {
		s[ifname] = map[string]string{}
	}
	return s[ifname]
}

// LoadUdev reads and parses the file name.
func LoadUdev(name string) (Udev, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return Udev{}, err
	}
	u, err := ParseUdev(string(b))
	if err != nil {
		return u, fmt.Errorf("%s: %w", name, err)
	}
	return u, nil
}

// Fast returns m with an index of its paths, so that looking up a path m
// lacks does not scan the whole map as fstest.MapFS does (sysfs lookups
// miss often: a device's parent is found by trying each directory above
// it). m must not change afterwards.
func Fast(m fstest.MapFS) fs.FS {
	f := &fast{m: m, known: map[string]bool{".": true}, links: map[string]bool{}}
	for p, file := range m {
		if file.Mode&fs.ModeSymlink != 0 {
			f.links[p] = true
		}
		for ; p != "." && !f.known[p]; p = path.Dir(p) {
			f.known[p] = true
		}
	}
	return f
}

type fast struct {
	m     fstest.MapFS
	known map[string]bool // every entry and every directory above one
	links map[string]bool
}

// missing reports whether name is surely absent: no entry has that path
// and no symlink lies on the way to it (MapFS would follow one).
func (f *fast) missing(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' && f.links[name[:i]] {
			return false
		}
	}
	return !f.known[name]
}

func notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// maxLinks is how many symbolic links a lookup follows before it fails,
// as the kernel's (ELOOP after 40). fstest.MapFS follows them without
// end: a tree whose links loop (a fuzzed one) hung it.
const maxLinks = 40

// errLoop is the kernel's ELOOP.
var errLoop = errors.New("too many levels of symbolic links")

// loops reports whether looking name up follows more than maxLinks links.
func (f *fast) loops(name string) bool {
	for range maxLinks + 1 {
		next, ok := f.expand(name)
		if !ok {
			return false
		}
		name = next
	}
	return true
}

// expand is one step of fstest.MapFS's symlink resolution: name with the
// first link on its way (itself, or the first directory above it that is
// one) replaced by the link's target; ok is false when there is none to
// follow.
func (f *fast) expand(name string) (string, bool) {
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			continue
		}
		dir := name[:i]
		if file := f.m[dir]; file != nil && file.Mode.Type() == fs.ModeSymlink {
			target := string(file.Data)
			if path.IsAbs(target) {
				return "", false
			}
			return path.Join(path.Dir(dir), target) + name[i:], true
		}
	}
	return "", false
}

// check is the error of looking name up when it is surely absent or its
// links loop, nil when MapFS is to answer. lstat: name itself is not
// followed (Lstat, ReadLink), only the directories above it.
func (f *fast) check(op, name string, lstat bool) error {
	if f.missing(name) {
		return notExist(op, name)
	}
	followed := name
	if lstat {
		followed = path.Dir(name)
	}
	if f.loops(followed) {
		return &fs.PathError{Op: op, Path: name, Err: errLoop}
	}
	return nil
}

func (f *fast) Open(name string) (fs.File, error) {
	if err := f.check("open", name, false); err != nil {
		return nil, err
	}
	return f.m.Open(name)
}

func (f *fast) Stat(name string) (fs.FileInfo, error) {
	if err := f.check("stat", name, false); err != nil {
		return nil, err
	}
	return f.m.Stat(name)
}

func (f *fast) Lstat(name string) (fs.FileInfo, error) {
	if err := f.check("lstat", name, true); err != nil {
		return nil, err
	}
	return f.m.Lstat(name)
}

func (f *fast) ReadLink(name string) (string, error) {
	if err := f.check("readlink", name, true); err != nil {
		return "", err
	}
	return f.m.ReadLink(name)
}

func (f *fast) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.check("readdir", name, false); err != nil {
		return nil, err
	}
	return f.m.ReadDir(name)
}

func (f *fast) ReadFile(name string) ([]byte, error) {
	if err := f.check("readfile", name, false); err != nil {
		return nil, err
	}
	return f.m.ReadFile(name)
}
