package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/netroot/netroot/pkg/modload"
)

// loadModules loads rd.driver.pre modules, then the drivers of the devices
// present (NICs) and the modules the plan needs, concurrently. It returns
// the loader so later steps can load more (the root filesystem's module).
func (b *boot) loadModules(ctx context.Context) (*modload.Loader, error) {
	st := b.log.Begin("modules")
	dir := "/lib/modules/" + b.kernelRelease
	idx, err := modload.LoadIndex(dir)
	if err != nil {
		st.Fail(err)
		have, _ := filepath.Glob("/lib/modules/*")
		return nil, fail("modules", fmt.Errorf("no module index for kernel %s: %w", b.kernelRelease, err),
			fmt.Sprintf("the initramfs carries modules for %v: rebuild it with netroot build -modules /lib/modules/%s", baseNames(have), b.kernelRelease))
	}
	params := map[string][]string{}
	for k, v := range b.plan.Modules.Params {
		params[k] = append([]string(nil), v...)
	}
	// Without max_bonds=0 the bonding module creates a bond0 of its own.
	if !hasParam(params["bonding"], "max_bonds") {
		params["bonding"] = append(params["bonding"], "max_bonds=0")
	}
	l := &modload.Loader{
		Index:     idx,
		Sys:       modload.KernelSyscalls{},
		Params:    params,
		Blacklist: b.plan.Modules.Blacklist,
		Logf:      b.log.Debugf,
	}
	if len(b.plan.Modules.Pre) > 0 {
		if err := l.Load(ctx, b.plan.Modules.Pre...); err != nil {
			st.Fail(err)
			return nil, fail("modules", err, "check rd.driver.pre=")
		}
	}
	var (
		wg        sync.WaitGroup
		devMods   []string
		devErr    error
		neededErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer recoverInto(&devErr)
		devMods, devErr = l.LoadForDevices(ctx)
	}()
	needed := b.plan.NeededModules()
	neededErr = l.Load(ctx, needed...)
	wg.Wait()
	if neededErr != nil {
		st.Fail(neededErr)
		return nil, fail("modules", neededErr, "rebuild the initramfs with this kernel's modules (netroot build -modules DIR)")
	}
	if devErr != nil {
		// A driver failing for some device is worth a warning, not a stop:
		// the NICs the plan needs are checked when the network comes up.
		for _, e := range unjoin(devErr) {
			b.log.Warnf("modules: %v", e)
		}
	}
	all := append(append([]string(nil), devMods...), needed...)
	sort.Strings(all)
	all = compact(all)
	st.Done("%d loaded for devices and plan: %s", len(all), strings.Join(all, " "))
	return l, nil
}

func hasParam(params []string, name string) bool {
	for _, p := range params {
		if k, _, _ := strings.Cut(p, "="); k == name {
			return true
		}
	}
	return false
}

func baseNames(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	return out
}

func compact(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// recoverInto turns a panic in a goroutine into an error: a panic in any
// goroutine of PID 1 would otherwise kill it, and the kernel with it.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("internal error: %v", r)
	}
}
