package multipath

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Path is one path of a map.
type Path struct {
	// Dev is the path's block device number, "major:minor".
	Dev string
	// Priority orders the groups under GroupByPriority, highest first;
	// ALUAPriority gives multipathd's alua prioritizer values.
	Priority int
}

// Grouping is multipath-tools' path_grouping_policy.
type Grouping int

// Groupings.
const (
	// Failover puts each path in a group of its own: one path carries
	// the I/O, the next takes over when it fails (multipath-tools'
	// default).
	Failover Grouping = iota
	// Multibus puts all paths in one group: I/O is spread over them.
	Multibus
	// GroupByPriority makes one group per Priority value, the highest
	// first (LIO's hardware table entry, with ALUA priorities).
	GroupByPriority
)

func (g Grouping) String() string {
	switch g {
	case Failover:
		return "failover"
	case Multibus:
		return "multibus"
	case GroupByPriority:
		return "group_by_prio"
	}
	return "grouping(" + strconv.Itoa(int(g)) + ")"
}

// Config is what multipathd chooses for a map from multipath.conf and its
// built-in hardware table.
type Config struct {
	// QueueIfNoPath loads the map with queue_if_no_path: while no path is
	// up, I/O waits instead of failing (no_path_retry "queue" or a
	// number; multipathd later turns queueing off after that many checker
	// intervals).
	QueueIfNoPath bool
	// HardwareHandler is a SCSI device handler ("alua") or "" for none.
	// The kernel keeps a handler already attached to a path instead; a
	// named one must be loadable (scsi_dh_alua).
	HardwareHandler string
	// Selector is the path selector and its arguments, "service-time 0"
	// (the default), "round-robin 0" or "queue-length 0".
	Selector string
	Grouping Grouping
	// MinIO is each path's argument, rr_min_io_rq (default 1).
	MinIO int
}

// DefaultConfig is multipath-tools' built-in defaults (0.9.4):
// path_grouping_policy failover, path_selector "service-time 0", features
// "0", hardware_handler "0", no_path_retry unset (fail), rr_min_io_rq 1.
// It is what a target without a hardware table entry gets: tgt ("IET"),
// QEMU's disks.
func DefaultConfig() Config {
	return Config{Selector: "service-time 0", Grouping: Failover, MinIO: 1}
}

// ConfigFor returns multipathd's choice for a LUN of that vendor and
// product (the standard INQUIRY's fields, e.g. sysfs device/vendor and
// device/model). Only the entries that matter for iSCSI targets are
// known: LIO ("LIO-ORG", also "SUSE"): group_by_prio, hardware handler
// "1 alua", prio alua, no_path_retry 12 (so queue_if_no_path); everything
// else gets DefaultConfig. (multipathd also switches to "1 alua" when
// every path reports TPGS and no handler is configured, and keeps a
// handler the kernel already attached; pass Config yourself for those.)
func ConfigFor(vendor, product string) Config {
	c := DefaultConfig()
	switch strings.TrimSpace(vendor) {
	case "LIO-ORG", "SUSE":
		c.Grouping = GroupByPriority
		c.HardwareHandler = "alua"
		c.QueueIfNoPath = true
	}
	return c
}

// ALUA asymmetric access states, as scsi_dh_alua shows them in sysfs
// device/access_state.
const (
	ALUAOptimized    = "active/optimized"
	ALUANonOptimized = "active/non-optimized"
	ALUAStandby      = "standby"
	ALUALBADependent = "lba-dependent"
)

// ALUAPriority is multipath-tools' alua prioritizer: 50 for
// active/optimized, 10 active/non-optimized, 5 lba-dependent, 1 standby,
// 0 otherwise, plus 80 for a preferred port that is not optimized.
func ALUAPriority(state string, preferred bool) int {
	p := 0
	switch state {
	case ALUAOptimized:
		p = 50
	case ALUANonOptimized:
		p = 10
	case ALUALBADependent:
		p = 5
	case ALUAStandby:
		p = 1
	}
	if preferred && state != ALUAOptimized {
		p += 80
	}
	return p
}

// validDev checks a "major:minor".
func validDev(s string) bool {
	ma, mi, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(ma, 10, 32)
	_, err2 := strconv.ParseUint(mi, 10, 32)
	return err1 == nil && err2 == nil
}

// selectorOK checks "name argc args…".
func selectorOK(s string) bool {
	f := strings.Fields(s)
	if len(f) < 2 || f[0] == "" {
		return false
	}
	n, err := strconv.Atoi(f[1])
	return err == nil && n == len(f)-2
}

// Groups splits paths into priority groups as c.Grouping says, the
// first group first (multipathd's bestpg: the highest priority).
func (c Config) Groups(paths []Path) [][]Path {
	switch c.Grouping {
	case Multibus:
		return [][]Path{paths}
	case GroupByPriority:
		byPrio := map[int][]Path{}
		var prios []int
		for _, p := range paths {
			if _, ok := byPrio[p.Priority]; !ok {
				prios = append(prios, p.Priority)
			}
			byPrio[p.Priority] = append(byPrio[p.Priority], p)
		}
		sort.Sort(sort.Reverse(sort.IntSlice(prios)))
		out := make([][]Path, len(prios))
		for i, pr := range prios {
			out[i] = byPrio[pr]
		}
		return out
	}
	out := make([][]Path, len(paths))
	for i, p := range paths {
		out[i] = []Path{p}
	}
	return out
}

// Params returns the multipath target's parameters for paths.
func (c Config) Params(paths []Path) (string, error) {
	if len(paths) == 0 {
		return "", errors.New("multipath: a map needs at least one path")
	}
	seen := map[string]bool{}
	for _, p := range paths {
		if !validDev(p.Dev) {
			return "", fmt.Errorf("multipath: path %q is not major:minor", p.Dev)
		}
		if seen[p.Dev] {
			return "", fmt.Errorf("multipath: path %s given twice", p.Dev)
		}
		seen[p.Dev] = true
	}
	sel := c.Selector
	if sel == "" {
		sel = "service-time 0"
	}
	if !selectorOK(sel) {
		return "", fmt.Errorf("multipath: selector %q is not \"name argc args…\"", sel)
	}
	if strings.ContainsAny(c.HardwareHandler, " \t\x00") {
		return "", fmt.Errorf("multipath: bad hardware handler %q", c.HardwareHandler)
	}
	minio := c.MinIO
	if minio <= 0 {
		minio = 1
	}
	var b strings.Builder
	if c.QueueIfNoPath {
		b.WriteString("1 queue_if_no_path")
	} else {
		b.WriteString("0")
	}
	if c.HardwareHandler != "" {
		b.WriteString(" 1 " + c.HardwareHandler)
	} else {
		b.WriteString(" 0")
	}
	groups := c.Groups(paths)
	fmt.Fprintf(&b, " %d 1", len(groups))
	for _, g := range groups {
		fmt.Fprintf(&b, " %s %d 1", sel, len(g))
		for _, p := range g {
			fmt.Fprintf(&b, " %s %d", p.Dev, minio)
		}
	}
	return b.String(), nil
}

// MapName is the name multipathd gives the map of wwid with
// user_friendly_names no: the WWID itself.
func MapName(wwid string) string { return wwid }

// MapUUID is the device-mapper UUID multipathd gives the map of wwid; a map
// is multipathd's when its UUID has this prefix and its one target is
// "multipath".
func MapUUID(wwid string) string { return "mpath-" + wwid }

// IsMapUUID reports whether a device-mapper UUID is that of a map of
// multipathd's (MapUUID); a partition's (PartitionUUID) is not.
func IsMapUUID(uuid string) bool { return strings.HasPrefix(uuid, "mpath-") }

// PartitionName is the name kpartx (as Debian's udev rules run it, with
// "-p -part") gives partition n of map name.
func PartitionName(name string, n int) string { return name + "-part" + strconv.Itoa(n) }

// PartitionUUID is the UUID kpartx gives partition n of the map with
// mapUUID.
func PartitionUUID(mapUUID string, n int) string { return "part" + strconv.Itoa(n) + "-" + mapUUID }

// checkWWID refuses WWIDs that cannot name a map.
func checkWWID(wwid string) error {
	switch {
	case wwid == "":
		return errors.New("multipath: empty WWID")
	case len(MapUUID(wwid)) > 128:
		return fmt.Errorf("multipath: WWID of %d bytes is too long for a map UUID", len(wwid))
	case strings.ContainsAny(wwid, "/\x00 \t\n"):
		return fmt.Errorf("multipath: WWID %q has a '/', NUL or blank", wwid)
	}
	return nil
}
