package blockdev

import "sort"

// LUNPaths is one logical unit and the devices that reach it: one disk (or
// one partition of it) per path, e.g. per iSCSI session.
type LUNPaths struct {
	// WWID is the logical unit's identifier (Device.WWID).
	WWID string
	// PartNumber is the partition the devices are (0: whole disks).
	PartNumber int
	// Devices are the paths, in the order they were given.
	Devices []Device
}

// Multipath reports whether the logical unit is reached through more than
// one path.
func (l LUNPaths) Multipath() bool { return len(l.Devices) > 1 }

// GroupPaths gathers devices that are the same logical unit (and the same
// partition of it) seen through several paths: devices with the same
// non-empty WWID and partition number. A device without a WWID stands
// alone. Groups come in the order of their first device.
func GroupPaths(devices []Device) []LUNPaths {
	type key struct {
		wwid string
		part int
	}
	var out []LUNPaths
	index := map[key]int{}
	for _, d := range devices {
		if d.WWID == "" {
			out = append(out, LUNPaths{PartNumber: d.PartNumber, Devices: []Device{d}})
			continue
		}
		k := key{d.WWID, d.PartNumber}
		if i, ok := index[k]; ok {
			out[i].Devices = append(out[i].Devices, d)
			continue
		}
		index[k] = len(out)
		out = append(out, LUNPaths{WWID: d.WWID, PartNumber: d.PartNumber, Devices: []Device{d}})
	}
	return out
}

// SameLUN reports whether devices, at least two, are all paths to one
// logical unit: the same non-empty WWID and the same partition number. The
// root step uses it on an AmbiguousError's matches: then the "several
// devices" are one disk reached twice, to be put under one multipath map,
// not a configuration error.
func SameLUN(devices []Device) (LUNPaths, bool) {
	g := GroupPaths(devices)
	if len(g) != 1 || g[0].WWID == "" || len(g[0].Devices) < 2 {
		return LUNPaths{}, false
	}
	return g[0], true
}

// Disks returns the whole-disk names of the paths (the parents of
// partitions), sorted, without repeats: what a multipath map is built on.
func (l LUNPaths) Disks() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range l.Devices {
		n := d.Name
		if d.IsPartition() {
			n = d.Parent
		}
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessName(out[i], out[j]) })
	return out
}
