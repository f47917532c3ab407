package keeper

import (
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
)

// A keeper that can be killed protects nothing: the keeper runs as two
// processes of the same binary that restart each other. The keeper
// process recovers the sessions (Run); its guard holds a copy of the
// State and does nothing else. Each watches the other through a pidfd
// and, when it dies without saying why, starts a new one from its own
// /proc/self/exe and hands it the State over a pipe, re-encoded from
// memory — the State (CHAP secrets) is never written to a file. A keeper
// started again reads sysfs first, so it adopts sessions that failed
// while none ran. Both processes are children of PID 1 (CLONE_PARENT),
// keep the '@' argv[0] and step aside together. This file holds the
// decisions; supervise_linux.go the processes.

// Role is what a keeper process does.
type Role string

const (
	// RoleKeeper recovers the sessions; /init starts it.
	RoleKeeper Role = "keeper"
	// RoleGuard holds the State and restarts the keeper.
	RoleGuard Role = "guard"
)

// RoleEnv is the environment variable that carries the role of a keeper
// process started by its partner; the one /init starts has none.
const RoleEnv = "NETROOT_KEEPER_ROLE"

// partner is the role of the process that r watches.
func (r Role) partner() Role {
	if r == RoleGuard {
		return RoleKeeper
	}
	return RoleGuard
}

// The control messages between the two processes, one per datagram: the
// sender is ready (the keeper listens for events; the guard holds the
// State), or it ends on purpose and the receiver must end too.
const (
	msgReady = "ready"
	msgStop  = "stop"
)

// stopMessage is a stop message giving reason (no secrets: it is logged).
func stopMessage(reason string) []byte {
	return []byte(strings.TrimSpace(msgStop + " " + reason))
}

// parseMessage splits a control message into its kind and argument.
func parseMessage(b []byte) (kind, arg string) {
	kind, arg, _ = strings.Cut(string(b), " ")
	return kind, arg
}

// RestartPolicy is the schedule of restarts of a partner that keeps dying
// early (a crash loop): a partner is restarted at once, unless the one
// before it also died within StableAfter of being ready.
var RestartPolicy = backoff.Policy{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.25}

// StableAfter is how long a partner must have been ready for its death to
// count as a single accident rather than a crash loop.
const StableAfter = 10 * time.Second

// ending is what a process knows of its partner's end.
type ending struct {
	// stop is the reason the partner gave for ending on purpose; empty
	// when it died without a word (killed, crashed, failed).
	stop string
	// stopped says a stop message came (its reason may be empty).
	stopped bool
	// ready says it had reported ready, lived for how long since.
	ready bool
	lived time.Duration
}

// verdict is what to do when the partner ended: end too (why), or start
// a new one after wait.
type verdict struct {
	exit bool
	why  string
	wait time.Duration
}

// restarter decides about restarts for a process of role.
type restarter struct {
	role Role
	// armed (the guard's) is set once a keeper has been ready: before,
	// the keeper's death means /init's start of it failed, which /init
	// reports, and the guard leaves with it.
	armed  bool
	timer  *backoff.Timer
	stable time.Duration
	// early counts the partners in a row that died early.
	early int
	// otherDaemon reports whether iscsid owns recovery now.
	otherDaemon func() bool
}

func newRestarter(role Role, p backoff.Policy, stable time.Duration, otherDaemon func() bool) *restarter {
	if otherDaemon == nil {
		otherDaemon = func() bool { return false }
	}
	return &restarter{role: role, timer: backoff.New(p, nil), stable: stable, otherDaemon: otherDaemon}
}

// ended decides after the partner's end.
func (r *restarter) ended(e ending) verdict {
	who := string(r.role.partner())
	switch {
	case e.stopped:
		why := "the " + who + " stopped"
		if e.stop != "" {
			why += " (" + e.stop + ")"
		}
		return verdict{exit: true, why: why}
	case r.role == RoleGuard && !r.armed:
		return verdict{exit: true, why: "the keeper ended before it was ready (its start failed)"}
	case r.role == RoleGuard && r.otherDaemon():
		return verdict{exit: true, why: "the keeper ended and iscsid is running: it owns session recovery now"}
	}
	if e.ready && e.lived >= r.stable {
		r.timer.Reset()
		r.early = 0
		return verdict{why: "the " + who + " ended without a word (killed or crashed)"}
	}
	v := verdict{why: "the " + who + " ended without a word soon after its start"}
	if r.early++; r.early > 1 {
		v.wait = r.timer.Next()
	}
	return v
}

// startFailed is the wait before the next attempt after a start failed.
func (r *restarter) startFailed() time.Duration { return r.timer.Next() }
