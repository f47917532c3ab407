package iscsi

import (
	"context"
	"syscall"

	"golang.org/x/sys/unix"
)

// bindControl binds the socket to the interface ctx carries
// (SO_BINDTODEVICE, as open-iscsi does for iface.net_ifacename).
func bindControl(ctx context.Context, _, _ string, c syscall.RawConn) error {
	dev := Device(ctx)
	if dev == "" {
		return nil
	}
	var err error
	if cerr := c.Control(func(fd uintptr) { err = unix.BindToDevice(int(fd), dev) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		return &BindError{Device: dev, Err: err}
	}
	return nil
}
