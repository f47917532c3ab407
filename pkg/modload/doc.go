// Package modload loads Linux kernel modules for an initramfs /init and
// builds the module index the initramfs builder ships with it.
//
// The package has three layers:
//
//   - pure metadata: ReadModInfo parses the .modinfo section of a module's
//     ELF image; ParseSoftdep and the depmod text parsers are pure too.
//   - the Index: module names, files, hard and soft dependencies, aliases and
//     the kernel's builtin set, built from a module tree (ScanTree, like
//     depmod) or from depmod's text files (LoadIndex), able to resolve a
//     load order (Resolve), match device modaliases (MatchAliases) and write
//     depmod's files for a subset of modules (WriteDepmodFiles).
//   - the Loader, which loads modules with finit_module(2)/init_module(2)
//     behind the narrow Syscalls seam, in dependency order, with
//     per-module parameters and a blacklist, and which loads the drivers for
//     the devices found in sysfs until a fixed point (LoadForDevices). A
//     compressed module file (.ko.xz, .ko.zst, .ko.gz) goes to the kernel
//     compressed when it decompresses that format, else it is decompressed
//     here — a zstd frame from the mapped file into memory unmapped after
//     the insert — at the priority of the batch that loads it.
//
// Module names are normalised the way the kernel does: '-' becomes '_'.
package modload
