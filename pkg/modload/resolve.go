package modload

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// need is one thing that must be satisfied: a name asked for by the caller
// or a soft dependency of a module. It is satisfied when any one of its
// providers loads (or when it is builtin: no providers).
type need struct {
	name      string   // as asked, e.g. "crc32c" or "virtio_net"
	by        string   // "" for the caller, else "softdep of MODULE"
	providers []string // loadable modules that satisfy it, sorted
}

// plan is the resolved closure of a set of needs, in load order.
type plan struct {
	order []string            // every module to load, dependencies first
	hard  map[string][]string // module → its hard dependencies in the plan
	after map[string][]string // module → modules to finish first (hard and soft)
	needs []need              // the caller's needs and the soft dependencies
	// errs holds, per caller's name that could not be planned, why
	// (unknown, or needing a blacklisted module). Those names are left out.
	errs []error
}

// Resolve returns the modules to load for the given names, in a valid load
// order (every module after its hard dependencies and its softdep "pre"
// modules, before its softdep "post" modules), each once.
//
// A name is looked up as modprobe does: a module name, then a builtin
// module (nothing to load), then a module alias (glob match against every
// module's aliases), then a builtin alias. An alias that several modules
// provide brings in all of them, as modprobe does: for "crc32c" both
// crc32c_generic and crc32c_intel; at load time the Loader needs only one
// of them to succeed. Builtin modules are dropped. Soft dependencies naming
// nothing in the index are ignored (an initramfs may leave them out);
// unknown names, unknown hard dependencies and dependency cycles are errors.
func (x *Index) Resolve(names ...string) ([]string, error) {
	return x.ResolveBlacklisted(nil, names...)
}

// ResolveBlacklisted is Resolve with a blacklist (rd.driver.blacklist=)
// applied as the Loader applies it: a name only blacklisted modules
// provide, or that needs a blacklisted module (a hard dependency, or one
// whose every provider is), is an error naming it and the blacklisted
// module; a blacklisted provider among several, or of a soft dependency,
// is left out.
func (x *Index) ResolveBlacklisted(blacklist []string, names ...string) ([]string, error) {
	p, err := x.plan(names, blacklistFunc(blacklist), nil)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	return p.order, nil
}

// blacklistFunc reports the modules of list (names normalised).
func blacklistFunc(list []string) func(string) bool {
	set := make(map[string]bool, len(list))
	for _, b := range list {
		set[NormalizeName(b)] = true
	}
	return func(m string) bool { return set[m] }
}

// lookup returns the modules providing name, and whether name is builtin
// (then providers is empty).
func (x *Index) lookup(name string) (providers []string, builtin bool, err error) {
	n := NormalizeName(name)
	if x.modules[n] != nil {
		return []string{n}, false, nil
	}
	if x.IsBuiltin(n) {
		return nil, true, nil
	}
	if ms := x.MatchAliases(name); len(ms) > 0 {
		return ms, false, nil
	}
	if len(x.matchBuiltinAliases(name)) > 0 {
		return nil, true, nil
	}
	return nil, false, errors.New(x.unknownModule(name))
}

// unknownModule describes an unknown module name, with a suggestion.
func (x *Index) unknownModule(name string) string {
	msg := fmt.Sprintf("unknown module %q: not a module, builtin or alias in the index of %s", name, x.Dir)
	if s := x.closestName(NormalizeName(name)); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg
}

// closestName returns the module name nearest to name by edit distance, if
// near enough to be a plausible typo.
func (x *Index) closestName(name string) string {
	best, bestD := "", len(name)/3+1
	for n := range x.modules {
		if d := editDistance(name, n, bestD); d < bestD || d == bestD && best != "" && n < best {
			best, bestD = n, d
		}
	}
	if bestD > len(name)/3 {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or a value > limit
// once it exceeds limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// plan resolves names into a plan. blacklisted, when not nil, tells which
// modules must never be loaded: a name or hard dependency that only a
// blacklisted module provides makes that name fail (in plan.errs); a
// blacklisted provider among several, or of a soft dependency, is dropped.
// unfit, when not nil, tells which modules cannot work on this machine
// (see Loader.cpuUnfit): among several providers of one name they are
// dropped, unless every provider is. The returned error is for problems
// of the whole plan (a cycle).
func (x *Index) plan(names []string, blacklisted, unfit func(string) bool) (*plan, error) {
	if blacklisted == nil {
		blacklisted = func(string) bool { return false }
	}
	// fit keeps the providers that are not unfit, or all of them.
	fit := func(provs []string) []string {
		if unfit == nil || len(provs) < 2 {
			return provs
		}
		kept := slices.DeleteFunc(slices.Clone(provs), unfit)
		if len(kept) == 0 {
			return provs
		}
		return kept
	}
	p := &plan{hard: map[string][]string{}, after: map[string][]string{}}
	in := map[string]bool{}            // modules in the plan
	var discovered []string            // modules in discovery order
	softAfter := map[string][]string{} // soft ordering edges

	// closure collects into set the modules needed by the need, or fails.
	var closure func(n *need, set map[string]bool, list *[]string) error
	addModule := func(m string, set map[string]bool, list *[]string) error {
		var walk func(m, by string) error
		walk = func(m, by string) error {
			if set[m] || in[m] {
				return nil
			}
			if blacklisted(m) {
				if by != "" {
					return fmt.Errorf("module %s is needed by %s but blacklisted (rd.driver.blacklist)", m, by)
				}
				return fmt.Errorf("module %s is blacklisted (rd.driver.blacklist)", m)
			}
			set[m] = true
			*list = append(*list, m)
			for _, d := range x.modules[m].Depends {
				if x.modules[d] == nil {
					if x.IsBuiltin(d) {
						continue
					}
					return fmt.Errorf("module %s depends on %s, which is not in the index of %s", m, d, x.Dir)
				}
				if err := walk(d, m); err != nil {
					return err
				}
			}
			for _, sd := range [][]string{x.modules[m].SoftPre, x.modules[m].SoftPost} {
				for _, s := range sd {
					provs, _, err := x.lookup(s)
					if err != nil {
						continue // soft: an absent softdep is ignored
					}
					sn := &need{name: s, by: "softdep of " + m}
					for _, pm := range provs {
						if !blacklisted(pm) {
							sn.providers = append(sn.providers, pm)
						}
					}
					sn.providers = fit(sn.providers)
					if len(sn.providers) == 0 {
						continue
					}
					if err := closure(sn, set, list); err != nil {
						continue // soft: one that cannot be met is ignored
					}
					p.needs = append(p.needs, *sn)
				}
			}
			return nil
		}
		return walk(m, "")
	}
	closure = func(n *need, set map[string]bool, list *[]string) error {
		var errs []error
		ok := 0
		for _, m := range n.providers {
			// Each provider is tried on a copy, so one that fails (for
			// instance needing a blacklisted module) does not leave half
			// of its closure behind.
			sub, subList := map[string]bool{}, []string{}
			for k := range set {
				sub[k] = true
			}
			needsBefore := len(p.needs)
			if err := addModule(m, sub, &subList); err != nil {
				p.needs = p.needs[:needsBefore]
				errs = append(errs, err)
				continue
			}
			for _, s := range subList {
				set[s] = true
			}
			*list = append(*list, subList...)
			ok++
		}
		if ok == 0 && len(errs) > 0 {
			return errors.Join(errs...)
		}
		return nil
	}

	for _, name := range names {
		provs, builtin, err := x.lookup(name)
		if err != nil {
			p.errs = append(p.errs, err)
			continue
		}
		if builtin {
			continue
		}
		n := need{name: name}
		for _, m := range provs {
			if !blacklisted(m) || len(provs) == 1 {
				n.providers = append(n.providers, m)
			}
		}
		if len(n.providers) == 0 {
			p.errs = append(p.errs, fmt.Errorf("%s: every module providing it is blacklisted (rd.driver.blacklist): %s", name, strings.Join(provs, ", ")))
			continue
		}
		n.providers = fit(n.providers)
		set, list := map[string]bool{}, []string{}
		needsBefore := len(p.needs)
		if err := closure(&n, set, &list); err != nil {
			p.needs = p.needs[:needsBefore]
			p.errs = append(p.errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		p.needs = append(p.needs, n)
		for _, m := range list {
			if !in[m] {
				in[m] = true
				discovered = append(discovered, m)
			}
		}
	}

	// Ordering edges: hard dependencies, softdep pre before the module,
	// the module before its softdep post.
	for _, m := range discovered {
		for _, d := range x.modules[m].Depends {
			if in[d] {
				p.hard[m] = append(p.hard[m], d)
			}
		}
		for _, s := range x.modules[m].SoftPre {
			provs, _, _ := x.lookup(s)
			for _, pm := range provs {
				if in[pm] && pm != m {
					softAfter[m] = append(softAfter[m], pm)
				}
			}
		}
		for _, s := range x.modules[m].SoftPost {
			provs, _, _ := x.lookup(s)
			for _, pm := range provs {
				if in[pm] && pm != m {
					softAfter[pm] = append(softAfter[pm], m)
				}
			}
		}
	}
	order, after, err := topoSort(discovered, p.hard, softAfter)
	if err != nil {
		return nil, err
	}
	p.order, p.after = order, after
	return p, nil
}

// topoSort orders nodes so that each comes after its hard and soft
// predecessors, visiting nodes in the given order and predecessors sorted
// by name, so the result is deterministic. A cycle made of hard edges is an
// error naming it; a soft edge closing a cycle is dropped (soft
// dependencies only order, as in modprobe, they never make loading
// impossible). It returns the order and the edges kept.
func topoSort(nodes []string, hard, soft map[string][]string) ([]string, map[string][]string, error) {
	const (
		white = iota
		grey
		black
	)
	state := make(map[string]int, len(nodes))
	kept := make(map[string][]string, len(nodes))
	order := make([]string, 0, len(nodes))
	var stack []string
	var visit func(n string) error
	visit = func(n string) error {
		state[n] = grey
		stack = append(stack, n)
		type edge struct {
			to   string
			hard bool
		}
		var edges []edge
		h := slices.Clone(hard[n])
		sort.Strings(h)
		for _, d := range slices.Compact(h) {
			edges = append(edges, edge{d, true})
		}
		s := slices.Clone(soft[n])
		sort.Strings(s)
		for _, d := range slices.Compact(s) {
			if !slices.Contains(h, d) {
				edges = append(edges, edge{d, false})
			}
		}
		for _, e := range edges {
			switch state[e.to] {
			case grey:
				if !e.hard {
					continue // drop the soft edge closing a cycle
				}
				i := slices.Index(stack, e.to)
				cycle := append(slices.Clone(stack[i:]), e.to)
				return fmt.Errorf("dependency cycle (each needs the next): %s", strings.Join(cycle, " → "))
			case white:
				if err := visit(e.to); err != nil {
					return err
				}
			}
			kept[n] = append(kept[n], e.to)
		}
		stack = stack[:len(stack)-1]
		state[n] = black
		order = append(order, n)
		return nil
	}
	for _, n := range nodes {
		if state[n] == white {
			if err := visit(n); err != nil {
				return nil, nil, err
			}
		}
	}
	return order, kept, nil
}
