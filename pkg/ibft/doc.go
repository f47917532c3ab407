// Package ibft reads and writes the iSCSI Boot Firmware Table (iBFT): the
// table a firmware (a NIC's option ROM, UEFI's iSCSI driver, iPXE's
// sanhook) leaves for the operating system to say which NICs it set up and
// which iSCSI targets it booted from.
//
// It has three parts, each usable on its own:
//
//   - the model: Table with its Initiator, NICs and Targets, typed fields
//     (netip.Addr, net.HardwareAddr, LUN, BDF) and CHAP secrets that never
//     print (Secret);
//   - the raw table: Parse validates and decodes the ACPI table ("iBFT",
//     also "IBFT" and "BIFT" as Linux accepts) following the iBFT 1.03
//     layout, and Marshal writes one (ACPI header, control structure,
//     structures, string heap, checksum) that QEMU installs with
//     -acpitable file=…;
//   - sysfs: ReadSysfs reads the table the kernel's iscsi_ibft module
//     exports under /sys/firmware/ibft (found by the module in the ACPI
//     tables or, on BIOS machines, by scanning low memory), falling back to
//     the raw ACPI table under /sys/firmware/acpi/tables.
//
// Package ibfttest models the files the kernel exports for a Table, for
// tests of code that reads them; the boot tests in integration/ check the
// model against Debian's kernel.
//
// Parse is stricter than Linux's iscsi_ibft: where the kernel skips a
// malformed structure and exports the rest, Parse fails with a FormatError
// naming the structure and what is wrong with it. Where the kernel refuses
// the whole table (bad checksum, ACPI revision other than 1, a malformed
// control structure, two NICs or targets with one index), so does Parse;
// the module then fails to load (ENOENT) and exports nothing, and ReadSysfs
// reports what Parse finds wrong with the raw ACPI table, when the table
// came from ACPI (a table found in low memory has no raw copy in /sys).
package ibft
