package blockdev

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SelectorKind says which property of a device a Selector compares.
type SelectorKind int

// Selector kinds.
const (
	ByLabel     SelectorKind = iota + 1 // LABEL=, /dev/disk/by-label/
	ByUUID                              // UUID=, /dev/disk/by-uuid/
	ByPartLabel                         // PARTLABEL=, /dev/disk/by-partlabel/
	ByPartUUID                          // PARTUUID=, /dev/disk/by-partuuid/
	ByName                              // /dev/NAME
	ByPath                              // /dev/disk/by-path/ip-…-iscsi-…-lun-N (iSCSI disks)
)

// String names the kind the way root= spells it.
func (k SelectorKind) String() string {
	switch k {
	case ByLabel:
		return "LABEL"
	case ByUUID:
		return "UUID"
	case ByPartLabel:
		return "PARTLABEL"
	case ByPartUUID:
		return "PARTUUID"
	case ByName:
		return "NAME"
	case ByPath:
		return "PATH"
	}
	return fmt.Sprintf("SelectorKind(%d)", int(k))
}

// Selector names one block device, as a root= argument does.
type Selector struct {
	Kind SelectorKind
	// Value is what is compared: the label, UUID, … or, for ByName,
	// the kernel name ("sda2", "cciss!c0d0p1"), for ByPath the by-path
	// link name (Device.ByPath).
	Value string
	// Raw is the string the selector was parsed from.
	Raw string
}

// String returns the selector as it was written.
func (s Selector) String() string {
	if s.Raw != "" {
		return s.Raw
	}
	if s.Kind == ByName {
		return "/dev/" + strings.ReplaceAll(s.Value, "!", "/")
	}
	if s.Kind == ByPath {
		return "/dev/disk/by-path/" + s.Value
	}
	if s.Kind == ByLabel || s.Kind == ByPartLabel {
		return s.Kind.String() + "=" + EscapeLabel(s.Value)
	}
	return s.Kind.String() + "=" + s.Value
}

// ErrBadSelector is wrapped by ParseSelector errors.
var ErrBadSelector = errors.New("bad device selector")

// ErrMappedName is wrapped (with ErrBadSelector) by ParseSelector's error
// for a /dev/<dir>/<name> that is no kernel name: device-mapper's
// /dev/mapper/…, LVM's /dev/<vg>/<lv>, udev's other links.
var ErrMappedName = errors.New("device-mapper and LVM names (/dev/mapper/…, /dev/<vg>/<lv>) are not supported: netroot assembles neither")

// kernelDirs are the /dev subdirectories of the kernel's own block device
// names, which put "!" where the path has "/": the drivers that name
// their disks <dir>/<disk> (their sysfs names are <dir>!<disk>).
var kernelDirs = map[string]bool{
	"cciss":  true, // HP Smart Array (cciss): cciss/c0d0
	"ida":    true, // Compaq Smart Array (cpqarray): ida/c0d0
	"rd":     true, // Mylex DAC960: rd/c0d0
	"etherd": true, // ATA over Ethernet (aoe): etherd/e0.1
	"sx8":    true, // Promise SATA SX8: sx8/0
}

// ParseSelector parses a device name as given to root=: LABEL=…, UUID=…,
// PARTLABEL=…, PARTUUID=…, /dev/disk/by-{label,uuid,partlabel,partuuid}/…
// (with udev's \xNN escapes undone), an iSCSI disk's
// /dev/disk/by-path/ip-<address>:<port>-iscsi-<target>-lun-<n>[-part<n>]
// (the name udev's path_id gives it, which the scan computes the same
// way) or /dev/NAME (also /dev/<dir>/NAME of the kernel's own names,
// cciss!c0d0 and the like; any other /dev/<dir>/<name>, LVM's
// /dev/<vg>/<lv> or /dev/mapper/…, is ErrMappedName). The KEY= prefixes
// are matched case-insensitively.
// A LABEL= or PARTLABEL= value has udev's escapes undone too, as dracut's
// label_uuid_to_dev puts it into the by-label link name as it is
// (LABEL=My\x20Root is the label "My Root"); a backslash that starts no
// \xNN is an error, since no link name holds one (udev writes \x5c).
// UUID= and PARTUUID= values are taken verbatim.
func ParseSelector(s string) (Selector, error) {
	bad := func(why string) (Selector, error) {
		return Selector{}, fmt.Errorf("%w %q: %s", ErrBadSelector, s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if k, v, ok := strings.Cut(s, "="); ok && !strings.HasPrefix(s, "/") {
		var kind SelectorKind
		switch strings.ToUpper(k) {
		case "LABEL":
			kind = ByLabel
		case "UUID":
			kind = ByUUID
		case "PARTLABEL":
			kind = ByPartLabel
		case "PARTUUID":
			kind = ByPartUUID
			if strings.Contains(v, "/") {
				return bad("PARTUUID=…/PARTNROFF= is not supported; name the partition itself")
			}
		default:
			return bad(fmt.Sprintf("unknown key %q (want LABEL, UUID, PARTLABEL, PARTUUID or a /dev path)", k))
		}
		if v == "" {
			return bad("empty value")
		}
		if kind == ByLabel || kind == ByPartLabel {
			var err error
			if v, err = udevUnescape(v); err != nil {
				return bad(err.Error())
			}
		}
		return Selector{Kind: kind, Value: v, Raw: s}, nil
	}
	if !strings.HasPrefix(s, "/dev/") {
		return bad("want LABEL=, UUID=, PARTLABEL=, PARTUUID= or a /dev/ path")
	}
	rest := strings.TrimPrefix(s, "/dev/")
	if link, ok := strings.CutPrefix(rest, "disk/"); ok {
		dir, name, ok := strings.Cut(link, "/")
		if !ok || name == "" || strings.Contains(name, "/") {
			return bad("want /dev/disk/by-KIND/NAME")
		}
		var kind SelectorKind
		switch dir {
		case "by-label":
			kind = ByLabel
		case "by-uuid":
			kind = ByUUID
		case "by-partlabel":
			kind = ByPartLabel
		case "by-partuuid":
			kind = ByPartUUID
		case "by-path":
			if _, err := ParseISCSIPath(name); err != nil {
				return bad(err.Error() + "; only iSCSI disks' by-path names are supported")
			}
			return Selector{Kind: ByPath, Value: name, Raw: s}, nil
		default:
			return bad(fmt.Sprintf("/dev/disk/%s/ links are made by udev and cannot be resolved here; use LABEL=, UUID=, PARTLABEL= or PARTUUID=", dir))
		}
		v, err := udevUnescape(name)
		if err != nil {
			return bad(err.Error())
		}
		return Selector{Kind: kind, Value: v, Raw: s}, nil
	}
	if rest == "" || strings.HasSuffix(rest, "/") || strings.Contains(rest, "..") {
		return bad("want /dev/NAME")
	}
	if dir, _, ok := strings.Cut(rest, "/"); ok && !kernelDirs[dir] {
		// /dev/rhel/root would wait for a kernel name rhel!root that no
		// disk has.
		return Selector{}, fmt.Errorf("%w %q: %w, and /dev/%s/ holds no kernel names (as /dev/cciss/ does), so no disk would have this one; name the root with LABEL=, UUID=, PARTLABEL= or PARTUUID=",
			ErrBadSelector, s, ErrMappedName, dir)
	}
	// Kernel names put "!" where the /dev path has "/" (cciss!c0d0).
	return Selector{Kind: ByName, Value: strings.ReplaceAll(rest, "/", "!"), Raw: s}, nil
}

// udevUnescape undoes udev's \xNN escaping of /dev/disk/by-* link names:
// the one place a selector's value is unescaped.
func udevUnescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) || s[i+1] != 'x' {
			return "", fmt.Errorf("bad escape at byte %d (want \\xNN; a backslash itself is \\x5c)", i)
		}
		v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape %q at byte %d", s[i:i+4], i)
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// EscapeLabel writes a label so that ParseSelector reads it back as it
// is (LABEL=<EscapeLabel(label)>): its backslashes as \x5c.
func EscapeLabel(label string) string {
	return strings.ReplaceAll(label, `\`, `\x5c`)
}

// Matches reports whether d is the device s names.
func (s Selector) Matches(d Device) bool {
	switch s.Kind {
	case ByLabel:
		return d.Label != "" && d.Label == s.Value
	case ByUUID:
		return d.UUID != "" && strings.EqualFold(d.UUID, s.Value)
	case ByPartLabel:
		return d.PartLabel != "" && d.PartLabel == s.Value
	case ByPartUUID:
		return d.PartUUID != "" && strings.EqualFold(d.PartUUID, s.Value)
	case ByName:
		return d.Name == s.Value
	case ByPath:
		return d.ByPath != "" && d.ByPath == s.Value
	}
	return false
}

// NotFoundError says no device matched a selector, and lists every device
// that was seen so an admin can spot the near miss.
type NotFoundError struct {
	Selector Selector
	// Seen is every block device of the last scan.
	Seen []Device
	// Cause, if set, is why the search stopped (e.g. the context
	// deadline).
	Cause error
}

// Error lists the devices seen, one per line.
func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no block device matches %s", e.Selector)
	if e.Cause != nil {
		fmt.Fprintf(&b, " (%v)", e.Cause)
	}
	if len(e.Seen) == 0 {
		b.WriteString("; no block devices at all (is the disk driver loaded, did the iSCSI login succeed?)")
		return b.String()
	}
	fmt.Fprintf(&b, "; %d block device(s) seen:", len(e.Seen))
	for _, d := range e.Seen {
		b.WriteString("\n  " + d.String())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *NotFoundError) Unwrap() error { return e.Cause }

// AmbiguousError says more than one device matched a selector.
type AmbiguousError struct {
	Selector Selector
	Matches  []Device
}

// Error names every matching device.
func (e *AmbiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d block devices match %s; make the selector unique (e.g. use UUID= or PARTUUID=):", len(e.Matches), e.Selector)
	for _, d := range e.Matches {
		b.WriteString("\n  " + d.String())
	}
	return b.String()
}

// Match returns the one device in devices that sel names. It returns a
// *AmbiguousError if several match and a *NotFoundError listing every
// device if none does.
func Match(sel Selector, devices []Device) (*Device, error) {
	var found []Device
	for _, d := range devices {
		if sel.Matches(d) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 1:
		d := found[0]
		return &d, nil
	case 0:
		return nil, &NotFoundError{Selector: sel, Seen: append([]Device(nil), devices...)}
	}
	return nil, &AmbiguousError{Selector: sel, Matches: found}
}
