package bond

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/netconf"
	"github.com/netroot/netroot/pkg/sysfs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config describes one bond; its slaves are given to Bond.Enslave.
type Config struct {
	// Name is the bond's interface name, e.g. bond0.
	Name string
	// Options are bonding driver options (mode first is customary).
	Options []Option
	// MTU is applied to the bond when non-zero.
	MTU int
}

// Slave is a slave's state once the bond is up.
type Slave struct {
	Name   string
	Up     bool // carrier
	Active bool // active slave (active-backup), or carrying traffic
}

// Result describes the bond once it carries traffic.
type Result struct {
	Name   string
	Mode   string
	MAC    net.HardwareAddr
	Slaves []Slave
}

// String is a one-line summary, e.g. "bond0 active-backup: eth0 active, eth1 backup".
func (r *Result) String() string {
	var parts []string
	for _, s := range r.Slaves {
		state := "backup"
		switch {
		case !s.Up:
			state = "DOWN (no carrier)"
		case s.Active:
			state = "active"
		case r.Mode != "active-backup":
			state = "up"
		}
		parts = append(parts, s.Name+" "+state)
	}
	return fmt.Sprintf("%s %s %s: %s", r.Name, r.Mode, r.MAC, strings.Join(parts, ", "))
}

// Bond is a bond made by Create: up, with its options, and no slaves yet.
type Bond struct {
	name   string
	index  int
	mode   netlink.BondMode
	byName map[string]string // options naming a slave, set once enslaved
}

// Create creates the bond with its options and MTU and brings it up,
// without slaves: it needs only the bonding module, so it can run while
// the NICs' drivers still probe. A bond of the same name that the bonding
// module created (loaded without max_bonds=0) is replaced; another kind
// of link of that name is an error.
func Create(cfg Config) (*Bond, error) {
	tr, err := Translate(cfg.Name, cfg.Options)
	if err != nil {
		return nil, err
	}
	attrs, byName := tr.Link, tr.ByName
	if old, err := netlink.LinkByName(cfg.Name); err == nil {
		if _, isBond := old.(*netlink.Bond); !isBond {
			return nil, fmt.Errorf("%s exists and is a %s, not a bond", cfg.Name, old.Type())
		}
		if err := netlink.LinkDel(old); err != nil {
			return nil, fmt.Errorf("replacing the %s the bonding module created: %w", cfg.Name, err)
		}
	}
	if cfg.MTU > 0 {
		attrs.MTU = cfg.MTU
	}
	if err := netlink.LinkAdd(attrs); err != nil {
		return nil, fmt.Errorf("creating %s: %w", cfg.Name, err)
	}
	l, err := netlink.LinkByName(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", cfg.Name, err)
	}
	if err := setExtra(l.Attrs().Index, tr.Extra); err != nil {
		return nil, fmt.Errorf("setting the options of %s: %w", cfg.Name, err)
	}
	// Up before its slaves: the first slave with carrier then gives the
	// bond carrier as it is enslaved.
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("bringing %s up: %w", cfg.Name, err)
	}
	return &Bond{name: cfg.Name, index: l.Attrs().Index, mode: attrs.Mode, byName: byName}, nil
}

// Enslave enslaves slaves, in order, sets the options that name a slave,
// and waits until the bond has carrier or ctx ends. primary, when set, is
// the preferred slave (e.g. the PXE NIC): it is enslaved first so the bond
// takes its MAC address, and in active-backup mode it becomes the
// primary= option; an explicit primary= option wins.
func (b *Bond) Enslave(ctx context.Context, slaves []string, primary string) (*Result, error) {
	byName := make(map[string]string, len(b.byName)+1)
	for k, v := range b.byName {
		byName[k] = v
	}
	if _, ok := byName["primary"]; !ok && primary != "" && b.mode == netlink.BOND_MODE_ACTIVE_BACKUP {
		byName["primary"] = primary
	}
	slaves = orderSlaves(slaves, byName["primary"])

	links := make([]netlink.Link, 0, len(slaves))
	for _, s := range slaves {
		l, err := netlink.LinkByName(s)
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("slave %s: %w", s, err), "is its NIC driver loaded? see the interfaces found")
		}
		links = append(links, l)
	}
	for _, l := range links {
		// The kernel refuses to enslave a link that is up; a NIC whose
		// driver just probed is down already, and one request less.
		if l.Attrs().Flags&net.FlagUp != 0 {
			if err := netlink.LinkSetDown(l); err != nil {
				return nil, fmt.Errorf("taking %s down to enslave it: %w", l.Attrs().Name, err)
			}
		}
		if err := netlink.LinkSetMasterByIndex(l, b.index); err != nil {
			return nil, fmt.Errorf("enslaving %s to %s: %w", l.Attrs().Name, b.name, err)
		}
	}
	if err := setByName(b.name, byName); err != nil {
		return nil, err
	}
	// IFF_RUNNING (operstate up) on the bond.
	err := netconf.WaitFor(ctx, func() (bool, error) {
		l, err := netlink.LinkByIndex(b.index)
		return err == nil && l.Attrs().RawFlags&unix.IFF_RUNNING != 0, nil
	})
	if err != nil {
		if res, _ := Inspect(b.name); res != nil {
			err = fmt.Errorf("%s has no carrier: %w (slaves: %s)", b.name, err, res)
		} else {
			err = fmt.Errorf("%s has no carrier: %w", b.name, err)
		}
		return nil, hint.Wrap(err, "check the cables/switch ports and the bond mode (802.3ad needs LACP on the switch)")
	}
	return Inspect(b.name)
}

// orderSlaves puts the primary first, so the bond takes its MAC.
func orderSlaves(slaves []string, primary string) []string {
	out := make([]string, 0, len(slaves))
	for _, s := range slaves {
		if s == primary {
			out = append(out, s)
		}
	}
	for _, s := range slaves {
		if s != primary {
			out = append(out, s)
		}
	}
	return out
}

// setByName writes options naming an interface through sysfs: netlink
// wants an index for these, and sysfs takes the name as the user gave it.
func setByName(bond string, byName map[string]string) error {
	for _, opt := range []string{"primary", "active_slave"} {
		v, ok := byName[opt]
		if !ok {
			continue
		}
		if err := sysfs.Sys.Write("class/net/"+bond+"/bonding/"+opt, v); err != nil {
			return fmt.Errorf("setting %s %s=%s: %w", bond, opt, v, err)
		}
	}
	return nil
}

// Inspect reports the bond's mode and each slave's state. Carrier and the
// active slave come from sysfs, which the kernel updates at once (a link's
// IFF_RUNNING flag follows later, through linkwatch).
func Inspect(name string) (*Result, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	b, ok := l.(*netlink.Bond)
	if !ok {
		return nil, fmt.Errorf("%s is not a bond", name)
	}
	res := &Result{Name: name, Mode: b.Mode.String(), MAC: b.HardwareAddr}
	dir := "class/net/" + name + "/bonding/"
	active := sysfs.Sys.Value(dir + "active_slave")
	for _, s := range strings.Fields(sysfs.Sys.Value(dir + "slaves")) {
		sl := Slave{Name: s, Up: sysfs.Sys.Value("class/net/"+s+"/carrier") == "1"}
		sl.Active = s == active
		res.Slaves = append(res.Slaves, sl)
	}
	return res, nil
}
