package boot

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/blockdev"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/keeper"
)

// The machine's connections never fail unless a test says so.

func (m *machine) WatchConnections() (ConnEvents, error) { return quietEvents{}, nil }

func (m *machine) SessionState(sid, cid uint32) (keeper.SessionState, error) {
	return keeper.SessionState{Session: "LOGGED_IN", Conn: "up"}, nil
}

func (m *machine) Recover(ctx context.Context, handle uint64, s keeper.Session, logf func(string, ...any)) (keeper.Recovered, error) {
	return keeper.Recovered{}, errors.New("no recovery on this machine")
}

type quietEvents struct{}

func (quietEvents) Next(ctx context.Context) (keeper.Event, error) {
	<-ctx.Done()
	return keeper.Event{}, ctx.Err()
}
func (quietEvents) Close() error { return nil }

// flakyTarget is a machine whose sessions' connections fail as a test
// says: its first scan of a LUN fails the connection instead of finding
// the disk, which then appears once the session is logged in again (or,
// with lostScan, only on a scan after that); the disk watch waits (it does
// not give up at once as the machine's does).
type flakyTarget struct {
	*machine
	events chan keeper.Event
	// failOnScan fails the connection of the session first scanned
	// (its error event, after the state).
	failOnScan bool
	// lostScan: the failed scan's disk is lost, not pending (the scan's
	// commands failed).
	lostScan bool
	scans    int
	// recover is the re-login; nil: it succeeds at once.
	recover func(ctx context.Context, s keeper.Session) (keeper.Recovered, error)
	// mountBlocks makes the mount wait on I/O until ctx... of nobody:
	// until the test ends.
	mountBlocks chan struct{}
	// mountPanics makes the mount panic (a filesystem reader gone wrong).
	mountPanics bool

	mu         sync.Mutex
	state      map[uint32]string // sid → "up" or "failed"
	pending    []blockdev.Device // disks that appear once their session is back
	recoveries []keeper.Session
	handle     uint64
}

func newFlaky(t *testing.T) *flakyTarget {
	return &flakyTarget{machine: newMachine(t), events: make(chan keeper.Event, 16), state: map[uint32]string{}}
}

func (f *flakyTarget) env() Env {
	e := f.machine.env()
	e.ISCSI, e.Disks = f, f
	return e
}

func (f *flakyTarget) WatchConnections() (ConnEvents, error) { return chanEvents(f.events), nil }

type chanEvents chan keeper.Event

func (c chanEvents) Next(ctx context.Context) (keeper.Event, error) {
	select {
	case ev := <-c:
		return ev, nil
	case <-ctx.Done():
		return keeper.Event{}, ctx.Err()
	}
}
func (c chanEvents) Close() error { return nil }

// fail fails session sid's connection as the kernel does: the state,
// then the event.
func (f *flakyTarget) fail(sid uint32) {
	f.mu.Lock()
	f.state[sid] = "failed"
	f.mu.Unlock()
	f.record("conn error session %d", sid)
	f.events <- keeper.Event{Type: keeper.EventConnError, TransportHandle: 7, SID: sid, Error: 1020}
}

func (f *flakyTarget) SessionState(sid, cid uint32) (keeper.SessionState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	conn := f.state[sid]
	if conn == "" {
		conn = "up"
	}
	return keeper.SessionState{Session: "LOGGED_IN", Conn: conn}, nil
}

func (f *flakyTarget) Recover(ctx context.Context, handle uint64, s keeper.Session, logf func(string, ...any)) (keeper.Recovered, error) {
	f.record("recover session %d", s.SID)
	f.mu.Lock()
	f.handle = handle
	f.recoveries = append(f.recoveries, s)
	f.mu.Unlock()
	r := keeper.Recovered{Session: s, Portal: s.Portals[0], Attempts: 1, Took: 10 * time.Millisecond}
	if f.recover != nil {
		var err error
		if r, err = f.recover(ctx, s); err != nil {
			return r, err
		}
	}
	f.mu.Lock()
	f.state[s.SID] = "up"
	f.machine.mu.Lock()
	f.machine.disks = append(f.machine.disks, f.pending...)
	f.machine.mu.Unlock()
	f.pending = nil
	f.mu.Unlock()
	return r, nil
}

func (f *flakyTarget) Scan(hostNo uint32, lun uint64) error {
	if lun == iscsi.AllLUNs { // the rest of the target, once the root is found
		return f.machine.Scan(hostNo, lun)
	}
	f.mu.Lock()
	f.scans++
	first := f.scans == 1
	f.mu.Unlock()
	if err := f.machine.Scan(hostNo, lun); err != nil || !f.failOnScan || !first {
		return err
	}
	// The disk the scan found waits for the session's return.
	f.machine.mu.Lock()
	d := f.machine.disks[len(f.machine.disks)-1]
	f.machine.disks = f.machine.disks[:len(f.machine.disks)-1]
	f.machine.mu.Unlock()
	if !f.lostScan {
		f.mu.Lock()
		f.pending = append(f.pending, d)
		f.mu.Unlock()
	}
	f.fail(hostNo - 1) // the machine's SID is its host's number less one
	return nil
}

func (f *flakyTarget) Mount(source, target, fstype string, flags blockdev.MountFlags, data string) error {
	if f.mountPanics {
		panic("superblock reader out of range")
	}
	if f.mountBlocks != nil {
		f.record("mount blocks")
		<-f.mountBlocks
	}
	return f.machine.Mount(source, target, fstype, flags, data)
}

func (f *flakyTarget) Watch() (DiskWatch, error) { return waitingWatch{f.machine}, nil }

// waitingWatch waits for the disk until its context ends.
type waitingWatch struct{ m *machine }

func (w waitingWatch) WaitFor(ctx context.Context, sel blockdev.Selector) (*blockdev.Device, error) {
	return w.wait(ctx, func(ds []blockdev.Device) (*blockdev.Device, error) { return blockdev.Match(sel, ds) })
}

func (w waitingWatch) WaitFunc(ctx context.Context, desc string, match func(blockdev.Device) bool) (*blockdev.Device, error) {
	return w.wait(ctx, func(ds []blockdev.Device) (*blockdev.Device, error) {
		if i := slices.IndexFunc(ds, match); i >= 0 {
			return &ds[i], nil
		}
		return nil, errors.New("no disk is " + desc)
	})
}

func (w waitingWatch) wait(ctx context.Context, find func([]blockdev.Device) (*blockdev.Device, error)) (*blockdev.Device, error) {
	for {
		w.m.mu.Lock()
		d, err := find(slices.Clone(w.m.disks))
		w.m.mu.Unlock()
		if err == nil {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (w waitingWatch) Close() error { return nil }

// boot runs a boot of cmdline on the flaky machine, as machine.boot does.
func (f *flakyTarget) boot(cmdline string) (*Boot, error, time.Duration) {
	f.t.Helper()
	if err := f.files.WriteFile(procCmdline, []byte(cmdline+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
	b := New(f.env(), f.logger(), Options{Grace: 2 * time.Second})
	start := time.Now()
	err := b.Run(context.Background())
	took := time.Since(start)
	if err == nil {
		return b, nil, took
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Emergency(err)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		f.t.Fatalf("Emergency did not end within 30 s")
	}
	return b, err, took
}

// TestBootRecoversConnectionLostBeforeKeeper: the target drops the
// connection right after the login, before the disk appears; /init logs
// the session in again with the keeper's recovery, the disk appears and
// the boot goes on, the keeper getting the session as the recovery left
// it.
func TestBootRecoversConnectionLostBeforeKeeper(t *testing.T) {
	f := newFlaky(t)
	f.failOnScan = true
	f.recover = func(ctx context.Context, s keeper.Session) (keeper.Recovered, error) {
		s.Portals = []string{"10.77.0.3:3260"} // a permanent redirect
		return keeper.Recovered{Session: s, Portal: "10.77.0.3:3260", Attempts: 2, Took: 2100 * time.Millisecond}, nil
	}
	_, err, _ := f.boot(scenario + " rd.retry=5")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, f.screen)
	}
	screen := f.screen.String()
	for _, want := range []string{
		"netroot: login: session 1 (" + targetIQN + " at 10.77.0.1:3260): connection 0 failed (TCP_CONN_CLOSE) before the keeper took it over; logging in again (within rd.retry=5)",
		"netroot: login: session 1 is back via 10.77.0.3:3260 after 2.1s (2 attempt(s))",
		"netroot: disk: " + targetIQN + " LUN 1 is /dev/sda",
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("no %q on the console:\n%s", want, screen)
		}
	}
	if got := f.called("recover"); len(got) != 1 || f.handle != 7 {
		t.Errorf("recoveries %q with handle %d, want one with the transport's handle 7", got, f.handle)
	}
	if !f.before("recover", "keeper handover") || !f.before("keeper handover", "switch_root") {
		t.Errorf("calls %q: want the recovery before the keeper's hand-over", f.called(""))
	}
	if strings.Contains(screen, "FATAL") {
		t.Errorf("a FATAL line:\n%s", screen)
	}
}

// TestBootScansAgainAfterRecovery: the connection fails during the disk's
// scan, which finds nothing (its commands failed); once the session is
// logged in again the disk step scans again and the disk appears — long
// before rd.retry.
func TestBootScansAgainAfterRecovery(t *testing.T) {
	f := newFlaky(t)
	f.failOnScan, f.lostScan = true, true
	_, err, took := f.boot(scenario + " rd.retry=20")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, f.screen)
	}
	if took > 10*time.Second {
		t.Errorf("the boot took %v", took)
	}
	screen := f.screen.String()
	for _, want := range []string{
		"netroot: login: session 1 is back via 10.77.0.1:3260",
		"netroot: disk: session 1 is back: scanning for LUN 1 again",
		"netroot: disk: " + targetIQN + " LUN 1 is /dev/sda",
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("no %q on the console:\n%s", want, screen)
		}
	}
	if f.scans != 2 {
		t.Errorf("%d scans, want 2", f.scans)
	}
}

// TestBootConnectionLostForGood: the re-login does not succeed (the
// target is gone): the boot fails within rd.retry, naming the session,
// the connection's error and what to check — not after the disk wait's
// own deadline with a bare "no disk".
func TestBootConnectionLostForGood(t *testing.T) {
	f := newFlaky(t)
	f.failOnScan = true
	f.recover = func(ctx context.Context, s keeper.Session) (keeper.Recovered, error) {
		<-ctx.Done() // the keeper's recovery retries until its deadline
		return keeper.Recovered{Session: s, Attempts: 9}, errors.New("attempt 9 via 10.77.0.1:3260: dial tcp 10.77.0.1:3260: connect: connection refused")
	}
	_, err, took := f.boot(scenario + " rd.retry=2 rd.shell=0")
	if err == nil {
		t.Fatalf("the boot succeeded:\n%s", f.screen)
	}
	if took > 3*time.Second {
		t.Errorf("the boot failed after %v, want within rd.retry=2s", took)
	}
	screen := f.screen.String()
	fatal := screen[strings.Index(screen, "FATAL"):]
	for _, want := range []string{"FATAL disk: ", "session 1 (" + targetIQN + " at 10.77.0.1:3260)", "TCP_CONN_CLOSE", "connection refused", "its log says why"} {
		if !strings.Contains(fatal, want) {
			t.Errorf("FATAL lacks %q:\n%s", want, fatal)
		}
	}
	if n := strings.Count(screen, "FATAL"); n != 1 {
		t.Errorf("%d FATAL lines:\n%s", n, screen)
	}
}

// TestBootConnectionLostDuringMount: the connection fails while the
// mount waits on the disk (rd.netroot.keeper=0: /init watches until
// switch_root); the re-login fails; the boot fails at once with the
// connection's error although the mount is still blocked in the kernel.
func TestBootConnectionLostDuringMount(t *testing.T) {
	f := newFlaky(t)
	f.mountBlocks = make(chan struct{})
	defer close(f.mountBlocks)
	f.recover = func(ctx context.Context, s keeper.Session) (keeper.Recovered, error) {
		return keeper.Recovered{}, errors.New("login: target reports 0x0203 target not found")
	}
	go func() {
		for len(f.called("mount blocks")) == 0 {
			time.Sleep(time.Millisecond)
		}
		f.fail(1)
	}()
	_, err, took := f.boot(scenario + " rd.retry=10 rd.netroot.keeper=0 rd.shell=0")
	if err == nil || took > 5*time.Second {
		t.Fatalf("Run = %v after %v:\n%s", err, took, f.screen)
	}
	if !strings.Contains(f.screen.String(), "FATAL mount-root: mounting /dev/sda (ext4) on /sysroot ro with data \"\": session 1") {
		t.Errorf("no FATAL naming the mount and the session:\n%s", f.screen)
	}
}

// TestBootMountBoundedAfterHandOver: once the keeper holds the sessions
// the watch no longer reports a loss, so a mount stuck on a target that
// is gone waited for the keeper's recovery for as long as that took (a
// day); rd.retry bounds it, and the FATAL says what it waited for.
func TestBootMountBoundedAfterHandOver(t *testing.T) {
	f := newFlaky(t)
	f.mountBlocks = make(chan struct{})
	defer close(f.mountBlocks)
	type result struct {
		err  error
		took time.Duration
	}
	c := make(chan result, 1)
	go func() {
		_, err, took := f.boot(scenario + " rd.retry=1 rd.shell=0")
		c <- result{err, took}
	}()
	select {
	case r := <-c:
		if r.err == nil {
			t.Fatalf("Run succeeded with the mount blocked:\n%s", f.screen)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the boot still waits for the mount past rd.retry:\n%s", f.screen)
	}
	for _, want := range []string{
		"FATAL mount-root: mounting /dev/sda (ext4) on /sysroot ro with data \"\": not mounted within rd.retry=1",
		"the root's target stopped answering?",
	} {
		if !strings.Contains(f.screen.String(), want) {
			t.Errorf("no %q:\n%s", want, f.screen)
		}
	}
}

// TestBootSecondError: after a recovery, the error of the connection it
// replaced may still come (the kernel's states say it is stale: ignored),
// and the new connection may fail too (recovered again).
func TestBootSecondError(t *testing.T) {
	for _, tc := range []struct {
		name       string
		stale      bool
		recoveries int
	}{{"late error of the old connection", true, 1}, {"the new connection fails", false, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlaky(t)
			f.failOnScan = true
			f.mountBlocks = make(chan struct{})
			go func() {
				defer close(f.mountBlocks)
				for len(f.called("mount blocks")) == 0 {
					time.Sleep(time.Millisecond)
				}
				if tc.stale {
					f.events <- keeper.Event{Type: keeper.EventConnError, TransportHandle: 7, SID: 1, Error: 1011}
					for !strings.Contains(f.screen.kernelLog(), "late error CONN_FAILED of a replaced connection") {
						time.Sleep(time.Millisecond)
					}
					return
				}
				f.fail(1)
				for len(f.called("recover")) < 2 {
					time.Sleep(time.Millisecond)
				}
			}()
			if _, err, _ := f.boot(scenario + " rd.netroot.keeper=0"); err != nil {
				t.Fatalf("Run: %v\n%s", err, f.screen)
			}
			if got := f.called("recover"); len(got) != tc.recoveries {
				t.Errorf("recoveries %q, want %d", got, tc.recoveries)
			}
		})
	}
}

// TestBootConnectionErrorOfOtherTransport: events of another transport's
// session with the same number are not ours.
func TestBootConnectionErrorOfOtherTransport(t *testing.T) {
	f := newFlaky(t)
	f.events <- keeper.Event{Type: keeper.EventConnError, TransportHandle: 8, SID: 1, Error: 1020}
	if _, err, _ := f.boot(scenario); err != nil {
		t.Fatalf("Run: %v\n%s", err, f.screen)
	}
	if got := f.called("recover"); len(got) != 0 {
		t.Errorf("recoveries %q for another transport's event", got)
	}
}

// TestBootSurvivesPanics: a panic in the work the boot runs beside its
// watch of the connections — the mount (and the disks' probes), which read
// what the target sends, or a re-login, which reads its answers — fails
// that step with the panic named; it does not end PID 1 (a panic on any
// goroutine ends the process: this test's with it).
func TestBootSurvivesPanics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *flakyTarget)
		want  []string
	}{
		{"mount", func(f *flakyTarget) { f.mountPanics = true },
			[]string{"FATAL mount-root: mounting /dev/sda (ext4) on /sysroot", "internal error: superblock reader out of range — " + bugHint, "goroutine "}},
		{"re-login", func(f *flakyTarget) {
			f.failOnScan = true
			f.recover = func(context.Context, keeper.Session) (keeper.Recovered, error) { panic("login response out of range") }
		}, []string{"FATAL disk:", "internal error: login response out of range", bugHint, "goroutine "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlaky(t)
			tc.setup(f)
			_, err, took := f.boot(scenario + " rd.retry=5 rd.netroot.keeper=0 rd.shell=0")
			if err == nil || took > 4*time.Second {
				t.Fatalf("Run = %v after %v:\n%s", err, took, f.screen)
			}
			for _, want := range tc.want {
				if !strings.Contains(f.screen.String(), want) {
					t.Errorf("no %q on the console:\n%s", want, f.screen)
				}
			}
		})
	}
}
