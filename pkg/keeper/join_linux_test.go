//go:build linux

package keeper

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/devmapper"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/multipath"
	"github.com/u-root/iscsinl"
)

const joinWWID = "3600140512345"

// joinKernel is the kernel as a join uses it: it makes session 7 on SCSI
// host 3 and records the commands.
type joinKernel struct {
	mu    sync.Mutex
	calls []string
}

func (k *joinKernel) record(c string) {
	k.mu.Lock()
	k.calls = append(k.calls, c)
	k.mu.Unlock()
}

func (k *joinKernel) called() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return strings.Join(k.calls, ",")
}

func (k *joinKernel) CreateSession(cmdsMax, depth uint16) (uint32, uint32, error) {
	k.record(fmt.Sprintf("create %d/%d", cmdsMax, depth))
	return 7, 3, nil
}
func (k *joinKernel) CreateConnection(uint32) (uint32, error) { k.record("conn"); return 0, nil }
func (k *joinKernel) BindConnection(sid, cid uint32, fd int) error {
	k.record(fmt.Sprintf("bind %d", sid))
	return nil
}
func (k *joinKernel) SetParam(uint32, uint32, iscsinl.IscsiParam, string) error { return nil }
func (k *joinKernel) StartConnection(sid, cid uint32) error {
	k.record(fmt.Sprintf("start %d", sid))
	return nil
}
func (k *joinKernel) StopConnection(uint32, uint32) error    { k.record("stop"); return nil }
func (k *joinKernel) DestroyConnection(uint32, uint32) error { k.record("destroy-conn"); return nil }
func (k *joinKernel) DestroySession(uint32) error            { k.record("destroy"); return nil }

// loadMap is a multipath map whose table the keeper may load again: its
// status lists the paths of the last table loaded (each in a group of
// its own, all active).
type loadMap struct {
	mu    sync.Mutex
	paths []string
	loads []string
}

func (m *loadMap) Create(string, string) (devmapper.Info, error) {
	return devmapper.Info{}, errors.New("no")
}
func (m *loadMap) Load(name string, ts []devmapper.Target, ro bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name != joinWWID || len(ts) != 1 || ts[0].Type != "multipath" || ts[0].Length != 8 {
		return fmt.Errorf("load %s %+v", name, ts)
	}
	m.loads = append(m.loads, ts[0].Params)
	m.paths = nil
	for _, f := range strings.Fields(ts[0].Params) {
		if strings.Contains(f, ":") {
			m.paths = append(m.paths, f)
		}
	}
	return nil
}
func (m *loadMap) Resume(string, bool) (devmapper.Info, error) { return devmapper.Info{}, nil }
func (m *loadMap) Remove(string) error                         { return errors.New("no") }
func (m *loadMap) Message(string, uint64, string) (string, error) {
	return "", nil
}
func (m *loadMap) Status(name string) (devmapper.Info, []devmapper.Target, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	line := fmt.Sprintf("2 0 0 0 %d 1", len(m.paths))
	for i, p := range m.paths {
		st := "E"
		if i == 0 {
			st = "A"
		}
		line += fmt.Sprintf(" %s 0 1 2 %s A 0 0 1", st, p)
	}
	return devmapper.Info{}, []devmapper.Target{{Length: 8, Type: "multipath", Params: line}}, nil
}

func (m *loadMap) loaded() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.loads...)
}

// serveLogins answers every login on l as accept does, and holds the
// connections until the test ends.
func serveLogins(t *testing.T, l net.Listener) {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				for {
					p, err := iscsi.ReadPDU(c, 1<<20)
					if err != nil {
						return
					}
					req, err := iscsi.ParseLoginRequest(p)
					if err != nil {
						return
					}
					if err := iscsi.WritePDU(c, accept(req).PDU()); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// joinState is a root session on a map of one path (8:16), and a join
// of the map's second path through portal.
func joinState(root, portal string) State {
	s := mapSession(root)
	j := Join{Session: Session{InitiatorName: s.InitiatorName, TargetName: s.TargetName, Portals: []string{portal},
		ISID: iscsi.ISID{0x80, 1, 2, 3, 1, 0}, Map: joinWWID, NoopIntervalSec: 5, NoopTimeoutSec: 5}, LUN: 1, CmdsMax: 64, QueueDepth: 16}
	return State{TransportHandle: testHandle, Sessions: []Session{s}, Joins: []Join{j},
		Maps: []Map{{Name: joinWWID, WWID: joinWWID, Sectors: 8, Config: multipath.DefaultConfig(), Paths: []multipath.Path{{Dev: "8:16"}}}}}
}

// joinEnv is the system of a join: kernel, map, and a disk of wwid on
// SCSI host 3 LUN 1 that shows after the first look.
func joinEnv(kernel *joinKernel, m multipath.Control, wwid string, scans *[]string, found bool) env {
	looks := 0
	var mu sync.Mutex
	return env{
		maps: m, multipathd: func() bool { return false }, kernel: kernel,
		scan: func(host uint32, lun uint64) error {
			mu.Lock()
			*scans = append(*scans, fmt.Sprintf("%d:%d", host, lun))
			mu.Unlock()
			return nil
		},
		disk: func(host uint32, lun uint64) (pathDisk, error) {
			if host != 3 || lun != 1 {
				return pathDisk{}, fmt.Errorf("disk of host %d LUN %d", host, lun)
			}
			if looks++; looks == 1 {
				return pathDisk{}, fmt.Errorf("%w 1", iscsi.ErrNoBlockDevice)
			}
			return pathDisk{Name: "sdc", Dev: "8:48", Sectors: 8, WWID: wwid}, nil
		},
		findSession: func(j Join, taken func(uint32) bool) (iscsi.KernelSession, bool) {
			if !found || j.ISID != (iscsi.ISID{0x80, 1, 2, 3, 1, 0}) || taken(7) {
				return iscsi.KernelSession{}, false
			}
			return iscsi.KernelSession{SID: 7, CID: 0, HostNo: 3}, true
		},
	}
}

// TestRunJoinsAPathThatComesBack: a path of the root's map that did not
// log in at boot is logged in to once its portal answers; its LUN is
// scanned, its disk added to the map (the table loaded again with both
// paths), and its session kept: a failure of it is recovered.
func TestRunJoinsAPathThatComesBack(t *testing.T) {
	k := newFakeKernel(t)
	root, _ := portal(t)
	later := closedPortal(t) // refuses until the test listens on it
	kernel := &joinKernel{}
	m := &loadMap{paths: []string{"8:16"}}
	var scans []string
	h := startState(t, k, joinState(root, later), Options{OtherDaemonPoll: time.Hour}, joinEnv(kernel, m, joinWWID, &scans, false))
	eventually(t, 3*time.Second, "connects refused", func() bool { return h.dials.Load() >= 2 })
	if kernel.called() != "" {
		t.Fatalf("the kernel was asked %s before the portal answered", kernel.called())
	}
	l, err := net.Listen("tcp4", later)
	if err != nil {
		t.Fatal(err)
	}
	serveLogins(t, l)
	eventually(t, 5*time.Second, "joined", func() bool { return h.logged("joined multipath map " + joinWWID) })
	if got := kernel.called(); got != "create 64/16,conn,bind 7,start 7" {
		t.Errorf("kernel commands %q", got)
	}
	if strings.Join(scans, " ") != "3:1" {
		t.Errorf("scans %q, want LUN 1 of host 3", scans)
	}
	loads := m.loaded()
	if len(loads) != 1 || !strings.Contains(loads[0], "8:16") || !strings.Contains(loads[0], "8:48") || !strings.HasPrefix(loads[0], "0 0 2 1") {
		t.Errorf("tables loaded %q, want one over 8:16 and 8:48", loads)
	}
	if !h.logged("path " + later + " of map " + joinWWID + " (iqn.t:root LUN 1): session 7 logged in via " + later) {
		t.Errorf("no log line naming the path and its session")
	}
	// Kept: its failure is recovered like the root's.
	k.events <- Event{Type: EventConnError, TransportHandle: testHandle, SID: 7, CID: 0, Error: 1011}
	eventually(t, 3*time.Second, "session 7 recovered", func() bool { return h.logged("recovered session 7 via " + later) })
}

// TestRunJoinAdoptsAndChecks: a keeper started again adopts the
// session its predecessor made (no login, no second table when the disk
// is in the map already); a disk of another LUN, or multipathd running,
// leaves the map's table alone.
func TestRunJoinAdoptsAndChecks(t *testing.T) {
	for _, tc := range []struct {
		name       string
		wwid       string
		inMap      bool
		multipathd bool
		found      bool
		want       string
	}{
		{"adopted, in the map", joinWWID, true, false, true, "found in sysfs, made by the keeper before this one; its disk sdc (8:48) is in map " + joinWWID + " already"},
		{"adopted, not in the map", joinWWID, false, false, true, "its disk sdc (8:48) joined multipath map " + joinWWID},
		{"another LUN", "36001405aaaaa", false, false, true, "has WWID 36001405aaaaa, not the map's " + joinWWID + ": not one LUN"},
		{"multipathd", joinWWID, false, true, true, "multipathd runs: it adds its disk sdc (8:48) to map " + joinWWID},
		{"logged in", joinWWID, false, false, false, "joined multipath map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel(t)
			root, _ := portal(t)
			joinPortal := root
			if tc.found {
				joinPortal = closedPortal(t)
			}
			kernel := &joinKernel{}
			m := &loadMap{paths: []string{"8:16"}}
			if tc.inMap {
				m.paths = append(m.paths, "8:48")
			}
			var scans []string
			e := joinEnv(kernel, m, tc.wwid, &scans, tc.found)
			e.multipathd = func() bool { return tc.multipathd }
			var p string
			if !tc.found {
				l, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				serveLogins(t, l)
				p = l.Addr().String()
			} else {
				p = joinPortal
			}
			h := startState(t, k, joinState(root, p), Options{OtherDaemonPoll: time.Hour}, e)
			eventually(t, 5*time.Second, tc.want, func() bool { return h.logged(tc.want) })
			if tc.found && kernel.called() != "" {
				t.Errorf("an adopted session's path was logged in to: %s", kernel.called())
			}
			wantLoads := 0
			if !tc.inMap && !tc.multipathd && tc.wwid == joinWWID {
				wantLoads = 1
			}
			if got := m.loaded(); len(got) != wantLoads {
				t.Errorf("tables loaded %q, want %d", got, wantLoads)
			}
		})
	}
}

// TestRunJoinLeftToIscsid: once iscsid runs the keeper steps aside, and
// says which path it had not logged in to yet.
func TestRunJoinLeftToIscsid(t *testing.T) {
	k := newFakeKernel(t)
	root, _ := portal(t)
	never := closedPortal(t)
	var scans []string
	h := startState(t, k, joinState(root, never), Options{}, joinEnv(&joinKernel{}, &loadMap{paths: []string{"8:16"}}, joinWWID, &scans, false))
	eventually(t, 3*time.Second, "connects refused", func() bool { return h.dials.Load() >= 1 })
	h.other.Store(true)
	if err := h.waitDone(t, 3*time.Second); !errors.Is(err, ErrSteppedAside) {
		t.Errorf("Run = %v, want ErrSteppedAside", err)
	}
	if !h.logged("path " + never + " of map " + joinWWID + " (iqn.t:root LUN 1): not logged in yet, and iscsid has no record of it") {
		t.Errorf("the path left to iscsid is not named")
	}
}
