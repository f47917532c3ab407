package multipath

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/devmapper"
)

const wwid = "36001405f3d7c8b3c1d2a4a5bb8e1c0de"

func TestParams(t *testing.T) {
	two := []Path{{Dev: "8:16"}, {Dev: "8:32"}}
	for _, tc := range []struct {
		name  string
		cfg   Config
		paths []Path
		want  string
	}{
		// multipathd's table for a LIO LUN on two portals of one TPG
		// (one ALUA state, so one group).
		{"LIO", ConfigFor("LIO-ORG ", "disk0"), two, "1 queue_if_no_path 1 alua 1 1 service-time 0 2 1 8:16 1 8:32 1"},
		// tgt ("IET"): the defaults, one group per path.
		{"tgt", ConfigFor("IET     ", "VIRTUAL-DISK"), two, "0 0 2 1 service-time 0 1 1 8:16 1 service-time 0 1 1 8:32 1"},
		{"multibus round-robin", Config{Grouping: Multibus, Selector: "round-robin 0", MinIO: 1000}, two,
			"0 0 1 1 round-robin 0 2 1 8:16 1000 8:32 1000"},
		{"by ALUA priority", Config{Grouping: GroupByPriority, HardwareHandler: "alua"},
			[]Path{{"8:16", ALUAPriority(ALUANonOptimized, false)}, {"8:32", ALUAPriority(ALUAOptimized, false)},
				{"8:48", ALUAPriority(ALUAOptimized, false)}, {"8:64", ALUAPriority(ALUAStandby, true)}},
			"0 1 alua 3 1 service-time 0 1 1 8:64 1 service-time 0 2 1 8:32 1 8:48 1 service-time 0 1 1 8:16 1"},
		{"one path", DefaultConfig(), two[:1], "0 0 1 1 service-time 0 1 1 8:16 1"},
	} {
		got, err := tc.cfg.Params(tc.paths)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v\nwant %q", tc.name, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		cfg   Config
		paths []Path
	}{
		{DefaultConfig(), nil},
		{DefaultConfig(), []Path{{Dev: "sdb"}}},
		{DefaultConfig(), []Path{{Dev: "8:16"}, {Dev: "8:16"}}},
		{Config{Selector: "service-time 1"}, two},
		{Config{Selector: "service-time"}, two},
		{Config{HardwareHandler: "1 alua"}, two},
	} {
		if got, err := tc.cfg.Params(tc.paths); err == nil {
			t.Errorf("%+v %v: %q", tc.cfg, tc.paths, got)
		}
	}
}

func TestNames(t *testing.T) {
	if MapName(wwid) != wwid || MapUUID(wwid) != "mpath-"+wwid {
		t.Error(MapName(wwid), MapUUID(wwid))
	}
	if PartitionName(wwid, 1) != wwid+"-part1" || PartitionUUID(MapUUID(wwid), 2) != "part2-mpath-"+wwid {
		t.Error(PartitionName(wwid, 1), PartitionUUID(MapUUID(wwid), 2))
	}
	for _, bad := range []string{"", "a/b", "a b", strings.Repeat("3", 123)} {
		if checkWWID(bad) == nil {
			t.Errorf("WWID %q accepted", bad)
		}
	}
	if ALUAPriority(ALUAOptimized, true) != 50 || ALUAPriority(ALUANonOptimized, true) != 90 || ALUAPriority("unavailable", false) != 0 {
		t.Error("ALUAPriority")
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		line string
		want *Status
	}{
		{"2 0 0 0 1 1 A 0 2 2 8:16 A 0 0 1 8:32 F 1 0 1", &Status{NextGroup: 1, Groups: []GroupStatus{{State: 'A', Paths: []PathStatus{
			{"8:16", true, 0, []string{"0", "1"}}, {"8:32", false, 1, []string{"0", "1"}}}}}}},
		{"2 1 0 0 2 2 E 0 1 1 8:16 F 3 0 D 0 1 1 8:32 F 2 0", &Status{QueueIO: true, NextGroup: 2, Groups: []GroupStatus{
			{State: 'E', Paths: []PathStatus{{"8:16", false, 3, []string{"0"}}}},
			{State: 'D', Paths: []PathStatus{{"8:32", false, 2, []string{"0"}}}}}}},
		{"2 0 0 0 0 0", &Status{}},
	} {
		got, err := ParseStatus(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v, %v\nwant %+v", tc.line, got, err, tc.want)
			continue
		}
		t.Logf("%q: %s", tc.line, got)
	}
	s, _ := ParseStatus("2 0 0 0 1 1 A 0 2 2 8:16 A 0 0 1 8:32 F 1 0 1")
	if a := s.Active(); len(a) != 1 || a[0] != "8:16" {
		t.Errorf("Active = %v", a)
	}
	if p, ok := s.Path("8:32"); !ok || p.Active || p.FailCount != 1 {
		t.Errorf("Path(8:32) = %+v %v", p, ok)
	}
	for _, bad := range []string{
		"", "2 0 0", "2 0 0 0 1 1 X 0 1 0 8:16 A 0", "2 0 0 0 1 1 A 0 1 0 8:16 Q 0", "2 0 0 0 1 1 A 0 1 0 sdb A 0",
		"2 0 0 0 1 1 A 0 1 0 8:16 A 0 extra", "2 0 0 0 1 2 A 0 1 0 8:16 A 0", "2 0 0 0 99999999999 1",
	} {
		if s, err := ParseStatus(bad); err == nil {
			t.Errorf("%q parsed: %+v", bad, s)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add("2 0 0 0 1 1 A 0 2 2 8:16 A 0 0 1 8:32 F 1 0 1")
	f.Add("2 1 0 0 2 2 E 0 1 1 8:16 F 3 0 D 0 1 1 8:32 F 2 0")
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParseStatus(line)
		if err == nil && s.String() == "" && len(s.Groups) > 0 {
			t.Fatal("groups without a summary")
		}
	})
}

// fakeDM records calls and fails the ones named in fail.
type fakeDM struct {
	calls []string
	fail  string
	devs  map[string]bool
}

func (f *fakeDM) do(call string) error {
	f.calls = append(f.calls, call)
	if f.fail != "" && strings.HasPrefix(call, f.fail) {
		return errors.New("refused")
	}
	return nil
}

func (f *fakeDM) Create(name, uuid string) (devmapper.Info, error) {
	if err := f.do("create " + name + " " + uuid); err != nil {
		return devmapper.Info{}, err
	}
	if f.devs == nil {
		f.devs = map[string]bool{}
	}
	f.devs[name] = true
	return devmapper.Info{Name: name, UUID: uuid, Major: 253, Minor: uint32(len(f.devs) - 1)}, nil
}

func (f *fakeDM) Load(name string, ts []devmapper.Target, ro bool) error {
	return f.do("load " + name + " " + ts[0].String())
}

func (f *fakeDM) Resume(name string, noFlush bool) (devmapper.Info, error) {
	if err := f.do("resume " + name); err != nil {
		return devmapper.Info{}, err
	}
	return devmapper.Info{Name: name, Major: 253, Minor: uint32(len(f.devs) - 1), Flags: devmapper.FlagActivePresent}, nil
}

func (f *fakeDM) Remove(name string) error {
	delete(f.devs, name)
	return f.do("remove " + name)
}

func (f *fakeDM) Status(name string) (devmapper.Info, []devmapper.Target, error) {
	return devmapper.Info{}, []devmapper.Target{{Length: 8, Type: "multipath", Params: "2 0 0 0 1 1 A 0 1 2 8:16 A 0 0 1"}}, f.do("status " + name)
}

func (f *fakeDM) Message(name string, sector uint64, msg string) (string, error) {
	return "", f.do("message " + name + " " + msg)
}

func TestCreate(t *testing.T) {
	f := &fakeDM{}
	paths := []Path{{Dev: "8:16"}, {Dev: "8:32"}}
	m, err := Create(f, wwid, 2048, paths, ConfigFor("LIO-ORG", ""))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"create " + wwid + " mpath-" + wwid,
		"load " + wwid + " 0 2048 multipath 1 queue_if_no_path 1 alua 1 1 service-time 0 2 1 8:16 1 8:32 1",
		"resume " + wwid,
	}
	if !reflect.DeepEqual(f.calls, want) || m.Info.Major != 253 {
		t.Errorf("calls %q, map %+v", f.calls, m)
	}
	f.calls = nil
	if err := FailPath(f, m.Name, "8:16"); err != nil {
		t.Fatal(err)
	}
	if err := ReinstatePath(f, m.Name, "8:16"); err != nil {
		t.Fatal(err)
	}
	if err := FailPath(f, m.Name, "sdb"); err == nil {
		t.Error("fail_path sdb sent")
	}
	s, err := GetStatus(f, m.Name)
	if err != nil || len(s.Active()) != 1 {
		t.Errorf("status %+v %v", s, err)
	}
	if _, err := CreatePartition(f, m, 1, 2048, 2048); err == nil {
		t.Error("a partition beyond the map")
	}
	if _, err := CreatePartition(f, m, 1, 34, 2000); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"message " + wwid + " fail_path 8:16",
		"message " + wwid + " reinstate_path 8:16",
		"status " + wwid,
		"create " + wwid + "-part1 part1-mpath-" + wwid,
		"load " + wwid + "-part1 0 2000 linear 253:0 34",
		"resume " + wwid + "-part1",
	}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls %q\nwant %q", f.calls, want)
	}

	// A refused table leaves no device behind.
	f = &fakeDM{fail: "load"}
	if _, err := Create(f, wwid, 2048, paths, DefaultConfig()); err == nil || len(f.devs) != 0 {
		t.Errorf("err %v, devices left %v (calls %q)", err, f.devs, f.calls)
	}
	f = &fakeDM{fail: "resume"}
	if _, err := Create(f, wwid, 2048, paths, DefaultConfig()); err == nil || len(f.devs) != 0 {
		t.Errorf("err %v, devices left %v", err, f.devs)
	}
}

func TestPathsOf(t *testing.T) {
	disks := []blockdev.Device{
		{Name: "sdb", Major: 8, Minor: 16, Size: 1 << 30, WWID: wwid},
		{Name: "sdc", Major: 8, Minor: 32, Size: 1 << 30, WWID: wwid},
	}
	paths, sectors, w, err := PathsOf(disks)
	if err != nil || sectors != 1<<21 || w != wwid || len(paths) != 2 || paths[1].Dev != "8:32" {
		t.Fatalf("%v %d %s %v", paths, sectors, w, err)
	}
	for _, mutate := range []func(d *blockdev.Device){
		func(d *blockdev.Device) { d.WWID = "3600" },
		func(d *blockdev.Device) { d.Size-- },
		func(d *blockdev.Device) { d.PartNumber = 1 },
		func(d *blockdev.Device) { d.Major, d.Minor = 0, 0 },
	} {
		bad := append([]blockdev.Device(nil), disks...)
		mutate(&bad[1])
		if _, _, _, err := PathsOf(bad); err == nil {
			t.Errorf("%+v accepted", bad[1])
		}
	}
}

func TestParsePathEvent(t *testing.T) {
	ev, ok := ParsePathEvent(map[string]string{"DM_ACTION": "PATH_FAILED", "DM_NAME": wwid, "DM_PATH": "8:16", "DM_NR_VALID_PATHS": "1"})
	if !ok || !ev.Failed || ev.Map != wwid || ev.Path != "8:16" || ev.ValidPaths != 1 {
		t.Errorf("%+v %v", ev, ok)
	}
	if _, ok := ParsePathEvent(map[string]string{"ACTION": "change"}); ok {
		t.Error("a plain change event")
	}
}
