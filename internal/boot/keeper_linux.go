package boot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/prio"
)

// linuxKeeper starts this binary again, from memory (/proc/self/exe), as
// keeper.ProcessName, with its state on a pipe. self is the name this
// binary was started as.
type linuxKeeper struct{ self string }

// keeperReadyWait bounds the wait for a keeper handed its state to
// listen.
const keeperReadyWait = 5 * time.Second

// Launch starts the keeper process at nice; it waits for its state. The
// fork and exec run on the calling goroutine's thread, which waits until
// the (low-priority) child has exec'd.
func (k linuxKeeper) Launch(nice int) (KeeperProcess, error) {
	var p *keeperProcess
	launch := func() (err error) {
		p, err = k.launch()
		return err
	}
	var err error
	if nice != 0 {
		err = prio.Run(nice, launch)
	} else {
		err = launch()
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// keeperProcess is a started keeper waiting for its state.
type keeperProcess struct {
	cmd    *exec.Cmd
	stateW *os.File // its state pipe; it reads until EOF
	readyR *os.File // it writes "ready" here once it listens
}

func (k linuxKeeper) launch() (*keeperProcess, error) {
	stateR, stateW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		stateR.Close()
		stateW.Close()
		return nil, err
	}
	out, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		out, err = os.OpenFile("/dev/console", os.O_WRONLY, 0)
	}
	if err != nil {
		for _, f := range []*os.File{stateR, stateW, readyR, readyW} {
			f.Close()
		}
		return nil, fmt.Errorf("no /dev/kmsg or /dev/console for its log: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        KeeperArgs(k.self),
		Dir:         "/",
		Env:         []string{},
		Stdout:      out,
		Stderr:      out,
		ExtraFiles:  []*os.File{stateR, readyW}, // fd 3, fd 4
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	stateR.Close()
	readyW.Close()
	out.Close()
	if err != nil {
		stateW.Close()
		readyR.Close()
		return nil, fmt.Errorf("starting %s: %w", keeper.ProcessName, err)
	}
	return &keeperProcess{cmd: cmd, stateW: stateW, readyR: readyR}, nil
}

// HandOver writes the state and waits until the keeper is ready; it
// returns the keeper's pid. On failure the keeper is stopped.
func (k *keeperProcess) HandOver(state keeper.State) (int, error) {
	defer k.readyR.Close()
	// The keeper raises itself to nice 0 once it has read the state; one
	// prelaunched at nice 19 may still be starting, starved by the boot,
	// and switch_root waits for it. It leads its own process group
	// (setsid); errors only cost time.
	prio.SetGroup(k.cmd.Process.Pid, 0)
	data, err := keeper.Encode(state)
	if err == nil {
		_, err = k.stateW.Write(data)
		if err != nil {
			err = fmt.Errorf("handing over the state: %w", err)
		}
	}
	k.stateW.Close()
	if err != nil {
		k.kill()
		return 0, err
	}
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 16)
		n, err := k.readyR.Read(b)
		if err == nil && !strings.HasPrefix(string(b[:n]), "ready") {
			err = fmt.Errorf("keeper said %q", b[:n])
		}
		if err == io.EOF {
			err = errors.New("keeper exited before it was ready (its log is in dmesg)")
		}
		ready <- err
	}()
	timer := time.NewTimer(keeperReadyWait)
	defer timer.Stop()
	select {
	case err := <-ready:
		if err != nil {
			k.kill()
			return 0, err
		}
	case <-timer.C:
		k.kill()
		return 0, fmt.Errorf("keeper not ready within %s", keeperReadyWait)
	}
	pid := k.cmd.Process.Pid
	k.cmd.Process.Release() // the real init reaps it
	return pid, nil
}

// keeperAbortWait bounds the wait for an aborted keeper to exit on its
// own before it is killed.
const keeperAbortWait = 2 * time.Second

// Abort stops a keeper that was never handed its state: the state pipe
// closed empty tells it the start is aborted, and it tells its guard
// before it exits, so that neither reports a crash; killed at once, it
// could not.
func (k *keeperProcess) Abort() {
	k.stateW.Close()
	k.readyR.Close()
	exited := make(chan struct{})
	go func() {
		k.cmd.Wait()
		close(exited)
	}()
	timer := time.NewTimer(keeperAbortWait)
	defer timer.Stop()
	select {
	case <-exited:
	case <-timer.C:
		k.cmd.Process.Kill()
		<-exited
	}
}

func (k *keeperProcess) kill() {
	k.cmd.Process.Kill()
	k.cmd.Wait()
}
