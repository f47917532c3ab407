package netname

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Interface types (ARPHRD_*) net_id names.
const (
	arphrdEther      = 1
	arphrdInfiniband = 32
	arphrdSLIP       = 256
)

const (
	netAddrPerm = 0   // addr_assign_type NET_ADDR_PERM: the MAC is the hardware's
	altIfNamSiz = 128 // ALTIFNAMSIZ: udev drops longer properties
)

// ids are the properties net_id exports for one interface.
type ids struct {
	prefix                   string
	onboard, slot, path, mac string
	label                    string
}

// netID computes what udev's net_id builtin exports for the network
// interface dev under scheme s. It returns false when net_id names nothing
// (a stacked device, an unsupported type, unreadable basics).
func netID(dev device, s Scheme) (ids, bool) {
	var out ids
	ifindex, err := parseInt(dev.uevent("IFINDEX"))
	if err != nil || ifindex <= 0 {
		return out, false
	}
	iflink, err := dev.int("iflink")
	if err != nil || iflink != ifindex {
		return out, false // a VLAN, macvlan, … is named after its parent by others
	}
	prefix, ok := ifnamePrefix(dev, s)
	if !ok {
		return out, false
	}
	out.prefix = prefix
	out.mac = macName(dev, prefix)
	switch {
	case namesXen(dev, prefix, s, &out):
	case namesPlatform(dev, prefix, &out):
	case namesPCI(dev, prefix, s, &out):
	default:
		namesUSB(dev, prefix, s, &out)
	}
	return out, true
}

func (d device) uint(name string, bits int) (uint64, error) {
	v, err := d.attr(name)
	if err != nil {
		return 0, err
	}
	return parseUint(v, bits)
}

func (d device) int(name string) (int64, error) {
	v, err := d.attr(name)
	if err != nil {
		return 0, err
	}
	return parseInt(v)
}

// ifnamePrefix returns the two letters of the interface's type.
func ifnamePrefix(dev device, s Scheme) (string, bool) {
	t, err := dev.uint("type", 32)
	if err != nil {
		return "", false
	}
	switch t {
	case arphrdEther:
		switch dev.uevent("DEVTYPE") {
		case "wlan":
			return "wl", true
		case "wwan":
			return "ww", true
		}
		return "en", true
	case arphrdInfiniband:
		return "ib", s.has(infiniband)
	case arphrdSLIP:
		return "sl", true
	}
	return "", false
}

// macName is ID_NET_NAME_MAC: "x" and the permanent 6-byte MAC.
func macName(dev device, prefix string) string {
	if t, _ := dev.uint("type", 32); t == arphrdInfiniband {
		return "" // 20-byte addresses do not fit a name
	}
	if a, err := dev.uint("addr_assign_type", 32); err != nil || a != netAddrPerm {
		return "" // random or stolen MACs change
	}
	v, err := dev.attr("address")
	if err != nil {
		return ""
	}
	b, ok := parseMAC(v)
	if !ok || len(b) != 6 {
		return ""
	}
	return fmt.Sprintf("%sx%02x%02x%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3], b[4], b[5])
}

// skipVirtio returns d, or the first device above it outside the virtio
// bus: a virtio NIC is named after the PCI (or other) device carrying it.
func skipVirtio(d device) (device, bool) {
	for d.subsystem() == "virtio" {
		p, ok := d.parent()
		if !ok {
			return device{}, false
		}
		d = p
	}
	return d, true
}

// namesPCI names a NIC whose device (past any virtio device) is a PCI
// function: onboard, slot and path names. It reports whether dev is one.
func namesPCI(dev device, prefix string, s Scheme, out *ids) bool {
	p, ok := dev.parent()
	if !ok {
		return false
	}
	if p, ok = skipVirtio(p); !ok || p.subsystem() != "pci" {
		return false
	}
	var suffix string
	if pf, vf, ok := virtfn(p); ok && s.has(srIOVv) {
		p, suffix = pf, vf
	} else if l, err := p.attr("label"); err == nil && printable(l) {
		if !s.has(labelNoPrefix) {
			l = prefix + l
		}
		out.label = fit(l)
	}
	out.onboard = onboardName(dev, p, prefix, suffix, s)
	out.slot, out.path = slotNames(dev, p, prefix, suffix, s)
	return true
}

// virtfn returns the physical function of an SR-IOV virtual function and
// the VF's suffix "v<n>".
func virtfn(vf device) (device, string, bool) {
	pf, ok := vf.child("physfn")
	if !ok {
		return device{}, "", false
	}
	for _, name := range pf.entries("virtfn") {
		n := strings.TrimPrefix(name, "virtfn")
		if n == "" || strings.Trim(n, "0123456789") != "" {
			continue
		}
		if c, ok := pf.child(name); ok && c.path == vf.path {
			return pf, "v" + n, true
		}
	}
	return device{}, "", false
}

// onboardIndex is the firmware's index of an onboard device: ACPI _DSM
// (acpi_index), else SMBIOS type 41 (index).
func onboardIndex(p device, s Scheme) (uint64, bool) {
	idx, err := p.uint("acpi_index", 32)
	if err != nil {
		if idx, err = p.uint("index", 32); err != nil {
			return 0, false
		}
	}
	if idx == 0 && !s.has(zeroACPIIndex) {
		return 0, false
	}
	// Some firmware reports rubbish (VMware: 2^24-1).
	limit := uint64(1<<14 - 1)
	if s.has(onboard16Bit) {
		limit = 1<<16 - 1
	}
	return idx, idx <= limit
}

func onboardName(dev, p device, prefix, suffix string, s Scheme) string {
	idx, ok := onboardIndex(p, s)
	if !ok {
		return ""
	}
	port, ok := portSpecifier(dev, false, s)
	if !ok {
		return ""
	}
	return fit(prefix + "o" + strconv.FormatUint(idx, 10) + port + suffix)
}

// fit drops a name too long for a udev property.
func fit(name string) string {
	if len(name) >= altIfNamSiz {
		return ""
	}
	return name
}

// portSpecifier tells apart the ports of one PCI function: "n<phys_port_name>"
// (or "r<vf>" for an SR-IOV representor), else "d<dev_port>" when it is not
// 0. ok is false when the attributes are unusable: net_id then names
// nothing of that kind.
func portSpecifier(dev device, devIDFallback bool, s Scheme) (string, bool) {
	if name, err := dev.attr("phys_port_name"); err == nil && name != "" {
		if s.has(srIOVr) {
			if vf, ok := representorVF(name); ok {
				return "r" + strconv.FormatInt(vf, 10), true
			}
		}
		if !printable(name) {
			return "", false
		}
		return "n" + name, true
	}
	port, err := dev.uint("dev_port", 32)
	if err != nil {
		return "", false
	}
	if port == 0 && devIDFallback {
		// Old kernels put an IPoIB port in dev_id rather than dev_port.
		if t, err := dev.uint("type", 32); err != nil {
			return "", false
		} else if t == arphrdInfiniband {
			if port, err = devID(dev, s); err != nil {
				return "", false
			}
		}
	}
	if port == 0 {
		return "", true
	}
	return "d" + strconv.FormatUint(port, 10), true
}

// devID reads dev_id. The kernel prints it in hex ("0x1"); systemd 252
// read it as decimal, so the IPoIB fallback never named a port there, and
// later releases read any base. Schemes up to v252 keep the decimal read.
func devID(dev device, s Scheme) (uint64, error) {
	v, err := dev.attr("dev_id")
	if !s.atLeast(V253) {
		if n, perr := parseUintBase(v, 10, 64); err == nil && perr == nil {
			return n, nil
		}
		return 0, nil // systemd 252 ignored a dev_id it could not read
	}
	if err != nil {
		return 0, err
	}
	return parseUint(v, 32)
}

// representorVF parses a VF representor's phys_port_name "pf<n>vf<m>" as
// sscanf("pf%*uvf%d") does.
func representorVF(name string) (int64, bool) {
	c := scanner{s: strings.TrimPrefix(name, "pf")}
	if len(c.s) == len(name) {
		return 0, false
	}
	c.num(10)
	c.lit('v')
	c.lit('f')
	if c.bad {
		return 0, false
	}
	t := strings.TrimLeft(c.s, " \t\n\r\v\f")
	neg := strings.HasPrefix(t, "-")
	if neg || strings.HasPrefix(t, "+") {
		t = t[1:]
	}
	n := 0
	for n < len(t) && '0' <= t[n] && t[n] <= '9' {
		n++
	}
	v, err := strconv.ParseInt(t[:n], 10, 32)
	if n == 0 || err != nil || neg && v != 0 {
		return 0, false
	}
	return v, true
}

// pciSpecifiers splits a PCI function's name "DDDD:BB:SS.F" into the
// domain ("P<d>" when not 0), bus and slot ("p<b>s<s>") and function
// ("f<f>" when not 0 or the device is multi-function) parts of its names.
func pciSpecifiers(p device, s Scheme) (domain, busSlot, fn string, ok bool) {
	c := scanner{s: p.sysname()}
	d := c.num(16)
	c.lit(':')
	bus := c.num(16)
	c.lit(':')
	slot := c.num(16)
	c.lit('.')
	f := c.num(10)
	if c.bad {
		return "", "", "", false
	}
	if s.has(nparARI) {
		if v, err := p.attr("ari_enabled"); err == nil {
			if b, err := parseBool(v); err == nil && b {
				// ARI: the 5-bit slot and 3-bit function are one 8-bit function.
				f = uint64(uint32(f + slot*8))
			}
		}
	}
	if d > 0 {
		domain = "P" + strconv.FormatUint(d, 10)
	}
	busSlot = "p" + strconv.FormatUint(bus, 10) + "s" + strconv.FormatUint(slot, 10)
	if f > 0 || multifunction(p) {
		fn = "f" + strconv.FormatUint(f, 10)
	}
	return domain, busSlot, fn, true
}

// multifunction reports the multi-function bit of the PCI header type (the
// 15th byte of config space; reading more makes the kernel read the
// device's whole configuration space).
func multifunction(p device) bool {
	b, err := p.s.readN(p.path+"/config", 15)
	return err == nil && len(b) > 14 && b[14]&0x80 != 0
}

// bridge reports whether the device's modalias says PCI subclass 04 (a
// bridge), read the way net_id reads it.
func bridge(p device) bool {
	v, err := p.attr("modalias")
	if err != nil || !strings.HasPrefix(v, "pci:") {
		return false
	}
	i := strings.LastIndexByte(v, 's')
	return i >= 0 && strings.HasPrefix(v[i+1:], "c04")
}

// slotNames returns ID_NET_NAME_SLOT and ID_NET_NAME_PATH of a NIC on PCI
// function p ("" when none).
func slotNames(dev, p device, prefix, suffix string, s Scheme) (slot, pth string) {
	domain, busSlot, fn, ok := pciSpecifiers(p, s)
	if !ok {
		return "", ""
	}
	port, ok := portSpecifier(dev, true, s)
	if !ok {
		return "", ""
	}
	pth = fit(prefix + domain + busSlot + fn + port + suffix)
	n, ok := sunSlot(p, s)
	if !ok {
		var noDomain bool
		if n, noDomain, ok = hotplugSlot(p, s); !ok {
			return "", pth
		}
		if noDomain {
			domain = ""
		}
	}
	return fit(prefix + domain + "s" + strconv.FormatUint(n, 10) + fn + port + suffix), pth
}

// sun is the ACPI _SUN (slot user number) of the device's firmware node.
func sun(p device) (uint64, bool) {
	n, err := p.uint("firmware_node/sun", 32)
	return n, err == nil && n != 0
}

// sunSlot is the v257 slot: the function's own _SUN, else its parent's
// (not a bridge's, unless the device is multi-function).
func sunSlot(p device, s Scheme) (uint64, bool) {
	if !s.has(firmwareNodeSun) {
		return 0, false
	}
	if n, ok := sun(p); ok {
		return n, true
	}
	up, ok := p.parentIn("pci", "")
	if !ok || bridge(up) && !multifunction(p) {
		return 0, false
	}
	return sun(up)
}

// hotplugSlot finds the PCI hotplug slot (/sys/bus/pci/slots/<n>) holding
// p or the nearest PCI device above it. noDomain is true when an s390
// function_id named the slot.
func hotplugSlot(p device, s Scheme) (n uint64, noDomain, ok bool) {
	slots, err := readSlots(p.s)
	if err != nil {
		return 0, false, false
	}
	for d, ok := p, true; ok; d, ok = d.parentIn("pci", "") {
		if s.has(slotFunctionID) {
			if v, err := d.attr("function_id"); err == nil {
				id, err := parseUint(v, 64)
				if err != nil || id == 0 || id > 1<<32-1 {
					return 0, false, false
				}
				if !slots.dirs[fmt.Sprintf("%08x", id)] {
					return 0, false, false
				}
				return id, true, true
			}
		}
		for _, sl := range slots.numbered {
			if !strings.HasPrefix(d.sysname(), sl.address) {
				continue
			}
			if s.has(bridgeNoSlot) && bridge(d) {
				// Every device behind the bridge would claim the slot.
				if !s.has(bridgeMultifunction) || !multifunction(p) {
					return 0, false, false
				}
			}
			return sl.n, false, true
		}
	}
	return 0, false, false
}

type slot struct {
	n       uint64
	address string
}

type slotTable struct {
	dirs     map[string]bool // every entry of bus/pci/slots
	numbered []slot          // the numbered ones with an address, in name order
}

func readSlots(s sysfs) (slotTable, error) {
	t := slotTable{dirs: map[string]bool{}}
	dir, err := s.resolve("bus/pci/slots")
	if err != nil {
		return t, err
	}
	slots := device{s, dir}
	es, err := fs.ReadDir(s.fsys, dir)
	if err != nil {
		return t, err
	}
	for _, e := range es {
		name := e.Name()
		t.dirs[name] = true
		n, err := parseUint(name, 32)
		if err != nil || n == 0 || !e.IsDir() {
			continue
		}
		if a, err := slots.attr(name + "/address"); err == nil {
			t.numbered = append(t.numbered, slot{n, a})
		}
	}
	return t, nil
}

// namesUSB names a NIC on USB: the PCI names of its host controller with
// "u<port chain>[c<config>][i<interface>]" appended.
func namesUSB(dev device, prefix string, s Scheme, out *ids) bool {
	intf, ok := dev.parentIn("usb", "usb_interface")
	if !ok {
		return false
	}
	suffix, ok := usbSpecifier(intf.sysname())
	if !ok {
		return false
	}
	if p, ok := intf.parentIn("pci", ""); ok {
		out.slot, out.path = slotNames(dev, p, prefix, suffix, s)
		return true
	}
	if s.has(usbHost) {
		out.path = fit(prefix + suffix)
	}
	return true
}

// usbSpecifier turns a USB interface's name "<bus>-<port>[.<port>…]:<config>.<interface>"
// into "u<port>[u<port>…][c<config>][i<interface>]", leaving out config 1
// and interface 0.
func usbSpecifier(sysname string) (string, bool) {
	_, rest, ok := strings.Cut(sysname, "-")
	if !ok {
		return "", false
	}
	ports, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return "", false
	}
	config, intf, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	b := "u" + strings.ReplaceAll(ports, ".", "u")
	if config != "1" {
		b += "c" + config
	}
	if intf != "0" {
		b += "i" + intf
	}
	return b, true
}

// namesXen names a Xen netfront NIC (device vif-<n>): "X<n>" slot names.
func namesXen(dev device, prefix string, s Scheme, out *ids) bool {
	if !s.has(xenVIF) {
		return false
	}
	p, ok := dev.parent()
	if !ok || p.subsystem() != "xen" {
		return false
	}
	first := strings.SplitN(strings.TrimPrefix(dev.path, "devices/"), "/", 2)[0]
	n, ok := strings.CutPrefix(first, "vif-")
	if !ok || n == "" || n[0] == '0' && n != "0" || strings.Trim(n, "0123456789") != "" {
		return true
	}
	id, err := strconv.ParseUint(n, 10, 32)
	if err != nil {
		return true
	}
	out.slot = fit(prefix + "X" + strconv.FormatUint(id, 10))
	return true
}

// namesPlatform names an ACPI platform NIC (ARM64 servers,
// devices/platform/<VEND><model>:<instance>): "a<vendor><model>i<instance>".
func namesPlatform(dev device, prefix string, out *ids) bool {
	p, ok := dev.parent()
	if !ok || p.subsystem() != "platform" {
		return false
	}
	rest, ok := strings.CutPrefix(dev.path, "devices/platform/")
	if !ok {
		return true
	}
	id := strings.SplitN(rest, "/", 2)[0]
	var vendor, model, inst, valid string
	switch {
	case len(id) == 10 && id[7] == ':':
		vendor, model, inst, valid = id[:3], id[3:7], id[8:10], "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	case len(id) == 11 && id[8] == ':':
		vendor, model, inst, valid = id[:4], id[4:8], id[9:11], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	default:
		return true
	}
	if strings.Trim(vendor, valid) != "" {
		return true
	}
	m, err1 := parseUintBase(model, 16, 32)
	i, err2 := parseUintBase(inst, 16, 32)
	if err1 != nil || err2 != nil {
		return true
	}
	out.path = fit(fmt.Sprintf("%sa%s%xi%d", prefix, strings.ToLower(vendor), m, i))
	return true
}
