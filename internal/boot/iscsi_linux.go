package boot

import (
	"context"
	"net"

	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/sysfs"
)

type linuxISCSI struct{}

func (linuxISCSI) Connect(ctx context.Context, cfg iscsi.LoginConfig, o iscsi.ConnectOptions) (*iscsi.Session, net.Conn, error) {
	s, c, err := iscsi.Connect(ctx, cfg, o)
	return s, c, unembedHint(err)
}

func (linuxISCSI) OpenTransport() (Transport, error) {
	c, err := iscsi.OpenKernelTransport()
	if err != nil {
		return nil, err
	}
	return transport{c}, nil
}

func (linuxISCSI) Scan(hostNo uint32, lun uint64) error {
	return iscsi.Scan(sysfs.Sys.Root, hostNo, lun)
}

func (linuxISCSI) SetScheduler(dev, sched string) error {
	return iscsi.SetScheduler(sysfs.Sys.Root, dev, sched)
}

// transport is the iSCSI netlink connection.
type transport struct{ c *iscsi.Commands }

func (t transport) Prepare(portal, target string, o iscsi.KernelOptions) (PreparedSession, error) {
	p, err := iscsi.PrepareSession(t.c, portal, target, o)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (t transport) Handle() uint64 { return t.c.Handle() }
