package keeper

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/multipath"
)

// vpd83NAA is a Device Identification page with one NAA designator
// (6001405 12345…), as LIO reports it.
var vpd83NAA = []byte{0x00, 0x83, 0x00, 0x14, 0x01, 0x03, 0x00, 0x10,
	0x60, 0x01, 0x40, 0x51, 0x23, 0x45, 0x67, 0x89, 0x0a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78}

// joinSysfs is sysfs with the root's session 1 (host 2) and session 7
// (host 3, ISID 80010203 0100) whose LUN 1 is sdc.
func joinSysfs() fstest.MapFS {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s + "\n")} }
	return fstest.MapFS{
		"class/iscsi_session/session1/targetname":                                 f("iqn.t:root"),
		"class/iscsi_session/session1/isid":                                       f("800102030000"),
		"class/iscsi_session/session7/targetname":                                 f("iqn.t:root"),
		"class/iscsi_session/session7/isid":                                       f("800102030100"),
		"class/iscsi_connection/connection1:0/state":                              f("up"),
		"class/iscsi_connection/connection7:0/state":                              f("up"),
		"class/iscsi_connection/connection7:0/persistent_address":                 f("10.78.0.1"),
		"class/iscsi_connection/connection7:0/persistent_port":                    f("3260"),
		"class/scsi_host/host2/device/session1/uevent":                            f(""),
		"class/scsi_host/host3/device/session7/uevent":                            f(""),
		"class/scsi_host/host3/device/session7/target3:0:0/3:0:0:1/block/sdc/dev": f("8:32"),
		"class/block/sdc/dev":                                                     f("8:32"),
		"class/block/sdc/size":                                                    f("2097152"),
		"class/block/sdc/device/vpd_pg83":                                         {Data: vpd83NAA},
		"class/scsi_host/host3/device/session7/target3:0:0/3:0:0:2/block":         {Mode: fs.ModeDir},
		"class/scsi_host/host3/device/session7/target3:0:0/3:0:0:3/block/sdd/dev": f("8:48"),
		"class/block/sdd/dev":                                                     f("8:48"),
		"class/block/sdd/size":                                                    f("2097152"),
	}
}

func TestFindSession(t *testing.T) {
	join := func(isid iscsi.ISID, portals ...string) Join {
		return Join{Session: Session{TargetName: "iqn.t:root", ISID: isid, Portals: portals}, LUN: 1}
	}
	none := func(uint32) bool { return false }
	mine := iscsi.ISID{0x80, 1, 2, 3, 1, 0}
	for _, tc := range []struct {
		name  string
		mod   func(fstest.MapFS)
		j     Join
		taken func(uint32) bool
		want  uint32 // 0: none
	}{
		{"by its ISID", nil, join(mine, "10.9.9.9:3260"), none, 7},
		{"by its portal, the ISID not taken by the kernel", func(m fstest.MapFS) {
			m["class/iscsi_session/session7/isid"] = &fstest.MapFile{Data: []byte("000000000000\n")}
		}, join(iscsi.ISID{0x80, 9, 9, 9, 9, 9}, "10.78.0.1:3260"), none, 7},
		{"another portal, the ISID not taken", func(m fstest.MapFS) {
			m["class/iscsi_session/session7/isid"] = &fstest.MapFile{Data: []byte("000000000000\n")}
		}, join(iscsi.ISID{0x80, 9, 9, 9, 9, 9}, "10.79.0.1:3260"), none, 0},
		{"another ISID", nil, join(iscsi.ISID{0x80, 1, 2, 3, 2, 0}, "10.78.0.1:3260"), none, 0},
		{"another target", nil, Join{Session: Session{TargetName: "iqn.t:other", ISID: mine}}, none, 0},
		{"taken", nil, join(mine), func(sid uint32) bool { return sid == 7 }, 0},
		{"without its SCSI host (going away)", func(m fstest.MapFS) {
			for k := range m {
				if strings.HasPrefix(k, "class/scsi_host/host3/") {
					delete(m, k)
				}
			}
		}, join(mine), none, 0},
		{"empty sysfs", func(m fstest.MapFS) { clear(m) }, join(mine), none, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := joinSysfs()
			if tc.mod != nil {
				tc.mod(sys)
			}
			asked := 0
			ks, ok := findSession(sys, tc.j, func(sid uint32) bool { asked++; return tc.taken(sid) })
			switch {
			case tc.want == 0 && ok:
				t.Errorf("found %+v, want none", ks)
			case tc.want != 0 && (!ok || ks != (iscsi.KernelSession{SID: tc.want, CID: 0, HostNo: 3})):
				t.Errorf("found %+v %v, want session %d on host 3", ks, ok, tc.want)
			case asked > 1:
				t.Errorf("taken asked %d times: only about a session that matches", asked)
			}
		})
	}
}

func TestReadPathDisk(t *testing.T) {
	sys := joinSysfs()
	d, err := readPathDisk(sys, 3, 1)
	if err != nil || d.Name != "sdc" || d.Dev != "8:32" || d.Sectors != 2097152 || d.WWID != "360014051234567890abcdef012345678" {
		t.Errorf("readPathDisk = %+v, %v", d, err)
		t.Logf("%#v", d)
	}
	for _, tc := range []struct {
		lun     uint64
		noBlock bool
		want    string
	}{
		{2, true, "no block device"}, // the LUN's directory without its disk yet
		{9, true, "no block device"}, // the LUN not scanned yet
		{3, false, "reports no WWID"},
	} {
		_, err := readPathDisk(sys, 3, tc.lun)
		if err == nil || errors.Is(err, iscsi.ErrNoBlockDevice) != tc.noBlock || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LUN %d: %v, want %q (no block device: %v)", tc.lun, err, tc.want, tc.noBlock)
		}
	}
}

// TestStateJoins: a State's joins and maps are checked (the round trip:
// TestStateRoundTrip).
func TestStateJoins(t *testing.T) {
	if err := joinTestState().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*State)
		want string
	}{
		{func(s *State) { s.Joins[0].ISID = s.Sessions[0].ISID }, "is another session's"},
		{func(s *State) { s.Joins[0].Map = "other" }, "not among the maps"},
		{func(s *State) { s.Joins[0].SID = 4 }, "has a session already"},
		{func(s *State) { s.Joins[0].Portals = nil }, "join 0 has no portal"},
		{func(s *State) { s.Maps[0].Sectors = 0 }, "wants a name, a WWID, a size and a path"},
		{func(s *State) { s.Maps[0].Paths[0].Dev = "sdb" }, "multipath map 3600140512345"},
		{func(s *State) { s.Maps = append(s.Maps, s.Maps[0]) }, "listed twice"},
	} {
		bad := joinTestState()
		tc.mod(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want %q", err, tc.want)
		}
	}
}

func joinTestState() State {
	s := Session{SID: 1, InitiatorName: "iqn.i:me", TargetName: "iqn.t:root", Portals: []string{"10.77.0.1:3260"},
		ISID: iscsi.ISID{0x80, 1, 2, 3, 0, 0}, Map: "3600140512345", PathDev: "8:16"}
	j := Join{Session: Session{InitiatorName: "iqn.i:me", TargetName: "iqn.t:root", Portals: []string{"10.78.0.1:3260"},
		ISID: iscsi.ISID{0x80, 1, 2, 3, 1, 0}, Map: "3600140512345", Credentials: iscsi.Credentials{Username: "u", Password: "secret"}}, LUN: 1, CmdsMax: 64, QueueDepth: 16}
	return State{TransportHandle: 1, Sessions: []Session{s}, Joins: []Join{j},
		Maps: []Map{{Name: "3600140512345", WWID: "3600140512345", Sectors: 8, Config: multipath.DefaultConfig(), Paths: []multipath.Path{{Dev: "8:16"}}}}}
}
