// Package prio runs work at a lower CPU scheduling priority (nice value)
// on Linux, per thread: /init uses it so that work nobody waits for yet
// (loading modules in the background, starting the session keeper) takes
// the CPU time the boot's foreground leaves idle instead of competing with
// it — which matters on a single CPU.
//
// Linux keeps the nice value per thread (setpriority(2) with a thread id);
// a child process inherits the value of the thread that forked it.
package prio

// Background is the nice value of work nobody waits for yet: /init's
// background module batches and the keeper's early start, the keeper's
// scan of a target's other LUNs.
const Background = 19

// Run calls f on one OS thread set to nice, then restores that thread's
// priority. If the priority cannot be changed, f runs at the thread's
// current priority; if it cannot be restored, the thread is retired
// with its goroutine instead of being reused.
func Run(nice int, f func() error) error {
	restore := lower(nice)
	defer restore()
	return f()
}

// SetGroup sets every thread of every process in process group pgid (0:
// the caller's) to nice: a process started at a low priority (by Run)
// that leads its own group is raised, by itself or by its parent, once it
// has work that must not wait. Unlike a walk of /proc/<pid>/task it needs
// no /proc, which a process started after switch_root may not reach.
func SetGroup(pgid, nice int) error {
	return setGroup(pgid, nice)
}
