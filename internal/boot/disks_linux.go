package boot

import (
	"context"
	"os"
	"sync"

	"github.com/netroot/netroot/pkg/blockdev"
	"golang.org/x/sys/unix"
)

type linuxDisks struct{}

func (linuxDisks) Watch() (DiskWatch, error) {
	w, err := blockdev.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &diskWatch{w: w, scanner: blockdev.NewScanner()}, nil
}

func (linuxDisks) Mount(source, target, fstype string, flags blockdev.MountFlags, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	return unix.Mount(source, target, fstype, uintptr(flags), data)
}

// diskWatch shares one uevent watcher and one scanner (a device is probed
// once) between the waits; the watcher takes one waiter at a time.
type diskWatch struct {
	mu      sync.Mutex
	w       *blockdev.Watcher
	scanner *blockdev.Scanner
}

func (d *diskWatch) WaitFor(ctx context.Context, sel blockdev.Selector) (*blockdev.Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.w.WaitFor(ctx, sel, d.scanner.Scan)
}

func (d *diskWatch) WaitFunc(ctx context.Context, desc string, match func(blockdev.Device) bool) (*blockdev.Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.w.WaitFunc(ctx, desc, match, d.scanner.Scan)
}

func (d *diskWatch) Close() error { return d.w.Close() }
