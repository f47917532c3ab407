package rig

import (
	"context"
	"time"
)

// Restart stops tgtd (which closes the initiator's connections), waits
// down, and starts it again with the same configuration and backing files
// — a target reboot. t then refers to the new tgtd; its log goes to the
// old log path with ".restarted" appended.
func (t *Target) Restart(ctx context.Context, down time.Duration) error {
	return t.RestartWhileDown(ctx, down, nil)
}

// RestartWhileDown is Restart, calling stopped (when not nil) as soon as
// tgtd is gone, before the wait.
func (t *Target) RestartWhileDown(ctx context.Context, down time.Duration, stopped func()) error {
	logPath := t.logf.Name()
	t.Stop()
	if stopped != nil {
		stopped()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(down):
	}
	nt, err := StartTarget(ctx, t.net, t.cfg, logPath+".restarted")
	if err != nil {
		return err
	}
	*t = *nt
	return nil
}
