package boot

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/ibft"
)

// The iBFT: the table a firmware (iPXE's sanhook, a NIC's iSCSI boot ROM,
// UEFI's iSCSI driver) leaves saying which NICs it configured and which
// targets it booted from. With rd.iscsi.firmware=1 (Plan.ISCSI.Firmware)
// /init logs in to its targets; with ip=ibft (Plan.Net.IBFT) it
// configures its NICs. Both read it once, after the modules step.

// firmware is the iBFT read by the ibft step.
type firmware struct {
	table *ibft.Table
}

// ibftModule exports the table under /sys/firmware/ibft (and finds a
// BIOS firmware's table in low memory); it needs iscsi_boot_sysfs.
const ibftModule = "iscsi_ibft"

// readFirmware is the ibft step: it loads iscsi_ibft and reads the table,
// when the plan asks for it. A missing or malformed table stops the boot:
// the plan has nothing else to boot from.
func (b *Boot) readFirmware(ctx context.Context, p *config.Plan, l ModuleLoader, nics NICs) (*firmware, error) {
	if !p.ISCSI.Firmware && !p.Net.IBFT {
		return nil, nil
	}
	st := b.log.Begin("ibft")
	if err := l.Load(ctx, ibftModule); err != nil {
		// The raw ACPI table may still be there.
		b.log.Warnf("ibft: %v; reading the raw ACPI table instead", err)
	}
	if nics == nil {
		err := errors.New("no sysfs to read the table from")
		st.Fail(err)
		return nil, fail("ibft", err, "")
	}
	tab, err := ibft.ReadSysfs(nics.Sys())
	if err != nil {
		st.Fail(err)
		if errors.Is(err, ibft.ErrNoTable) {
			return nil, fail("ibft", err,
				"did the firmware boot from iSCSI (iPXE sanhook, the NIC's iSCSI boot ROM, UEFI's iSCSI)? Without one, name the network (ip=) and the target (netroot=iscsi:…)")
		}
		return nil, fail("ibft", &rewrapped{msg: "the firmware's iBFT is malformed: " + strings.TrimPrefix(err.Error(), "ibft: "), err: err},
			"update the firmware (or iPXE), or boot without rd.iscsi.firmware/ip=ibft, naming the network (ip=) and the target (netroot=iscsi:…)")
	}
	fw := &firmware{table: tab}
	if p.ISCSI.Firmware && len(fw.targets()) == 0 {
		err := errors.New("the firmware's iBFT lists no valid target")
		st.Fail(err)
		return nil, fail("ibft", err, "check the firmware's iSCSI settings, or name the target: netroot=iscsi:…")
	}
	st.Done("%s", fw)
	return fw, nil
}

// String describes the table for the step's line, without secrets.
func (fw *firmware) String() string {
	t := fw.table
	var parts []string
	if t.Initiator != nil && t.Initiator.Name != "" {
		parts = append(parts, "initiator "+t.Initiator.Name)
	}
	for _, n := range t.NICs {
		d := fmt.Sprintf("NIC %d %s", n.Index, n.MAC)
		switch pfx, ok := n.Prefix(); {
		case dhcpNIC(n):
			d += " DHCP"
		case ok:
			d += " " + pfx.String()
		}
		if id := n.VLANID(); id != 0 {
			d += fmt.Sprintf(" VLAN %d", id)
		}
		if !n.Flags.Has(ibft.BlockValid) {
			d += " (not valid)"
		} else if n.Flags.Has(ibft.FirmwareBootSelected) {
			d += " (booted)"
		}
		parts = append(parts, d)
	}
	for _, g := range t.Targets {
		d := fmt.Sprintf("target %d %s %s LUN %d (%s)", g.Index, g.Portal(), g.Name, g.LUN.Int(), g.CHAP)
		if !g.Flags.Has(ibft.BlockValid) {
			d += " (not valid)"
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, "; ")
}

// dhcpNIC reports whether the firmware got n's address over DHCP, as
// dracut reads it: the origin says so, or a DHCP server is named.
func dhcpNIC(n ibft.NIC) bool { return n.DHCP() || n.DHCPServer.IsValid() }

// targets are the table's valid targets as the plan's targets.
func (fw *firmware) targets() []config.Target {
	var out []config.Target
	for _, g := range fw.table.Targets {
		if !g.Flags.Has(ibft.BlockValid) || !g.IP.IsValid() || g.Name == "" {
			continue
		}
		t := config.Target{Server: g.IP.Unmap().String(), Port: int(g.Port), LUN: int(g.LUN.Int()), Group: 1, Name: g.Name}
		if t.Port == 0 {
			t.Port = config.DefaultTargetPort
		}
		switch g.CHAP {
		case ibft.CHAPMutual:
			t.Auth.InUsername, t.Auth.InPassword = g.ReverseCHAPName, config.NewSecret(g.ReverseCHAPSecret.Reveal())
			fallthrough
		case ibft.CHAPOneWay:
			t.Auth.Username, t.Auth.Password = g.CHAPName, config.NewSecret(g.CHAPSecret.Reveal())
		}
		out = append(out, t)
	}
	return out
}

// initiator is the table's initiator name, "" for none.
func (fw *firmware) initiator() string {
	if fw == nil || fw.table.Initiator == nil || !fw.table.Initiator.Flags.Has(ibft.BlockValid) {
		return ""
	}
	return fw.table.Initiator.Name
}

// firmwareNet is what the iBFT adds to the network: its NICs' VLANs and
// addresses, the bond slave to make primary, and its targets.
type firmwareNet struct {
	vlans   []config.VLAN
	ips     []config.IPConfig
	primary string
	targets []config.Target
}

// firmwareNetwork maps the table's NICs to interfaces (by MAC, so after
// the links step named them and before a bond changes a slave's MAC):
// each valid NIC the firmware booted through or that leads to a valid
// target gets its address (static, DHCP or DHCPv6 as the table says) —
// on its bond when it is a bond= slave, on a VLAN of its (or its bond's)
// when it has a tag. An interface the command line gives an ip= keeps
// the command line's.
func (b *Boot) firmwareNetwork(ctx context.Context, p *config.Plan, fw *firmware, links Links) (firmwareNet, error) {
	var out firmwareNet
	if fw == nil {
		return out, nil
	}
	if p.ISCSI.Firmware {
		for _, t := range fw.targets() {
			if !slices.ContainsFunc(p.ISCSI.Targets, func(o config.Target) bool { return sameLUN(o, t) }) {
				out.targets = append(out.targets, t)
			}
		}
	}
	if !p.Net.IBFT {
		return out, nil
	}
	used := map[uint8]bool{}
	for _, g := range fw.table.Targets {
		if g.Flags.Has(ibft.BlockValid) {
			used[g.NICIndex] = true
		}
	}
	// The NIC the firmware booted through first: it configures a bond
	// shared with another NIC of the table, and is its primary.
	nics := slices.Clone(fw.table.NICs)
	slices.SortStableFunc(nics, func(a, b ibft.NIC) int {
		return boolInt(!a.Flags.Has(ibft.FirmwareBootSelected)) - boolInt(!b.Flags.Has(ibft.FirmwareBootSelected))
	})
	taken := map[string]bool{}
	for _, c := range p.Net.IP {
		taken[c.Interface] = true
	}
	for _, n := range nics {
		if !n.Flags.Has(ibft.BlockValid) || !n.Flags.Has(ibft.FirmwareBootSelected) && !used[n.Index] {
			continue
		}
		name, err := links.WaitMAC(ctx, n.MAC)
		if err != nil {
			return out, fail("ibft", fmt.Errorf("NIC %d of the iBFT (MAC %s): %w", n.Index, n.MAC, err),
				"is its driver in the initramfs (netroot build -drivers)?")
		}
		iface := name
		for _, bd := range p.Net.Bonds {
			if slices.Contains(bd.Slaves, name) {
				iface = bd.Name
				if out.primary == "" && n.Flags.Has(ibft.FirmwareBootSelected) {
					out.primary = name
				}
			}
		}
		if id := int(n.VLANID()); id != 0 {
			vlan := slices.IndexFunc(p.Net.VLANs, func(v config.VLAN) bool { return v.Parent == iface && v.ID == id })
			if vlan >= 0 {
				iface = p.Net.VLANs[vlan].Name
			} else if i := slices.IndexFunc(out.vlans, func(v config.VLAN) bool { return v.Parent == iface && v.ID == id }); i >= 0 {
				iface = out.vlans[i].Name
			} else {
				v := config.VLAN{Name: vlanName(iface, id), Parent: iface, ID: id}
				out.vlans = append(out.vlans, v)
				iface = v.Name
			}
		}
		if taken[iface] {
			b.log.Printf("ibft: NIC %d (%s) is %s, which the command line (or another NIC of the table) configures", n.Index, n.MAC, iface)
			continue
		}
		c, err := firmwareIP(n, iface)
		if err != nil {
			return out, fail("ibft", err, "check the firmware's network settings")
		}
		taken[iface] = true
		out.ips = append(out.ips, c)
	}
	return out, nil
}

// firmwareIP is the ip= entry a NIC of the table stands for on iface.
func firmwareIP(n ibft.NIC, iface string) (config.IPConfig, error) {
	c := config.IPConfig{Interface: iface, Hostname: n.Hostname}
	if dhcpNIC(n) {
		c.Method = config.IPDHCP
		if n.IP.Is6() && !n.IP.Is4In6() {
			c.Method = config.IPDHCP6
		}
		return c, nil
	}
	pfx, ok := n.Prefix()
	if !ok || pfx.Addr().IsUnspecified() || pfx.Bits() == 0 {
		return c, hint.Errorf("check the firmware's network settings",
			"NIC %d of the iBFT (MAC %s) has neither DHCP nor an address with a prefix length (%s/%d)", n.Index, n.MAC, n.IP, n.PrefixLen)
	}
	c.Method, c.Address = config.IPStatic, pfx
	if n.Gateway.IsValid() && !n.Gateway.IsUnspecified() && n.Gateway.Is4() == pfx.Addr().Is4() {
		c.Gateway = n.Gateway
	}
	for _, d := range []netip.Addr{n.PrimaryDNS, n.SecondaryDNS} {
		if d.IsValid() && !d.IsUnspecified() {
			c.DNS = append(c.DNS, d)
		}
	}
	return c, nil
}

// vlanName is <parent>.<id>, or vlan<id> when that is too long for an
// interface name.
func vlanName(parent string, id int) string {
	if n := fmt.Sprintf("%s.%d", parent, id); len(n) <= 15 {
		return n
	}
	return fmt.Sprintf("vlan%d", id)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rewrapped is err with another message.
type rewrapped struct {
	msg string
	err error
}

func (e *rewrapped) Error() string { return e.msg }
func (e *rewrapped) Unwrap() error { return e.err }
