package config

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

const (
	grammarVLAN   = "<vlanname>:<phydevice> (vlanname vlan0005, vlan5, eth0.0005 or eth0.5)"
	grammarIfname = "<interface>:<MAC>"
	grammarBootIF = "<hwtype>-aa-bb-cc-dd-ee-ff (pxelinux IPAPPEND 2) or a MAC address"
)

// ParseVLAN parses the value of vlan=<vlanname>:<phydevice>. The ID comes
// from the name as dracut's get_vid does: the digits after "vlan"
// (VLAN_PLUS_VID, VLAN_PLUS_VID_NO_PAD) or after the last '.'
// (DEV_PLUS_VID, DEV_PLUS_VID_NO_PAD).
func ParseVLAN(value string) (VLAN, error) {
	var v VLAN
	f := strings.Split(value, ":")
	if len(f) != 2 {
		return v, fmt.Errorf("%w: vlan= needs two fields", ErrSyntax)
	}
	if err := checkIfname(f[0], false); err != nil {
		return v, fmt.Errorf("vlanname: %w", err)
	}
	if err := checkIfname(f[1], false); err != nil {
		return v, fmt.Errorf("phydevice: %w", err)
	}
	if f[0] == f[1] {
		return v, fmt.Errorf("%w: vlan %s on itself", ErrConflict, f[0])
	}
	var id string
	switch {
	case strings.HasPrefix(f[0], "vlan") && isDigits(f[0][4:]):
		id = f[0][4:]
	case strings.Contains(f[0], "."):
		id = f[0][strings.LastIndexByte(f[0], '.')+1:]
	default:
		return v, fmt.Errorf("%w: cannot take a VLAN ID from the name %q", ErrSyntax, f[0])
	}
	n, err := parseUint(id, 0, 4094)
	if err != nil {
		return v, fmt.Errorf("vlan id: %w", err)
	}
	return VLAN{Name: f[0], Parent: f[1], ID: n}, nil
}

// OrderVLANs returns vlans in the order /init creates them: each VLAN
// after the VLAN of the list it sits on (vlan=eth0.5.6:eth0.5 after
// vlan=eth0.5:eth0), otherwise in their order. VLANs that sit on each
// other in a cycle are an error naming them.
func OrderVLANs(vlans []VLAN) ([]VLAN, error) {
	byName := map[string]int{}
	for i, v := range vlans {
		if _, dup := byName[v.Name]; !dup {
			byName[v.Name] = i
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(vlans))
	out := make([]VLAN, 0, len(vlans))
	var visit func(i int, chain []string) error
	visit = func(i int, chain []string) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			chain = chain[slices.Index(chain, vlans[i].Name):]
			return fmt.Errorf("%w: VLANs on each other in a cycle (%s on %s): no VLAN of it has a parent to be created on: put one of them on a NIC or a bond", ErrConflict,
				strings.Join(chain, " on "), vlans[i].Name)
		}
		state[i] = visiting
		if j, ok := byName[vlans[i].Parent]; ok {
			if err := visit(j, append(chain, vlans[i].Name)); err != nil {
				return err
			}
		}
		state[i] = done
		out = append(out, vlans[i])
		return nil
	}
	for i := range vlans {
		if err := visit(i, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ParseRename parses the value of ifname=<interface>:<MAC>.
func ParseRename(value string) (Rename, error) {
	name, mac, ok := strings.Cut(value, ":")
	if !ok {
		return Rename{}, fmt.Errorf("%w: ifname= needs <interface>:<MAC>", ErrSyntax)
	}
	if err := checkIfname(name, false); err != nil {
		return Rename{}, err
	}
	m, err := parseMAC(mac)
	if err != nil {
		return Rename{}, err
	}
	return Rename{Name: name, MAC: m}, nil
}

// ParseBootIF parses BOOTIF= as dracut's fix_bootif: '-' separates the
// octets, and a leading field beyond the six octets of an Ethernet address
// (pxelinux's ARP hardware type, "01-") is dropped.
func ParseBootIF(value string) (net.HardwareAddr, error) {
	s := strings.ReplaceAll(value, "-", ":")
	if f := strings.Split(s, ":"); len(f) == 7 || len(f) == 9 || len(f) == 21 {
		s = strings.Join(f[1:], ":")
	}
	m, err := parseMAC(s)
	if err != nil {
		return nil, err
	}
	return m, nil
}
