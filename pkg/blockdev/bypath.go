package blockdev

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ISCSIPath is what the /dev/disk/by-path/ name of an iSCSI disk (or one
// of its partitions) says: udev's path_id writes
// ip-<address>:<port>-iscsi-<target>-lun-<lun>, and its rules add
// -part<n> for a partition.
type ISCSIPath struct {
	// Address is the session's persistent address (the portal's host as
	// the initiator gave it, without brackets), Port its port.
	Address string
	Port    int
	Target  string
	LUN     uint64
	// Part is the partition number, 0 for the whole disk.
	Part int
}

// String returns the by-path link name (without /dev/disk/by-path/).
func (p ISCSIPath) String() string {
	s := "ip-" + p.Address + ":" + strconv.Itoa(p.Port) + "-iscsi-" + p.Target + "-" + formatLUN(p.LUN)
	if p.Part > 0 {
		s += "-part" + strconv.Itoa(p.Part)
	}
	return s
}

// formatLUN formats a LUN as path_id's format_lun_number: decimal below
// 256 (peripheral addressing), else the 64-bit SAM form of the kernel's
// int_to_scsilun.
func formatLUN(lun uint64) string {
	if lun < 256 {
		return "lun-" + strconv.FormatUint(lun, 10)
	}
	return fmt.Sprintf("lun-0x%04x%04x00000000", lun&0xffff, (lun>>16)&0xffff)
}

// parseLUN undoes formatLUN.
func parseLUN(s string) (uint64, bool) {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		if len(h) != 16 || h[8:] != "00000000" {
			return 0, false
		}
		lo, err1 := strconv.ParseUint(h[0:4], 16, 16)
		hi, err2 := strconv.ParseUint(h[4:8], 16, 16)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		n := hi<<16 | lo
		return n, n >= 256
	}
	if s == "" || len(s) > 3 || strings.Trim(s, "0123456789") != "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n < 256
}

// ParseISCSIPath parses an iSCSI disk's /dev/disk/by-path/ link name
// (without the directory): ip-<address>:<port>-iscsi-<target>-lun-<lun>
// with an optional -part<n>.
func ParseISCSIPath(name string) (ISCSIPath, error) {
	bad := func(why string) (ISCSIPath, error) {
		return ISCSIPath{}, fmt.Errorf("%q is not an iSCSI by-path name (ip-<address>:<port>-iscsi-<target>-lun-<n>[-part<n>]): %s", name, why)
	}
	rest, ok := strings.CutPrefix(name, "ip-")
	if !ok {
		return bad("it does not start with ip-")
	}
	var p ISCSIPath
	if i := strings.LastIndex(rest, "-part"); i >= 0 {
		n, err := strconv.Atoi(rest[i+len("-part"):])
		if err == nil && n > 0 && strings.Trim(rest[i+len("-part"):], "0123456789") == "" && rest[i+len("-part")] != '0' {
			p.Part, rest = n, rest[:i]
		}
	}
	i := strings.LastIndex(rest, "-lun-")
	if i < 0 {
		return bad("no -lun-")
	}
	lun, ok := parseLUN(rest[i+len("-lun-"):])
	if !ok {
		return bad("bad LUN")
	}
	p.LUN, rest = lun, rest[:i]
	// The port is the digits before the first "-iscsi-" that follows
	// ":<digits>": the address may hold colons (IPv6) or dashes (a name).
	for j := 0; ; {
		k := strings.Index(rest[j:], "-iscsi-")
		if k < 0 {
			return bad("no <address>:<port>-iscsi-")
		}
		k += j
		if c := strings.LastIndexByte(rest[:k], ':'); c > 0 {
			port, err := strconv.Atoi(rest[c+1 : k])
			if err == nil && port > 0 && port < 65536 && strings.Trim(rest[c+1:k], "0123456789") == "" {
				p.Address, p.Port, p.Target = rest[:c], port, rest[k+len("-iscsi-"):]
				break
			}
		}
		j = k + 1
	}
	if p.Target == "" || strings.ContainsAny(p.Target, " \t/") {
		return bad("bad target name")
	}
	if p.Address == "" || strings.ContainsAny(p.Address, " \t/[]") {
		return bad("bad address")
	}
	if strings.Contains(p.Address, ":") && net.ParseIP(p.Address) == nil {
		return bad("bad address")
	}
	if p.String() != name {
		return bad("not as udev writes it")
	}
	return p, nil
}
