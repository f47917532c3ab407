package iscsi

import (
	"context"
	"fmt"
	"net"
)

// A login bound to a network interface (open-iscsi's iface.net_ifacename,
// dracut's netroot= <netdev_name>) leaves by that interface whatever the
// routing table says. The binding travels in the dial's context
// (WithDevice), so that it reaches the socket through whatever wraps
// Dial (the dead-path check of a bond, a test's counter); DialContext
// is the dialer that honours it.

type deviceKey struct{}

// WithDevice returns ctx carrying dev, the interface that connections
// dialled with it are bound to; "" leaves ctx as it is.
func WithDevice(ctx context.Context, dev string) context.Context {
	if dev == "" {
		return ctx
	}
	return context.WithValue(ctx, deviceKey{}, dev)
}

// Device is the interface ctx binds connections to ("" for none).
func Device(ctx context.Context) string {
	dev, _ := ctx.Value(deviceKey{}).(string)
	return dev
}

// DialContext dials as a net.Dialer does, the socket bound to the
// interface ctx carries (WithDevice) before it connects. It is the
// default Dial of ConnectOptions.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{ControlContext: bindControl}
	return d.DialContext(ctx, network, address)
}

// BindError is a socket that could not be bound to its interface.
type BindError struct {
	Device string
	Err    error
}

func (e *BindError) Error() string {
	return fmt.Sprintf("binding the connection to %s: %v", e.Device, e.Err)
}

func (e *BindError) Unwrap() error { return e.Err }
