package config

import (
	"fmt"
	"net"
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
