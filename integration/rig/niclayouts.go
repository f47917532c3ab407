package rig

import (
	"fmt"
	"strings"
)

// NICLayout is one arrangement of guest NICs on QEMU's buses, kept for the
// tests of predictable interface names (pkg/netname): each layout's sysfs,
// captured from a guest booted with exactly these devices, is
// pkg/netname/testdata/<Name>.sysfs, and NICs records the names
// systemd-udev gives each NIC there.
//
// Every address is explicit so the PCI topology, and so the names, do not
// depend on QEMU's defaults beyond the machine type. The guest is booted
// the rig's way (-vga none, no -nodefaults): on the pc machine the chipset
// takes 00:00.0–00:01.3 and the layout's devices start at slot 2.
type NICLayout struct {
	// Name identifies the layout (and its capture).
	Name string
	// Doc says what the layout exercises.
	Doc string
	// Machine is the -machine value; "" is QEMU's default (pc, i440FX).
	Machine string
	// Devices are the -device values in order: controllers and bridges
	// first, then NICs. A NIC's "netdev=n<i>" names its i-th netdev, which
	// QEMUArgs supplies.
	Devices []string
	// Extra are further QEMU arguments (e.g. -smbios tables naming a NIC).
	Extra []string
	// NICs are the layout's NICs in netdev order (NIC i uses n<i>).
	NICs []LayoutNIC
}

// LayoutNIC is one NIC of a layout and the names systemd-udev's net_id
// builtin exports for it (empty when it exports none of that kind), as
// `udevadm test-builtin net_id` printed them over the layout's capture.
type LayoutNIC struct {
	// MAC is the NIC's address, set in its -device.
	MAC string
	// Onboard, Slot, Path and MACName are ID_NET_NAME_ONBOARD, _SLOT,
	// _PATH and _MAC under naming scheme v257.
	Onboard, Slot, Path, MACName string
	// V252 lists the ID_NET_NAME_* values that differ under scheme v252
	// (key "ONBOARD", "SLOT" or "PATH"; "" means none exported), as
	// Debian 12's udev exports them.
	V252 map[string]string
	// Name is the name 99-default.link gives the NIC (NamePolicy=keep
	// kernel database onboard slot path) under v257. DebianName is the name
	// on Debian, whose 73-usb-net-by-mac.link names USB NICs by MAC.
	Name, DebianName string
}

// QEMUArgs returns the layout's QEMU arguments: -machine when set, one
// -netdev per NIC made by netdev(i, "n<i>") (e.g. a tap, or
// "hubport,id=n0,hubid=0" for a NIC wired to nothing), the -device list and
// Extra.
func (l NICLayout) QEMUArgs(netdev func(i int, id string) string) []string {
	var args []string
	if l.Machine != "" {
		args = append(args, "-machine", l.Machine)
	}
	for i := range l.NICs {
		args = append(args, "-netdev", netdev(i, fmt.Sprintf("n%d", i)))
	}
	for _, d := range l.Devices {
		args = append(args, "-device", d)
	}
	return append(args, l.Extra...)
}

// Modules are the kernel modules a guest needs to see every NIC of the
// layouts (the rest, PCI hotplug and PCIe port services, is built into
// Debian's kernel).
func (NICLayout) Modules() []string {
	return []string{"virtio_pci", "virtio_net", "e1000e", "xhci_pci", "usbnet", "cdc_ether", "rndis_host"}
}

// NICLayoutByName returns the layout called name.
func NICLayoutByName(name string) (NICLayout, bool) {
	for _, l := range NICLayouts {
		if l.Name == name {
			return l, true
		}
	}
	return NICLayout{}, false
}

// String names the layout and lists its devices.
func (l NICLayout) String() string {
	return l.Name + ": " + strings.Join(l.Devices, " ")
}

// NICLayouts are the layouts whose names are known. MACs are 52:54:00:77:01:xx
// so a NIC is found by MAC whatever order the kernel probes in.
var NICLayouts = []NICLayout{
	{
		Name: "virtio-root",
		Doc: "two virtio-net-pci on the pc root bus, the boot tests' own layout: the ACPI hotplug slots of " +
			"the root bus give slot names",
		Devices: []string{
			"virtio-net-pci,netdev=n0,mac=52:54:00:77:01:10,addr=2",
			"virtio-net-pci,netdev=n1,mac=52:54:00:77:01:11,addr=3",
		},
		NICs: []LayoutNIC{
			{MAC: "52:54:00:77:01:10", Slot: "ens2", Path: "enp0s2", MACName: "enx525400770110", Name: "ens2", DebianName: "ens2"},
			{MAC: "52:54:00:77:01:11", Slot: "ens3", Path: "enp0s3", MACName: "enx525400770111", Name: "ens3", DebianName: "ens3"},
		},
	},
	{
		Name: "virtio-bridge",
		Doc:  "two virtio-net-pci behind a pci-bridge in root slot 5",
		Devices: []string{
			"pci-bridge,id=br1,chassis_nr=1,addr=5",
			"virtio-net-pci,netdev=n0,mac=52:54:00:77:01:20,bus=br1,addr=1",
			"virtio-net-pci,netdev=n1,mac=52:54:00:77:01:21,bus=br1,addr=2",
		},
		NICs: []LayoutNIC{
			{MAC: "52:54:00:77:01:20", Slot: "ens1", Path: "enp1s1", MACName: "enx525400770120", Name: "ens1", DebianName: "ens1"},
			{MAC: "52:54:00:77:01:21", Slot: "ens2", Path: "enp1s2", MACName: "enx525400770121", V252: map[string]string{"SLOT": ""}, Name: "ens2", DebianName: "ens2"},
		},
	},
	{
		Name: "virtio-multifunction",
		Doc:  "one multi-function device in root slot 4: two virtio-net-pci functions 4.0 and 4.1",
		Devices: []string{
			"virtio-net-pci,netdev=n0,mac=52:54:00:77:01:30,addr=4.0,multifunction=on",
			"virtio-net-pci,netdev=n1,mac=52:54:00:77:01:31,addr=4.1",
		},
		NICs: []LayoutNIC{
			{MAC: "52:54:00:77:01:30", Slot: "ens4f0", Path: "enp0s4f0", MACName: "enx525400770130", Name: "ens4f0", DebianName: "ens4f0"},
			{MAC: "52:54:00:77:01:31", Slot: "ens4f1", Path: "enp0s4f1", MACName: "enx525400770131", Name: "ens4f1", DebianName: "ens4f1"},
		},
	},
	{
		Name: "virtio-bridge-multifunction",
		Doc: "a multi-function device behind a pci-bridge in root slot 5, where schemes v252 (the bridge's slot " +
			"for multi-function devices) and v255+ (never a bridge's slot) part",
		Devices: []string{
			"pci-bridge,id=br1,chassis_nr=1,addr=5",
			"virtio-net-pci,netdev=n0,mac=52:54:00:77:01:40,bus=br1,addr=3.0,multifunction=on",
			"virtio-net-pci,netdev=n1,mac=52:54:00:77:01:41,bus=br1,addr=3.1",
		},
		NICs: []LayoutNIC{
			{MAC: "52:54:00:77:01:40", Slot: "ens3f0", Path: "enp1s3f0", MACName: "enx525400770140", V252: map[string]string{"SLOT": ""}, Name: "ens3f0", DebianName: "ens3f0"},
			{MAC: "52:54:00:77:01:41", Path: "enp1s3f1", MACName: "enx525400770141", Name: "enp1s3f1", DebianName: "enp1s3f1"},
		},
	},
	{
		Name: "virtio-acpi-index",
		Doc:  "a virtio-net-pci with an ACPI index (acpi-index=3: an onboard name) beside one without",
		Devices: []string{
			"virtio-net-pci,netdev=n0,mac=52:54:00:77:01:50,addr=2,acpi-index=3",
			"virtio-net-pci,netdev=n1,mac=52:54:00:77:01:51,addr=3",
		},
		NICs: []LayoutNIC{
			{MAC: "52:54:00:77:01:50", Onboard: "eno3", Slot: "ens2", Path: "enp0s2", MACName: "enx525400770150", Name: "eno3", DebianName: "eno3"},
			{MAC: "52:54:00:77:01:51", Slot: "ens3", Path: "enp0s3", MACName: "enx525400770151", Name: "ens3", DebianName: "ens3"},
		},
	},
	{
		Name: "virtio-smbios-index",
		Doc: "a virtio-net-pci named by an SMBIOS type 41 record (instance 1: the kernel's index and label " +
			"attributes, an onboard name) beside one without",
		Devices: []string{
			"virtio-net-pci,id=lan1,netdev=n0,mac=52:54:00:77:01:80,addr=2",
			"virtio-net-pci,netdev=n1,mac=52:54:00:77:01:81,addr=3",
		},
		Extra: []string{"-smbios", "type=41,designation=Onboard LAN 1,instance=1,kind=ethernet,pcidev=lan1"},
		NICs: []LayoutNIC{
			{MAC: "52:54:00:77:01:80", Onboard: "eno1", Slot: "ens2", Path: "enp0s2", MACName: "enx525400770180", Name: "eno1", DebianName: "eno1"},
			{MAC: "52:54:00:77:01:81", Slot: "ens3", Path: "enp0s3", MACName: "enx525400770181", Name: "ens3", DebianName: "ens3"},
		},
	},
	{
		Name:    "q35-e1000e",
		Machine: "q35",
		Doc: "q35: an e1000e on a PCIe root port (whose ACPI slot number is 0: no slot name) and a " +
			"virtio-net-pci on the root complex (no hotplug slot)",
		Devices: []string{
			"pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=4,addr=4",
			"e1000e,netdev=n0,mac=52:54:00:77:01:60,bus=rp1",
			"virtio-net-pci,netdev=n1,mac=52:54:00:77:01:61,addr=2",
		},
		NICs: []LayoutNIC{
			{MAC: "52:54:00:77:01:60", Path: "enp1s0", MACName: "enx525400770160", Name: "enp1s0", DebianName: "enp1s0"},
			{MAC: "52:54:00:77:01:61", Path: "enp0s2", MACName: "enx525400770161", Name: "enp0s2", DebianName: "enp0s2"},
		},
	},
	{
		Name: "usb-net",
		Doc: "two usb-net on a qemu-xhci in root slot 6: one on root port 1, one behind a hub on port 2 " +
			"(port chain 2.1)",
		Devices: []string{
			"qemu-xhci,id=xhci,addr=6",
			"usb-net,netdev=n0,mac=52:54:00:77:01:70,bus=xhci.0,port=1",
			"usb-hub,bus=xhci.0,port=2",
			"usb-net,netdev=n1,mac=52:54:00:77:01:71,bus=xhci.0,port=2.1",
		},
		NICs: []LayoutNIC{
			{MAC: "52:54:00:77:01:70", Slot: "ens6u1", Path: "enp0s6u1", MACName: "enx525400770170", Name: "ens6u1", DebianName: "enx525400770170"},
			{MAC: "52:54:00:77:01:71", Slot: "ens6u2u1", Path: "enp0s6u2u1", MACName: "enx525400770171", Name: "ens6u2u1", DebianName: "enx525400770171"},
		},
	},
}
