// Package lio turns a description of an iSCSI target into the configfs
// operations that make Linux's kernel target (LIO) serve it — what
// targetcli does through rtslib, as ctl.Ops the target guest runs.
//
// The layout (Documentation/target/ in Linux):
//
//	target/core/{iblock,fileio}_0/<name>/     backstore: control, enable, wwn/
//	target/iscsi/<iqn>/tpgt_<n>/              the target portal group
//	    lun/lun_<N>/<link> → backstore        its LUNs
//	    np/<ip>:<port>/                        network portals (listening sockets)
//	    acls/<initiator>/lun_<N>/<link> → lun  initiator ACLs and mapped LUNs
//	    acls/<initiator>/auth/                 per-initiator CHAP
//	    auth/                                  CHAP in demo mode
//	    attrib/ param/ enable
package lio

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/netroot/netroot/integration/targetinit/ctl"
)

// Backstore kinds.
const (
	IBlock = "iblock" // target_core_iblock: a block device, bios straight to it
	FileIO = "fileio" // target_core_file: a file or block device through VFS
)

// LUN is one logical unit of the target.
type LUN struct {
	// Number is the LUN the initiator sees.
	Number int
	// Backstore is IBlock or FileIO.
	Backstore string
	// Name is the backstore object's name (unique per Backstore).
	Name string
	// Dev is the block device in the guest, e.g. /dev/vda.
	Dev string
	// Serial is the VPD unit serial number (page 0x80) the LUN reports;
	// fixed so that a recreated target shows the initiator the same disk.
	Serial string
}

// Target is one iSCSI target with one portal group.
type Target struct {
	IQN string
	// TPGT is the portal group tag (1 when 0).
	TPGT int
	// Portals are the listening addresses, "ip:port".
	Portals []string
	LUNs    []LUN
	// ACLs name the initiators allowed in; each sees every LUN under its
	// own number. Empty is demo mode: any initiator, read-write.
	ACLs []string
	// User and Password, when set, make the target require CHAP (the
	// initiator proves itself); MutualUser and MutualPassword are what the
	// target answers the initiator's challenge with (mutual CHAP).
	User, Password             string
	MutualUser, MutualPassword string
	// Params are the TPG's iSCSI login keys (param/), e.g.
	// "HeaderDigest": "CRC32C"; LIO's defaults apply to the rest.
	Params map[string]string
	// Attribs override the TPG attributes (attrib/) set here.
	Attribs map[string]string
}

func (t Target) tpgt() int {
	if t.TPGT == 0 {
		return 1
	}
	return t.TPGT
}

// TPGPath is the portal group's configfs path.
func (t Target) TPGPath() string {
	return "target/iscsi/" + t.IQN + "/tpgt_" + strconv.Itoa(t.tpgt())
}

func backstoreDir(l LUN) string { return "target/core/" + l.Backstore + "_0" }
func backstorePath(l LUN) string {
	return backstoreDir(l) + "/" + l.Name
}
func lunDir(l LUN) string { return "lun/" + mappedDir(l) }

// mappedDir is the LUN's directory in an ACL (the mapped LUN).
func mappedDir(l LUN) string { return "lun_" + strconv.Itoa(l.Number) }

// Validate checks what configfs would refuse late or not at all.
func (t Target) Validate() error {
	if !strings.HasPrefix(t.IQN, "iqn.") && !strings.HasPrefix(t.IQN, "eui.") && !strings.HasPrefix(t.IQN, "naa.") {
		return fmt.Errorf("lio: target name %q is not an iqn./eui./naa. name", t.IQN)
	}
	if len(t.Portals) == 0 {
		return fmt.Errorf("lio: target %s has no portal", t.IQN)
	}
	for _, p := range t.Portals {
		if _, err := netip.ParseAddrPort(p); err != nil {
			return fmt.Errorf("lio: portal %q: %w", p, err)
		}
	}
	if len(t.LUNs) == 0 {
		return fmt.Errorf("lio: target %s has no LUN", t.IQN)
	}
	seen := map[string]bool{}
	for _, l := range t.LUNs {
		if l.Backstore != IBlock && l.Backstore != FileIO {
			return fmt.Errorf("lio: LUN %d: backstore %q is neither %s nor %s", l.Number, l.Backstore, IBlock, FileIO)
		}
		if l.Number < 0 || l.Number > 65535 || l.Name == "" || l.Dev == "" || strings.ContainsAny(l.Name, "/ ") {
			return fmt.Errorf("lio: LUN %+v: want a number 0..65535, a name without / and a device", l)
		}
		for _, k := range []string{"lun" + strconv.Itoa(l.Number), l.Backstore + "/" + l.Name} {
			if seen[k] {
				return fmt.Errorf("lio: %s given twice", k)
			}
			seen[k] = true
		}
	}
	if (t.User == "") != (t.Password == "") || (t.MutualUser == "") != (t.MutualPassword == "") {
		return fmt.Errorf("lio: a CHAP user needs its password and the reverse")
	}
	if t.MutualUser != "" && t.User == "" {
		return fmt.Errorf("lio: mutual CHAP needs one-way CHAP too")
	}
	for k := range t.Params {
		if k == "" || strings.ContainsAny(k, "/ ") {
			return fmt.Errorf("lio: bad parameter name %q", k)
		}
	}
	for k := range t.Attribs {
		if k == "" || strings.ContainsAny(k, "/ ") {
			return fmt.Errorf("lio: bad attribute name %q", k)
		}
	}
	return nil
}

// attribs are the TPG attributes Setup writes: the mode (ACLs or demo)
// and authentication, then t.Attribs.
func (t Target) attribs() map[string]string {
	a := map[string]string{"authentication": "0"}
	if t.User != "" {
		a["authentication"] = "1"
	}
	if len(t.ACLs) == 0 {
		a["generate_node_acls"] = "1"
		a["demo_mode_write_protect"] = "0"
		a["cache_dynamic_acls"] = "1"
	} else {
		a["generate_node_acls"] = "0"
	}
	for k, v := range t.Attribs {
		a[k] = v
	}
	return a
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// chapOps writes the CHAP accounts into dir (an ACL's or the TPG's auth/).
func (t Target) chapOps(dir string) []ctl.Op {
	var ops []ctl.Op
	if t.User != "" {
		ops = append(ops,
			ctl.Op{Op: ctl.Write, Path: dir + "/userid", Value: t.User},
			ctl.Op{Op: ctl.Write, Path: dir + "/password", Value: t.Password, Secret: true})
	}
	if t.MutualUser != "" {
		ops = append(ops,
			ctl.Op{Op: ctl.Write, Path: dir + "/userid_mutual", Value: t.MutualUser},
			ctl.Op{Op: ctl.Write, Path: dir + "/password_mutual", Value: t.MutualPassword, Secret: true})
	}
	return ops
}

// Setup returns the ops that create the target from nothing and wait
// until its portals listen.
func Setup(t Target) ([]ctl.Op, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	var ops []ctl.Op
	add := func(op string, path, value string) {
		ops = append(ops, ctl.Op{Op: op, Path: path, Value: value})
	}
	for _, l := range t.LUNs {
		add(ctl.Mkdir, backstoreDir(l), "")
		add(ctl.Mkdir, backstorePath(l), "")
		control := "udev_path=" + l.Dev
		if l.Backstore == FileIO {
			control = "fd_dev_name=" + l.Dev
		}
		add(ctl.Write, backstorePath(l)+"/control", control)
		if l.Serial != "" {
			add(ctl.Write, backstorePath(l)+"/wwn/vpd_unit_serial", l.Serial)
		}
		add(ctl.Write, backstorePath(l)+"/enable", "1")
	}
	tpg := t.TPGPath()
	add(ctl.Mkdir, "target/iscsi", "")
	add(ctl.Mkdir, "target/iscsi/"+t.IQN, "")
	add(ctl.Mkdir, tpg, "")
	for _, l := range t.LUNs {
		add(ctl.Mkdir, tpg+"/"+lunDir(l), "")
		add(ctl.Symlink, tpg+"/"+lunDir(l)+"/"+l.Name, backstorePath(l))
	}
	for _, k := range sortedKeys(t.Params) {
		add(ctl.Write, tpg+"/param/"+k, t.Params[k])
	}
	attribs := t.attribs()
	for _, k := range sortedKeys(attribs) {
		add(ctl.Write, tpg+"/attrib/"+k, attribs[k])
	}
	if len(t.ACLs) == 0 {
		ops = append(ops, t.chapOps(tpg+"/auth")...)
	}
	for _, acl := range t.ACLs {
		dir := tpg + "/acls/" + acl
		add(ctl.Mkdir, dir, "")
		for _, l := range t.LUNs {
			add(ctl.Mkdir, dir+"/"+mappedDir(l), "")
			add(ctl.Symlink, dir+"/"+mappedDir(l)+"/link", tpg+"/"+lunDir(l))
		}
		ops = append(ops, t.chapOps(dir+"/auth")...)
	}
	for _, p := range t.Portals {
		add(ctl.Mkdir, tpg+"/np/"+p, "")
	}
	add(ctl.Write, tpg+"/enable", "1")
	for _, p := range t.Portals {
		add(ctl.Listen, "", p)
	}
	return ops, nil
}

// Teardown returns the ops that remove what Setup made, in reverse,
// skipping what is already gone; the sessions end when the portal group
// is disabled, and the ops wait until the portals no longer listen.
func Teardown(t Target) ([]ctl.Op, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	var ops []ctl.Op
	add := func(op string, path string) {
		ops = append(ops, ctl.Op{Op: op, Path: path, IfExists: true})
	}
	tpg := t.TPGPath()
	ops = append(ops, ctl.Op{Op: ctl.Write, Path: tpg + "/enable", Value: "0", IfExists: true})
	for _, acl := range t.ACLs {
		dir := tpg + "/acls/" + acl
		for _, l := range t.LUNs {
			add(ctl.Unlink, dir+"/"+mappedDir(l)+"/link")
			add(ctl.Rmdir, dir+"/"+mappedDir(l))
		}
		add(ctl.Rmdir, dir)
	}
	for _, p := range t.Portals {
		add(ctl.Rmdir, tpg+"/np/"+p)
	}
	for _, l := range t.LUNs {
		add(ctl.Unlink, tpg+"/"+lunDir(l)+"/"+l.Name)
		add(ctl.Rmdir, tpg+"/"+lunDir(l))
	}
	add(ctl.Rmdir, tpg)
	add(ctl.Rmdir, "target/iscsi/"+t.IQN)
	for _, l := range t.LUNs {
		add(ctl.Rmdir, backstorePath(l))
	}
	for _, p := range t.Portals {
		ops = append(ops, ctl.Op{Op: ctl.Unlisten, Value: p})
	}
	return ops, nil
}

// Enable returns the op that enables or disables the portal group: a
// disabled group ends its sessions and refuses logins while its portals
// keep listening.
func Enable(t Target, on bool) []ctl.Op {
	v := "0"
	if on {
		v = "1"
	}
	return []ctl.Op{{Op: ctl.Write, Path: t.TPGPath() + "/enable", Value: v}}
}

// Param returns the op that sets one login key of the portal group.
func Param(t Target, key, value string) []ctl.Op {
	return []ctl.Op{{Op: ctl.Write, Path: t.TPGPath() + "/param/" + key, Value: value}}
}

// Inspect returns List ops for the portal group's param/ and attrib/
// and, per ACL, its info (the sessions LIO holds for it).
func Inspect(t Target) []ctl.Op {
	tpg := t.TPGPath()
	ops := []ctl.Op{{Op: ctl.List, Path: tpg + "/param"}, {Op: ctl.List, Path: tpg + "/attrib"}}
	for _, acl := range t.ACLs {
		ops = append(ops, ctl.Op{Op: ctl.Read, Path: tpg + "/acls/" + acl + "/info"})
	}
	return ops
}
