package config

import (
	"fmt"
	"strings"
)

// TargetPaths is one iSCSI LUN and the paths that reach it: the portals of
// its target, each as a Target of its own (its portal, its credentials,
// its portal group). netroot='s several entries for one target and LUN
// (dracut's way of naming a second portal), the portals a SendTargets
// answer lists for a target, and the targets of a firmware table (iBFT)
// all become paths of one TargetPaths: GroupTargets gathers them.
type TargetPaths struct {
	// Name is the target name; empty for a discovery entry (its one
	// path is the portal to ask).
	Name string
	LUN  int
	// Paths are the portals, in the order first given; none twice.
	Paths []Target
}

// Discovery reports whether t names no target: the portal is to be asked
// which targets it has (SendTargets discovery).
func (t Target) Discovery() bool { return t.Name == "" }

// Portals lists the paths' portals ("host:port"), in order.
func (tp TargetPaths) Portals() []string {
	out := make([]string, len(tp.Paths))
	for i, t := range tp.Paths {
		out[i] = t.Portal()
	}
	return out
}

// String is "<name> LUN <n>", or for a discovery entry "the targets
// <portal> offers".
func (tp TargetPaths) String() string {
	if tp.Name == "" {
		return "the targets " + strings.Join(tp.Portals(), ", ") + " offers"
	}
	return fmt.Sprintf("%s LUN %d", tp.Name, tp.LUN)
}

// GroupTargets gathers targets into paths: targets with the same name and
// LUN are one LUN reached through each of their portals (a portal given
// twice counts once, the first wins). Discovery entries stay one a
// portal. Groups come in the order of their first target.
func GroupTargets(targets []Target) []TargetPaths {
	type key struct {
		name string
		lun  int
	}
	var out []TargetPaths
	index := map[key]int{}
	for _, t := range targets {
		if t.Discovery() {
			out = append(out, TargetPaths{LUN: t.LUN, Paths: []Target{t}})
			continue
		}
		k := key{t.Name, t.LUN}
		i, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, TargetPaths{Name: t.Name, LUN: t.LUN, Paths: []Target{t}})
			continue
		}
		dup := false
		for _, p := range out[i].Paths {
			dup = dup || p.Portal() == t.Portal()
		}
		if !dup {
			out[i].Paths = append(out[i].Paths, t)
		}
	}
	return out
}

// Paths is GroupTargets of the plan's targets.
func (p *Plan) Paths() []TargetPaths { return GroupTargets(p.ISCSI.Targets) }

// MultipathModules are what a multipath root needs beside the iSCSI
// stack: device-mapper and its multipath target, the path selector the
// maps use (dm-multipath asks for it with request_module, and an
// initramfs has no modprobe to answer), and the ALUA device handler of
// targets that report asymmetric access (LIO).
var MultipathModules = []string{"dm_mod", "dm_multipath", "dm_service_time", "scsi_dh_alua"}

// finishMultipath reads rd.netroot.multipath, else dracut's rd.multipath
// (=default turns dracut's multipath on with a default configuration).
func (p *parser) finishMultipath() {
	pl := p.plan
	a, ok := p.last["rd.netroot.multipath"]
	if !ok {
		a, ok = p.last["rd.multipath"]
	}
	if !ok {
		return
	}
	pl.ISCSI.Multipath = parseBool(a)
	if !pl.ISCSI.Multipath {
		return
	}
	switch {
	case len(pl.ISCSI.Targets) == 0 && !pl.ISCSI.FromDHCP:
		p.warn(a.Key, "no iSCSI target: no multipath map to make")
	case !pl.Boot.Keeper:
		p.warn(a.Key, "with rd.netroot.keeper=0 a path that fails stays out of the map until the real OS's multipathd runs")
	}
}
