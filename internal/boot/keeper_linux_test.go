package boot

import (
	"os"
	"os/exec"
	"testing"
)

// TestAbortLetsTheKeeperLeave: /init's abort closes the keeper's State
// pipe empty and lets it exit on its own — it tells its guard first, so
// neither reports the abort as a crash — rather than killing it at once.
func TestAbortLetsTheKeeperLeave(t *testing.T) {
	stateR, stateW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// A keeper that reads its State to the end, then takes a moment to
	// leave.
	cmd := exec.Command("/bin/sh", "-c", "cat <&3 >/dev/null; sleep 0.2; exit 0")
	cmd.ExtraFiles = []*os.File{stateR, readyW}
	if err := cmd.Start(); err != nil {
		t.Skipf("no shell: %v", err)
	}
	stateR.Close()
	readyW.Close()
	k := &keeperProcess{cmd: cmd, stateW: stateW, readyR: readyR}
	k.Abort()
	if ps := cmd.ProcessState; ps == nil || !ps.Exited() || ps.ExitCode() != 0 {
		t.Errorf("the keeper did not exit on its own: %v", ps)
	}
}
