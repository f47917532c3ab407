package blockdev

import (
	"fmt"
	"strings"
)

// MountFlags are mount(2)'s MS_* flags, numbered as Linux numbers them:
// the constants are blockdev's own so that rootflags= parses on any OS
// (netroot check); mountopts_linux_test.go holds them equal to
// x/sys/unix's.
type MountFlags uintptr

// The flags mount(8)'s option words stand for.
const (
	MountReadOnly    MountFlags = 0x1       // MS_RDONLY
	MountNoSUID      MountFlags = 0x2       // MS_NOSUID
	MountNoDev       MountFlags = 0x4       // MS_NODEV
	MountNoExec      MountFlags = 0x8       // MS_NOEXEC
	MountSynchronous MountFlags = 0x10      // MS_SYNCHRONOUS
	MountMandLock    MountFlags = 0x40      // MS_MANDLOCK
	MountDirSync     MountFlags = 0x80      // MS_DIRSYNC
	MountNoSymFollow MountFlags = 0x100     // MS_NOSYMFOLLOW
	MountNoATime     MountFlags = 0x400     // MS_NOATIME
	MountNoDirATime  MountFlags = 0x800     // MS_NODIRATIME
	MountSilent      MountFlags = 0x8000    // MS_SILENT
	MountRelATime    MountFlags = 0x200000  // MS_RELATIME
	MountIVersion    MountFlags = 0x800000  // MS_I_VERSION
	MountStrictATime MountFlags = 0x1000000 // MS_STRICTATIME
	MountLazyTime    MountFlags = 0x2000000 // MS_LAZYTIME
)

// mountFlagWords are mount(8)'s flag options, as util-linux's libmount
// (optmap.c) and u-root's pkg/mount read them: each sets or clears its
// flag. "defaults" sets and clears nothing, as in libmount: the defaults
// (rw, suid, dev, exec, async) are what no flag gives, and a flag word
// before it stays.
var mountFlagWords = []struct {
	word       string
	set, clear MountFlags
}{
	{"defaults", 0, 0},
	{"suid", 0, MountNoSUID}, {"nosuid", MountNoSUID, 0},
	{"dev", 0, MountNoDev}, {"nodev", MountNoDev, 0},
	{"exec", 0, MountNoExec}, {"noexec", MountNoExec, 0},
	{"async", 0, MountSynchronous}, {"sync", MountSynchronous, 0},
	{"dirsync", MountDirSync, 0},
	{"mand", MountMandLock, 0}, {"nomand", 0, MountMandLock},
	{"atime", 0, MountNoATime}, {"noatime", MountNoATime, 0},
	{"diratime", 0, MountNoDirATime}, {"nodiratime", MountNoDirATime, 0},
	{"relatime", MountRelATime, 0}, {"norelatime", 0, MountRelATime},
	{"strictatime", MountStrictATime, 0}, {"nostrictatime", 0, MountStrictATime},
	{"lazytime", MountLazyTime, 0}, {"nolazytime", 0, MountLazyTime},
	{"iversion", MountIVersion, 0}, {"noiversion", 0, MountIVersion},
	{"silent", MountSilent, 0}, {"loud", 0, MountSilent},
	{"symfollow", 0, MountNoSymFollow}, {"nosymfollow", MountNoSymFollow, 0},
}

// userspaceWords are mount(8)'s options that only userspace reads
// (fstab, systemd, mount helpers): they never reach the kernel.
var userspaceWords = []string{"_netdev", "nofail", "auto", "noauto", "user", "nouser", "users", "owner", "noowner", "group", "nogroup"}

// userspacePrefixes are those with a value, or a namespace.
var userspacePrefixes = []string{"x-", "X-", "comment=", "user=", "helper=", "uhelper="}

// operationWords are mount(8)'s options that are no way of mounting a
// filesystem but other operations (a bind mount, a move, a remount, a
// propagation change, a loop device): the root cannot be mounted with
// them.
var operationWords = []string{"bind", "rbind", "move", "remount", "rec", "loop", "shared", "rshared", "private",
	"rprivate", "slave", "rslave", "unbindable", "runbindable"}

// MountOptions is a mount(8) option list (rootflags=) split as mount(8)
// splits it for mount(2).
type MountOptions struct {
	// Flags are the MS_* flags the list's flag words leave set, in order
	// (noatime, nosuid, relatime …). ro and rw are not among them: they
	// are Mode, for the caller to weigh against its own ro/rw.
	Flags MountFlags
	// Mode is "ro" or "rw", the last of them in the list; "" when it
	// names neither ("defaults" does not count: it leaves the caller's).
	Mode string
	// Data is the rest, the filesystem's own options (nobarrier,
	// data=journal, subvol=@), comma-joined in order: mount(2)'s data.
	Data string
	// Dropped are the options only userspace reads (_netdev, nofail,
	// x-systemd.…, comment=…), left out.
	Dropped []string
}

// ParseMountOptions splits a mount(8) option list into mount(2)'s flags
// and data, as mount(8) does with -o: flag words become MS_* flags
// (mountFlagWords), ro and rw the Mode, options only userspace reads are
// dropped, the others are the filesystem's data. Options are separated by
// ',' outside double quotes (context="a,b"), which must close; empty ones
// are skipped. The operations mount(8) also takes as options (bind, move,
// remount, loop, propagation) are an error.
func ParseMountOptions(s string) (MountOptions, error) {
	var o MountOptions
	var data []string
	words, err := splitOptions(s)
	if err != nil {
		return o, err
	}
next:
	for _, w := range words {
		switch {
		case w == "":
			continue
		case w == "ro" || w == "rw":
			o.Mode = w
			continue
		}
		for _, f := range mountFlagWords {
			if w == f.word {
				o.Flags = o.Flags&^f.clear | f.set
				continue next
			}
		}
		for _, u := range userspaceWords {
			if w == u {
				o.Dropped = append(o.Dropped, w)
				continue next
			}
		}
		for _, p := range userspacePrefixes {
			if strings.HasPrefix(w, p) {
				o.Dropped = append(o.Dropped, w)
				continue next
			}
		}
		name, _, _ := strings.Cut(w, "=")
		for _, op := range operationWords {
			if name == op {
				return MountOptions{}, fmt.Errorf("%q is an operation of mount(8) (a bind, move, remount, loop or propagation), not an option to mount the root with", w)
			}
		}
		if strings.Contains(w, `"`) && !quotedContext(w) {
			// The kernel splits the data at every ',', quoted or not;
			// only an LSM's context="…" is taken whole (by the LSM).
			return MountOptions{}, fmt.Errorf("%q: double quotes only go around an SELinux context (context=\"…\", fscontext=, defcontext=, rootcontext=)", w)
		}
		data = append(data, w)
	}
	o.Data = strings.Join(data, ",")
	return o, nil
}

// quotedContext reports whether w is an LSM context option whose value is
// quoted whole (context="system_u:…:c1,c2").
func quotedContext(w string) bool {
	name, v, _ := strings.Cut(w, "=")
	switch name {
	case "context", "fscontext", "defcontext", "rootcontext":
		return len(v) >= 2 && v[0] == '"' && strings.IndexByte(v[1:], '"') == len(v)-2
	}
	return false
}

// splitOptions splits at ',' outside double quotes; a quote left open is
// an error, as in libmount (the kernel, splitting the data at every ',',
// would read the options inside it).
func splitOptions(s string) ([]string, error) {
	var out []string
	quoted := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if quoted {
		return nil, fmt.Errorf("a double quote is not closed in %q", s)
	}
	return append(out, s[start:]), nil
}

// String names the flags as mount(8)'s words (noatime,nosuid …), in the
// order of its table; MountReadOnly is "ro".
func (f MountFlags) String() string {
	var words []string
	if f&MountReadOnly != 0 {
		words = append(words, "ro")
	}
	for _, w := range mountFlagWords {
		if w.set != 0 && f&w.set != 0 {
			words = append(words, w.word)
		}
	}
	return strings.Join(words, ",")
}
