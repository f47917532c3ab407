package boot

import (
	"context"

	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/sysfs"
)

func (linuxISCSI) WatchConnections() (ConnEvents, error) {
	e, err := keeper.ListenEvents(nil)
	if err != nil {
		return nil, err
	}
	return connEvents{e}, nil
}

func (linuxISCSI) SessionState(sid, cid uint32) (keeper.SessionState, error) {
	return keeper.ReadSessionState(sysfs.Sys.Root, sid, cid)
}

func (linuxISCSI) Recover(ctx context.Context, handle uint64, s keeper.Session, logf func(string, ...any)) (keeper.Recovered, error) {
	return keeper.Recover(ctx, handle, s, keeper.Options{Logf: logf})
}

// connEvents is keeper.Events as ConnEvents.
type connEvents struct{ e *keeper.Events }

func (c connEvents) Next(ctx context.Context) (keeper.Event, error) {
	select {
	case ev := <-c.e.C():
		return ev, nil
	case <-ctx.Done():
		return keeper.Event{}, ctx.Err()
	}
}

func (c connEvents) Close() error { return c.e.Close() }
