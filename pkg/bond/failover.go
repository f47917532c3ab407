package bond

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// A slave of an active-backup bond can have carrier and still carry
// nothing: a switch that lost its uplink, a port black-holing its
// traffic, a virtual NIC whose host side is down. miimon only sees the
// carrier, so the bond keeps sending into the void. Whoever notices —
// a connect over the bond that gets no answer within a few seconds —
// makes another slave active with Failover, the same way at boot and in
// the session keeper.

// Port is one slave of a bond, as Failover sees it.
type Port struct {
	Name    string
	Carrier bool
	Active  bool
}

// ActiveBackup is the mode name of active-backup bonds, as netlink and
// sysfs (its first word) give it.
const ActiveBackup = "active-backup"

// modeName is the mode's name without sysfs's number ("active-backup 1").
func modeName(mode string) string {
	if f := strings.Fields(mode); len(f) > 0 {
		return f[0]
	}
	return ""
}

// Standby returns the slave to make active when the active one carries
// nothing: the first slave after it, in the bond's order and round, with
// carrier. ok is false in the other modes, which have no active slave
// (their traffic is spread over the slaves), and when no other slave has
// carrier.
func Standby(mode string, ports []Port) (slave string, ok bool) {
	if modeName(mode) != ActiveBackup || len(ports) < 2 {
		return "", false
	}
	active := -1
	for i, p := range ports {
		if p.Active {
			active = i
			break
		}
	}
	for k := 1; k <= len(ports); k++ {
		p := ports[(active+k+len(ports))%len(ports)]
		if !p.Active && p.Carrier {
			return p.Name, true
		}
	}
	return "", false
}

// ReadPorts reads a bond's mode and slaves through read, which returns a
// sysfs attribute (relative to /sys, without surrounding white space).
func ReadPorts(read func(rel string) (string, error), name string) (mode string, ports []Port, err error) {
	dir := "class/net/" + name + "/bonding/"
	if mode, err = read(dir + "mode"); err != nil {
		return "", nil, fmt.Errorf("%s is not a bond: %w", name, err)
	}
	slaves, err := read(dir + "slaves")
	if err != nil {
		return "", nil, fmt.Errorf("slaves of %s: %w", name, err)
	}
	active, _ := read(dir + "active_slave")
	for _, s := range strings.Fields(slaves) {
		c, _ := read("class/net/" + s + "/carrier")
		ports = append(ports, Port{Name: s, Carrier: c == "1", Active: s == active})
	}
	return modeName(mode), ports, nil
}

// ErrSwitchedMeanwhile is returned by Failover.Switch when the active
// slave changed since the caller's connect began: that connect's failure
// says nothing about the slave now active.
var ErrSwitchedMeanwhile = errors.New("the active slave changed meanwhile")

// NoStandbyError says why Failover.Switch could not switch.
type NoStandbyError struct {
	Bond, Mode string
	Ports      []Port
}

func (e *NoStandbyError) Error() string {
	if modeName(e.Mode) != ActiveBackup {
		return fmt.Sprintf("%s is %s, which has no active slave to switch: its traffic is spread over its slaves", e.Bond, e.Mode)
	}
	var names []string
	for _, p := range e.Ports {
		if !p.Active {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf("%s has no other slave", e.Bond)
	}
	return fmt.Sprintf("%s has no other slave with carrier (%s)", e.Bond, strings.Join(names, ", "))
}

// Failover switches a bond's active slave when the path over it carries
// nothing. It counts its switches, so that connects that failed together
// on one slave switch once: take Generation before a connect and hand it
// to Switch when the connect got no answer.
type Failover struct {
	// Bond is the bond's name.
	Bond string
	// Ports reads the bond's mode and slaves (ReadPorts).
	Ports func() (mode string, ports []Port, err error)
	// SetActive makes slave the active one.
	SetActive func(slave string) error

	mu  sync.Mutex
	gen uint64
}

// Switched is one switch of the active slave.
type Switched struct {
	From, To string
}

// Generation is the number of switches made so far.
func (f *Failover) Generation() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen
}

// ActiveBackup reports whether the bond is in active-backup mode with a
// slave to switch to, now.
func (f *Failover) ActiveBackup() bool {
	mode, ports, err := f.Ports()
	_, ok := Standby(mode, ports)
	return err == nil && ok
}

// Switch makes the next slave with carrier active because a connect begun
// at generation gen got no answer over the active one. It does nothing
// and returns ErrSwitchedMeanwhile when a switch happened since gen, and a
// *NoStandbyError when there is no slave to switch to.
func (f *Failover) Switch(gen uint64) (Switched, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if gen != f.gen {
		return Switched{}, ErrSwitchedMeanwhile
	}
	mode, ports, err := f.Ports()
	if err != nil {
		return Switched{}, err
	}
	to, ok := Standby(mode, ports)
	if !ok {
		return Switched{}, &NoStandbyError{Bond: f.Bond, Mode: mode, Ports: ports}
	}
	var from string
	for _, p := range ports {
		if p.Active {
			from = p.Name
		}
	}
	if err := f.SetActive(to); err != nil {
		return Switched{}, fmt.Errorf("making %s the active slave of %s: %w", to, f.Bond, err)
	}
	f.gen++
	return Switched{From: from, To: to}, nil
}
