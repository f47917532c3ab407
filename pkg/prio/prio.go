// Package prio runs work at a lower CPU scheduling priority (nice value)
// on Linux, per thread: /init uses it so that work nobody waits for yet
// (loading modules in the background, starting the session keeper) takes
// the CPU time the boot's foreground leaves idle instead of competing with
// it — which matters on a single CPU.
//
// Linux keeps the nice value per thread (setpriority(2) with a thread id);
// a child process inherits the value of the thread that forked it.
package prio

// Run calls f on one OS thread set to nice, then restores that thread's
// priority. If the priority cannot be changed, f runs at the thread's
// current priority; if it cannot be restored, the thread is retired
// with its goroutine instead of being reused.
func Run(nice int, f func() error) error {
	restore := lower(nice)
	defer restore()
	return f()
}

// SetProcess sets every thread of the calling process to nice: a process
// started at a low priority (by Run) raises itself once it has work that
// must not wait. It returns the first error.
func SetProcess(nice int) error {
	return setProcess(nice)
}
