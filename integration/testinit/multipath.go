package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/netroot/netroot/pkg/devmapper"
	"github.com/netroot/netroot/pkg/multipath"
)

// reportMultipath reports the root's mount source and each multipath map
// (its UUID starts with mpath-) with its paths' states, e.g.
// "mpath=3600… group 1 A: 8:16 active; group 2 E: 8:32 active".
func reportMultipath() {
	for _, line := range strings.Split(read("/proc/mounts"), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "/" {
			report("mpath-root", f[0]+" "+f[2])
		}
	}
	uuids, _ := filepath.Glob("/sys/block/dm-*/dm/uuid")
	var names []string
	for _, u := range uuids {
		if strings.HasPrefix(read(u), "mpath-") {
			names = append(names, read(filepath.Join(filepath.Dir(u), "name")))
		}
	}
	if len(names) == 0 {
		return
	}
	c, err := devmapper.Open()
	if err != nil {
		report("mpath", "<"+err.Error()+">")
		return
	}
	defer c.Close()
	for _, n := range names {
		st, err := multipath.GetStatus(c, n)
		if err != nil {
			report("mpath", n+" <"+err.Error()+">")
			continue
		}
		report("mpath", n+" "+st.String())
	}
	if _, err := os.Stat("/run/netroot/multipath.json"); err == nil {
		report("mpath-hints", strings.Join(strings.Fields(read("/run/netroot/multipath.wwids")), " "))
	}
}
