package netname

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// sysfs reads a sysfs tree given as an fs.FS rooted at /sys the way udev's
// sd-device does: symlinks are resolved inside the tree, a device is a
// directory under devices/ holding a uevent file, its parent is the nearest
// such directory above it, its subsystem is the name its subsystem link
// points to, and an attribute's value is the file's content without its
// trailing newlines.
type sysfs struct {
	fsys fs.FS
	// resolved caches resolve's answers: every attribute read resolves its
	// device's directory again.
	resolved map[string]string
}

func newSysfs(fsys fs.FS) sysfs {
	return sysfs{fsys: fsys, resolved: map[string]string{}}
}

// maxLinks bounds the symlinks followed while resolving one path, as the
// kernel's ELOOP does.
const maxLinks = 40

// maxAttr bounds how much of an attribute is read: sysfs attributes are at
// most a page.
const maxAttr = 4096

var errEscapes = errors.New("symlink leads outside /sys")

// resolve returns p (relative to /sys) with every symlink in it resolved.
func (s sysfs) resolve(p string) (string, error) {
	if r, ok := s.resolved[p]; ok {
		return r, nil
	}
	r, err := s.resolveN(p, new(int))
	if err == nil && s.resolved != nil {
		s.resolved[p] = r
	}
	return r, err
}

func (s sysfs) resolveN(p string, links *int) (string, error) {
	var done []string
	rest := splitPath(p)
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", fmt.Errorf("%s: %w", p, errEscapes)
			}
			done = done[:len(done)-1]
			continue
		}
		cur := strings.Join(append(done, c), "/")
		fi, err := fs.Lstat(s.fsys, cur)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if *links++; *links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := fs.ReadLink(s.fsys, cur)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			// An absolute link means the real /sys; nothing else is in the tree.
			t, ok := strings.CutPrefix(target, "/sys/")
			if !ok && target != "/sys" {
				return "", fmt.Errorf("%s -> %s: %w", cur, target, errEscapes)
			}
			done = nil
			target = t
		}
		rest = append(splitPath(target), rest...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return strings.Join(done, "/"), nil
}

func splitPath(p string) []string {
	var out []string
	for c := range strings.SplitSeq(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// device is one sysfs device, by its resolved path (e.g.
// "devices/pci0000:00/0000:00:02.0").
type device struct {
	s    sysfs
	path string
}

// deviceAt returns the device at p (resolving symlinks), which must be a
// device directory under devices/.
func (s sysfs) deviceAt(p string) (device, error) {
	r, err := s.resolve(p)
	if err != nil {
		return device{}, err
	}
	if !s.isDevice(r) {
		return device{}, fmt.Errorf("%s is not a device (no %s/uevent): %w", p, r, fs.ErrNotExist)
	}
	return device{s, r}, nil
}

func (s sysfs) isDevice(p string) bool {
	if !strings.HasPrefix(p, "devices/") {
		return false
	}
	fi, err := fs.Stat(s.fsys, p+"/uevent")
	return err == nil && fi.Mode().IsRegular()
}

// sysname is the device's directory name, e.g. "0000:00:02.0".
func (d device) sysname() string { return path.Base(d.path) }

// parent returns the nearest device above d.
func (d device) parent() (device, bool) {
	for p := path.Dir(d.path); strings.HasPrefix(p, "devices/"); p = path.Dir(p) {
		if d.s.isDevice(p) {
			return device{d.s, p}, true
		}
	}
	return device{}, false
}

// parentIn returns the nearest device above d in subsystem sub and, when
// devtype is not "", of that DEVTYPE.
func (d device) parentIn(sub, devtype string) (device, bool) {
	for p, ok := d.parent(); ok; p, ok = p.parent() {
		if p.subsystem() == sub && (devtype == "" || p.uevent("DEVTYPE") == devtype) {
			return p, true
		}
	}
	return device{}, false
}

// subsystem is the name the device's subsystem link points to ("" when it
// has none).
func (d device) subsystem() string {
	t, err := fs.ReadLink(d.s.fsys, d.path+"/subsystem")
	if err != nil {
		return ""
	}
	return path.Base(t)
}

// uevent returns the value of key in the device's uevent file.
func (d device) uevent(key string) string {
	b, err := d.s.read(d.path + "/uevent")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// attr returns the attribute name (which may be a path below the device,
// e.g. "firmware_node/sun") without its trailing newlines. A symlink's value
// is the name it points to, as sd-device gives it.
func (d device) attr(name string) (string, error) {
	p := d.path + "/" + name
	dir, err := d.s.resolve(path.Dir(p))
	if err != nil {
		return "", err
	}
	p = dir + "/" + path.Base(p)
	fi, err := fs.Lstat(d.s.fsys, p)
	if err != nil {
		return "", err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := fs.ReadLink(d.s.fsys, p)
		if err != nil {
			return "", err
		}
		return path.Base(t), nil
	case fi.IsDir():
		return "", fmt.Errorf("%s is a directory", p)
	}
	b, err := d.s.read(p)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n\r"), nil
}

// read returns at most maxAttr bytes of the file p.
func (s sysfs) read(p string) ([]byte, error) {
	return s.readN(p, maxAttr)
}

// readN returns at most max bytes of the file p.
func (s sysfs) readN(p string, max int) ([]byte, error) {
	f, err := s.fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, max)
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			// e.g. EOPNOTSUPP from phys_port_name: the attribute is absent.
			return nil, err
		}
	}
	return buf[:n], nil
}

// child returns the device a link of d (e.g. "physfn") points to.
func (d device) child(link string) (device, bool) {
	c, err := d.s.deviceAt(d.path + "/" + link)
	return c, err == nil
}

// entries returns the names of d's entries that start with prefix, sorted.
func (d device) entries(prefix string) []string {
	es, err := fs.ReadDir(d.s.fsys, d.path)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range es {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}
