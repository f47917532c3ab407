package keeper

import (
	"fmt"
	"io/fs"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/sysfs"
)

// The sysfs side of the joins (join_linux.go): the session a keeper made
// before it was restarted, and a join's disk. Both read an fs.FS rooted
// where sysfs is mounted (sysfs.FS reached by its descriptor, or a
// fstest.MapFS in the tests).

// findSession returns the kernel session made for j before, if there is
// one: a session of j's target (/sys/class/iscsi_session/session<SID>/
// targetname) logged in with j's ISID — or, where the kernel did not
// take the ISID /init set (its isid shows zeros), one whose
// connection's persistent address is one of j's portals
// (iscsi_connection/connection<SID>:<CID>/persistent_{address,port}).
// Its SCSI host is the scsi_host/host<H> whose device holds it. taken
// is asked last, about a session that matches: true skips it (kept, or
// adopted by another join already).
func findSession(sys fs.FS, j Join, taken func(sid uint32) bool) (iscsi.KernelSession, bool) {
	sessions, err := fs.ReadDir(sys, "class/iscsi_session")
	if err != nil {
		return iscsi.KernelSession{}, false
	}
	conns, _ := fs.ReadDir(sys, "class/iscsi_connection")
	for _, e := range sessions {
		sid, ok := numbered(e.Name(), "session")
		if !ok {
			continue
		}
		dir := "class/iscsi_session/" + e.Name()
		if sysfs.ValueOf(sys, dir+"/targetname") != j.TargetName {
			continue
		}
		ks := iscsi.KernelSession{SID: uint32(sid)}
		conn := ""
		for _, c := range conns {
			s, cid, ok := strings.Cut(strings.TrimPrefix(c.Name(), "connection"), ":")
			if n, err := strconv.ParseUint(cid, 10, 32); ok && err == nil && s == strconv.FormatUint(sid, 10) {
				ks.CID, conn = uint32(n), "class/iscsi_connection/"+c.Name()
				break
			}
		}
		if conn == "" {
			continue
		}
		isid := sysfs.ValueOf(sys, dir+"/isid")
		switch {
		case strings.EqualFold(isid, j.ISID.String()):
		case strings.Trim(isid, "0") == "" && j.hasPortal(net.JoinHostPort(sysfs.ValueOf(sys, conn+"/persistent_address"), sysfs.ValueOf(sys, conn+"/persistent_port"))):
		default:
			continue
		}
		hosts, _ := fs.ReadDir(sys, "class/scsi_host")
		for _, h := range hosts {
			n, ok := numbered(h.Name(), "host")
			if !ok {
				continue
			}
			if _, err := fs.Stat(sys, "class/scsi_host/"+h.Name()+"/device/"+e.Name()); err == nil {
				ks.HostNo = uint32(n)
				if taken(ks.SID) {
					break
				}
				return ks, true
			}
		}
	}
	return iscsi.KernelSession{}, false
}

// hasPortal reports whether addr ("host:port") is one of j's portals or
// the addresses they resolved to.
func (j Join) hasPortal(addr string) bool {
	for _, p := range j.Portals {
		if p == addr || slices.Contains(j.Resolved[p], addr) {
			return true
		}
	}
	return false
}

// numbered parses "<prefix><n>".
func numbered(name, prefix string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return n, err == nil
}

// pathDisk is a join's disk as sysfs shows it.
type pathDisk struct {
	// Name is the kernel's name ("sdc"), Dev its number ("8:32").
	Name, Dev string
	// Sectors is its size in 512-byte sectors; WWID its LUN's
	// (blockdev.ReadIdentity), the multipath map's key.
	Sectors uint64
	WWID    string
}

func (d pathDisk) String() string { return d.Name + " (" + d.Dev + ")" }

// readPathDisk returns the whole disk of LUN lun on SCSI host host
// (iscsi.FindBlockDevice). An error wrapping iscsi.ErrNoBlockDevice says
// the kernel has no disk there yet (its probe runs after the scan
// returns).
func readPathDisk(sys fs.FS, host uint32, lun uint64) (pathDisk, error) {
	name, err := iscsi.FindBlockDevice(sys, host, lun)
	if err != nil {
		return pathDisk{}, err
	}
	d := pathDisk{Name: name}
	blk := "class/block/" + d.Name
	d.Dev = sysfs.ValueOf(sys, blk+"/dev")
	if !validDev(d.Dev) {
		return pathDisk{}, fmt.Errorf("keeper: disk %s: device number %q", d.Name, d.Dev)
	}
	if d.Sectors, err = strconv.ParseUint(sysfs.ValueOf(sys, blk+"/size"), 10, 64); err != nil {
		return pathDisk{}, fmt.Errorf("keeper: disk %s: size: %w", d.Name, err)
	}
	id, err := blockdev.ReadIdentity(sys, d.Name)
	if d.WWID = id.WWID; d.WWID == "" {
		return pathDisk{}, fmt.Errorf("keeper: disk %s reports no WWID: %w", d.Name, err)
	}
	return d, nil
}
