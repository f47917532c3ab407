package blockdev

// Filesystem is a root filesystem type netroot recognises (ProbeFS finds
// its label and UUID) and mounts, with the kernel module providing it.
type Filesystem struct {
	// Type is the name mount(2) and rootfstype= take, as blkid prints it.
	Type string
	// Module is the kernel module that provides it.
	Module string
}

// filesystems is the one table of root filesystems: netroot check
// validates rootfstype= against it, netroot build -fs and /init's mount
// take their modules from it. Debian's ext4 module mounts ext2 and ext3
// (CONFIG_EXT4_USE_FOR_EXT2).
var filesystems = []Filesystem{
	{"ext4", "ext4"}, {"ext3", "ext4"}, {"ext2", "ext4"},
	{"xfs", "xfs"}, {"btrfs", "btrfs"}, {"vfat", "vfat"},
}

// Filesystems returns the root filesystem types netroot supports.
func Filesystems() []Filesystem { return append([]Filesystem(nil), filesystems...) }

// FilesystemTypes returns the supported types' names, for messages.
func FilesystemTypes() []string {
	out := make([]string, len(filesystems))
	for i, f := range filesystems {
		out[i] = f.Type
	}
	return out
}

// FSModule returns the kernel module that provides the filesystem type
// fstype (as rootfstype= or Device.FSType names it), or "" when netroot
// does not support it as a root filesystem.
func FSModule(fstype string) string {
	for _, f := range filesystems {
		if f.Type == fstype {
			return f.Module
		}
	}
	return ""
}

// FSModules returns the distinct filesystem modules, in table order: what
// /init loads ahead of a mount whose type is detected from the superblock.
func FSModules() []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range filesystems {
		if !seen[f.Module] {
			seen[f.Module] = true
			out = append(out, f.Module)
		}
	}
	return out
}
