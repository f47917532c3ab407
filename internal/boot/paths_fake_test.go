package boot

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/devmapper"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/multipath"
	"github.com/netroot/netroot/pkg/netconf"
)

// The machine's defaults for what the paths code asks of the Env: no
// bond information, no discovery, no device-mapper.

func (m *machine) BondPorts(name string) (string, []bond.Port, error) {
	return "", nil, fmt.Errorf("%s is not a bond", name)
}

func (m *machine) SetMAC(iface string, mac net.HardwareAddr) error {
	m.record("mac %s %s", iface, mac)
	return nil
}

func (r *pathsRig) SetMAC(iface string, mac net.HardwareAddr) error { return nil }

func (m *machine) SetActiveSlave(b, slave string) error {
	m.record("active slave %s %s", b, slave)
	return nil
}

func (m *machine) Discover(ctx context.Context, cfg iscsi.DiscoveryConfig, o iscsi.ConnectOptions) ([]iscsi.DiscoveredTarget, error) {
	return nil, errors.New("no discovery on this machine")
}

func (m *machine) OpenControl() (multipath.Control, error) {
	return nil, errors.New("no device-mapper on this machine")
}

func (m *machine) Inquiry(disk string) (string, string) { return "IET", "VIRTUAL-DISK" }

func (m *machine) PartitionExtent(part string) (uint64, uint64, error) {
	return 0, 0, errors.New("no partitions on this machine")
}

// pathsRig is the machine with a target reached through several portals:
// each portal behaves as behave says (nil: the login succeeds at once),
// a LUN's disk carries a WWID (the same through every session), the
// ISIDs and closed connections are recorded, a bond and a device-mapper
// are faked, and the keeper's state is kept.
type pathsRig struct {
	*machine
	// behave is a portal's login: it returns when the login ends, its
	// error the login's; missing: the login succeeds.
	behave map[string]func(ctx context.Context) error
	// wwid is a LUN's WWID by target name ("" for none); nil: one per
	// target and LUN.
	wwid func(target string, lun uint64) string
	// partitioned puts the root filesystem on partition 1.
	partitioned bool
	discovered  []iscsi.DiscoveredTarget
	// discoverOpts are the options of the last discovery.
	discoverOpts iscsi.ConnectOptions
	// tpgt is each portal's portal group tag (default 1).
	tpgt map[string]uint16
	// noCarrier are the NICs without carrier (their cable out);
	// dhcpDelay how long a NIC's DHCP server takes to answer.
	noCarrier map[string]bool
	dhcpDelay map[string]time.Duration
	// dhcpGate holds a NIC's DHCP answer until it is closed.
	dhcpGate map[string]chan struct{}
	// up are closed as the interfaces are brought up (ApplyStatic).
	up map[string]chan struct{}

	mu     sync.Mutex
	logins []iscsi.LoginConfig // in the order they started
	closed []string            // portals whose connection /init closed
	dm     *fakeDM
	state  *keeper.State
	bond   struct {
		mode   string
		ports  []bond.Port
		active []string // SetActiveSlave calls
	}
}

func newPathsRig(t *testing.T) *pathsRig {
	r := &pathsRig{machine: newMachine(t), behave: map[string]func(context.Context) error{}, tpgt: map[string]uint16{}}
	r.dm = &fakeDM{}
	return r
}

// blackHole is a login that never gets an answer: it ends when cancelled.
func blackHole(ctx context.Context) error {
	<-ctx.Done()
	return fmt.Errorf("dial tcp: %w", ctx.Err())
}

// refused is a login whose connect is refused.
func refused(context.Context) error {
	return errors.New("dial tcp: connect: connection refused")
}

// after is a login that succeeds after d.
func after(d time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// whenCalled is a login that succeeds once the rig has recorded a call
// starting with prefix (another path's login under way): the winner of a
// race between paths then never ends it before the others have started,
// whatever the scheduler does (a path whose turn comes after the race was
// won is given up unstarted).
func (r *pathsRig) whenCalled(prefix string) func(context.Context) error {
	return func(ctx context.Context) error {
		for len(r.called(prefix)) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		return nil
	}
}

func (r *pathsRig) env() Env {
	e := r.machine.env()
	e.ISCSI, e.Links, e.DM, e.Keeper, e.Addrs = r, r, r, r, r
	return e
}

// ApplyStatic brings the interface up: only then can it have carrier.
func (r *pathsRig) ApplyStatic(s netconf.Static) error {
	r.mu.Lock()
	if r.up == nil {
		r.up = map[string]chan struct{}{}
	}
	if _, ok := r.up[s.Interface]; !ok {
		r.up[s.Interface] = make(chan struct{})
	}
	close(r.up[s.Interface])
	r.mu.Unlock()
	return r.machine.ApplyStatic(s)
}

func (r *pathsRig) WaitCarrier(ctx context.Context, iface string) error {
	r.mu.Lock()
	if r.up == nil {
		r.up = map[string]chan struct{}{}
	}
	up, ok := r.up[iface]
	if !ok {
		up = make(chan struct{})
		r.up[iface] = up
	}
	r.mu.Unlock()
	select {
	case <-up:
	case <-ctx.Done():
		return fmt.Errorf("%s is down: %w", iface, ctx.Err())
	}
	if r.noCarrier[iface] {
		<-ctx.Done()
		return fmt.Errorf("%s has no carrier: %w", iface, ctx.Err())
	}
	return nil
}

// AcquireDHCP finds no server behind a NIC without carrier: it waits
// until it is cancelled.
func (r *pathsRig) AcquireDHCP(ctx context.Context, o dhcp.Options) (*dhcp.Lease, error) {
	if r.noCarrier[o.Interface] {
		r.record("dhcp %s", o.Interface)
		<-ctx.Done()
		return nil, fmt.Errorf("%s: no DHCP answer: %w", o.Interface, ctx.Err())
	}
	select {
	case <-time.After(r.dhcpDelay[o.Interface]):
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: no DHCP answer: %w", o.Interface, ctx.Err())
	}
	if gate, ok := r.dhcpGate[o.Interface]; ok {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no DHCP answer: %w", o.Interface, ctx.Err())
		}
	}
	return r.machine.AcquireDHCP(ctx, o)
}

// boot runs a boot of cmdline on the rig to its end; it returns Run's
// error and how long Run took.
func (r *pathsRig) boot(cmdline string) (time.Duration, error) {
	r.t.Helper()
	if err := r.files.WriteFile(procCmdline, []byte(cmdline+"\n"), 0o644); err != nil {
		r.t.Fatal(err)
	}
	b := New(r.env(), r.logger(), Options{Grace: 2 * time.Second})
	start := time.Now()
	err := b.Run(context.Background())
	took := time.Since(start)
	if err != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			b.Emergency(err)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			r.t.Fatalf("Emergency did not end within 30 s")
		}
	}
	return took, err
}

// closeRecorder is a logged-in connection that records its closing.
type closeRecorder struct {
	net.Conn
	r      *pathsRig
	portal string
	once   sync.Once
}

func (c *closeRecorder) Close() error {
	c.once.Do(func() {
		c.r.mu.Lock()
		c.r.closed = append(c.r.closed, c.portal)
		c.r.mu.Unlock()
	})
	return c.Conn.Close()
}

func (c *closeRecorder) RemoteAddr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", c.portal)
	return a
}

func (r *pathsRig) Connect(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) (*iscsi.Session, net.Conn, error) {
	r.record("connect %s %s", cfg.Portal, cfg.TargetName)
	r.mu.Lock()
	r.logins = append(r.logins, cfg)
	login := r.behave[cfg.Portal]
	tpgt := r.tpgt[cfg.Portal]
	r.mu.Unlock()
	if login != nil {
		// As the real Connect, which gives up at o.Deadline (rd.retry).
		if o.Deadline > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, o.Deadline)
			defer cancel()
		}
		if err := login(ctx); err != nil {
			return nil, nil, &iscsi.LoginError{Portal: cfg.Portal, Target: cfg.TargetName, Reason: "connection failed", Err: err}
		}
	}
	if tpgt == 0 {
		tpgt = 1
	}
	c, peer := net.Pipe()
	peer.Close()
	return &iscsi.Session{TargetName: cfg.TargetName, Portal: cfg.Portal, ISID: cfg.ISID, TPGT: tpgt, AuthMethod: "None"},
		&closeRecorder{Conn: c, r: r, portal: cfg.Portal}, nil
}

func (r *pathsRig) Discover(ctx context.Context, cfg iscsi.DiscoveryConfig, o iscsi.ConnectOptions) ([]iscsi.DiscoveredTarget, error) {
	r.record("discover %s", cfg.Portal)
	r.mu.Lock()
	r.discoverOpts = o
	r.mu.Unlock()
	if r.discovered == nil {
		return nil, &iscsi.LoginError{Portal: cfg.Portal, Reason: "connection failed", Err: errors.New("connection refused")}
	}
	return r.discovered, nil
}

// lunWWID is the WWID of a LUN, as SCSI disks report one.
func (r *pathsRig) lunWWID(target string, lun uint64) string {
	if r.wwid != nil {
		return r.wwid(target, lun)
	}
	h := sha256.Sum256([]byte(target + "/" + strconv.FormatUint(lun, 10)))
	return fmt.Sprintf("36001405%x", h[:12])
}

// Scan makes the LUN's disk appear (and its partition when partitioned),
// with the LUN's WWID and a device number.
func (r *pathsRig) Scan(hostNo uint32, lun uint64) error {
	m := r.machine
	m.mu.Lock()
	defer m.mu.Unlock()
	if lun == iscsi.AllLUNs && hasDiskOn(m.disks, hostNo) {
		return nil // the target's one LUN is there
	}
	n := len(slices.DeleteFunc(slices.Clone(m.disks), func(d blockdev.Device) bool { return d.IsPartition() }))
	name := "sd" + string(rune('a'+n))
	portal, target, _ := strings.Cut(m.portals[hostNo], " ")
	host, port, _ := net.SplitHostPort(portal)
	pn, _ := strconv.Atoi(port)
	d := blockdev.Device{Name: name, Path: "/dev/" + name, Size: 64 << 20, Major: 8, Minor: uint32(16 * n),
		SCSIAddress: fmt.Sprintf("%d:0:0:%d", hostNo, lun), WWID: r.lunWWID(target, lun),
		ByPath: blockdev.ISCSIPath{Address: host, Port: pn, Target: target, LUN: lun}.String()}
	if !r.partitioned {
		d.FSType, d.Label = "ext4", "ISCSI_ROOT"
		m.disks = append(m.disks, d)
		return nil
	}
	d.PTType = "gpt"
	part := d
	part.Name, part.Path, part.Parent, part.PartNumber, part.Minor = name+"1", "/dev/"+name+"1", name, 1, d.Minor+1
	part.PTType, part.FSType, part.Label, part.Size = "", "ext4", "ISCSI_ROOT", 63<<20
	part.ByPath += "-part1"
	m.disks = append(m.disks, d, part)
	return nil
}

func (r *pathsRig) BondPorts(name string) (string, []bond.Port, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bond.mode == "" {
		return "", nil, fmt.Errorf("%s is not a bond", name)
	}
	return r.bond.mode, slices.Clone(r.bond.ports), nil
}

func (r *pathsRig) SetActiveSlave(b, slave string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bond.active = append(r.bond.active, slave)
	for i := range r.bond.ports {
		r.bond.ports[i].Active = r.bond.ports[i].Name == slave
	}
	return nil
}

// activeSlave is the bond's active slave now.
func (r *pathsRig) activeSlave() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.bond.ports {
		if p.Active {
			return p.Name
		}
	}
	return ""
}

func (r *pathsRig) OpenControl() (multipath.Control, error) { return r.dm, nil }

func (r *pathsRig) PartitionExtent(part string) (uint64, uint64, error) {
	if !strings.HasSuffix(part, "1") {
		return 0, 0, fmt.Errorf("%s is not a partition", part)
	}
	return 2048, 63 << 11, nil
}

func (r *pathsRig) Launch(nice int) (KeeperProcess, error) {
	r.record("keeper launch nice=%d", nice)
	return &rigKeeper{r: r}, nil
}

type rigKeeper struct{ r *pathsRig }

func (k *rigKeeper) HandOver(st keeper.State) (int, error) {
	if err := st.Validate(); err != nil {
		return 0, err
	}
	k.r.mu.Lock()
	k.r.state = &st
	k.r.mu.Unlock()
	k.r.record("keeper handover %d session(s)", len(st.Sessions))
	return 42, nil
}

func (k *rigKeeper) Abort() { k.r.record("keeper abort") }

// fakeDM is device-mapper: maps by name, each a dm-N.
type fakeDM struct {
	mu     sync.Mutex
	next   uint32
	maps   map[string]devmapper.Info
	tables map[string][]devmapper.Target
	uuids  map[string]string
	calls  []string
}

func (f *fakeDM) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeDM) Create(name, uuid string) (devmapper.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.maps == nil {
		f.maps, f.tables, f.uuids = map[string]devmapper.Info{}, map[string][]devmapper.Target{}, map[string]string{}
	}
	if _, ok := f.maps[name]; ok {
		return devmapper.Info{}, fmt.Errorf("%s exists", name)
	}
	info := devmapper.Info{Major: 253, Minor: f.next}
	f.next++
	f.maps[name], f.uuids[name] = info, uuid
	f.record("create %s %s", name, uuid)
	return info, nil
}

func (f *fakeDM) Load(name string, targets []devmapper.Target, readOnly bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tables[name] = targets
	f.record("load %s %s", name, targets[0])
	return nil
}

func (f *fakeDM) Resume(name string, noFlush bool) (devmapper.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("resume %s", name)
	return f.maps[name], nil
}

func (f *fakeDM) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.maps, name)
	f.record("remove %s", name)
	return nil
}

func (f *fakeDM) Status(name string) (devmapper.Info, []devmapper.Target, error) {
	return devmapper.Info{}, nil, errors.New("no status")
}

func (f *fakeDM) Message(name string, sector uint64, msg string) (string, error) {
	return "", nil
}
