package blockdev

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/netroot/netroot/pkg/sysfs"
)

// Scanner enumerates block devices from sysfs and probes their device
// nodes. Its fields are the seam that lets tests run it against a fake
// tree: with SysRoot and DevRoot in a temporary directory, "device nodes"
// can be plain image files. Use it by pointer: it remembers what it
// probed.
type Scanner struct {
	// SysRoot is where sysfs is mounted ("/sys").
	SysRoot string
	// DevRoot is where device nodes live ("/dev").
	DevRoot string
	// Mknod creates a missing block device node at path. NewScanner sets
	// it to a mknod(2) wrapper; nil means missing nodes are an error.
	Mknod func(path string, major, minor uint32) error

	// mu guards probed: what each device's probe found, so that a device
	// is read once however often Scan runs. On a network disk each read is
	// a round trip to the target, and the last close of a block device
	// drops its page cache, so every probe would read it again.
	mu     sync.Mutex
	probed map[probeKey]probeResult
}

// probeKey identifies the contents a probe read: the same device (name,
// number, sysfs path, size) with the same disk sequence number — the
// kernel gives a disk a new one each time it appears or its medium
// changes; empty on kernels before 5.15.
type probeKey struct {
	name, devPath string
	major, minor  uint32
	size          int64
	diskseq       string
}

// probeResult is what a probe of a device found.
type probeResult struct {
	fsType, label, uuid string
	ptType, ptUUID      string
	table               *PartitionTable
}

func (s *Scanner) key(d *Device, disk string) probeKey {
	seq := s.sys().Value(filepath.Join("class", "block", disk, "diskseq"))
	return probeKey{name: d.Name, devPath: d.DevPath, major: d.Major, minor: d.Minor, size: d.Size, diskseq: seq}
}

func (s *Scanner) cached(k probeKey) (probeResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.probed[k]
	return r, ok
}

// remember keeps a probe's result unless it failed (an I/O error may pass).
func (s *Scanner) remember(k probeKey, d *Device, table *PartitionTable) {
	if d.ProbeError != "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probed == nil {
		s.probed = map[probeKey]probeResult{}
	}
	s.probed[k] = probeResult{fsType: d.FSType, label: d.Label, uuid: d.UUID, ptType: d.PTType, ptUUID: d.PTUUID, table: table}
}

// NewScanner returns a Scanner for the running system: /sys, /dev, and
// mknod(2) for missing nodes.
func NewScanner() *Scanner {
	return &Scanner{SysRoot: sysfs.Sys.Root, DevRoot: "/dev", Mknod: mknodBlock}
}

// isSCSIAddress reports whether s is a SCSI address H:C:T:L (four decimal
// numbers), as named in a SCSI disk's sysfs path. (A regexp would be
// compiled in every process's start, the keeper's too, for this.)
func isSCSIAddress(s string) bool {
	parts := strings.Split(s, ":")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// Scan lists every block device in SysRoot/class/block with a non-zero
// size, probes each for a filesystem, reads whole disks' partition tables
// and gives partitions their PARTLABEL/PARTUUID from them. Problems with
// one device are recorded in its ProbeError; only an unreadable sysfs is
// an error. A device probed by an earlier Scan, and unchanged since (same
// number, size and disk sequence number), is not read again; one whose
// probe failed is. Scan may be called from several goroutines.
func (s *Scanner) Scan() ([]Device, error) {
	classDir := filepath.Join(s.SysRoot, "class", "block")
	entries, err := os.ReadDir(classDir)
	if err != nil {
		return nil, fmt.Errorf("scan block devices: list %s (is sysfs mounted?): %w", classDir, err)
	}
	var disks, parts []Device
	for _, e := range entries {
		d, ok := s.readSysfs(classDir, e.Name())
		if !ok {
			continue
		}
		if d.IsPartition() {
			parts = append(parts, d)
		} else {
			disks = append(disks, d)
		}
	}
	tables := map[string]*PartitionTable{}
	scsi := map[string]string{}
	byPath := map[string]string{}
	wwid := map[string]string{}
	for i := range disks {
		d := &disks[i]
		if d.SCSIAddress != "" {
			// The kernel read the VPD pages when it found the disk:
			// no I/O to the target here.
			id, _ := ReadIdentity(os.DirFS(s.SysRoot), d.Name)
			d.WWID = id.WWID
		}
		scsi[d.Name] = d.SCSIAddress
		d.ByPath = s.iscsiPath(d)
		byPath[d.Name] = d.ByPath
		wwid[d.Name] = d.WWID
		k := s.key(d, d.Name)
		if r, ok := s.cached(k); ok {
			d.FSType, d.Label, d.UUID, d.PTType, d.PTUUID = r.fsType, r.label, r.uuid, r.ptType, r.ptUUID
			if r.table != nil {
				tables[d.Name] = r.table
			}
			continue
		}
		ss := s.logicalBlockSize(d.Name)
		var table *PartitionTable
		s.probe(d, func(f *os.File) {
			pt, err := ReadPartitionTable(f, d.Size, ss)
			if err == nil {
				table = pt
				d.PTType, d.PTUUID = pt.Type, pt.UUID
				return
			}
			if !errors.Is(err, ErrNoPartitionTable) {
				d.ProbeError = err.Error()
			}
			probeFSInto(d, f)
		})
		if table != nil {
			tables[d.Name] = table
		}
		s.remember(k, d, table)
	}
	for i := range parts {
		p := &parts[i]
		if p.SCSIAddress == "" {
			p.SCSIAddress = scsi[p.Parent]
		}
		if bp := byPath[p.Parent]; bp != "" {
			p.ByPath = bp + "-part" + strconv.Itoa(p.PartNumber)
		}
		p.WWID = wwid[p.Parent]
		if pt := tables[p.Parent]; pt != nil {
			for _, e := range pt.Partitions {
				if e.Number == p.PartNumber {
					p.PartLabel, p.PartUUID = e.Name, e.UUID
					break
				}
			}
		}
		k := s.key(p, p.Parent)
		if r, ok := s.cached(k); ok {
			p.FSType, p.Label, p.UUID = r.fsType, r.label, r.uuid
			continue
		}
		s.probe(p, func(f *os.File) { probeFSInto(p, f) })
		s.remember(k, p, nil)
	}
	all := append(disks, parts...)
	out := all[:0]
	for _, d := range all {
		// RAM disks are noise in listings unless someone put a
		// filesystem on one.
		if (strings.HasPrefix(d.Name, "ram") || strings.HasPrefix(d.Name, "zram")) && d.FSType == "" {
			continue
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return lessName(out[i].Name, out[j].Name) })
	return out, nil
}

// lessName orders sda < sda1 < sda2 < sda10 < sdb.
func lessName(a, b string) bool {
	ta, na := splitTrailingNumber(a)
	tb, nb := splitTrailingNumber(b)
	if ta != tb {
		return ta < tb
	}
	return na < nb
}

func splitTrailingNumber(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil {
		return s, -1
	}
	return s[:i], n
}

func probeFSInto(d *Device, f *os.File) {
	info, err := ProbeFS(f, d.Size)
	if err != nil {
		if !errors.Is(err, ErrNoFilesystem) && d.ProbeError == "" {
			d.ProbeError = err.Error()
		}
		return
	}
	d.FSType, d.Label, d.UUID = info.Type, info.Label, info.UUID
}

// readSysfs fills a Device from SysRoot/class/block/name. ok is false for
// devices to skip (size 0, unreadable).
func (s *Scanner) readSysfs(classDir, name string) (Device, bool) {
	d := Device{Name: name, Path: s.nodePath(name)}
	dir := filepath.Join(classDir, name)
	if link, err := os.Readlink(dir); err == nil {
		if !filepath.IsAbs(link) {
			link = filepath.Join(classDir, link)
		}
		dir = filepath.Clean(link)
		if rel, err := filepath.Rel(s.SysRoot, dir); err == nil && !strings.HasPrefix(rel, "..") {
			d.DevPath = "/" + filepath.ToSlash(rel)
		}
	}
	attrs := sysfs.FS{Root: dir} // the device's own attributes
	sizeStr, err := attrs.ReadTrim("size")
	if err != nil {
		return d, false
	}
	sectors, err := strconv.ParseInt(sizeStr, 10, 64)
	if err != nil || sectors <= 0 || sectors > 1<<54 {
		return d, false
	}
	d.Size = sectors * 512
	if dev, err := attrs.ReadTrim("dev"); err == nil {
		ma, mi, ok := strings.Cut(dev, ":")
		maj, err1 := strconv.ParseUint(ma, 10, 32)
		min, err2 := strconv.ParseUint(mi, 10, 32)
		if ok && err1 == nil && err2 == nil {
			d.Major, d.Minor = uint32(maj), uint32(min)
		}
	}
	if ro, err := attrs.ReadTrim("ro"); err == nil {
		d.ReadOnly = ro == "1"
	}
	if p, err := attrs.ReadTrim("partition"); err == nil {
		n, err := strconv.Atoi(p)
		if err == nil && n > 0 {
			d.PartNumber = n
			if d.DevPath != "" {
				d.Parent = filepath.Base(filepath.Dir(d.DevPath))
			}
		}
	}
	if d.DevPath != "" {
		parts := strings.Split(d.DevPath, "/")
		for _, c := range parts {
			if isSCSIAddress(c) {
				d.SCSIAddress = c
			}
		}
	}
	return d, true
}

// iscsiPath returns the by-path name of a disk of an iSCSI session, as
// udev's path_id computes it: the session's target name, its first
// connection's persistent address and port, and the LUN; "" for other
// disks.
func (s *Scanner) iscsiPath(d *Device) string {
	session := ""
	for _, c := range strings.Split(d.DevPath, "/") {
		if n, ok := strings.CutPrefix(c, "session"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			session = c
		}
	}
	_, _, _, lun, ok := d.SCSI()
	if session == "" || !ok {
		return ""
	}
	target, err1 := s.sys().ReadTrim(filepath.Join("class", "iscsi_session", session, "targetname"))
	conn := filepath.Join("class", "iscsi_connection", "connection"+strings.TrimPrefix(session, "session")+":0")
	addr, err2 := s.sys().ReadTrim(filepath.Join(conn, "persistent_address"))
	portStr, err3 := s.sys().ReadTrim(filepath.Join(conn, "persistent_port"))
	port, err4 := strconv.Atoi(portStr)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || target == "" || addr == "" {
		return ""
	}
	return ISCSIPath{Address: addr, Port: port, Target: target, LUN: uint64(lun)}.String()
}

func (s *Scanner) nodePath(name string) string {
	return filepath.Join(s.DevRoot, strings.ReplaceAll(name, "!", "/"))
}

// logicalBlockSize reads queue/logical_block_size of a disk, 0 if unknown.
func (s *Scanner) logicalBlockSize(disk string) int {
	v, err := s.sys().ReadTrim(filepath.Join("class", "block", disk, "queue", "logical_block_size"))
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 512 || n > 65536 || n&(n-1) != 0 {
		return 0
	}
	return n
}

// probe opens d's node (creating it if missing) and runs fn on it.
func (s *Scanner) probe(d *Device, fn func(*os.File)) {
	f, err := s.openNode(d)
	if err != nil {
		d.ProbeError = err.Error()
		return
	}
	defer f.Close()
	fn(f)
}

func (s *Scanner) openNode(d *Device) (*os.File, error) {
	f, err := os.Open(d.Path)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err // *PathError: already names the path
	}
	if s.Mknod == nil {
		return nil, fmt.Errorf("open %s: node missing and no mknod configured: %w", d.Path, err)
	}
	if d.Major == 0 && d.Minor == 0 {
		return nil, fmt.Errorf("open %s: node missing and sysfs gave no device number: %w", d.Path, err)
	}
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o755); err != nil {
		return nil, fmt.Errorf("create node directory for %s: %w", d.Path, err)
	}
	if err := s.Mknod(d.Path, d.Major, d.Minor); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create node %s (%d:%d): %w", d.Path, d.Major, d.Minor, err)
	}
	f, err = os.Open(d.Path)
	if err != nil {
		return nil, fmt.Errorf("open %s after mknod: %w", d.Path, err)
	}
	return f, nil
}

// sys is the sysfs tree at SysRoot.
func (s *Scanner) sys() sysfs.FS { return sysfs.FS{Root: s.SysRoot} }
