package boot

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/netroot/netroot/internal/task"
	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/dhcp"
	"github.com/netroot/netroot/pkg/osnet"
)

// OSHandOff prepares what the real OS finds after switch_root so that it
// lives, and dies, on its network root (rd.netroot.osconfig).
type OSHandOff interface {
	// RootPath reads the root's network path from the kernel: the
	// configured interfaces (the one routed to rootServer first) and
	// their lower interfaces (osnet.Inspect).
	RootPath(rootServer netip.Addr) ([]osnet.Link, error)
	// BindShutdown leaves this binary as /run/initramfs/shutdown, with
	// the directories systemd's return into it needs, without copying
	// it: a hard link beside the binary on the initramfs, in
	// shutdown.InitramfsDir, bound onto /run/initramfs. systemd-shutdown
	// executes it after the last process is killed (the shutdown role).
	// The mount hides what /run/initramfs held, so the boot calls it
	// before anything is written there. It fails where the binary is not
	// on the initramfs.
	BindShutdown() error
	// CopyShutdown leaves the role as BindShutdown does, by copying this
	// binary to /run/initramfs: when BindShutdown failed.
	CopyShutdown() error
}

// bindShutdown installs the shutdown role by a bind mount, before the
// hints write into /run/initramfs, where leaveOSConfig would install it;
// leaveOSConfig copies the binary instead if this failed.
func (b *Boot) bindShutdown(p *config.Plan, a attached, o OSHandOff) {
	if !handsOff(p, a, o) {
		return
	}
	b.shutdownBind = o.BindShutdown()
	b.shutdownBound = b.shutdownBind == nil
}

// handsOff reports whether the boot prepares the real OS (the network
// files, the shutdown role): rd.netroot.osconfig, for a root on sessions.
func handsOff(p *config.Plan, a attached, o OSHandOff) bool {
	return p.Boot.OSConfig && o != nil && len(a.sessions) > 0
}

// startOSConfig runs leaveOSConfig in the background as soon as the root
// device is found: it needs the network and the sessions, not the mounted
// root, so it overlaps the mount.
func (b *Boot) startOSConfig(ctx context.Context, p *config.Plan, a attached, files Files, o OSHandOff) *task.Task[struct{}] {
	return goTask(b, ctx, "osconfig", func(context.Context) (struct{}, error) {
		b.leaveOSConfig(p, a, files, o)
		return struct{}{}, nil
	})
}

// leaveOSConfig writes the runtime configuration of the real OS's network
// stacks for the root's path (pkg/osnet) and installs the shutdown role.
// A failure only warns: the root works, but the OS may reconfigure its
// path or hang at shutdown, which the warning says.
func (b *Boot) leaveOSConfig(p *config.Plan, a attached, files Files, o OSHandOff) {
	if !handsOff(p, a, o) {
		return
	}
	st := b.log.Begin("osconfig")
	var written int
	var names, warns []string
	b.osNet.write(func() {
		written, names, warns = writeOSFiles(p, a, files, o)
	}, func(iface string) {
		st := b.log.BeginBackground("osconfig")
		n, names, warns := writeOSFiles(p, a, files, o)
		b.warnOSConfig(warns)
		st.Done("%d files for %s, again: %s's lease came after them (rd.iscsi.waitnet=0)", n, orNone(strings.Join(names, " ")), iface)
	})
	shutdown := "shutdown role in /run/initramfs"
	if !b.shutdownBound {
		// Not bound (the binary is not on the initramfs): a copy costs
		// the binary's size in /run and the time to write it.
		if err := o.CopyShutdown(); err != nil {
			warns = append(warns, "installing the shutdown role: "+errors.Join(b.shutdownBind, err).Error())
			shutdown = "no shutdown role"
		} else {
			shutdown = fmt.Sprintf("shutdown role copied to /run/initramfs (not bound: %v)", b.shutdownBind)
		}
	}
	b.warnOSConfig(warns)
	st.Done("%d files for %s; %s", written, orNone(strings.Join(names, " ")), shutdown)
}

// writeOSFiles writes the real OS's network files for the root's path as
// the kernel has it now: how many it wrote, for which interfaces, and
// what went wrong.
func writeOSFiles(p *config.Plan, a attached, files Files, o OSHandOff) (written int, names, warns []string) {
	var rootServer netip.Addr
	if len(a.sessions[0].Portals) > 0 {
		if ap, err := netip.ParseAddrPort(a.sessions[0].Portals[0]); err == nil {
			rootServer = ap.Addr().Unmap()
		}
	}
	links, err := o.RootPath(rootServer)
	if err != nil {
		warns = append(warns, err.Error())
	}
	c := osConfig(p, links, rootServer)
	fs, err := osnet.Files(c)
	if err != nil {
		warns = append(warns, err.Error())
	}
	for _, f := range fs {
		if err := files.WriteFile(f.Path, f.Data, 0o644); err != nil {
			warns = append(warns, err.Error())
			continue
		}
		written++
	}
	for _, l := range c.Links {
		names = append(names, l.Name)
	}
	return written, names, warns
}

// warnOSConfig tells what went wrong preparing the real OS, and what it
// means.
func (b *Boot) warnOSConfig(warns []string) {
	if len(warns) > 0 {
		b.log.Warnf("osconfig: %s (the real OS's network stack may reconfigure the root's interfaces, or its shutdown hang; "+
			"see docs/real-os.md)", strings.Join(warns, "; "))
	}
}

// osNet orders the leases configured late (rd.iscsi.waitnet=0) against
// what the real OS is told of the network. A lease configured after
// osconfig wrote its files has them written again, and resolv.conf with
// it; none is configured once switch_root is under way. So every address
// /init leaves is in the files — the real OS's DHCP client renews it, its
// network stack leaves it alone — and the files name none it lacks.
type osNet struct {
	mu sync.Mutex
	// rewrite writes osconfig's files again, for a lease on the interface
	// it is given; nil until osconfig wrote them (or when it does not).
	rewrite func(iface string)
	closed  bool
	// pending are the late interfaces whose DHCP goes on.
	pending []string
	// resolv writes resolv.conf with the leases given and those before.
	resolv func(leases []*dhcp.Lease)
}

// write runs osconfig's writing of the files with no late lease
// configured meanwhile; rewrite is what one configured afterwards runs.
func (o *osNet) write(write func(), rewrite func(iface string)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	write()
	o.rewrite = rewrite
}

// setResolv sets what writes resolv.conf again for late leases; osNet
// runs it under its lock.
func (o *osNet) setResolv(resolv func(leases []*dhcp.Lease)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.resolv = resolv
}

// wait records that iface's lease is late.
func (o *osNet) wait(iface string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending = append(o.pending, iface)
}

// errSwitching is a late lease that came once switch_root was under way.
var errSwitching = errors.New("its lease came as the root was switched to: left to the real OS's network stack")

// late configures iface's late lease with apply (its DHCP ended with one)
// and tells the real OS, unless switch_root is under way (errSwitching).
// A nil lease only ends the wait (its DHCP failed).
func (o *osNet) late(iface string, lease *dhcp.Lease, apply func() error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if i := slices.Index(o.pending, iface); i >= 0 {
		o.pending = slices.Delete(o.pending, i, i+1)
	}
	if lease == nil {
		return nil
	}
	if o.closed {
		return errSwitching
	}
	if err := apply(); err != nil {
		return err
	}
	if o.resolv != nil {
		o.resolv([]*dhcp.Lease{lease})
	}
	if o.rewrite != nil {
		o.rewrite(iface)
	}
	return nil
}

// close ends the late leases' configuration as switch_root begins; it
// returns the interfaces whose DHCP still goes on.
func (o *osNet) close() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	return slices.Clone(o.pending)
}

// osConfig is the root's path with what the plan says about it: how each
// interface got its addresses, the resolver and host name.
func osConfig(p *config.Plan, links []osnet.Link, rootServer netip.Addr) osnet.Config {
	c := osnet.Config{Links: links, RootServer: rootServer, Nameservers: slices.Clone(p.Net.Nameservers)}
	for _, ip := range p.Net.IP {
		for _, d := range ip.DNS {
			if !slices.Contains(c.Nameservers, d) {
				c.Nameservers = append(c.Nameservers, d)
			}
		}
		if c.Hostname == "" && ip.Hostname != "" {
			c.Hostname = ip.Hostname
		}
	}
	for i := range c.Links {
		l := &c.Links[i]
		if l.Master != "" || len(l.Addresses) == 0 {
			continue
		}
		for _, ip := range p.Net.IP {
			if ip.Interface != "" && ip.Interface != l.Name {
				continue
			}
			for _, m := range append([]config.IPMethod{ip.Method}, ip.MoreMethods...) {
				switch m {
				case config.IPDHCP, config.IPSingleDHCP:
					l.DHCP4 = true
				case config.IPDHCP6:
					l.DHCP6 = true
				case config.IPAuto6:
					l.Autoconf6 = true
				case config.IPEither6:
					l.DHCP6, l.Autoconf6 = true, true
				}
			}
		}
	}
	return c
}
