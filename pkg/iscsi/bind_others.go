//go:build !linux

package iscsi

import (
	"context"
	"errors"
	"syscall"
)

// bindControl refuses a binding: SO_BINDTODEVICE is Linux's.
func bindControl(ctx context.Context, _, _ string, _ syscall.RawConn) error {
	if dev := Device(ctx); dev != "" {
		return &BindError{Device: dev, Err: errors.ErrUnsupported}
	}
	return nil
}
