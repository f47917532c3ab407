package boot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/multipath"
)

const (
	portalA = "10.77.0.1:3260"
	portalB = "10.77.0.2:3260"
	// twoPortals is the scenario with the target named on two portals.
	twoPortals = "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " + bondAB +
		" netroot=iscsi:10.77.0.1::3260:1:" + targetIQN + " netroot=iscsi:10.77.0.2::3260:1:" + targetIQN + " " + rootArgs
)

// shorten sets a timing variable for one test.
func shorten(t *testing.T, v *time.Duration, d time.Duration) {
	old := *v
	*v = d
	t.Cleanup(func() { *v = old })
}

// TestPathsFirstAnswerWins: one target on two portals; whichever path is
// dead — refused, or a black hole that never answers — the boot logs in
// through the other at once, keeps one session (one disk) and gives the
// keeper both portals, the kept one first.
func TestPathsFirstAnswerWins(t *testing.T) {
	for _, tc := range []struct {
		name   string
		behave map[string]func(context.Context) error
		won    string
	}{
		{"both alive, B slower", map[string]func(context.Context) error{portalB: after(200 * time.Millisecond)}, portalA},
		{"A refused", map[string]func(context.Context) error{portalA: refused}, portalB},
		{"A a black hole", map[string]func(context.Context) error{portalA: blackHole}, portalB},
		{"B a black hole", map[string]func(context.Context) error{portalB: blackHole}, portalA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPathsRig(t)
			r.behave = tc.behave
			took, err := r.boot(twoPortals)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, r.screen)
			}
			if took > 5*time.Second {
				t.Errorf("the boot took %v: a dead path held it", took)
			}
			if got := r.calledAtLeast("connect", 2, 2*time.Second); len(got) != 2 {
				t.Errorf("logins %q, want one on each path", got)
			}
			if got := r.called("prepare"); len(got) != 1 {
				t.Errorf("kernel sessions %q, want one", got)
			}
			if n := len(r.disks); n != 1 {
				t.Errorf("%d disks, want one", n)
			}
			if r.state == nil || len(r.state.Sessions) != 1 {
				t.Fatalf("keeper state %+v", r.state)
			}
			other := map[string]string{portalA: portalB, portalB: portalA}[tc.won]
			if got := r.state.Sessions[0].Portals; !slices.Equal(got, []string{tc.won, other}) {
				t.Errorf("keeper's portals %q, want %s first, then %s", got, tc.won, other)
			}
			if !strings.Contains(r.screen.String(), "login: "+tc.won+" "+targetIQN+": session") {
				t.Errorf("the login line does not name the path kept:\n%s", r.screen)
			}
		})
	}
}

// TestPathsDistinctISIDs: the paths log in with ISIDs of their own (two
// sessions of one target and ISID would make the target drop the first),
// path 0 with the one a single path has.
func TestPathsDistinctISIDs(t *testing.T) {
	r := newPathsRig(t)
	// B's login completes after A's, whatever: too late to be cancelled.
	r.behave = map[string]func(context.Context) error{
		portalA: after(20 * time.Millisecond),
		portalB: func(context.Context) error {
			time.Sleep(80 * time.Millisecond)
			return nil
		}}
	if _, err := r.boot(twoPortals); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The slower path's login, which completed after the race was won,
	// is closed.
	deadline := time.Now().Add(2 * time.Second)
	for {
		r.mu.Lock()
		closed := slices.Contains(r.closed, portalB)
		r.mu.Unlock()
		if closed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late login on %s was not closed: %q", portalB, r.closed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	isids := map[string]iscsi.ISID{}
	for _, l := range r.logins {
		isids[l.Portal] = l.ISID
	}
	single := iscsi.StableISID("iqn.2010-01.org.example:client", targetIQN, 0)
	if isids[portalA] != single || isids[portalB] == isids[portalA] || isids[portalB][4] != 1 {
		t.Errorf("ISIDs %v, want path 0 = %v and path 1 another", isids, single)
	}
}

// TestPathsAllDead: no path answers: one FATAL line names each.
func TestPathsAllDead(t *testing.T) {
	r := newPathsRig(t)
	r.behave = map[string]func(context.Context) error{portalA: refused, portalB: refused}
	_, err := r.boot(twoPortals + " rd.shell=0")
	if err == nil {
		t.Fatal("booted without a path")
	}
	screen := r.screen.String()
	for _, p := range []string{portalA, portalB} {
		if !strings.Contains(screen, p) {
			t.Errorf("the failure does not name %s:\n%s", p, screen)
		}
	}
}

// TestFailingTargetDoesNotAbortTheOthers (dracut#1798): a second target
// (a data LUN) that fails — refused at once, or never answering — is left
// out with a warning once the root is found on the first; when the root
// is what is missing, the FATAL lines name both.
func TestFailingTargetDoesNotAbortTheOthers(t *testing.T) {
	shorten(t, &otherTargetsGrace, 300*time.Millisecond)
	const data = "iqn.2010-01.org.example:data"
	const dataPortal = "10.77.0.3:3260"
	cmdline := "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " + bondAB +
		" netroot=iscsi:10.77.0.1::3260:1:" + targetIQN + " netroot=iscsi:10.77.0.3::3260:1:" + data + " " + rootArgs
	for _, tc := range []struct {
		name string
		fail func(context.Context) error
		warn string
	}{
		{"refused", refused, "connection refused"},
		{"black hole", blackHole, "given up 300ms after the root was found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPathsRig(t)
			r.behave = map[string]func(context.Context) error{dataPortal: tc.fail}
			took, err := r.boot(cmdline)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, r.screen)
			}
			if took > 5*time.Second {
				t.Errorf("the boot took %v", took)
			}
			if !strings.Contains(r.screen.String(), tc.warn) || !strings.Contains(r.screen.String(), "(the root was found without it; booting on)") {
				t.Errorf("no warning %q:\n%s", tc.warn, r.screen)
			}
			if r.state == nil || len(r.state.Sessions) != 1 || r.state.Sessions[0].TargetName != targetIQN {
				t.Errorf("keeper state %+v", r.state)
			}
		})
	}
	// The root's target is the one that fails: no root, and the FATAL
	// lines say why, the failed login included.
	r := newPathsRig(t)
	r.behave = map[string]func(context.Context) error{portalA: refused}
	_, err := r.boot(strings.Replace(cmdline, "root=LABEL=ISCSI_ROOT", "root=LABEL=elsewhere", 1) + " rd.retry=1 rd.shell=0")
	if err == nil {
		t.Fatal("booted without the root")
	}
	screen := r.screen.String()
	if !strings.Contains(screen, "FATAL root: no block device matches LABEL=elsewhere") || !strings.Contains(screen, portalA) {
		t.Errorf("FATAL lines:\n%s", screen)
	}
}

// TestOneLUNThroughTwoSessionsIsOneRoot: two targets that are the same
// LUN (one WWID) give two disks with the root's label: one root, the
// first session's disk; two LUNs with the label stay ambiguous.
func TestOneLUNThroughTwoSessionsIsOneRoot(t *testing.T) {
	const alias = "iqn.2010-01.org.example:root-alias"
	cmdline := "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " + bondAB +
		" netroot=iscsi:10.77.0.1::3260:1:" + targetIQN + " netroot=iscsi:10.77.0.2::3260:1:" + alias + " " + rootArgs
	r := newPathsRig(t)
	r.wwid = func(string, uint64) string { return "36001405aaaabbbbccccdddd" }
	r.behave = map[string]func(context.Context) error{portalA: after(100 * time.Millisecond)}
	if _, err := r.boot(cmdline); err != nil {
		t.Fatalf("Run: %v\n%s", err, r.screen)
	}
	screen := r.screen.String()
	if !strings.Contains(screen, "root: LABEL=ISCSI_ROOT matches sda, sdb: one LUN (WWID 36001405aaaabbbbccccdddd) seen through 2 sessions") {
		t.Errorf("no dedupe line:\n%s", screen)
	}
	// The first session in the targets' order is the first target's.
	if got := r.called("mount /dev/"); len(got) != 1 || !strings.HasPrefix(got[0], "mount /dev/sdb ") {
		t.Errorf("mounted %q, want the first target's disk (sdb: it logged in second)", got)
	}

	r = newPathsRig(t)
	r.behave = map[string]func(context.Context) error{portalA: after(100 * time.Millisecond)}
	if _, err := r.boot(cmdline + " rd.shell=0"); err == nil {
		t.Fatal("two LUNs with one label booted")
	}
	if !strings.Contains(r.screen.String(), "2 block devices match LABEL=ISCSI_ROOT") {
		t.Errorf("no ambiguity:\n%s", r.screen)
	}
}

// TestMultipathRoot: rd.netroot.multipath=1 keeps a session on both
// paths and mounts the root on the map over their disks (or on the map of
// its partition); the keeper knows which map and path each session is.
func TestMultipathRoot(t *testing.T) {
	for _, partitioned := range []bool{false, true} {
		r := newPathsRig(t)
		r.partitioned = partitioned
		r.behave = map[string]func(context.Context) error{portalB: after(50 * time.Millisecond)}
		if _, err := r.boot(twoPortals + " rd.netroot.multipath=1"); err != nil {
			t.Fatalf("partitioned %v: Run: %v\n%s", partitioned, err, r.screen)
		}
		wwid := r.lunWWID(targetIQN, 1)
		want := []string{
			"create " + wwid + " mpath-" + wwid,
			"load " + wwid + " 0 131072 multipath 1 queue_if_no_path 0 2 1 service-time 0 1 1 8:0 1 service-time 0 1 1 8:16 1",
			"resume " + wwid,
		}
		mount := "mount /dev/dm-0 /sysroot ext4"
		if partitioned {
			want = append(want, "create "+wwid+"-part1 part1-mpath-"+wwid, "load "+wwid+"-part1 0 129024 linear 253:0 2048", "resume "+wwid+"-part1")
			mount = "mount /dev/dm-1 /sysroot ext4"
		}
		if !slices.Equal(r.dm.calls, want) {
			t.Errorf("partitioned %v: device-mapper calls\n%q\nwant\n%q", partitioned, r.dm.calls, want)
		}
		if got := r.called("mount /dev/"); len(got) != 1 || !strings.HasPrefix(got[0], mount) {
			t.Errorf("partitioned %v: mounted %q, want %s", partitioned, got, mount)
		}
		if r.state == nil || len(r.state.Sessions) != 2 {
			t.Fatalf("keeper state %+v", r.state)
		}
		for _, s := range r.state.Sessions {
			if s.Map != wwid || (s.PathDev != "8:0" && s.PathDev != "8:16") || len(s.Portals) != 1 {
				t.Errorf("session %d: map %q path %q portals %q; want the map, its disk and its own portal only", s.SID, s.Map, s.PathDev, s.Portals)
			}
		}
		if s := r.state.Sessions; s[0].ISID == s[1].ISID {
			t.Errorf("both sessions have ISID %v", s[0].ISID)
		}
		hint, err := r.files.ReadFile(multipathHintFile)
		if err != nil || !strings.Contains(string(hint), `"wwid": "`+wwid+`"`) {
			t.Errorf("%s: %s %v", multipathHintFile, hint, err)
		}
		if w, _ := r.files.ReadFile(multipathWWIDsFile); string(w) != "/"+wwid+"/\n" {
			t.Errorf("%s: %q", multipathWWIDsFile, w)
		}
		// udev's database says the maps were activated, so the real OS's
		// udev links them at coldplug.
		udev := []string{"/run/udev/data/b253:0"}
		if partitioned {
			udev = append(udev, "/run/udev/data/b253:1")
		}
		for _, p := range udev {
			if e, err := r.files.ReadFile(p); err != nil || string(e) != multipath.UdevDBEntry {
				t.Errorf("partitioned %v: %s: %q %v", partitioned, p, e, err)
			}
		}
		if got, _ := r.files.Glob("/run/udev/data/*"); len(got) != len(udev) {
			t.Errorf("partitioned %v: udev entries %q, want %q", partitioned, got, udev)
		}
		if !stepLine("multipath").MatchString(r.screen.String()) {
			t.Errorf("no multipath step line:\n%s", r.screen)
		}
		if got := r.called("load niced"); len(got) == 0 || !strings.Contains(got[0], "dm_multipath dm_service_time scsi_dh_alua") {
			t.Errorf("modules %q: the multipath modules are not loaded", got)
		}
	}
}

// TestMultipathWithADeadPath: a path that never answers is left out after
// pathGrace: the map has the other one, and the keeper is handed the
// path to log in to later (a join, with the map as made).
func TestMultipathWithADeadPath(t *testing.T) {
	shorten(t, &pathGrace, 200*time.Millisecond)
	r := newPathsRig(t)
	r.behave = map[string]func(context.Context) error{portalA: blackHole}
	took, err := r.boot(twoPortals + " rd.netroot.multipath=1")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, r.screen)
	}
	if took > 5*time.Second {
		t.Errorf("the boot took %v", took)
	}
	screen := r.screen.String()
	if !strings.Contains(screen, "path "+portalA+" of "+targetIQN+" LUN 1 is not up (no session 200ms after another path's); "+
		"the multipath map runs without it: the keeper logs in to it once it answers") {
		t.Errorf("no warning about the path left out:\n%s", screen)
	}
	if !strings.Contains(screen, "keeps 1 session(s) and logs in to 1 path(s) of the multipath map once they answer") {
		t.Errorf("the keeper's line does not say it logs in to the path:\n%s", screen)
	}
	if r.state == nil || len(r.state.Sessions) != 1 || r.state.Sessions[0].Portals[0] != portalB {
		t.Fatalf("keeper state %+v", r.state)
	}
	root := r.state.Sessions[0]
	if len(r.state.Joins) != 1 || len(r.state.Maps) != 1 {
		t.Fatalf("keeper joins %+v, maps %+v: want path A's, on the root's map", r.state.Joins, r.state.Maps)
	}
	j, m := r.state.Joins[0], r.state.Maps[0]
	if j.Portals[0] != portalA || j.TargetName != targetIQN || j.LUN != 1 || j.Map != root.Map || j.ISID == root.ISID ||
		j.InitiatorName != root.InitiatorName || j.RecoveryTimeoutSec != multipathReplacementSec {
		t.Errorf("join %+v (the root's session %+v)", j, root)
	}
	if m.Name != root.Map || m.WWID != root.Map || m.Sectors == 0 || len(m.Paths) != 1 || m.Paths[0].Dev != root.PathDev {
		t.Errorf("map %+v (the root's session's path %s)", m, root.PathDev)
	}
	// The ISID is the one /init's own login to path A would have used.
	if want := iscsi.StableISID(root.InitiatorName, targetIQN, uint16(pathIndex(0, 0))); j.ISID != want {
		t.Errorf("join ISID %s, want %s (path A's)", j.ISID, want)
	}
}

// TestDiscoveryPaths: netroot= without a target name asks the portal;
// each target of the answer is logged in to through every portal it
// lists, the one asked first.
func TestDiscoveryPaths(t *testing.T) {
	r := newPathsRig(t)
	r.discovered = []iscsi.DiscoveredTarget{{Name: targetIQN, Portals: []iscsi.TargetPortal{
		{Addr: portalB, TPGT: 2, HasTPGT: true}, {Addr: portalA, TPGT: 1, HasTPGT: true}}}}
	// Path A wins once B's login has started: B's turn would otherwise
	// be given up unstarted when the race was won before it came.
	r.behave = map[string]func(context.Context) error{portalA: r.whenCalled("connect " + portalB), portalB: after(100 * time.Millisecond)}
	r.tpgt = map[string]uint16{portalB: 2}
	cmdline := strings.Replace(scenario, "netroot="+target, "netroot=iscsi:10.77.0.1::3260:1:", 1)
	if _, err := r.boot(cmdline); err != nil {
		t.Fatalf("Run: %v\n%s", err, r.screen)
	}
	if got := r.called("discover"); !slices.Equal(got, []string{"discover " + portalA}) {
		t.Errorf("discovery %q", got)
	}
	if got := r.calledAtLeast("connect", 2, 2*time.Second); len(got) != 2 {
		t.Errorf("logins %q, want both portals", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.logins {
		if (l.ISID[4] == 0) != (l.Portal == portalA) {
			t.Errorf("login on %s is path %d: want the portal asked as path 0", l.Portal, l.ISID[4])
		}
	}
	if !stepLine("discovery").MatchString(r.screen.String()) || !strings.Contains(r.screen.String(), "offers "+targetIQN+" ("+portalB+",2 "+portalA+",1)") {
		t.Errorf("no discovery line:\n%s", r.screen)
	}
	if r.state == nil || !slices.Equal(r.state.Sessions[0].Portals, []string{portalA, portalB}) {
		t.Errorf("keeper state %+v", r.state)
	}
}

// TestDiscoveredPaths is discoveredPaths' decision table.
func TestDiscoveredPaths(t *testing.T) {
	asked := config.Target{Server: "10.77.0.1", Port: 3260, LUN: 2, Group: 1, Auth: config.Auth{Username: "u", Password: config.NewSecret("p")}}
	got := discoveredPaths(asked, []iscsi.DiscoveredTarget{
		{Name: "iqn.t:a", Portals: []iscsi.TargetPortal{{Addr: "10.78.0.1:3260", TPGT: 2, HasTPGT: true}, {Addr: "10.77.0.1:3260", TPGT: 1, HasTPGT: true}}},
		{Name: "iqn.t:b", Portals: []iscsi.TargetPortal{{Addr: "[fd77::1]:3261"}}},
		{Name: "iqn.t:c", Portals: []iscsi.TargetPortal{{Addr: "bad"}}},
	})
	if len(got) != 2 {
		t.Fatalf("%+v", got)
	}
	a := got[0]
	if a.Name != "iqn.t:a" || a.LUN != 2 || !slices.Equal(a.Portals(), []string{"10.77.0.1:3260", "10.78.0.1:3260"}) ||
		a.Paths[1].Group != 2 || a.Paths[1].Auth.Username != "u" || a.Paths[0].Name != "iqn.t:a" {
		t.Errorf("first target %+v", a)
	}
	if b := got[1]; b.Paths[0].Server != "fd77::1" || b.Paths[0].Port != 3261 {
		t.Errorf("second target %+v", b)
	}
}

// TestKeeperSessionBond: the keeper is told the active-backup bond the
// session's path leaves by.
func TestKeeperSessionBond(t *testing.T) {
	for _, tc := range []struct {
		mode, want string
	}{{"active-backup", "bond0"}, {"balance-rr", ""}} {
		r := newPathsRig(t)
		r.bond.mode = tc.mode
		r.bond.ports = []bond.Port{{Name: "eth0", Carrier: true, Active: true}, {Name: "eth1", Carrier: true}}
		if _, err := r.boot(scenario); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if r.state == nil || r.state.Sessions[0].Bond != tc.want {
			t.Errorf("%s: keeper state %+v, want bond %q", tc.mode, r.state, tc.want)
		}
	}
}

// deadSlaveDial is a dialer over a bond whose slave dead carries nothing:
// connects over it get no answer until their context ends.
func deadSlaveDial(r *pathsRig, dead string, dials *[]string, mu *sync.Mutex) dialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		active := r.activeSlave()
		mu.Lock()
		*dials = append(*dials, active)
		mu.Unlock()
		if active == dead {
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		}
		c, peer := net.Pipe()
		peer.Close()
		return c, nil
	}
}

// TestDeadPathSwitchesTheActiveSlave: a connect over an active-backup
// bond whose active slave carries nothing (carrier up) is given
// deadPathProbe, then the other slave is made active and the connect
// tried again over it at once; connects that failed together switch once.
func TestDeadPathSwitchesTheActiveSlave(t *testing.T) {
	shorten(t, &deadPathProbe, 100*time.Millisecond)
	r := newPathsRig(t)
	r.bond.mode = "active-backup"
	r.bond.ports = []bond.Port{{Name: "eth0", Carrier: true, Active: true}, {Name: "eth1", Carrier: true}}
	p := parse(t, scenario)
	b := New(r.env(), r.logger(), Options{})
	dp := newDeadPaths(b, p, r, r)
	var mu sync.Mutex
	var dials []string
	dial := dp.dial(deadSlaveDial(r, "eth0", &dials, &mu))
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := dial(ctx, "tcp", portalA)
			if c != nil {
				c.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("connect: %v", err)
		}
	}
	if !slices.Equal(r.bond.active, []string{"eth1"}) {
		t.Errorf("active slave set to %q, want eth1 once", r.bond.active)
	}
	if !strings.Contains(r.screen.String(), "no answer from "+portalA+" over bond0's active slave eth0 within 100ms although it has carrier") ||
		!strings.Contains(r.screen.String(), "made eth1 the active slave") {
		t.Errorf("no line about the switch:\n%s", r.screen)
	}
}

// TestDeadPathDecisions: what a connect's failure makes /init do.
func TestDeadPathDecisions(t *testing.T) {
	shorten(t, &deadPathProbe, 50*time.Millisecond)
	for _, tc := range []struct {
		name    string
		cmdline string
		mode    string
		ports   []bond.Port
		err     error // what every connect gets; nil: no answer
		switchd []string
		warn    string
	}{
		{"refused is an answer", scenario, "active-backup", []bond.Port{{Name: "eth0", Carrier: true, Active: true}, {Name: "eth1", Carrier: true, Active: false}},
			syscall.ECONNREFUSED, nil, ""},
		{"no ARP answer", scenario, "active-backup", []bond.Port{{Name: "eth0", Carrier: true, Active: true}, {Name: "eth1", Carrier: true, Active: false}},
			syscall.EHOSTUNREACH, []string{"eth1", "eth0"}, "made eth1 the active slave"},
		{"backup without carrier", scenario, "active-backup", []bond.Port{{Name: "eth0", Carrier: true, Active: true}, {Name: "eth1", Carrier: false, Active: false}},
			nil, nil, "no other slave to make active: bond0 has no other slave with carrier (eth1)"},
		{"balance-rr", scenario, "balance-rr", []bond.Port{{Name: "eth0", Carrier: true, Active: false}, {Name: "eth1", Carrier: true, Active: false}},
			nil, nil, "bond0 is balance-rr, which has no active slave to switch"},
		{"no bond", "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:eth0:none netroot=" + target + " " + rootArgs, "", nil,
			nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPathsRig(t)
			r.bond.mode, r.bond.ports = tc.mode, tc.ports
			b := New(r.env(), r.logger(), Options{})
			dp := newDeadPaths(b, parse(t, tc.cmdline), r, r)
			dial := dp.dial(func(ctx context.Context, network, address string) (net.Conn, error) {
				if tc.err != nil {
					return nil, &net.OpError{Op: "dial", Net: network, Err: tc.err}
				}
				<-ctx.Done()
				return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if _, err := dial(ctx, "tcp", portalA); err == nil {
				t.Fatal("connected")
			}
			if !slices.Equal(r.bond.active, tc.switchd) {
				t.Errorf("switches %q, want %q", r.bond.active, tc.switchd)
			}
			if tc.warn != "" && !strings.Contains(r.screen.String(), tc.warn) || tc.warn == "" && strings.Contains(r.screen.String(), "WARNING") {
				t.Errorf("console, want %q:\n%s", tc.warn, r.screen)
			}
		})
	}
}

// TestBondFor: which bond the route to a portal leaves by.
func TestBondFor(t *testing.T) {
	two := "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none ip=10.78.0.10:::255.255.255.0::bond1:none " +
		"bond=bond0:eth0,eth1:mode=active-backup bond=bond1:eth2,eth3:mode=active-backup root=LABEL=x"
	vlan := "vlan=bond0.100:bond0 ip=10.77.100.10::10.77.100.1:255.255.255.0:client:bond0.100:none " + bondAB + " root=LABEL=x"
	for _, tc := range []struct {
		cmdline string
		addrs   map[string][]string
		host    string
		want    string
	}{
		{scenario, nil, "10.77.0.1", "bond0"},
		{scenario, nil, "target.example.org", "bond0"},
		{two, map[string][]string{"bond0": {"10.77.0.10/24"}, "bond1": {"10.78.0.10/24"}}, "10.78.0.1", "bond1"},
		{two, map[string][]string{"bond0": {"10.77.0.10/24"}, "bond1": {"10.78.0.10/24"}}, "192.0.2.1", "bond0"}, // the gateway's
		{vlan, nil, "10.77.100.1", "bond0"},
		{"ip=10.77.0.10::10.77.0.1:255.255.255.0:client:eth0:none root=LABEL=x", nil, "10.77.0.1", ""},
	} {
		m := newMachine(t)
		d := newDeadPaths(nil, parse(t, tc.cmdline), m, addrs{m, tc.addrs})
		if got := d.bondFor("", tc.host); got != tc.want {
			t.Errorf("%s: bondFor(%s) = %q, want %q", tc.cmdline, tc.host, got, tc.want)
		}
	}
	// A login bound to an interface (netroot='s <netdev_name>) leaves by
	// it, whatever the route to the portal.
	m := newMachine(t)
	d := newDeadPaths(nil, parse(t, two), m, addrs{m, map[string][]string{"bond0": {"10.77.0.10/24"}, "bond1": {"10.78.0.10/24"}}})
	for device, want := range map[string]string{"bond1": "bond1", "bond0": "bond0", "eth7": ""} {
		if got := d.bondFor(device, "10.77.0.1"); got != want {
			t.Errorf("bound to %s: bondFor(10.77.0.1) = %q, want %q", device, got, want)
		}
	}
}

// addrs is the machine's Addrs with the addresses given.
type addrs struct {
	*machine
	a map[string][]string
}

func (a addrs) Addresses(iface string) []string { return a.a[iface] }

// TestPathsOnTwoNICs: two subnets, each on its own NIC (no bond), the
// target on a portal in each: with either NIC's cable out the boot goes on
// after carrierGrace and logs in over the other.
func TestPathsOnTwoNICs(t *testing.T) {
	shorten(t, &carrierGrace, 200*time.Millisecond)
	const portal2 = "10.78.0.1:3260"
	cmdline := "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:eth0:none ip=10.78.0.10:::255.255.255.0::eth1:none" +
		" netroot=iscsi:10.77.0.1::3260:1:" + targetIQN + " netroot=iscsi:10.78.0.1::3260:1:" + targetIQN + " " + rootArgs
	for _, tc := range []struct{ unplugged, dead, won string }{
		{"eth0", portalA, portal2},
		{"eth1", portal2, portalA},
	} {
		r := newPathsRig(t)
		r.noCarrier = map[string]bool{tc.unplugged: true}
		r.behave = map[string]func(context.Context) error{tc.dead: blackHole}
		took, err := r.boot(cmdline)
		if err != nil {
			t.Fatalf("%s out: Run: %v\n%s", tc.unplugged, err, r.screen)
		}
		if took > 3*time.Second {
			t.Errorf("%s out: the boot took %v", tc.unplugged, took)
		}
		if !strings.Contains(r.screen.String(), "ip: "+tc.unplugged+" has no carrier 200ms after another interface came up") {
			t.Errorf("%s out: no warning:\n%s", tc.unplugged, r.screen)
		}
		if r.state == nil || r.state.Sessions[0].Portals[0] != tc.won {
			t.Errorf("%s out: keeper state %+v, want the session on %s", tc.unplugged, r.state, tc.won)
		}
	}
}

// twoSubnetLeases are the leases of eth0 and eth1, each on its subnet.
func twoSubnetLeases() map[string]*dhcp.Lease {
	return map[string]*dhcp.Lease{
		"eth0": {Address: netip.MustParsePrefix("10.77.0.150/24"), Server: netip.MustParseAddr("10.77.0.1")},
		"eth1": {Address: netip.MustParsePrefix("10.78.0.150/24"), Server: netip.MustParseAddr("10.78.0.1")},
	}
}

// TestDHCPPathsOnTwoNICs: the same two subnets, a NIC by DHCP
// (ip=<nic>:dhcp) beside another by DHCP or a static address: with either
// NIC's cable out the boot goes on that NIC's grace after the other came
// up and logs in over the other; its rd.retry is far longer.
func TestDHCPPathsOnTwoNICs(t *testing.T) {
	shorten(t, &dhcpGrace, 200*time.Millisecond)
	shorten(t, &carrierGrace, 300*time.Millisecond)
	const portal2 = "10.78.0.1:3260"
	targets := " rd.retry=20 netroot=iscsi:10.77.0.1::3260:1:" + targetIQN + " netroot=iscsi:10.78.0.1::3260:1:" + targetIQN + " " + rootArgs
	const (
		dhcpBoth  = "ip=eth0:dhcp ip=eth1:dhcp"
		static0   = "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:eth0:none ip=eth1:dhcp"
		noLease   = " has no DHCP lease 200ms after another interface came up"
		noCarrier = " has no carrier 300ms after another interface came up"
	)
	for _, tc := range []struct{ ips, unplugged, dead, won, warning string }{
		{dhcpBoth, "eth0", portalA, portal2, noLease},
		{dhcpBoth, "eth1", portal2, portalA, noLease},
		{static0, "eth0", portalA, portal2, noCarrier},
		{static0, "eth1", portal2, portalA, noLease},
	} {
		r := newPathsRig(t)
		r.leases = twoSubnetLeases()
		r.noCarrier = map[string]bool{tc.unplugged: true}
		r.behave = map[string]func(context.Context) error{tc.dead: blackHole}
		took, err := r.boot(tc.ips + targets)
		if err != nil {
			t.Fatalf("%s, %s out: Run: %v\n%s", tc.ips, tc.unplugged, err, r.screen)
		}
		if took > 5*time.Second {
			t.Errorf("%s, %s out: the boot took %v", tc.ips, tc.unplugged, took)
		}
		if !strings.Contains(r.screen.String(), "ip: "+tc.unplugged+tc.warning) {
			t.Errorf("%s, %s out: no warning %q:\n%s", tc.ips, tc.unplugged, tc.warning, r.screen)
		}
		if r.state == nil || r.state.Sessions[0].Portals[0] != tc.won {
			t.Errorf("%s, %s out: keeper state %+v, want the session on %s", tc.ips, tc.unplugged, r.state, tc.won)
		}
	}
}

// TestWaitNet: with rd.iscsi.waitnet=0 the logins begin once one
// interface is up, without the others' grace — a static one's carrier is
// not waited for, a DHCP one's lease is configured when it comes, and a
// path through it answers then, as dracut logs in on each interface's
// arrival; rd.iscsi.waitnet=1 waits for every one, past the grace, and
// fails the boot at rd.retry's end when one never comes up.
func TestWaitNet(t *testing.T) {
	const portal2 = "10.78.0.1:3260"
	targets := " rd.shell=0 netroot=iscsi:10.77.0.1::3260:1:" + targetIQN + " netroot=iscsi:10.78.0.1::3260:1:" + targetIQN + " " + rootArgs
	const (
		dhcpBoth = "ip=eth0:dhcp ip=eth1:dhcp"
		static   = "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:eth0:none ip=10.78.0.10:::255.255.255.0::eth1:none"
	)
	t.Run("off", func(t *testing.T) {
		// The graces as they are: waitnet=0 must not wait for them.
		for _, tc := range []struct{ ips, warning string }{
			{dhcpBoth, "ip: eth1: no lease yet; rd.iscsi.waitnet=0: the logins go on, its lease is configured when it comes"},
			{static, "ip: eth1 has no carrier as another interface came up; rd.iscsi.waitnet=0: going on without it"},
		} {
			r := newPathsRig(t)
			r.leases = twoSubnetLeases()
			r.noCarrier = map[string]bool{"eth1": true}
			r.behave = map[string]func(context.Context) error{portal2: blackHole}
			took, err := r.boot(tc.ips + " rd.iscsi.waitnet=0 rd.retry=20" + targets)
			if err != nil {
				t.Fatalf("%s: Run: %v\n%s", tc.ips, err, r.screen)
			}
			if took > 2*time.Second {
				t.Errorf("%s: the boot took %v, waiting for eth1", tc.ips, took)
			}
			if !strings.Contains(r.screen.String(), tc.warning) {
				t.Errorf("%s: no warning %q:\n%s", tc.ips, tc.warning, r.screen)
			}
		}
		// The target only behind eth0, whose lease comes after eth1's:
		// its path answers once eth0's lease is configured.
		r := newPathsRig(t)
		r.leases = twoSubnetLeases()
		r.dhcpDelay = map[string]time.Duration{"eth0": 300 * time.Millisecond}
		r.behave = map[string]func(context.Context) error{portalA: r.whenCalled("apply lease eth0")}
		took, err := r.boot(dhcpBoth + " rd.iscsi.waitnet=0 rd.retry=5 rd.shell=0 netroot=iscsi:10.77.0.1::3260:1:" + targetIQN + " " + rootArgs)
		if err != nil {
			t.Fatalf("the late NIC's path: Run: %v\n%s", err, r.screen)
		}
		if took > 3*time.Second {
			t.Errorf("the late NIC's path: the boot took %v", took)
		}
		for _, want := range []string{
			"ip: eth0: no lease yet; rd.iscsi.waitnet=0",
			"ip: eth0 10.77.0.150/24 from 10.77.0.1",
			"after the logins began (rd.iscsi.waitnet=0)",
		} {
			if !strings.Contains(r.screen.String(), want) {
				t.Errorf("the late NIC's path: no %q:\n%s", want, r.screen)
			}
		}
	})
	t.Run("all", func(t *testing.T) {
		shorten(t, &dhcpGrace, 100*time.Millisecond)
		shorten(t, &carrierGrace, 100*time.Millisecond)
		// eth1's lease comes well after the grace: waited for.
		r := newPathsRig(t)
		r.leases = twoSubnetLeases()
		r.dhcpDelay = map[string]time.Duration{"eth1": 600 * time.Millisecond}
		if _, err := r.boot(dhcpBoth + " rd.iscsi.waitnet=1 rd.retry=20" + targets); err != nil {
			t.Fatalf("Run: %v\n%s", err, r.screen)
		}
		if s := r.screen.String(); strings.Contains(s, "has no DHCP lease") || !strings.Contains(s, "ip: eth1 10.78.0.150/24") {
			t.Errorf("eth1 left, not waited for:\n%s", s)
		}
		// One never up: the boot fails when rd.retry ends, saying why.
		for _, tc := range []struct{ ips, want string }{
			{dhcpBoth, "FATAL ip: eth1: no DHCP answer: context deadline exceeded — rd.iscsi.waitnet=1 waits for every ip= interface"},
			{static, "FATAL carrier: eth1 has no carrier: context deadline exceeded — rd.iscsi.waitnet=1 waits for every ip= interface"},
		} {
			r := newPathsRig(t)
			r.leases = twoSubnetLeases()
			r.noCarrier = map[string]bool{"eth1": true}
			took, err := r.boot(tc.ips + " rd.iscsi.waitnet=1 rd.retry=1" + targets)
			if err == nil {
				t.Fatalf("%s: booted without eth1:\n%s", tc.ips, r.screen)
			}
			if took > 5*time.Second {
				t.Errorf("%s: failed after %v, want rd.retry's 1 s", tc.ips, took)
			}
			if !strings.Contains(r.screen.String(), tc.want) {
				t.Errorf("%s: no %q:\n%s", tc.ips, tc.want, r.screen)
			}
		}
	})
}

// TestDHCPRootPathOnTheSlowerNIC: netroot=dhcp on two NICs, whose first
// lease carries no root-path: the other NIC is not left dhcpGrace after
// it, but waited for, since its lease may carry the root-path — here it
// does, well past the grace.
func TestDHCPRootPathOnTheSlowerNIC(t *testing.T) {
	shorten(t, &dhcpGrace, 100*time.Millisecond)
	r := newPathsRig(t)
	r.leases = twoSubnetLeases()
	r.leases["eth1"].RootPath = "iscsi:10.78.0.1::3260:1:" + targetIQN
	r.dhcpDelay = map[string]time.Duration{"eth1": 500 * time.Millisecond}
	if _, err := r.boot("ip=eth0:dhcp ip=eth1:dhcp netroot=dhcp rd.retry=20 rd.shell=0 " + rootArgs); err != nil {
		t.Fatalf("Run: %v\n%s", err, r.screen)
	}
	if s := r.screen.String(); strings.Contains(s, "has no DHCP lease") || !strings.Contains(s, "root-path from 10.78.0.1") {
		t.Errorf("eth1's lease left, or its root-path not taken:\n%s", s)
	}
}

// TestNoNICComesUp: with every NIC's cable out the ip step fails when
// rd.retry ends, naming each NIC — a static pair as "no carrier", a DHCP
// pair at the first NIC's run.
func TestNoNICComesUp(t *testing.T) {
	targets := " rd.retry=1 rd.shell=0 netroot=iscsi:10.77.0.1::3260:1:" + targetIQN + " " + rootArgs
	for _, tc := range []struct{ ips, want string }{
		{"ip=10.77.0.10::10.77.0.1:255.255.255.0:client:eth0:none ip=10.78.0.10:::255.255.255.0::eth1:none",
			"FATAL carrier: no interface has carrier: eth0 has no carrier: context deadline exceeded"},
		{"ip=eth0:dhcp ip=eth1:dhcp", "FATAL ip: eth0: no DHCP answer: context deadline exceeded — check ip=\nnetroot: ip: eth1: no DHCP answer: context deadline exceeded"},
	} {
		r := newPathsRig(t)
		r.noCarrier = map[string]bool{"eth0": true, "eth1": true}
		took, err := r.boot(tc.ips + targets)
		if err == nil {
			t.Fatalf("%s: booted", tc.ips)
		}
		if took > 5*time.Second {
			t.Errorf("%s: failed after %v, want rd.retry's 1 s", tc.ips, took)
		}
		if !strings.Contains(r.screen.String(), tc.want) {
			t.Errorf("%s: no %q:\n%s", tc.ips, tc.want, r.screen)
		}
		if testing.Verbose() {
			t.Logf("%s", r.screen)
		}
	}
}

// TestDiscoveryNamesTheLimits: a discovery is bounded by the same limits
// as a login, named as the command line writes them for the error that
// remains when one runs out.
func TestDiscoveryNamesTheLimits(t *testing.T) {
	r := newPathsRig(t)
	cl := "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none " + bondAB + " netroot=iscsi:10.77.0.1:::1: rd.retry=5 rd.iscsi.login_retry_max=3 rd.shell=0 " + rootArgs
	if _, err := r.boot(cl); err == nil {
		t.Fatalf("booted without a target")
	}
	o := r.discoverOpts
	if o.Deadline != 5*time.Second || o.DeadlineLimit != "rd.retry=5" || o.MaxAttempts != 3 || o.MaxAttemptsLimit != "rd.iscsi.login_retry_max=3" {
		t.Errorf("discovery options: deadline %v (%q), attempts %d (%q)", o.Deadline, o.DeadlineLimit, o.MaxAttempts, o.MaxAttemptsLimit)
	}
}

// FuzzDiscoveredPaths: whatever a portal answers to SendTargets, the
// paths /init logs in to are named targets on valid portals, the portal
// asked first.
func FuzzDiscoveredPaths(f *testing.F) {
	f.Add([]byte("TargetName=iqn.t:a\x00TargetAddress=10.78.0.1:3260,2\x00TargetAddress=10.77.0.1:3260,1\x00TargetName=iqn.t:b\x00"))
	f.Add([]byte("TargetName=iqn.t:a\x00TargetAddress=[fd77::1]:3261,1\x00"))
	f.Add([]byte("TargetName=iqn.t:a\x00TargetAddress=10.78.0.1:3260,2\x00TargetAddress=10.77.0.1:3260,1\x00TargetAddress=10.77.0.1:3260,2\x00"))
	asked := config.Target{Server: "10.77.0.1", Port: 3260, LUN: 1, Group: 1}
	f.Fuzz(func(t *testing.T, answer []byte) {
		found, err := iscsi.ParseSendTargets(answer, asked.Portal())
		if err != nil {
			return
		}
		for _, set := range discoveredPaths(asked, found) {
			if set.Name == "" || len(set.Paths) == 0 || set.LUN != asked.LUN {
				t.Fatalf("set %+v", set)
			}
			for i, p := range set.Paths {
				if p.Name != set.Name || p.Server == "" || p.Port < 1 || p.Port > 65535 {
					t.Fatalf("path %+v", p)
				}
				if _, _, err := net.SplitHostPort(p.Portal()); err != nil {
					t.Fatalf("portal %q: %v", p.Portal(), err)
				}
				if i > 0 && p.Portal() == asked.Portal() {
					t.Fatalf("the portal asked is path %d of %v", i, set.Portals())
				}
				if slices.Index(set.Portals(), p.Portal()) != i {
					t.Fatalf("portal %s twice in %v", p.Portal(), set.Portals())
				}
			}
		}
	})
}

// TestDiscoveredPathsLinear: a target listing many portals costs a few
// allocations a portal, not a look through those before it (the
// audit's answer of 33,400 portals took 21 GB of allocations).
func TestDiscoveredPathsLinear(t *testing.T) {
	asked := config.Target{Server: "10.77.0.1", Port: 3260, LUN: 1, Group: 1}
	const n = 4096
	d := iscsi.DiscoveredTarget{Name: "iqn.t:a"}
	for i := range n {
		addr := fmt.Sprintf("10.%d.%d.%d:3260", i>>16&255, i>>8&255, i&255)
		if i == n/2 {
			addr = asked.Portal()
		}
		// Each portal listed twice, in two portal groups: once is kept.
		for g := range 2 {
			d.Portals = append(d.Portals, iscsi.TargetPortal{Addr: addr, TPGT: uint16(g), HasTPGT: true})
		}
	}
	var sets []config.TargetPaths
	allocs := testing.AllocsPerRun(1, func() { sets = discoveredPaths(asked, []iscsi.DiscoveredTarget{d}) })
	if len(sets) != 1 || len(sets[0].Paths) != n || sets[0].Paths[0].Portal() != asked.Portal() {
		t.Errorf("%d sets, the first of %d paths", len(sets), len(sets[0].Paths))
	}
	if perPortal := allocs / (2 * n); perPortal > 16 {
		t.Errorf("%.0f allocations for %d portals listed: %.0f a portal", allocs, 2*n, perPortal)
	}
}

// TestDiscoveredLoginsTakeTurns: the logins to the targets of a
// SendTargets answer, every path of each, do not all run at once.
func TestDiscoveredLoginsTakeTurns(t *testing.T) {
	for _, multipath := range []bool{false, true} {
		r := newPathsRig(t)
		var (
			mu            sync.Mutex
			running, most int
		)
		hold := func(ctx context.Context) error {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			defer func() {
				mu.Lock()
				running--
				mu.Unlock()
			}()
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
			}
			return errors.New("dial tcp: connect: connection refused")
		}
		const targets, portals = 64, 2
		for i := range targets {
			d := iscsi.DiscoveredTarget{Name: fmt.Sprintf("iqn.t:%d", i)}
			for j := range portals {
				addr := fmt.Sprintf("10.78.%d.%d:3260", i, j)
				d.Portals = append(d.Portals, iscsi.TargetPortal{Addr: addr, TPGT: 1, HasTPGT: true})
				r.behave[addr] = hold
			}
			r.discovered = append(r.discovered, d)
		}
		cmdline := strings.Replace(scenario, "netroot="+target, "netroot=iscsi:10.77.0.1::3260:1:", 1)
		if multipath {
			cmdline += " rd.netroot.multipath=1"
		}
		if _, err := r.boot(cmdline); err == nil {
			t.Fatalf("multipath %v: the boot succeeded with every login refused", multipath)
		}
		if got := len(r.called("connect")); got != targets*portals {
			t.Errorf("multipath %v: %d logins, want one on each of %d paths", multipath, got, targets*portals)
		}
		t.Logf("multipath %v: %d logins at once at most", multipath, most)
		if most > maxDiscoveredLogins {
			t.Errorf("multipath %v: %d logins at once, want at most %d", multipath, most, maxDiscoveredLogins)
		}
	}
}

// connectFunc is an initiator that logs in as its func says.
type connectFunc struct {
	ISCSI
	f func(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) error
}

func (c connectFunc) Connect(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) (*iscsi.Session, net.Conn, error) {
	if err := c.f(ctx, cfg, o); err != nil {
		return nil, nil, err
	}
	a, b := net.Pipe()
	b.Close()
	return &iscsi.Session{TargetName: cfg.TargetName, Portal: cfg.Portal}, a, nil
}

// TestLoginTurnsBetweenAttempts: a login waiting to retry gives its turn
// to another, and takes one again for its next attempt.
func TestLoginTurnsBetweenAttempts(t *testing.T) {
	retry := make(chan struct{}) // the first login waits to retry until closed
	waiting := make(chan struct{})
	var (
		mu       sync.Mutex
		attempts []string
		turns    *loginTurns
	)
	attempt := func(name string) {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, fmt.Sprintf("%s (%d taken)", name, len(turns.turns)))
	}
	turns = newLoginTurns(connectFunc{f: func(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) error {
		if cfg.Portal == portalB {
			attempt("second")
			return nil
		}
		attempt("first 1")
		if err := o.Wait(ctx, time.Second); err != nil {
			return err
		}
		attempt("first 2")
		return nil
	}}, 1)
	first := make(chan error, 1)
	go func() {
		_, _, err := turns.Connect(context.Background(), iscsi.LoginConfig{Portal: portalA}, iscsi.ConnectOptions{
			Wait: func(ctx context.Context, d time.Duration) error {
				close(waiting)
				<-retry
				return nil
			}})
		first <- err
	}()
	<-waiting
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := turns.Connect(ctx, iscsi.LoginConfig{Portal: portalB}, iscsi.ConnectOptions{}); err != nil {
		t.Fatalf("the second login, while the first waits to retry: %v", err)
	}
	close(retry)
	if err := <-first; err != nil {
		t.Fatalf("the first login: %v", err)
	}
	if want := []string{"first 1 (1 taken)", "second (1 taken)", "first 2 (1 taken)"}; !slices.Equal(attempts, want) {
		t.Errorf("attempts %q, want %q", attempts, want)
	}
	if n := len(turns.turns); n != 0 {
		t.Errorf("%d turns still taken", n)
	}
	// A login whose context ends while it waits for a turn says so.
	turns.turns <- struct{}{}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, _, err := turns.Connect(ctx, iscsi.LoginConfig{Portal: portalB, TargetName: targetIQN}, iscsi.ConnectOptions{}); !errors.Is(err, context.Canceled) ||
		!strings.Contains(err.Error(), "waiting for one of 1 logins to end") {
		t.Errorf("a cancelled wait for a turn: %v", err)
	}
}

// TestDeadPathNamesTheAddressDialed: after a redirect the connect goes
// to the address the target gave; the warning names it, not the portal
// first named.
func TestDeadPathNamesTheAddressDialed(t *testing.T) {
	shorten(t, &deadPathProbe, 50*time.Millisecond)
	r := newPathsRig(t)
	r.bond.mode = "balance-rr"
	r.bond.ports = []bond.Port{{Name: "eth0", Carrier: true}, {Name: "eth1", Carrier: true}}
	b := New(r.env(), r.logger(), Options{})
	dial := newDeadPaths(b, parse(t, scenario), r, r).dial(func(ctx context.Context, network, address string) (net.Conn, error) {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	const redirected = "10.77.0.9:3260"
	if _, err := dial(ctx, "tcp", redirected); err == nil {
		t.Fatal("connected")
	}
	if !strings.Contains(r.screen.String(), "no answer from "+redirected+" over bond0") {
		t.Errorf("the warning does not name %s:\n%s", redirected, r.screen)
	}
}

// TestJoinsOnePathPerPortal: the keeper is handed one join per portal of
// the root map's target: not a second through a portal the map has a
// path through already (another LUN's login there failed), nor a path
// of a target the map has no session of.
func TestJoinsOnePathPerPortal(t *testing.T) {
	m := newMachine(t)
	b := New(m.env(), m.logger(), Options{})
	p := &config.Plan{}
	p.ISCSI.Multipath, p.Boot.Keeper = true, true
	target := func(portal, name string, lun int) config.Target {
		host, _, _ := strings.Cut(portal, ":")
		return config.Target{Server: host, Port: 3260, LUN: lun, Name: name}
	}
	a := attached{
		sessions: []keeper.Session{{SID: 1, InitiatorName: "iqn.i:me", TargetName: targetIQN, Portals: []string{portalA}, Map: "3600a", PathDev: "8:16"}},
		maps:     []madeMap{{Name: "3600a", WWID: "3600a", lun: 1, keeper: keeper.Map{Name: "3600a", WWID: "3600a", Sectors: 8}}},
		missed: []missedPath{
			{target: target(portalB, targetIQN, 1), index: 1 << 8},
			{target: target(portalB, targetIQN, 2), index: 1 | 1<<8}, // LUN 2 through B: B once is enough
			{target: target(portalA, targetIQN, 2), index: 1},        // through A: the map has that path
			{target: target(portalB, "iqn.t:other", 1), index: 2},    // no map of that target
		},
	}
	joins, maps := b.joins(p, a, m.files)
	if len(joins) != 1 || joins[0].Portals[0] != portalB || joins[0].LUN != 1 || joins[0].Map != "3600a" {
		t.Errorf("joins %+v, want one through %s", joins, portalB)
	}
	if len(maps) != 1 || maps[0].Name != "3600a" {
		t.Errorf("maps %+v", maps)
	}
}
