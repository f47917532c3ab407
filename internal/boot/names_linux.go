package boot

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/netroot/netroot/pkg/netconf"
	"github.com/netroot/netroot/pkg/sysfs"
	"github.com/vishvananda/netlink"
)

type linuxNICs struct{}

func (linuxNICs) Sys() fs.FS { return os.DirFS(sysfs.Sys.Root) }

func (linuxNICs) WatchLinks(ctx context.Context, check func() (bool, error)) error {
	return netconf.WaitFor(ctx, check)
}

func (linuxNICs) RenameLink(from, to string) error {
	l, err := netlink.LinkByName(from)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetDown(l); err != nil {
		return fmt.Errorf("taking %s down: %w", from, err)
	}
	return netlink.LinkSetName(l, to)
}
