package boot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/netname"
	"github.com/netroot/netroot/pkg/sysfs"
)

// NICs is what the predictable interface names and the iBFT need of the
// machine.
type NICs interface {
	// Sys is the kernel's sysfs, rooted at /sys.
	Sys() fs.FS
	// WatchLinks calls check at once and again after link events (an
	// interface appearing or being renamed) until it reports done or
	// fails, or ctx ends; it then returns ctx.Err().
	WatchLinks(ctx context.Context, check func() (done bool, err error)) error
	// RenameLink renames an interface, taking it down first as the
	// kernel requires.
	RenameLink(from, to string) error
}

// Predictable names.
//
// systemd-udev renames a NIC to a predictable name (ens2, enp0s31f6)
// when it appears, and the name stays for the whole boot: the real root's
// udev keeps a name set by userspace (name_assign_type NET_NAME_RENAMED,
// NamePolicy's "keep"). So whatever /init names a NIC becomes the OS's
// name for it, and what users expect is their OS's own names — those
// its udev gives with its own scheme and .link files. /init therefore
// renames as little as it can (config.Naming):
//
//   - net.ifnames unset: only the NICs the command line names the systemd
//     way are renamed, and only to those names; a NIC it names by its
//     kernel name (eth0), and every NIC it does not name, keeps the
//     kernel's name: those the boot does not bring up are left for the
//     real root's udev to name with its own scheme (a kernel-named NIC
//     that the boot did bring up, a bond slave, keeps its name on kernels
//     before 6.2, where udev cannot rename an interface that is up);
//   - net.ifnames=1: every NIC present is renamed, as dracut's udev does;
//   - net.ifnames=0: nothing is renamed (ifname= still applies).
//
// The scheme is net.naming-scheme= when given. Otherwise the names on the
// command line come from the OS (the user read them off `ip link`), so
// /init takes the newest scheme — and of upstream's and Debian's policies
// (Debian names USB NICs by MAC) — under which every name the command
// line uses is the udev name of a NIC present. A name that is only
// another of a NIC's net_id names (enp0s2 beside its udev name ens2:
// udev adds those as alternative names, which dracut's lookups accept)
// becomes that NIC's name; the real root's udev keeps it and adds ens2 as
// an alternative name.

// nameCandidate is a naming scheme and policy /init may name NICs by.
type nameCandidate struct {
	scheme netname.Scheme
	policy netname.Policy
	debian bool
}

func (c nameCandidate) String() string {
	if c.debian {
		return c.scheme.String() + " with Debian's USB rule"
	}
	return c.scheme.String()
}

// nameCandidates are the schemes and policies to try, in order: the one
// named, or every scheme newest first; each with upstream's policy, then
// Debian's.
func nameCandidates(scheme string) ([]nameCandidate, error) {
	schemes := netname.Schemes()
	slices.Reverse(schemes)
	if scheme != "" {
		s, err := netname.ParseScheme(scheme)
		if err != nil {
			return nil, err
		}
		schemes = []netname.Scheme{s}
	}
	var out []nameCandidate
	for _, s := range schemes {
		out = append(out,
			nameCandidate{scheme: s, policy: netname.DefaultPolicy(s)},
			nameCandidate{scheme: s, policy: netname.DebianPolicy(s), debian: true})
	}
	return out, nil
}

// wantedNames are the NICs the plan names the systemd way (not by
// ifname=, not made by the plan).
func wantedNames(p *config.Plan) []string {
	var out []string
	for _, n := range append(physicalInterfaces(p), p.Net.BootDev) {
		if netname.LooksPredictable(n) && !slices.Contains(out, n) &&
			!slices.ContainsFunc(p.Net.Renames, func(r config.Rename) bool { return r.Name == n }) {
			out = append(out, n)
		}
	}
	return out
}

// namer renames the NICs of one boot.
type namer struct {
	sys    fs.FS
	snap   fs.FS // sys, read once per round (netname.Snapshot)
	nics   NICs
	all    bool // net.ifnames=1: rename every NIC
	wanted []string
	cands  []nameCandidate
	// chosen is the index in cands of the candidate in use, -1 until
	// one gave a name the plan wants (or, with all, at the first round).
	chosen int
	// names caches each interface's names, by candidate index.
	names map[string][]*netname.Names
	// alts is set when the chosen candidate needs alternative names.
	alts bool
	// renamed are the renames made, in order; skipped the NICs left
	// alone because of a conflict.
	renamed []rename
	skipped map[string]string
	logf    func(format string, args ...any) // debug lines
}

// nameNICs is the names step: it renames NICs to their predictable names
// as the plan asks (see above), waiting for NICs whose driver still
// probes until every name the plan uses exists.
func (b *Boot) nameNICs(ctx context.Context, p *config.Plan, nics NICs) error {
	names := p.Net.Names
	wanted := wantedNames(p)
	if nics == nil || names.Ifnames == config.IfnamesOff || names.Ifnames == config.IfnamesAuto && len(wanted) == 0 {
		return nil
	}
	st := b.log.Begin("names")
	cands, err := nameCandidates(names.Scheme)
	if err != nil {
		st.Fail(err)
		return fail("names", err, "check net.naming-scheme=")
	}
	n := &namer{sys: nics.Sys(), nics: nics, all: names.Ifnames == config.IfnamesOn, wanted: wanted, cands: cands,
		chosen: -1, names: map[string][]*netname.Names{}, skipped: map[string]string{}, logf: b.log.Debugf}
	err = nics.WatchLinks(ctx, n.round)
	for _, r := range n.renamed {
		if nm := n.namesOf(r.to, n.chosen); nm != nil {
			b.log.Debugf("names: %s was %s: %s", r.to, r.from, nm)
		}
	}
	for ifname, why := range n.skipped {
		b.log.Warnf("names: %s keeps its name: %s", ifname, why)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = n.missingError()
		}
		st.Fail(err)
		return fail("names", err, "")
	}
	st.Done("%s", n.summary())
	return nil
}

// round is one look at the NICs present: it picks the candidate, renames
// what is to be renamed and reports whether every wanted name exists.
func (n *namer) round() (bool, error) {
	// One read of each sysfs file per round, however many schemes are
	// tried (names computed in earlier rounds stay cached).
	n.snap = netname.Snapshot(n.sys)
	ifs, err := netname.Interfaces(n.snap)
	if err != nil {
		return false, err
	}
	missing := slices.DeleteFunc(slices.Clone(n.wanted), func(w string) bool { return slices.Contains(ifs, w) })
	start := time.Now()
	if n.chosen < 0 {
		n.choose(ifs, missing)
	}
	if n.chosen < 0 {
		return false, nil
	}
	// What each NIC is to be renamed to, conflicts left out.
	var plan []rename
	wantedBy := map[string][]string{} // new name → kernel names
	for _, ifname := range ifs {
		if n.skipped[ifname] != "" {
			continue
		}
		if r, ok := n.target(ifname, n.chosen, missing, n.alts); ok {
			plan = append(plan, r)
			wantedBy[r.to] = append(wantedBy[r.to], ifname)
		}
	}
	for _, r := range plan {
		if from := wantedBy[r.to]; len(from) > 1 || slices.Contains(ifs, r.to) {
			n.skipped[r.from] = fmt.Sprintf("%s is wanted by %s (pin the names with ifname=<name>:<MAC>)", r.to, strings.Join(append(from, existing(ifs, r.to)...), " and "))
			continue
		}
		n.logf("names: computed in %.3fs", time.Since(start).Seconds())
		start = time.Now()
		if err := n.nics.RenameLink(r.from, r.to); err != nil {
			return false, fmt.Errorf("renaming %s to %s: %w", r.from, r.to, err)
		}
		n.logf("names: %s renamed %s in %.3fs", r.from, r.to, time.Since(start).Seconds())
		start = time.Now()
		delete(n.names, r.from) // a NIC the kernel adds later may get the name
		n.renamed = append(n.renamed, r)
		ifs = append(slices.DeleteFunc(ifs, func(s string) bool { return s == r.from }), r.to)
	}
	for _, w := range n.wanted {
		if !slices.Contains(ifs, w) {
			return false, nil
		}
	}
	return true, nil
}

// rename is one NIC's new name and what gave it.
type rename struct {
	from, to, by string
}

// target is what ifname is to be renamed to under candidate c: a
// missing name the command line wants that is its udev name or, with
// alts, another name net_id gives it (an alternative name, which the real
// root's udev then adds its own name beside); else, with net.ifnames=1,
// its udev name. ok is false when it keeps its name.
func (n *namer) target(ifname string, c int, missing []string, alts bool) (rename, bool) {
	nm := n.namesOf(ifname, c)
	if nm == nil {
		return rename{}, false
	}
	if nm.Renamed() && slices.Contains(missing, nm.Name) {
		return rename{ifname, nm.Name, nm.By}, true
	}
	if alts && nm.AssignType != netname.AssignUser && nm.AssignType != netname.AssignRenamed {
		for _, a := range []struct{ kind, name string }{{"onboard", nm.Onboard}, {"slot", nm.Slot}, {"path", nm.Path}, {"mac", nm.MAC}} {
			if a.name != "" && a.name != ifname && slices.Contains(missing, a.name) {
				return rename{ifname, a.name, a.kind + ", udev's alternative name; its name is " + nm.Name}, true
			}
		}
	}
	if n.all && nm.Renamed() {
		return rename{ifname, nm.Name, nm.By}, true
	}
	return rename{}, false
}

// existing is [name] when ifs has it.
func existing(ifs []string, name string) []string {
	if slices.Contains(ifs, name) {
		return []string{name + " (present)"}
	}
	return nil
}

// choose picks the first candidate under which the NICs present carry
// every missing name as their udev names; failing that, as udev names or
// alternative ones (path names, which most schemes share); failing that,
// when some name is found, the one that carries the most (the first of
// those). It stays undecided while no NIC carries any wanted name (their
// drivers may still be probing, a USB NIC enumerating), with
// net.ifnames=1 too: renaming the NICs by the first scheme then would
// give the wanted one another name for good.
func (n *namer) choose(ifs, missing []string) {
	best, bestAlts, bestCount := -1, false, 0
	for _, alts := range []bool{false, true} {
		for c := range n.cands {
			count := 0
			for _, m := range missing {
				if slices.ContainsFunc(ifs, func(i string) bool { r, ok := n.target(i, c, []string{m}, alts); return ok && r.to == m }) {
					count++
				}
			}
			if count == len(missing) {
				n.chosen, n.alts = c, alts
				return
			}
			if count > bestCount {
				best, bestAlts, bestCount = c, alts, count
			}
		}
	}
	if best >= 0 {
		n.chosen, n.alts = best, bestAlts
	}
}

// namesOf returns ifname's names under candidate c, nil for an
// interface net_id does not name (loopback, bonds, VLANs) or that
// vanished; they are computed once.
func (n *namer) namesOf(ifname string, c int) *netname.Names {
	cache := n.names[ifname]
	if cache == nil {
		cache = make([]*netname.Names, len(n.cands))
		n.names[ifname] = cache
	}
	if cache[c] == nil {
		cand := n.cands[c]
		nm, err := netname.Predictable(n.snap, ifname, cand.scheme, cand.policy)
		if err != nil || nm.Prefix == "" {
			nm = netname.Names{Interface: ifname, Name: ifname}
		}
		cache[c] = &nm
	}
	if cache[c].Prefix == "" {
		return nil
	}
	return cache[c]
}

// summary is the step's line: the renames, then the scheme.
func (n *namer) summary() string {
	var parts []string
	for _, r := range n.renamed {
		parts = append(parts, fmt.Sprintf("%s → %s (%s)", r.from, r.to, r.by))
	}
	s := strings.Join(parts, ", ")
	if s == "" {
		s = "no NIC renamed"
	}
	if n.chosen >= 0 {
		s += "; scheme " + n.cands[n.chosen].String()
	}
	if !n.all {
		s += "; other NICs keep the kernel's names"
	}
	return s
}

// missingError says which names no NIC got, and what the NICs present
// would be called.
func (n *namer) missingError() error {
	n.snap = netname.Snapshot(n.sys)
	ifs, _ := netname.Interfaces(n.snap)
	var missing []string
	for _, w := range n.wanted {
		if !slices.Contains(ifs, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) == 0 {
		return errors.New("the NICs were renamed, but the wait ended")
	}
	c := max(n.chosen, 0)
	var present []string
	for _, i := range ifs {
		nm := n.namesOf(i, c)
		if nm == nil {
			continue
		}
		d := i
		if mac := sysfs.ValueOf(n.sys, "class/net/"+i+"/address"); mac != "" {
			d += " " + mac
		}
		var ids []string
		for _, id := range []string{nm.Onboard, nm.Slot, nm.Path, nm.MAC} {
			if id != "" {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			d += " (" + strings.Join(ids, ", ") + ")"
		}
		present = append(present, d)
	}
	schemes := n.cands[0].scheme.String()
	if len(n.cands) > 2 {
		schemes = n.cands[len(n.cands)-1].scheme.String() + "–" + schemes
	}
	return hint.Errorf("compare with the names on the real OS (ip link) and its scheme (net.naming-scheme=), is the NIC's driver in the initramfs (netroot build -drivers)? Or pin the NIC: ifname=<name>:<MAC>",
		"no NIC is named %s under naming scheme %s; NICs present (and their udev names): %s",
		strings.Join(missing, ", "), schemes, orNone(strings.Join(present, "; ")))
}
