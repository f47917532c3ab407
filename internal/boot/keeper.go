package boot

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/prio"
)

// keeperPIDFile lets the real OS find the keeper (e.g. to stop it before
// starting iscsid); /run moves into the real root with switch_root.
const keeperPIDFile = runDir + "/keeper.pid"

// keeperTasks are the keeper's start and hand-over, for Emergency.
type keeperTasks struct {
	// early is the keeper started before the network (nil if none).
	early *task.Task[KeeperProcess]
	// handOver hands it the sessions (nil until the root is found); it
	// owns early then.
	handOver *task.Task[struct{}]
}

// prelaunchKeeper starts the keeper process before the network comes up,
// at nice 19, so that its start (the Go runtime of this binary, again)
// fills the CPU time left idle by the waits for links, the target and the
// disk instead of delaying the boot. It then blocks reading its state
// until startKeeper hands it over, and raises itself to nice 0. Without
// iSCSI targets or with rd.netroot.keeper=0 it does nothing; if it fails,
// startKeeper tries once more.
func (b *Boot) prelaunchKeeper(ctx context.Context, p *config.Plan, k Keeper) *task.Task[KeeperProcess] {
	if len(p.ISCSI.Targets) == 0 || !p.Boot.Keeper {
		return nil
	}
	return goTask(b, ctx, "keeper", func(context.Context) (KeeperProcess, error) {
		return k.Launch(prio.Background)
	})
}

// earlyKeeper waits for the keeper prelaunchKeeper started: nil if none,
// or if it failed.
func (b *Boot) earlyKeeper(early *task.Task[KeeperProcess]) KeeperProcess {
	if early == nil {
		return nil
	}
	kp, err := early.Wait(context.Background())
	if err != nil {
		b.log.Debugf("keeper: early start: %v", err)
		return nil
	}
	return kp
}

// startKeeper writes the hints for the real OS and hands the sessions to
// the keeper (started by prelaunchKeeper, else now), in the background as
// soon as the root device is found: the keeper then watches the sessions
// while the root is mounted (a connection lost meanwhile is recovered,
// not left failed), and its becoming ready overlaps the mount instead of
// delaying switch_root, which waits for it.
//
// The keeper also scans the target's other LUNs (scanRest), so that
// switch_root need not wait for that; without a keeper this task does.
func (b *Boot) startKeeper(ctx context.Context, p *config.Plan, a attached, early *task.Task[KeeperProcess], k Keeper, is ISCSI, files Files, addrs Addrs) *task.Task[struct{}] {
	return goTask(b, ctx, "keeper", func(ctx context.Context) (struct{}, error) {
		// The hints are written while the keeper gets ready, not before
		// it is handed the sessions: switch_root waits for both.
		hints := goTask(b, ctx, "keeper", func(context.Context) (struct{}, error) {
			b.writeHints(p, a.sessions, files, addrs)
			return struct{}{}, nil
		})
		defer hints.Wait(context.Background())
		kp := b.earlyKeeper(early)
		if len(a.sessions) == 0 {
			if kp != nil {
				kp.Abort()
			}
			return struct{}{}, nil
		}
		rest := scanRest(p, a)
		st := b.log.Begin("keeper")
		if !p.Boot.Keeper {
			st.Done("rd.netroot.keeper=0: no keeper; a failed iSCSI connection stays down until iscsid takes over")
			b.scanOthers(is, a.sessions, rest)
			return struct{}{}, nil
		}
		var err error
		var joins []keeper.Join
		if kp == nil {
			kp, err = k.Launch(0)
		}
		pid := 0
		if err == nil {
			// /init's watch of the connections ends where the keeper's
			// begins.
			sessions := b.conns.handOver(a.sessions)
			for i := range sessions {
				sessions[i].ScanOtherLUNs = i < len(rest) && rest[i]
			}
			var maps []keeper.Map
			joins, maps = b.joins(p, a, files)
			pid, err = kp.HandOver(keeper.State{TransportHandle: a.handle, Sessions: sessions, Joins: joins, Maps: maps})
		}
		if err != nil {
			st.Fail(err)
			b.log.Warnf("%s", render(fail("keeper", err, "the root works, but a network or target outage will not be recovered until iscsid runs")))
			b.scanOthers(is, a.sessions, rest)
			return struct{}{}, nil
		}
		if err := files.WriteFile(keeperPIDFile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			b.log.Warnf("keeper: recording pid %d: %v — kill $(cat %s) will not find the keeper; it runs all the same", pid, err, keeperPIDFile)
		}
		later := ""
		if len(joins) > 0 {
			later = fmt.Sprintf(" and logs in to %d path(s) of the multipath map once they answer", len(joins))
		}
		st.Done("%s pid %d keeps %d session(s)%s", keeper.ProcessName, pid, len(a.sessions), later)
		return struct{}{}, nil
	})
}

// Hints for the real OS, so its network tools leave the root's path alone
// and its iSCSI tools know the sessions (see README, "After switch_root").
const (
	networkHintFile = runDir + "/network.json"
	openISCSIIface  = "/run/initramfs/open-iscsi.interface"
	ifupdownState   = "/run/network/ifstate"
)

// hintInterface is one configured interface in network.json.
type hintInterface struct {
	Name      string   `json:"name"`
	Method    string   `json:"method"`
	Addresses []string `json:"addresses,omitempty"`
	Gateway   string   `json:"gateway,omitempty"`
}

// hintTarget is one iSCSI session in network.json (no secrets).
type hintTarget struct {
	SID     uint32   `json:"sid"`
	Host    uint32   `json:"scsi_host"`
	Target  string   `json:"target"`
	Portals []string `json:"portals"`
	ISID    string   `json:"isid"`
	// Device is the interface the session is bound to (netroot='s
	// <netdev_name>).
	Device string `json:"device,omitempty"`
}

// hints is /run/netroot/network.json.
type hints struct {
	Interfaces []hintInterface `json:"interfaces"`
	Bonds      []config.Bond   `json:"bonds,omitempty"`
	VLANs      []config.VLAN   `json:"vlans,omitempty"`
	Targets    []hintTarget    `json:"targets,omitempty"`
	Keeper     bool            `json:"keeper"`
}

// rootInterfaces are the interfaces ip= configured, in order.
func rootInterfaces(p *config.Plan) []string {
	var out []string
	for _, ip := range p.Net.IP {
		if ip.Interface != "" && !slices.Contains(out, ip.Interface) {
			out = append(out, ip.Interface)
		}
	}
	return out
}

// writeHints writes the hint files; failures only warn.
func (b *Boot) writeHints(p *config.Plan, sessions []keeper.Session, files Files, addrs Addrs) {
	h := hints{Bonds: p.Net.Bonds, VLANs: p.Net.VLANs, Keeper: p.Boot.Keeper && len(sessions) > 0}
	for _, ip := range p.Net.IP {
		hi := hintInterface{Name: ip.Interface, Method: string(ip.Method), Addresses: addrs.Addresses(ip.Interface)}
		if ip.Gateway.IsValid() {
			hi.Gateway = ip.Gateway.String()
		}
		h.Interfaces = append(h.Interfaces, hi)
	}
	for _, s := range sessions {
		h.Targets = append(h.Targets, hintTarget{SID: s.SID, Host: s.HostNo, Target: s.TargetName, Portals: s.Portals, ISID: s.ISID.String(), Device: s.Device})
	}
	data, err := json.MarshalIndent(h, "", "  ")
	if err == nil {
		err = files.WriteFile(networkHintFile, append(data, '\n'), 0o644)
	}
	if err != nil {
		b.log.Warnf("hints: %s: %v", networkHintFile, err)
	}
	ifaces := rootInterfaces(p)
	if len(ifaces) == 0 {
		return
	}
	// Debian's open-iscsi and initramfs-tools scripts read the iSCSI
	// interface from here and leave it configured.
	if err := files.WriteFile(openISCSIIface, []byte(ifaces[0]+"\n"), 0o644); err != nil {
		b.log.Warnf("hints: %s: %v", openISCSIIface, err)
	}
	// ifupdown: "iface=iface" marks each as already up, so ifup -a skips
	// it instead of reconfiguring the root's path.
	var st strings.Builder
	for _, i := range ifaces {
		fmt.Fprintf(&st, "%s=%s\n", i, i)
	}
	if err := files.WriteFile(ifupdownState, []byte(st.String()), 0o644); err != nil {
		b.log.Warnf("hints: %s: %v", ifupdownState, err)
	}
}
