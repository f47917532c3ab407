package boot

import (
	"context"
	"io"
	"io/fs"
	"net"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/bootlog"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/netconf"
	"github.com/netroot/netroot/pkg/switchroot"
)

// Env is everything the boot does to the machine, one small interface a
// subject. Linux returns the real one (the _linux.go files, over netroot's
// pkg/ libraries); the tests use fakes. Each step takes only the
// interfaces it needs.
type Env struct {
	System  System
	Files   Files
	Modules Modules
	Links   Links
	Addrs   Addrs
	ISCSI   ISCSI
	Disks   Disks
	DM      DeviceMapper
	Keeper  Keeper
	Switch  Switcher
	Console Console
	// NICs names the NICs the systemd way and reads the iBFT (names.go,
	// ibft.go); nil: the kernel's names stay and there is no iBFT.
	NICs NICs
	// IPv6 configures IPv6 (ipv6.go); nil: the IPv6 methods of ip= fail.
	IPv6 IPv6
	// OS prepares the real OS's network stacks and shutdown
	// (osconfig.go); nil: nothing is prepared.
	OS OSHandOff
}

// System is the kernel and process around the boot.
type System interface {
	// MountPseudo mounts /proc, /sys, /dev (with /dev/pts) and /run.
	MountPseudo() error
	// KernelRelease is uname -r.
	KernelRelease() string
	// OpenKmsg opens the kernel log for writing, lifting its rate limit
	// for the boot; consoleLevel is the kernel's console log level (0
	// when unknown).
	OpenKmsg() (kmsg io.Writer, consoleLevel int, err error)
	// RestoreKmsgLimit puts the kernel log's rate limit back.
	RestoreKmsgLimit()
	// CPUs is the number of CPUs the boot runs on.
	CPUs() int
	// IdleSeconds is the CPUs' idle time since the kernel started (-1
	// when unknown).
	IdleSeconds() float64
	// Usage is what this process used so far (Idle left to the caller).
	Usage() bootlog.Usage
}

// Files reads and writes the initramfs's files.
type Files interface {
	ReadFile(name string) ([]byte, error)
	// WriteFile writes name, making its directory first.
	WriteFile(name string, data []byte, perm fs.FileMode) error
	Glob(pattern string) ([]string, error)
}

// Modules loads kernel modules.
type Modules interface {
	// Open reads the module index of kernel release and returns its
	// loader.
	Open(release string, o ModuleOptions) (ModuleLoader, error)
	// Releases lists the kernel releases the initramfs has modules for.
	Releases() []string
	// WatchDevices subscribes to the kernel's device events; subscribe
	// before any driver loads so no device added meanwhile is missed.
	WatchDevices() (DeviceEvents, error)
}

// ModuleOptions is what the plan says about loading modules.
type ModuleOptions struct {
	Params    map[string][]string
	Blacklist []string
	// NoAutoload are modules a device does not load (rd.driver.post=).
	NoAutoload []string
	AsyncProbe bool
	Logf       func(format string, args ...any)
}

// ModuleLoader loads the modules of one kernel; its calls may overlap.
type ModuleLoader interface {
	// Load loads names and what they depend on.
	Load(ctx context.Context, names ...string) error
	// LoadNiced is Load from threads at the nice value nice: the
	// background batches take the CPU time the foreground leaves idle.
	LoadNiced(ctx context.Context, nice int, names ...string) error
	// LoadForDevices loads the drivers of the devices present.
	LoadForDevices(ctx context.Context) (loaded []string, err error)
	// LoadForNewDevices loads the drivers of the devices next reports
	// (by modalias) until next fails, reporting each load.
	LoadForNewDevices(ctx context.Context, next func(context.Context) (string, error),
		report func(modalias string, loaded []string, err error)) error
	// Carries reports whether the initramfs has the module.
	Carries(name string) bool
}

// DeviceEvents are the kernel's device events.
type DeviceEvents interface {
	// Next returns the modalias of the next device added.
	Next(ctx context.Context) (string, error)
	Close() error
}

// MACs reads the NICs' MAC addresses.
type MACs interface {
	HardwareAddr(name string) (net.HardwareAddr, error)
}

// Links finds, renames and builds interfaces.
type Links interface {
	MACs
	// WaitMAC waits until an interface has mac, and returns its name.
	WaitMAC(ctx context.Context, mac net.HardwareAddr) (string, error)
	// Rename renames the interface with mac to name.
	Rename(mac net.HardwareAddr, name string) error
	// WaitLinks waits until every named interface exists.
	WaitLinks(ctx context.Context, names []string) error
	// FreeNICs waits until a physical NIC that is not enslaved exists,
	// and returns all of them.
	FreeNICs(ctx context.Context) ([]string, error)
	// CreateBond creates a bond, up and without slaves.
	CreateBond(cfg bond.Config) (Bond, error)
	InspectBond(name string) (*bond.Result, error)
	// WaitLACP waits until an 802.3ad bond's active aggregator has a port
	// and a partner, or ctx ends, and returns the last state seen.
	WaitLACP(ctx context.Context, bond string) (LACP, error)
	AddVLAN(v config.VLAN) error
	// BondPorts reads a bond's mode and slaves (deadpath.go).
	BondPorts(name string) (mode string, ports []bond.Port, err error)
	// SetActiveSlave makes slave the active slave of an active-backup bond.
	SetActiveSlave(bond, slave string) error
	// SetMAC gives an interface a MAC address (ip=…:<macaddr>).
	SetMAC(iface string, mac net.HardwareAddr) error
}

// Bond is a bond made by Links.CreateBond.
type Bond interface {
	// Enslave enslaves slaves (primary first) and waits for carrier.
	Enslave(ctx context.Context, slaves []string, primary string) (*bond.Result, error)
}

// Addrs configures addresses, routes and names.
type Addrs interface {
	ApplyStatic(s netconf.Static) error
	WaitCarrier(ctx context.Context, iface string) error
	AddRoute(r netconf.Route) error
	SetHostname(name string) error
	// AcquireDHCP runs DHCP on o.Interface until a lease or ctx's end.
	AcquireDHCP(ctx context.Context, o dhcp.Options) (*dhcp.Lease, error)
	// ApplyLease configures a lease on its interface.
	ApplyLease(l *dhcp.Lease, o dhcp.ApplyOptions) error
	// Addresses lists an interface's addresses (CIDR), none when unknown.
	Addresses(iface string) []string
}

// ISCSI is the initiator: the login in userspace, the session in the
// kernel.
type ISCSI interface {
	// Connect dials the portal and logs in, retrying as o says.
	Connect(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) (*iscsi.Session, net.Conn, error)
	// Discover asks a portal which targets it has (SendTargets),
	// retrying as o says.
	Discover(ctx context.Context, cfg iscsi.DiscoveryConfig, o iscsi.ConnectOptions) ([]iscsi.DiscoveredTarget, error)
	// OpenTransport opens the kernel's iSCSI transport (its modules
	// loaded).
	OpenTransport() (Transport, error)
	// Scan asks the kernel to scan one LUN of a session's SCSI host.
	Scan(hostNo uint32, lun uint64) error
	// SetScheduler sets a disk's I/O scheduler.
	SetScheduler(dev, sched string) error
	// WatchConnections subscribes to the kernel's iSCSI events (its
	// modules loaded): connWatch notices there a session's connection
	// failing before the keeper takes the session over.
	WatchConnections() (ConnEvents, error)
	// SessionState reads a kernel session's state (sysfs).
	SessionState(sid, cid uint32) (keeper.SessionState, error)
	// Recover logs a session whose connection failed in again, with the
	// keeper's recovery, until it is back or ctx ends.
	Recover(ctx context.Context, handle uint64, s keeper.Session, logf func(string, ...any)) (keeper.Recovered, error)
}

// ConnEvents are the kernel's iSCSI events.
type ConnEvents interface {
	// Next returns the next event (keeper.EventConnError among others).
	Next(ctx context.Context) (keeper.Event, error)
	Close() error
}

// Transport is the kernel's iSCSI transport; the boot serialises its use.
type Transport interface {
	// Prepare creates the kernel session and connection for a login to
	// come.
	Prepare(portal, target string, o iscsi.KernelOptions) (PreparedSession, error)
	// Handle is iscsi_tcp's transport handle, for the keeper.
	Handle() uint64
}

// PreparedSession is a kernel session waiting for its login: Start or
// Destroy it, once.
type PreparedSession interface {
	// Start hands the logged-in connection to the kernel.
	Start(conn net.Conn, s *iscsi.Session, o iscsi.KernelOptions) (iscsi.KernelSession, error)
	Destroy() error
}

// Disks finds block devices and mounts the root.
type Disks interface {
	// Watch subscribes to block device events; subscribe before what
	// makes the device appear (a login) so none is missed.
	Watch() (DiskWatch, error)
	// Mount mounts source on target (made if missing) with mount(2)'s
	// flags and data.
	Mount(source, target, fstype string, flags blockdev.MountFlags, data string) error
}

// DiskWatch waits for block devices; a device is probed once.
type DiskWatch interface {
	// WaitFor waits for the one device sel names.
	WaitFor(ctx context.Context, sel blockdev.Selector) (*blockdev.Device, error)
	// WaitFunc waits for a device match accepts; desc names it in errors.
	WaitFunc(ctx context.Context, desc string, match func(blockdev.Device) bool) (*blockdev.Device, error)
	Close() error
}

// Keeper starts the session keeper process.
type Keeper interface {
	// Launch starts a keeper at nice; it waits for its state.
	Launch(nice int) (KeeperProcess, error)
}

// KeeperProcess is a started keeper waiting for its state.
type KeeperProcess interface {
	// HandOver writes the state and waits until the keeper listens; it
	// returns its pid. On failure the keeper is stopped.
	HandOver(st keeper.State) (pid int, err error)
	// Abort stops a keeper that was never handed its state.
	Abort()
}

// Switcher moves to the real root.
type Switcher interface {
	// Prefetch asks for init's files in the new root to be read ahead.
	Prefetch(newRoot, init string) ([]string, error)
	// SwitchRoot does not return on success.
	SwitchRoot(o switchroot.Options) error
}

// Console is where a person sees the boot fail.
type Console interface {
	// Shell runs a shell on the console with env, and waits for it.
	Shell(env []string) error
	// Reboot reboots, powers off or halts, as action says.
	Reboot(action config.Emergency) error
	// Forever reaps orphans forever: PID 1 never exits.
	Forever()
}
