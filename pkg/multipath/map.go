package multipath

import (
	"errors"
	"fmt"
	"strings"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/devmapper"
)

// Map is a multipath map: a device-mapper device over the paths of one
// LUN.
type Map struct {
	WWID string
	// Name and UUID are the device-mapper name and UUID (MapName,
	// MapUUID).
	Name, UUID string
	// Sectors is the map's size in 512-byte sectors.
	Sectors uint64
	// Info is the device as created (its major:minor, /dev/dm-N).
	Info devmapper.Info
}

// Control is the part of *devmapper.Control a map needs (a fake in
// tests).
type Control interface {
	Create(name, uuid string) (devmapper.Info, error)
	Load(name string, targets []devmapper.Target, readOnly bool) error
	Resume(name string, noFlush bool) (devmapper.Info, error)
	Remove(name string) error
	Status(name string) (devmapper.Info, []devmapper.Target, error)
	Messenger
}

// Messenger sends a map a target message, the part of Control that the
// messages to a map made earlier need.
type Messenger interface {
	Message(name string, sector uint64, msg string) (string, error)
}

// PathsOf returns the paths of a LUN seen as whole disks (as
// blockdev.SameLUN or GroupPaths gathers them: one WWID) and their size
// in sectors. The disks must agree on the WWID and the size.
func PathsOf(disks []blockdev.Device) ([]Path, uint64, string, error) {
	if len(disks) == 0 {
		return nil, 0, "", errors.New("multipath: no paths")
	}
	wwid, size := disks[0].WWID, disks[0].Size
	var paths []Path
	for _, d := range disks {
		switch {
		case d.IsPartition():
			return nil, 0, "", fmt.Errorf("multipath: %s is a partition; a map is built on whole disks", d.Name)
		case d.WWID == "" || d.WWID != wwid:
			return nil, 0, "", fmt.Errorf("multipath: %s has WWID %q, %s has %q: not one LUN", d.Name, d.WWID, disks[0].Name, wwid)
		case d.Size != size || size <= 0 || size%512 != 0:
			return nil, 0, "", fmt.Errorf("multipath: %s has %d bytes, %s %d: not one LUN", d.Name, d.Size, disks[0].Name, size)
		case d.Major == 0 && d.Minor == 0:
			return nil, 0, "", fmt.Errorf("multipath: %s has no device number", d.Name)
		}
		paths = append(paths, Path{Dev: fmt.Sprintf("%d:%d", d.Major, d.Minor)})
	}
	return paths, uint64(size / 512), wwid, nil
}

// Create makes the map of wwid over paths (sectors long) with cfg's
// table, named and UUID'd as multipathd would, and makes it live. On
// failure nothing is left behind.
func Create(c Control, wwid string, sectors uint64, paths []Path, cfg Config) (*Map, error) {
	if err := checkWWID(wwid); err != nil {
		return nil, err
	}
	params, err := cfg.Params(paths)
	if err != nil {
		return nil, err
	}
	if sectors == 0 {
		return nil, errors.New("multipath: a map of 0 sectors")
	}
	m := &Map{WWID: wwid, Name: MapName(wwid), UUID: MapUUID(wwid), Sectors: sectors}
	if _, err := c.Create(m.Name, m.UUID); err != nil {
		return nil, fmt.Errorf("multipath: create map %s: %w", m.Name, err)
	}
	if err := c.Load(m.Name, []devmapper.Target{{Length: sectors, Type: "multipath", Params: params}}, false); err != nil {
		c.Remove(m.Name)
		return nil, fmt.Errorf("multipath: load map %s (%s): %w", m.Name, params, err)
	}
	info, err := c.Resume(m.Name, false)
	if err != nil {
		c.Remove(m.Name)
		return nil, fmt.Errorf("multipath: resume map %s: %w", m.Name, err)
	}
	m.Info = info
	return m, nil
}

// Reload replaces the map's paths (a path came back as a new disk, one is
// gone for good) without failing queued I/O.
func Reload(c Control, m *Map, paths []Path, cfg Config) error {
	params, err := cfg.Params(paths)
	if err != nil {
		return err
	}
	if err := c.Load(m.Name, []devmapper.Target{{Length: m.Sectors, Type: "multipath", Params: params}}, false); err != nil {
		return fmt.Errorf("multipath: reload map %s (%s): %w", m.Name, params, err)
	}
	info, err := c.Resume(m.Name, true)
	if err != nil {
		return fmt.Errorf("multipath: resume map %s: %w", m.Name, err)
	}
	m.Info = info
	return nil
}

// GetStatus returns the paths' state in map name.
func GetStatus(c Control, name string) (*Status, error) {
	_, ts, err := c.Status(name)
	if err != nil {
		return nil, fmt.Errorf("multipath: status of %s: %w", name, err)
	}
	if len(ts) != 1 || ts[0].Type != "multipath" {
		return nil, fmt.Errorf("multipath: %s is not a multipath map (%d targets)", name, len(ts))
	}
	return ParseStatus(ts[0].Params)
}

// FailPath marks path dev of map name failed, as multipathd does when its
// checker finds the path down; I/O goes to the other paths.
func FailPath(c Control, name, dev string) error {
	return message(c, name, "fail_path", dev)
}

// ReinstatePath takes path dev back into use.
func ReinstatePath(c Control, name, dev string) error {
	return message(c, name, "reinstate_path", dev)
}

func message(c Control, name, verb, dev string) error {
	if !validDev(dev) {
		return fmt.Errorf("multipath: %s: path %q is not major:minor", verb, dev)
	}
	if _, err := c.Message(name, 0, verb+" "+dev); err != nil {
		return fmt.Errorf("multipath: %s %s of %s: %w", verb, dev, name, err)
	}
	return nil
}

// FailIfNoPath makes map name fail the I/O it would queue with no path
// left, as multipathd does once no_path_retry gives up: a map that
// queues (queue_if_no_path) holds its I/O for ever once its paths are
// gone for good.
func FailIfNoPath(c Messenger, name string) error {
	if _, err := c.Message(name, 0, "fail_if_no_path"); err != nil {
		return fmt.Errorf("multipath: fail_if_no_path of %s: %w", name, err)
	}
	return nil
}

// SwitchGroup makes priority group n (1-based) the one the next I/O uses,
// as multipathd does to fail back.
func SwitchGroup(c Control, name string, n int) error {
	if n < 1 {
		return fmt.Errorf("multipath: switch_group %d: groups count from 1", n)
	}
	if _, err := c.Message(name, 0, fmt.Sprintf("switch_group %d", n)); err != nil {
		return fmt.Errorf("multipath: switch_group %d of %s: %w", n, name, err)
	}
	return nil
}

// Remove deletes map name; it fails while the map is mounted or open.
func Remove(c Control, name string) error {
	if err := c.Remove(name); err != nil {
		return fmt.Errorf("multipath: remove map %s: %w", name, err)
	}
	return nil
}

// CreatePartition maps partition n of m (start and sectors in 512-byte
// sectors, from its partition table) as kpartx does: a linear map named
// PartitionName with UUID PartitionUUID.
func CreatePartition(c Control, m *Map, n int, start, sectors uint64) (devmapper.Info, error) {
	if n <= 0 || sectors == 0 || start+sectors > m.Sectors || start+sectors < start {
		return devmapper.Info{}, fmt.Errorf("multipath: partition %d (%d+%d sectors) does not fit map %s of %d sectors", n, start, sectors, m.Name, m.Sectors)
	}
	name, uuid := PartitionName(m.Name, n), PartitionUUID(m.UUID, n)
	if _, err := c.Create(name, uuid); err != nil {
		return devmapper.Info{}, fmt.Errorf("multipath: create %s: %w", name, err)
	}
	params := fmt.Sprintf("%d:%d %d", m.Info.Major, m.Info.Minor, start)
	if err := c.Load(name, []devmapper.Target{{Length: sectors, Type: "linear", Params: params}}, false); err != nil {
		c.Remove(name)
		return devmapper.Info{}, fmt.Errorf("multipath: load %s (linear %s): %w", name, params, err)
	}
	info, err := c.Resume(name, false)
	if err != nil {
		c.Remove(name)
		return devmapper.Info{}, fmt.Errorf("multipath: resume %s: %w", name, err)
	}
	return info, nil
}

// PathEvent is what a dm-mpath uevent says about a path (CONFIG_DM_UEVENT:
// a "change" uevent of the map with DM_ACTION=PATH_FAILED or
// PATH_REINSTATED).
type PathEvent struct {
	// Map is the map's name (DM_NAME) and Path the path (DM_PATH, "8:16").
	Map, Path string
	// Failed is true for PATH_FAILED, false for PATH_REINSTATED.
	Failed bool
	// ValidPaths is how many paths the map has left (DM_NR_VALID_PATHS).
	ValidPaths int
}

// ParsePathEvent reads a kernel uevent's environment; ok is false for any
// other event.
func ParsePathEvent(env map[string]string) (PathEvent, bool) {
	var ev PathEvent
	switch env["DM_ACTION"] {
	case "PATH_FAILED":
		ev.Failed = true
	case "PATH_REINSTATED":
	default:
		return ev, false
	}
	ev.Map, ev.Path = env["DM_NAME"], env["DM_PATH"]
	if ev.Path == "" || !validDev(ev.Path) {
		return ev, false
	}
	if _, err := fmt.Sscan(strings.TrimSpace(env["DM_NR_VALID_PATHS"]), &ev.ValidPaths); err != nil {
		ev.ValidPaths = -1
	}
	return ev, true
}
