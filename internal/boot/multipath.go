package boot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/devmapper"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/multipath"
)

// The root step and its paths. One LUN reached through two sessions is
// two disks with the same filesystem label: the same WWID (VPD page 0x83,
// blockdev.Device.WWID) tells that they are one LUN, so the root step
// takes them for one device, never "ambiguous". Without a multipath root
// it mounts the disk of the first session; with rd.netroot.multipath=1 it
// builds a device-mapper multipath map over every session's disk of that
// WWID (pkg/multipath: multipathd's name, UUID and table), a linear map
// for the partition the root is on (as kpartx), and mounts that. The
// session keeper puts a path back into the map once it recovered its
// session; the real OS's multipathd adopts the map (docs/real-os.md).

// DeviceMapper is the kernel's device-mapper, for multipath maps.
type DeviceMapper interface {
	// Open opens the device-mapper control (dm_mod loaded).
	OpenControl() (multipath.Control, error)
	// Inquiry is a SCSI disk's vendor and model (sysfs).
	Inquiry(disk string) (vendor, model string)
	// PartitionExtent is a partition's start and length, in 512-byte
	// sectors (sysfs).
	PartitionExtent(part string) (start, sectors uint64, err error)
}

// multipathReplacementSec is a multipath root's replacement timeout when
// rd.iscsi.param= does not set one: after it the I/O of a path whose
// session is down fails, and dm-multipath sends it down another path,
// instead of waiting for that session (open-iscsi's advice for
// multipath is a few seconds).
const multipathReplacementSec = 5

// madeMap is a multipath map /init made, for the hints.
type madeMap struct {
	Name   string     `json:"name"`
	UUID   string     `json:"uuid"`
	WWID   string     `json:"wwid"`
	Dev    string     `json:"dev"`
	Table  string     `json:"table"`
	Paths  []mapPath  `json:"paths"`
	Parts  []mapChild `json:"partitions,omitempty"`
	Vendor string     `json:"vendor,omitempty"`
	Model  string     `json:"model,omitempty"`
	// keeper is the map for the keeper's joins, and lun its LUN on the
	// paths made.
	keeper keeper.Map
	lun    uint64
}

type mapPath struct {
	Dev    string `json:"dev"`
	Disk   string `json:"disk"`
	SID    uint32 `json:"sid"`
	Portal string `json:"portal"`
}

type mapChild struct {
	Name string `json:"name"`
	Dev  string `json:"dev"`
}

// multipathHintFile lists the maps /init made, for the real OS.
const multipathHintFile = runDir + "/multipath.json"

// multipathWWIDsFile is the roots' WWIDs in /etc/multipath/wwids' format,
// to append there (multipathd's find_multipaths "strict" keeps only the
// paths of WWIDs listed).
const multipathWWIDsFile = runDir + "/multipath.wwids"

// findRoot waits for the device sel names; devices that are one LUN seen
// through several sessions count as one; with a multipath root it makes
// the map and the root is the map's device. Targets that failed to log in
// are warned about when the root is found without them, and listed with
// the error when it is not.
func (b *Boot) findRoot(ctx context.Context, p *config.Plan, sel blockdev.Selector, w DiskWatch, a *attached,
	dm DeviceMapper, stack *task.Task[struct{}], files Files) error {
	st := b.log.Begin("root")
	wctx, cancel := context.WithTimeout(ctx, p.Boot.Retry)
	defer cancel()
	dev, err := guarded(b.conns, wctx, func(ctx context.Context) (*blockdev.Device, error) { return w.WaitFor(ctx, sel) })
	var amb *blockdev.AmbiguousError
	if errors.As(err, &amb) {
		if lun, ok := blockdev.SameLUN(amb.Matches); ok {
			dev, err = a.preferred(lun), nil
			var names []string
			for _, d := range lun.Devices {
				names = append(names, d.Name)
			}
			b.log.Printf("root: %s matches %s: one LUN (WWID %s) seen through %d sessions", sel, strings.Join(names, ", "), lun.WWID, len(lun.Devices))
		}
	}
	if err != nil {
		st.Fail(err)
		e := fail("root", err, "check root= against the devices listed")
		if amb != nil {
			e = fail("root", err, "devices with one WWID are one LUN through several paths; these differ: make root= unique (UUID=, PARTUUID=)")
		}
		return errors.Join(append([]error{e}, a.failed...)...)
	}
	detail := fmt.Sprintf("%s is %s", sel, dev)
	if p.ISCSI.Multipath && len(a.sessions) > 0 {
		if dev.WWID == "" {
			b.log.Warnf("multipath: %s reports no WWID (VPD page 0x83): no map; the root is mounted on it directly", dev.Name)
		} else {
			a.pathsOf(wctx, w, dev)
			mdev, err := b.assembleMap(ctx, a, dev, dm, stack, files)
			if err != nil {
				st.Fail(err)
				return err
			}
			detail += ", mounted through " + mdev.Path
			dev = mdev
		}
	}
	st.Done("%s", detail)
	for _, f := range a.failed {
		b.log.Warnf("%s (the root was found without it; booting on)", render(f))
	}
	a.dev = dev
	return nil
}

// pathsOf makes each session's disk, where its target's LUNs were all
// scanned and the disk step took another LUN's, the session's disk of
// dev's LUN — for the sessions of the target dev is on, waiting for the
// disk until ctx ends. The map's paths are those disks.
func (a *attached) pathsOf(ctx context.Context, w DiskWatch, dev *blockdev.Device) {
	target := ""
	if h, _, _, _, ok := dev.SCSI(); ok {
		for _, s := range a.sessions {
			if int(s.HostNo) == h {
				target = s.TargetName
			}
		}
	}
	for i, s := range a.sessions {
		if i >= len(a.disks) || a.disks[i].WWID == dev.WWID || s.TargetName != target || !a.allLUNs[i] {
			continue
		}
		host := int(s.HostNo)
		d, err := w.WaitFunc(ctx, fmt.Sprintf("the disk of WWID %s on SCSI host %d", dev.WWID, host), func(d blockdev.Device) bool {
			h, _, _, _, ok := d.SCSI()
			return ok && h == host && !d.IsPartition() && d.WWID == dev.WWID
		})
		if err == nil {
			a.disks[i] = *d
		}
	}
}

// preferred is the device of lun on the first session that has one.
func (a *attached) preferred(lun blockdev.LUNPaths) *blockdev.Device {
	for _, s := range a.sessions {
		for _, d := range lun.Devices {
			if h, _, _, _, ok := d.SCSI(); ok && h == int(s.HostNo) {
				return &d
			}
		}
	}
	return &lun.Devices[0]
}

// assembleMap makes the multipath map of dev's LUN over every session's
// disk of its WWID and, when dev is a partition, the map of that
// partition; it returns the device to mount.
func (b *Boot) assembleMap(ctx context.Context, a *attached, dev *blockdev.Device, dm DeviceMapper, stack *task.Task[struct{}], files Files) (*blockdev.Device, error) {
	st := b.log.Begin("multipath")
	failMP := func(err error, hint string) (*blockdev.Device, error) {
		st.Fail(err)
		return nil, fail("multipath", err, hint)
	}
	var disks []blockdev.Device
	var sessions []int
	for i, d := range a.disks {
		if d.WWID == dev.WWID && !d.IsPartition() {
			disks = append(disks, d)
			sessions = append(sessions, i)
		}
	}
	if len(disks) == 0 {
		return failMP(fmt.Errorf("no session's disk has WWID %s (the root is %s)", dev.WWID, dev.Name), "is the root on an iSCSI LUN of the command line?")
	}
	if _, err := stack.Wait(ctx); err != nil {
		return failMP(err, "rebuild the initramfs with this kernel's modules (netroot build -modules DIR)")
	}
	paths, sectors, wwid, err := multipath.PathsOf(disks)
	if err != nil {
		return failMP(err, "")
	}
	ctl, err := dm.OpenControl()
	if err != nil {
		return failMP(err, "the initramfs needs dm_mod and dm_multipath (netroot build carries them with rd.netroot.multipath=1)")
	}
	if c, ok := ctl.(interface{ Close() error }); ok {
		defer c.Close()
	}
	vendor, model := dm.Inquiry(disks[0].Name)
	cfg := multipath.ConfigFor(vendor, model)
	// The root must not fail while every path is down for a moment:
	// I/O waits (multipathd applies its own no_path_retry once it runs).
	cfg.QueueIfNoPath = true
	params, _ := cfg.Params(paths)
	m, err := multipath.Create(ctl, wwid, sectors, paths, cfg)
	if err != nil {
		return failMP(err, "dmesg says why the kernel refused the table; dm_multipath and dm_service_time (and scsi_dh_alua for ALUA targets) must be loaded")
	}
	made := madeMap{Name: m.Name, UUID: m.UUID, WWID: wwid, Dev: fmt.Sprintf("%d:%d", m.Info.Major, m.Info.Minor),
		Table: params, Vendor: strings.TrimSpace(vendor), Model: strings.TrimSpace(model),
		keeper: keeper.Map{Name: m.Name, WWID: wwid, Sectors: sectors, Config: cfg, Paths: paths}}
	if _, _, _, lun, ok := disks[0].SCSI(); ok {
		made.lun = uint64(lun)
	}
	var pathDesc []string
	for j, i := range sessions {
		s := &a.sessions[i]
		s.Map, s.PathDev = m.Name, paths[j].Dev
		mapName, dev := m.Name, paths[j].Dev
		b.conns.update(s.SID, func(s *keeper.Session) { s.Map, s.PathDev = mapName, dev })
		portal := ""
		if len(s.Portals) > 0 {
			portal = s.Portals[0]
		}
		made.Paths = append(made.Paths, mapPath{Dev: paths[j].Dev, Disk: disks[j].Name, SID: s.SID, Portal: portal})
		pathDesc = append(pathDesc, fmt.Sprintf("%s via %s", disks[j].Name, portal))
	}
	info := m.Info
	if dev.IsPartition() {
		start, n, err := dm.PartitionExtent(dev.Name)
		if err != nil {
			return failMP(err, "")
		}
		if info, err = multipath.CreatePartition(ctl, m, dev.PartNumber, start, n); err != nil {
			return failMP(err, "")
		}
		made.Parts = append(made.Parts, mapChild{Name: multipath.PartitionName(m.Name, dev.PartNumber), Dev: fmt.Sprintf("%d:%d", info.Major, info.Minor)})
	}
	b.writeUdevEntries(files, m.Info, info)
	a.maps = append(a.maps, made)
	out := *dev
	out.Name = strings.TrimPrefix(info.DevNode(), "/dev/")
	out.Path = info.DevNode()
	out.Major, out.Minor = info.Major, info.Minor
	out.Parent, out.PartNumber, out.SCSIAddress, out.ByPath, out.DevPath = "", 0, "", "", ""
	b.writeMultipathHints(files, a.maps)
	what := fmt.Sprintf("map %s (%s)", m.Name, m.Info.DevNode())
	if dev.IsPartition() {
		what += fmt.Sprintf(", partition %d %s (%s)", dev.PartNumber, multipath.PartitionName(m.Name, dev.PartNumber), out.Path)
	}
	st.Done("%s over %d path(s): %s; %s %s, table %q", what, len(disks), strings.Join(pathDesc, ", "),
		strings.TrimSpace(vendor), strings.TrimSpace(model), params)
	if len(disks) == 1 && len(a.missed) == 0 {
		b.log.Warnf("multipath: %s has one path up: netroot= names no other, so the map has none until "+
			"the real OS logs in to another (open-iscsi's iscsiadm; multipathd then adds its disk)", m.Name)
	}
	return &out, nil
}

// writeMultipathHints leaves the maps for the real OS: their names,
// WWIDs and paths, and the WWIDs in /etc/multipath/wwids' format.
func (b *Boot) writeMultipathHints(files Files, maps []madeMap) {
	data, err := json.MarshalIndent(maps, "", "  ")
	if err == nil {
		err = files.WriteFile(multipathHintFile, append(data, '\n'), 0o644)
	}
	var wwids strings.Builder
	for _, m := range maps {
		fmt.Fprintf(&wwids, "/%s/\n", m.WWID)
	}
	if err == nil {
		err = files.WriteFile(multipathWWIDsFile, []byte(wwids.String()), 0o644)
	}
	if err != nil {
		b.log.Warnf("hints: %s: %v", multipathHintFile, err)
	}
}

// writeUdevEntries records the maps in udev's database as activated, so
// that the real OS's udev, at coldplug, gives them their /dev/mapper and
// /dev/disk links and systemd sees them ready (multipath.UdevDBEntry).
func (b *Boot) writeUdevEntries(files Files, infos ...devmapper.Info) {
	seen := map[string]bool{}
	for _, in := range infos {
		p := multipath.UdevDBPath(in.Major, in.Minor)
		if seen[p] {
			continue
		}
		seen[p] = true
		if err := files.WriteFile(p, []byte(multipath.UdevDBEntry), 0o644); err != nil {
			b.log.Warnf("hints: %s: %v (the real OS's udev will not link /dev/mapper/%s)", p, err, in.Name)
		}
	}
}

// missedPath is a path of a multipath LUN whose login failed at boot.
type missedPath struct {
	target config.Target
	// index is its login index (the ISID qualifier); bond the
	// active-backup bond it leaves by, if any.
	index int
	bond  string
}

// joins are the keeper's joins (keeper.Join): the paths of the root's
// maps that did not log in at boot, each with the login /init would have
// made, and the maps they join. A path whose CHAP secret cannot be read
// is left out, with a warning.
func (b *Boot) joins(p *config.Plan, a attached, files Files) ([]keeper.Join, []keeper.Map) {
	if len(a.missed) == 0 || len(a.maps) == 0 || len(a.sessions) == 0 {
		return nil, nil
	}
	initiator := a.sessions[0].InitiatorName
	var joins []keeper.Join
	used := map[string]bool{}
	// A map gets one path through each portal of a target: another
	// LUN's path through a portal the map has a path through already
	// (both LUNs' logins there, one failed) adds nothing.
	through := map[string]bool{}
	key := func(m, target, portal string) string { return m + "\x00" + target + "\x00" + portal }
	for _, s := range a.sessions {
		if s.Map != "" && len(s.Portals) > 0 {
			through[key(s.Map, s.TargetName, s.Portals[0])] = true
		}
	}
	for _, mp := range a.missed {
		// The map of its LUN: a session of the same target is a path of
		// it (the keeper checks the WWID of the disk it finds).
		var made *madeMap
		for i := range a.maps {
			for _, s := range a.sessions {
				if s.Map == a.maps[i].Name && s.TargetName == mp.target.Name {
					made = &a.maps[i]
				}
			}
		}
		if made == nil || through[key(made.Name, mp.target.Name, mp.target.Portal())] {
			continue
		}
		through[key(made.Name, mp.target.Name, mp.target.Portal())] = true
		creds, err := credentials(mp.target.Auth, files.ReadFile)
		if err != nil {
			b.log.Warnf("multipath: path %s of %s: %v; the keeper will not log in to it", mp.target.Portal(), made.Name, err)
			continue
		}
		cfg, ko, _ := loginSettings(p, initiator, mp.index, mp.target, creds)
		joins = append(joins, keeper.Join{LUN: made.lun, CmdsMax: ko.CmdsMax, QueueDepth: ko.QueueDepth, Session: keeper.Session{
			InitiatorName: cfg.InitiatorName, TargetName: cfg.TargetName, Portals: []string{cfg.Portal},
			ISID: cfg.ISID, Credentials: cfg.Credentials, CHAPAlgorithms: cfg.CHAPAlgorithms, Params: cfg.Params,
			RecoveryTimeoutSec: ko.RecoveryTimeoutSec, RecoveryTimeoutSet: ko.RecoveryTimeoutSet,
			NoopIntervalSec: ko.NoopIntervalSec, NoopTimeoutSec: ko.NoopTimeoutSec,
			Device: cfg.Device, Interface: cfg.Device, Bond: mp.bond, Map: made.Name,
		}})
		used[made.Name] = true
	}
	var maps []keeper.Map
	for _, m := range a.maps {
		if used[m.Name] {
			maps = append(maps, m.keeper)
		}
	}
	return joins, maps
}
