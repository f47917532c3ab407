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
	logPath := t.logf.Name()
	t.Stop()
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
