// Package netname computes the predictable network interface names
// systemd-udev gives NICs (enp0s31f6, ens2, eno1, enx…), for an initramfs
// that has no udev but must find the NICs a configuration names that way.
//
// It has three layers:
//
//   - net_id: what udev's net_id builtin exports for an interface —
//     ID_NET_NAME_ONBOARD (eno<index>[d<port>|n<port name>], from the
//     firmware's acpi_index or SMBIOS index), ID_NET_NAME_SLOT
//     (ens<slot>[f<function>][d<port>], from the PCI hotplug slots in
//     /sys/bus/pci/slots and, in scheme v257, the ACPI _SUN of the
//     device's firmware_node), ID_NET_NAME_PATH (enp<bus>s<slot>[f<fn>]…,
//     with P<domain> when the PCI domain is not 0, and the u<port chain>
//     [c<config>][i<interface>] of a USB NIC appended to its host
//     controller's names), ID_NET_NAME_MAC (enx<MAC>), the type prefix (en,
//     wl, ww, ib, sl), SR-IOV virtual functions (v<n>) and representors
//     (r<n>), ARI functions, s390 function_id slots, Xen (enX<n>) and ARM64
//     ACPI platform devices (ena<vendor><model>i<instance>). Virtio NICs are
//     named after the PCI device that carries them, as udev does.
//   - schemes: net.naming_scheme= (Scheme, ParseScheme), v238 to v257, each
//     with the rules its systemd release had.
//   - policy: which of those names an interface is renamed to (Policy):
//     99-default.link's NamePolicy=keep kernel database onboard slot path
//     and AlternativeNamesPolicy=, Debian's 73-usb-net-by-mac.link, and
//     net.ifnames=0.
//
// Predictable computes one interface's names and Plan all renames, both
// over a sysfs tree given as an fs.FS rooted at /sys (os.DirFS("/sys") on
// the running system), so tests run on captured trees (testdata/*.sysfs,
// from QEMU guests; see integration/rig.NICLayouts). Renaming is
// netconf.Rename's job. A name set this way is one the real root's udev
// then keeps (name_assign_type NET_NAME_RENAMED, policy "keep"), whatever
// scheme the root's udev uses.
//
// The names match `udevadm test-builtin net_id` of systemd 252 (Debian 12)
// and 257 (Debian 13) on every captured layout. Not implemented:
//
//   - the hwdb: netroot carries none, so the "database" policy entry
//     (ID_NET_NAME_FROM_DATABASE) never yields a name, and the
//     ID_NET_NAME_ALLOW* properties hwdb or rules can set to hide
//     attributes from net_id are taken as unset;
//   - other .link files and rules: a root that ships its own .link files
//     (Name=, NamePolicy=, MACAddress=) or NAME= udev rules renames by
//     those; Policy only knows 99-default.link and Debian's USB file;
//   - names of buses netroot does not boot from: devicetree aliases
//     (end<n>), s390 CCW (enc…), IBM POWER VIO (env…), netdevsim,
//     BCMA (Broadcom on-chip WLAN);
//   - Red Hat's rhel-* schemes and distribution-specific default schemes
//     (a distribution may build udev with an older default than its
//     systemd version; net.naming_scheme= on its command line says which).
//
// Where systemd 252 and 257 still differ under the same scheme, this
// package follows 252 for schemes up to v252 (an IPoIB port in dev_id,
// "0x1", which 252 cannot parse). Where their code differs only on
// malformed attribute values (an acpi_index or dev_port that does not
// parse, a phys_port_name with control characters), v257's handling is
// followed for every scheme. When several hotplug slots match a device,
// udev takes the first the kernel lists, this package the first by name.
//
// The kernel command line says net.naming_scheme= (udev also reads it as
// net.naming-scheme=: "-" and "_" are the same in its keys) and
// net.ifnames=; ParseScheme and ParseIfnames read their values.
package netname
