package boot

import (
	"context"
	"path/filepath"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/modload"
)

// modulesDir holds a directory of modules per kernel release.
const modulesDir = "/lib/modules"

type linuxModules struct{}

func (linuxModules) Open(release string, o ModuleOptions) (ModuleLoader, error) {
	idx, err := modload.LoadIndex(filepath.Join(modulesDir, release))
	if err != nil {
		return nil, err
	}
	return linuxLoader{&modload.Loader{
		Index:      idx,
		Sys:        modload.KernelSyscalls{},
		Params:     o.Params,
		Blacklist:  o.Blacklist,
		NoAutoload: o.NoAutoload,
		AsyncProbe: o.AsyncProbe,
		Logf:       o.Logf,
	}}, nil
}

func (linuxModules) Releases() []string {
	dirs, _ := filepath.Glob(filepath.Join(modulesDir, "*"))
	for i, d := range dirs {
		dirs[i] = filepath.Base(d)
	}
	return dirs
}

func (linuxModules) WatchDevices() (DeviceEvents, error) {
	w, err := blockdev.NewWatcher()
	if err != nil {
		return nil, err
	}
	return deviceEvents{w}, nil
}

// deviceEvents are a uevent watcher's device additions.
type deviceEvents struct{ w *blockdev.Watcher }

func (d deviceEvents) Next(ctx context.Context) (string, error) {
	for {
		ev, err := d.w.Next(ctx)
		if err != nil {
			return "", err
		}
		if a := ev.Env["MODALIAS"]; ev.Action == "add" && a != "" {
			return a, nil
		}
	}
}

func (d deviceEvents) Close() error { return d.w.Close() }

// linuxLoader is a modload.Loader; LoadNiced uses a Loader sharing its
// memory whose system calls run at the nice value (modload.Niced).
type linuxLoader struct{ *modload.Loader }

func (l linuxLoader) LoadNiced(ctx context.Context, nice int, names ...string) error {
	return l.WithSys(modload.Niced{Sys: l.Sys, Nice: nice}).Load(ctx, names...)
}

func (l linuxLoader) Carries(name string) bool {
	_, ok := l.Index.Module(name)
	return ok
}
