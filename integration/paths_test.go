package integration

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/integration/rig"
	"github.com/netroot/netroot/pkg/analyze"
)

// The redundant-path tests (issue 20): a bond whose active slave carries
// nothing although it has carrier, one target on several portals (one of
// them refused or a black hole), two subnets on two NICs with either
// cable out, and a multipath root that loses a path while it writes.

const (
	// secondPortal is a second address of the target on the bridge's
	// subnet, deadPortal one nobody serves (refused, or a black hole).
	secondPortal = "10.77.0.2"
	deadPortal   = "10.77.0.3"
	// otherSubnet is the second bridge's subnet (its own NIC, no bond).
	otherSubnet = "10.78.0.1"
)

// rootReadyAt is /init's "root ready at X s since kernel start".
func rootReadyAt(t *testing.T, log string) float64 {
	t.Helper()
	m := regexp.MustCompile(`root ready at ([0-9.]+) s since kernel start`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no root-ready line")
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// netrootOn is a netroot= for the scenario's target at host.
func netrootOn(host string) string {
	return "netroot=iscsi:" + host + "::3260:1:" + rig.TargetIQN
}

// TestPathsBondDeadSlave: the tap behind the bond's first slave is down on
// the host side from power-on — the guest still sees carrier, so miimon
// keeps eth0 active — and /init's connects over it get no answer: it makes
// eth1 the active slave and boots, within 30 s of the healthy boot.
func TestPathsBondDeadSlave(t *testing.T) {
	healthy := start(t, rig.BootSpec{Name: "healthy", Cmdline: rig.ScenarioCmdline, Target: rig.DefaultTarget()})
	h := rootReadyAt(t, realRoot(t, healthy))
	b := start(t, rig.BootSpec{Name: "dead-slave", Cmdline: rig.ScenarioCmdline, Target: rig.DefaultTarget(),
		NetSetup: func(ctx context.Context, n *rig.Net) error { return n.SetLink(ctx, "tap0", false) }})
	log := realRoot(t, b)
	d := rootReadyAt(t, log)
	t.Logf("root ready: healthy %.2f s, eth0's path dead %.2f s (+%.2f s)", h, d, d-h)
	wantLine(t, log, `^netroot: bond: bond0 active-backup .*eth0 active, eth1 backup`)
	t.Logf("matched: %s", wantLine(t, log, `no answer from 10\.77\.0\.1:3260 over bond0's active slave eth0 within 3s although it has carrier .*: made eth1 the active slave`))
	wantReport(t, log, "bond", `active="eth1"`)
	if d-h > 30 {
		t.Errorf("the root took %.2f s longer than the healthy boot's, want at most 30", d-h)
	}
}

// twoPortalsSpec boots the scenario with the target on two netroot=
// portals: first (deadPortal or 10.77.0.1), then secondPortal; the target
// listens on 10.77.0.1 and secondPortal.
func twoPortalsSpec(name, first string, setup func(context.Context, *rig.Net) error) rig.BootSpec {
	cmdline := strings.Replace(rig.ScenarioCmdline, netrootOn(rig.HostAddr), netrootOn(first)+" "+netrootOn(secondPortal), 1)
	tc := rig.DefaultTarget()
	tc.Portals = []string{secondPortal + ":3260"}
	return rig.BootSpec{Name: name, Cmdline: cmdline, Target: tc, NetSetup: func(ctx context.Context, n *rig.Net) error {
		for _, a := range []string{secondPortal, deadPortal} {
			if err := n.AddAddr(ctx, a+"/24"); err != nil {
				return err
			}
		}
		if setup != nil {
			return setup(ctx, n)
		}
		return nil
	}}
}

// TestPathsTwoPortals: one target on two portals. Both alive: one session,
// one disk. The first refused, or a black hole that never answers: the
// boot goes through the second, the black hole within 10 s of the time the
// healthy case takes.
func TestPathsTwoPortals(t *testing.T) {
	var healthy float64
	for _, tc := range []struct {
		name, first string
		hole        bool
	}{
		{"both-alive", rig.HostAddr, false},
		{"first-refused", deadPortal, false},
		{"first-black-hole", deadPortal, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var setup func(context.Context, *rig.Net) error
			if tc.hole {
				setup = func(ctx context.Context, n *rig.Net) error {
					closeHole, err := n.BlackHole(deadPortal + ":3260")
					if err == nil {
						t.Cleanup(closeHole)
					}
					return err
				}
			}
			b := start(t, twoPortalsSpec(tc.name, tc.first, setup))
			log := realRoot(t, b)
			at := rootReadyAt(t, log)
			if got := reported(log, "iscsi-session"); len(got) != 1 {
				t.Errorf("sessions in the real root: %q, want one (one disk)", got)
			}
			t.Logf("matched: %s", wantLine(t, log, `^netroot: login: `+regexp.QuoteMeta(rig.TargetIQN)+`: path [0-9.:]+ answered`))
			switch tc.name {
			case "both-alive":
				healthy = at
				t.Logf("root ready at %.2f s", at)
			default:
				wantLine(t, log, `^netroot: login: `+regexp.QuoteMeta(secondPortal)+`:3260 `+regexp.QuoteMeta(rig.TargetIQN)+`: session`)
				t.Logf("root ready at %.2f s (healthy: %.2f s)", at, healthy)
				if tc.hole && healthy > 0 && at-healthy > 10 {
					t.Errorf("the black-hole portal cost %.2f s, want at most 10", at-healthy)
				}
			}
		})
	}
}

// twoSubnetsCmdline puts eth0 on the bridge's subnet and eth1 on the
// second bridge's, no bond, and names the target on a portal in each.
const twoSubnetsCmdline = "ip=10.77.0.10::10.77.0.1:255.255.255.0:client:eth0:none ip=10.78.0.10:::255.255.255.0::eth1:none " +
	"netroot=iscsi:10.77.0.1::3260:1:" + rig.TargetIQN + " netroot=iscsi:" + otherSubnet + "::3260:1:" + rig.TargetIQN + " " + rootArgs

// twoSubnetsSpec is a boot on two subnets: tap1 on a second bridge, the
// target on a portal in each.
func twoSubnetsSpec(name, cmdline string) rig.BootSpec {
	tc := rig.DefaultTarget()
	tc.Portals = []string{otherSubnet + ":3260"}
	return rig.BootSpec{Name: name, Cmdline: cmdline, Target: tc, NetSetup: func(ctx context.Context, n *rig.Net) error {
		return n.AddBridge(ctx, "br1", otherSubnet+"/24", "tap1")
	}}
}

// TestPathsTwoSubnets: two subnets, each on its own NIC (no bond): the
// boot reaches the root with either NIC's cable out from power-on.
func TestPathsTwoSubnets(t *testing.T) {
	for _, tc := range []struct {
		nic, link, via string
	}{
		{"eth0", "n0", otherSubnet},
		{"eth1", "n1", rig.HostAddr},
	} {
		t.Run(tc.nic+"-unplugged", func(t *testing.T) {
			b := start(t, twoSubnetsSpec(tc.nic+"-unplugged", twoSubnetsCmdline))
			if err := b.VM.Monitor("set_link " + tc.link + " off"); err != nil {
				t.Fatal(err)
			}
			log := realRoot(t, b)
			t.Logf("root ready at %.2f s", rootReadyAt(t, log))
			t.Logf("matched: %s", wantLine(t, log, `^netroot: ip: `+tc.nic+` has no carrier`))
			wantLine(t, log, `^netroot: login: `+regexp.QuoteMeta(tc.via)+`:3260 `+regexp.QuoteMeta(rig.TargetIQN)+`: session`)
			wantReport(t, log, "iscsi-conn", "persistent="+tc.via+":3260")
		})
	}
}

// TestPathsBoundToInterface: netroot='s <netdev_name> binds the target's
// connection to that interface whatever the routes say. On two subnets,
// the portal on eth0's: bound to eth1 the connection leaves by eth1 (its
// gateway, the rig, owns the portal's address too) — the real root sees
// it from eth1's address —; unbound, by eth0, the route's.
func TestPathsBoundToInterface(t *testing.T) {
	const ips = "ip=10.77.0.10:::255.255.255.0::eth0:none ip=10.78.0.10::" + otherSubnet + ":255.255.255.0::eth1:none "
	for _, tc := range []struct {
		name, netroot, local string
	}{
		{"eth1", "netroot=iscsi:10.77.0.1::3260::eth1:1:" + rig.TargetIQN, "10.78.0.10"},
		{"unbound", "netroot=iscsi:10.77.0.1::3260:1:" + rig.TargetIQN, "10.77.0.10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := start(t, twoSubnetsSpec("bound-"+tc.name, ips+tc.netroot+" "+rootArgs))
			log := realRoot(t, b)
			wantReport(t, log, "iscsi-tcp", "local="+tc.local+":", "remote=10.77.0.1:3260")
			if bound := strings.Contains(wantLine(t, log, `^netroot: login: 10\.77\.0\.1:3260 `), "bound to eth1"); bound != (tc.name == "eth1") {
				t.Errorf("the login line says bound to eth1: %v", bound)
			}
		})
	}
}

// TestPathsTwoSubnetsDHCP: the same two subnets, each NIC by DHCP
// (ip=eth0:dhcp ip=eth1:dhcp; a server on each bridge): with either NIC's
// cable out the boot goes on dhcpGrace after the other NIC's lease — not
// at rd.retry's end — and logs in; with rd.iscsi.waitnet=0 at once (its
// DHCP goes on in the background, and the boot says at switch_root that
// it never got a lease).
func TestPathsTwoSubnetsDHCP(t *testing.T) {
	const cmdline = "ip=eth0:dhcp ip=eth1:dhcp netroot=iscsi:10.77.0.1::3260:1:" + rig.TargetIQN +
		" netroot=iscsi:" + otherSubnet + "::3260:1:" + rig.TargetIQN + " " + rootArgs
	// left is the unplugged NIC's warning (after "netroot: ip: "), step
	// the line its ip step ends with.
	const (
		grace0 = "eth0 has no DHCP lease 10s after another interface came up"
		grace1 = "eth1 has no DHCP lease 10s after another interface came up"
		late1  = "eth1: no lease yet; rd.iscsi.waitnet=0: the logins go on, its lease is configured when it comes"
	)
	for _, tc := range []struct {
		name, nic, link, lease, extra, left, step string
	}{
		{"eth0-unplugged", "eth0", "n0", `eth1 10\.78\.0\.1[5-9][0-9]/24`, "", grace0, "eth0: no lease, left"},
		{"eth1-unplugged", "eth1", "n1", `eth0 10\.77\.0\.1[5-9][0-9]/24`, "", grace1, "eth1: no lease, left"},
		{"eth1-unplugged-waitnet0", "eth1", "n1", `eth0 10\.77\.0\.1[5-9][0-9]/24`, " rd.iscsi.waitnet=0", late1, late1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := twoSubnetsSpec(tc.name+"-dhcp", cmdline+tc.extra)
			spec.DHCP = &rig.DHCPConfig{Extra: []string{"--interface=br1", "--dhcp-range=10.78.0.150,10.78.0.199,255.255.255.0,1h"}}
			b := start(t, spec)
			if err := b.VM.Monitor("set_link " + tc.link + " off"); err != nil {
				t.Fatal(err)
			}
			log := realRoot(t, b)
			t.Logf("root ready at %.2f s", rootReadyAt(t, log))
			t.Logf("matched: %s", wantLine(t, log, `^netroot: ip: `+regexp.QuoteMeta(tc.left)))
			// The unplugged NIC's ip step lasts its grace, or nothing.
			tl, err := analyze.ParseConsole(log)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tl.Steps {
				if e.Step == "ip" && e.Detail == tc.step {
					t.Logf("%s: its ip step took %.2f s", tc.nic, e.Duration)
					if tc.extra != "" && e.Duration > 2 {
						t.Errorf("%s: %s took %.2f s, want no wait", tc.extra, tc.nic, e.Duration)
					}
				}
			}
			t.Logf("matched: %s", wantLine(t, log, `^netroot: ip: `+tc.lease+` .*\(DHCP, MAC `))
			if tc.extra != "" { // its DHCP ends with /init: said at switch_root
				t.Logf("matched: %s", wantLine(t, log, `^netroot: ip: `+tc.nic+` still has no lease as the root is switched to`))
			}
			// Either portal: the lease's default route leads through the
			// rig's other address to the portal on the unplugged NIC's subnet.
			t.Logf("matched: %s", wantLine(t, log, `^netroot: login: [0-9.]+:3260 `+regexp.QuoteMeta(rig.TargetIQN)+`: session`))
			if at := rootReadyAt(t, log); at > 60 {
				t.Errorf("root ready at %.2f s: the boot waited for the unplugged NIC", at)
			}
		})
	}
}

// TestPathsLateLeaseTellsTheOS: rd.iscsi.waitnet=0 on two subnets by
// DHCP, eth1's cable out until /init wrote the real OS's network files
// (the boot held at rd.break=pre-mount): eth1's lease, configured late,
// has them written again with eth1 before switch_root — else the real
// OS's stack would treat eth1 as its own (and nothing renew its lease).
func TestPathsLateLeaseTellsTheOS(t *testing.T) {
	const dir = "/run/systemd/network/05-netroot-"
	cmdline := "ip=eth0:dhcp ip=eth1:dhcp netroot=iscsi:10.77.0.1::3260:1:" + rig.TargetIQN + " netroot=iscsi:" + otherSubnet + "::3260:1:" + rig.TargetIQN +
		" " + rootArgs + " rd.iscsi.waitnet=0 rd.retry=120 rd.break=pre-mount"
	spec := twoSubnetsSpec("late-lease", cmdline)
	spec.DHCP = &rig.DHCPConfig{Extra: []string{"--interface=br1", "--dhcp-range=10.78.0.150,10.78.0.199,255.255.255.0,1h"}}
	spec.Shell = true
	b := start(t, spec)
	if err := b.VM.Monitor("set_link n1 off"); err != nil {
		t.Fatal(err)
	}
	send := func(cmd string) {
		t.Helper()
		if err := b.VM.Send(cmd + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, b, `netroot:/# `, 3*time.Minute)
	// The files as osconfig first wrote them: eth0's, not eth1's.
	send("until [ -e " + dir + "eth0.network ]; do sleep 0.1; done; ls " + dir + "eth1.network; echo files-$((6*7))")
	waitFor(t, b, `files-42`, time.Minute)
	if err := b.VM.Monitor("set_link n1 on"); err != nil {
		t.Fatal(err)
	}
	// /init's lines go to the kernel's log while the shell has the console.
	send("i=0; until dmesg | grep -q 'netroot: ip: eth1 .*after the logins began' || [ $i -ge 900 ]; do sleep 0.1; i=$((i+1)); done; " +
		"dmesg | grep -E 'netroot: (osconfig|ip): .*eth1'; grep -h DHCP= " + dir + "eth1.network; echo late-$((6*7))")
	waitFor(t, b, `late-42`, 2*time.Minute)
	send("exit")
	log := realRoot(t, b)
	t.Logf("matched: %s", wantLine(t, log, `^netroot: ip: eth1: no lease yet; rd\.iscsi\.waitnet=0`))
	// The shell's answers: no eth1 file before its lease, one that renews it after.
	for _, re := range []string{`(?m)^ls: \S+eth1\.network: No such file or directory`, `(?m)^DHCP=ipv4\r?$`} {
		if !regexp.MustCompile(re).MatchString(log) {
			t.Errorf("the shell did not answer %q", re)
		}
	}
	// The interface routed to the root's portal comes first: either.
	t.Logf("matched: %s", wantLine(t, log, `^netroot: osconfig: [0-9]+ files for (eth0 eth1|eth1 eth0), again: eth1's lease came after them`))
	t.Logf("matched: %s", wantLine(t, log, `^netroot: ip: eth1 10\.78\.0\.1[5-9][0-9]/24 .*after the logins began`))
}

// TestPathsMultipathJoin: rd.netroot.multipath=1 on two subnets, the
// second subnet's path cut from power-on (host side: the guest has
// carrier, its portal is silent). The boot goes on with a map of one
// path and hands the other to the keeper. Once the path is back the
// keeper logs in to it and adds its disk to the map while the root
// writes: both paths active, no I/O error, no record lost. A keeper
// killed afterwards is restarted by its guard and adopts the session its
// predecessor made instead of logging in again.
func TestPathsMultipathJoin(t *testing.T) {
	const write = 60 * time.Second
	cmdline := strings.Replace(faultCmdline(write, write+45*time.Second), rig.ScenarioCmdline, twoSubnetsCmdline+" rd.netroot.multipath=1", 1)
	spec := twoSubnetsSpec("multipath-join", cmdline)
	spec.Baked = cmdline // netroot build carries dm_multipath for it
	setup := spec.NetSetup
	spec.NetSetup = func(ctx context.Context, n *rig.Net) error {
		if err := setup(ctx, n); err != nil {
			return err
		}
		return n.SetLink(ctx, "tap1", false)
	}
	f := bootFaultWith(t, spec, write, func(string) string { return cmdline })
	f.waitWriting()
	asked := 0
	mpath := func() string {
		f.t.Helper()
		before := len(reported(f.b.VM.Log(), "mpath"))
		asked++
		f.command(fmt.Sprintf("nrt-mpath %d", asked), fmt.Sprintf(`NETROOT-TEST: fault-mpath-done=%d\b`, asked))
		m := reported(f.b.VM.Log(), "mpath")
		if len(m) <= before {
			t.Fatalf("no map reported: %q", m)
		}
		return m[len(m)-1]
	}
	if m := mpath(); strings.Count(m, "active") != 1 {
		t.Fatalf("map at boot %q, want one path", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.b.Net.SetLink(ctx, "tap1", true); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("tap1 (eth1's path) up")
	const joined = `netroot-keeper: path ` + otherSubnet + `:3260 of map [0-9a-f]+ \(\S+ LUN 1\): session \d+ logged in via ` + otherSubnet +
		`:3260 after [0-9.]+s \(\d+ attempt\(s\)\); its disk sd[a-z]+ \(\d+:\d+\) joined multipath map`
	if !f.waitConsole(joined, time.Minute) {
		t.Fatalf("the keeper did not add the path within a minute of its link")
	}
	t.Logf("joined %.1fs after the link", time.Since(back).Seconds())
	if m := mpath(); strings.Count(m, "active") != 2 || strings.Contains(m, "failed") {
		t.Errorf("map after the join %q, want both paths active", m)
	}
	// A keeper started again adopts the session; so does the one
	// started after it was killed in turn. The kills come in a burst
	// with the join's lines: the kernel takes 10 lines in 5 s from one
	// open /dev/kmsg, and each keeper process writes through its own.
	// Each kill waits for the adoption before it: a restarted keeper is
	// ready (its pid recorded) before it looks for the joined session.
	adopted := `netroot-keeper: path ` + otherSubnet + `:3260 of map [0-9a-f]+ \(\S+ LUN 1\): session \d+ found in sysfs, made by the keeper before this one; its disk sd[a-z]+ \(\d+:\d+\) is in map [0-9a-f]+ already`
	for i := 1; i <= 2; i++ {
		m := f.command(fmt.Sprintf("nrt-kill-keeper %d", i), fmt.Sprintf(`NETROOT-TEST: fault-keeper-killed=%d ([^\r\n]*)\r?\n`, i))
		t.Logf("killed: %s", m[1])
		if !f.waitConsole(`(?s)`+strings.Repeat(`.*`+adopted, i), 30*time.Second) {
			break
		}
	}
	if n := len(regexp.MustCompile(adopted).FindAllString(f.b.VM.Log(), -1)); n != 2 {
		t.Errorf("%d of the 2 restarted keepers logged that they adopted the joined session", n)
		f.stacks()
	}
	if m := mpath(); strings.Count(m, "active") != 2 {
		t.Errorf("map after the restart %q, want both paths active", m)
	}
	res := f.finish("multipath-join")
	t.Logf("matched: %s", wantLine(t, res.log, `^netroot: login: path `+regexp.QuoteMeta(otherSubnet)+`:3260 of \S+ LUN 1 is not up .*the keeper logs in to it once it answers`))
	t.Logf("matched: %s", wantLine(t, res.log, `^netroot: keeper: @netroot-keeper pid \d+ keeps 1 session\(s\) and logs in to 1 path\(s\) of the multipath map once they answer`))
	if n := len(regexp.MustCompile(`logged in via `+regexp.QuoteMeta(otherSubnet)).FindAllString(res.log, -1)); n != 1 {
		t.Errorf("the keepers logged in to the path %d times, want once", n)
	}
}

// TestPathsMultipathRoot: rd.netroot.multipath=1 on two subnets: the root
// is a dm-multipath device over two sessions. While the root writes, the
// first path's link is cut (host side: the guest keeps carrier) for 30 s:
// no I/O error and no lost record — the map sends the I/O down the other
// path before the link is back —, and the keeper puts the path back into
// the map after it recovered its session.
func TestPathsMultipathRoot(t *testing.T) {
	cmdline := twoSubnetsCmdline + " rd.netroot.multipath=1 rw netroot.test=keeper" +
		" rd.iscsi.param=node.conn[0].timeo.noop_out_interval=5 rd.iscsi.param=node.conn[0].timeo.noop_out_timeout=5"
	spec := twoSubnetsSpec("multipath", cmdline)
	// netroot build carries the device-mapper modules for a command line
	// that asks for multipath.
	spec.Baked = cmdline
	b := keeperBootSpec(t, spec)
	if !strings.Contains(b.BuildOutput, "dm_multipath") || !strings.Contains(b.BuildOutput, "dm_service_time") {
		t.Errorf("netroot build did not carry the multipath modules: %s", b.BuildOutput)
	}
	ctx, cancel := context.WithTimeout(context.Background(), outage+30*time.Second)
	defer cancel()
	if err := b.Net.SetLink(ctx, "tap0", false); err != nil {
		t.Fatal(err)
	}
	t.Logf("tap0 (eth0's path) down for %v", outage)
	time.Sleep(outage)
	if err := b.Net.SetLink(ctx, "tap0", true); err != nil {
		t.Fatal(err)
	}
	t.Logf("tap0 up")
	waitFor(t, b, `NETROOT-TEST: done=`, 3*time.Minute)
	log := b.VM.Log()
	for _, l := range netrootLines(log) {
		t.Log(l)
	}
	for _, l := range regexp.MustCompile(`netroot-keeper: [^\r\n]*`).FindAllString(log, -1) {
		t.Log(l)
	}
	for _, k := range []string{"mpath-root", "mpath", "mpath-hints", "keeper-writer", "keeper-errors", "keeper-maxstall", "keeper-verify"} {
		t.Logf("%s=%q", k, reported(log, k))
	}
	t.Logf("matched: %s", wantLine(t, log, `^netroot: multipath: map [0-9a-f]+ \(/dev/dm-0\) over 2 path\(s\)`))
	if got := reported(log, "mpath-root"); len(got) == 0 || !strings.HasPrefix(got[0], "/dev/dm-") {
		t.Errorf("root mounted from %q, want a dm device", got)
	}
	if got := reported(log, "keeper-writer"); len(got) != 1 || !strings.HasPrefix(got[0], "finished ") {
		t.Errorf("writer: %q, want finished", got)
	}
	if got := reported(log, "keeper-errors"); len(got) != 1 || got[0] != "0" {
		t.Errorf("I/O errors: %q (%q), want 0", got, reported(log, "keeper-error"))
	}
	if got := reported(log, "keeper-verify"); len(got) != 1 || !strings.HasPrefix(got[0], "ok ") {
		t.Errorf("verify: %q, want ok", got)
	}
	if got := reported(log, "keeper-maxstall"); len(got) == 1 {
		if s, err := strconv.ParseFloat(strings.TrimSuffix(got[0], "s"), 64); err != nil || s >= outage.Seconds() {
			t.Errorf("longest write stall %q: the map waited for the dead path instead of using the other", got[0])
		}
	}
	if !regexp.MustCompile(`netroot-keeper: recovered session`).MatchString(log) {
		t.Errorf("the keeper did not recover the cut path's session")
	}
	if !regexp.MustCompile(`netroot-keeper: session [0-9]+: path [0-9]+:[0-9]+ back in multipath map`).MatchString(log) {
		t.Errorf("the keeper did not put the path back into the map")
	}
	// The map's state at the end: both paths active.
	if m := reported(log, "mpath"); len(m) < 2 || strings.Contains(m[len(m)-1], "failed") || strings.Count(m[len(m)-1], "active") != 2 {
		t.Errorf("map at the end: %q, want both paths active", m)
	}
	if strings.Contains(log, "Kernel panic") {
		t.Errorf("kernel panic on the console")
	}
}
