package netname

import (
	"io"
	"io/fs"
	"sync"
)

// maxSnapshotFile bounds what Snapshot keeps of one file: sysfs
// attributes are at most a page, PCI config space 4 KiB.
const maxSnapshotFile = 64 << 10

// Snapshot returns sys with every answer remembered: each file, link,
// directory and file's state is read once. Predictable resolves every
// component of every path it reads, again for each interface and scheme;
// on a slow machine (a CPU emulated by QEMU's TCG, where each system call
// costs) computing the names of a few NICs under several schemes then
// takes seconds. The tree must not change while the snapshot is used:
// take a new one after renaming an interface or when one appears.
func Snapshot(sys fs.FS) fs.FS {
	return &snapshot{fsys: sys, files: map[string]*snapFile{}, lstat: map[string]infoErr{}, stat: map[string]infoErr{},
		links: map[string]linkErr{}, dirs: map[string]dirErr{}}
}

type snapshot struct {
	fsys  fs.FS
	mu    sync.Mutex
	files map[string]*snapFile
	lstat map[string]infoErr
	stat  map[string]infoErr
	links map[string]linkErr
	dirs  map[string]dirErr
}

type infoErr struct {
	fi  fs.FileInfo
	err error
}

type linkErr struct {
	target string
	err    error
}

type dirErr struct {
	es  []fs.DirEntry
	err error
}

// snapFile is a file's remembered content: what opening it and reading
// it to its end (or maxSnapshotFile) gave.
type snapFile struct {
	openErr error
	data    []byte
	readErr error // the error that ended the read, io.EOF for none
	info    fs.FileInfo
}

func (s *snapshot) Open(name string) (fs.File, error) {
	s.mu.Lock()
	sf, ok := s.files[name]
	s.mu.Unlock()
	if !ok {
		sf = s.load(name)
		s.mu.Lock()
		s.files[name] = sf
		s.mu.Unlock()
	}
	if sf.openErr != nil {
		return nil, sf.openErr
	}
	return &snapReader{f: sf}, nil
}

// load opens and reads name from the underlying tree.
func (s *snapshot) load(name string) *snapFile {
	f, err := s.fsys.Open(name)
	if err != nil {
		return &snapFile{openErr: err}
	}
	defer f.Close()
	sf := &snapFile{}
	sf.info, _ = f.Stat()
	buf := make([]byte, 4096)
	for len(sf.data) < maxSnapshotFile {
		n, err := f.Read(buf)
		sf.data = append(sf.data, buf[:n]...)
		if err != nil {
			sf.readErr = err
			break
		}
	}
	if sf.readErr == nil {
		sf.readErr = io.EOF
	}
	return sf
}

func (s *snapshot) Stat(name string) (fs.FileInfo, error) {
	s.mu.Lock()
	r, ok := s.stat[name]
	s.mu.Unlock()
	if !ok {
		r.fi, r.err = fs.Stat(s.fsys, name)
		s.mu.Lock()
		s.stat[name] = r
		s.mu.Unlock()
	}
	return r.fi, r.err
}

func (s *snapshot) Lstat(name string) (fs.FileInfo, error) {
	s.mu.Lock()
	r, ok := s.lstat[name]
	s.mu.Unlock()
	if !ok {
		r.fi, r.err = fs.Lstat(s.fsys, name)
		s.mu.Lock()
		s.lstat[name] = r
		s.mu.Unlock()
	}
	return r.fi, r.err
}

func (s *snapshot) ReadLink(name string) (string, error) {
	s.mu.Lock()
	r, ok := s.links[name]
	s.mu.Unlock()
	if !ok {
		r.target, r.err = fs.ReadLink(s.fsys, name)
		s.mu.Lock()
		s.links[name] = r
		s.mu.Unlock()
	}
	return r.target, r.err
}

func (s *snapshot) ReadDir(name string) ([]fs.DirEntry, error) {
	s.mu.Lock()
	r, ok := s.dirs[name]
	s.mu.Unlock()
	if !ok {
		r.es, r.err = fs.ReadDir(s.fsys, name)
		s.mu.Lock()
		s.dirs[name] = r
		s.mu.Unlock()
	}
	return append([]fs.DirEntry(nil), r.es...), r.err
}

// snapReader reads a remembered file.
type snapReader struct {
	f   *snapFile
	off int
}

func (r *snapReader) Read(b []byte) (int, error) {
	if r.off >= len(r.f.data) {
		return 0, r.f.readErr
	}
	n := copy(b, r.f.data[r.off:])
	r.off += n
	return n, nil
}

func (r *snapReader) Stat() (fs.FileInfo, error) {
	if r.f.info == nil {
		return nil, &fs.PathError{Op: "stat", Err: fs.ErrInvalid}
	}
	return r.f.info, nil
}

func (r *snapReader) Close() error { return nil }
