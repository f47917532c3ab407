package boot

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/switchroot"
)

// Emergency reports the failure and never returns: it runs a shell (over
// and over), or reboots/powers off as rd.emergency says, or waits. The
// boot's background work is cancelled and waited for (up to
// Options.Grace) first, and the log keeps off the console while a shell
// runs there, so no step line prints over its prompt.
func (b *Boot) Emergency(err error) {
	if err == nil {
		err = errors.New("boot ended without switching root")
	}
	if b.cancel != nil {
		b.cancel()
	}
	b.settle(b.opts.Grace)
	b.log.Errorf("FATAL %s", render(err))
	if b.keeper.handOver != nil {
		// A keeper already handed the sessions stays: it keeps the
		// root's session alive for the emergency shell.
		b.keeper.handOver.Wait(context.Background())
	} else if kp := b.earlyKeeper(b.keeper.early); kp != nil {
		kp.Abort()
	}
	if werr := writeTimeline(b.env.Files, b.log.Timeline()); werr != nil {
		b.log.Debugf("writing the timeline: %v", werr)
	}

	action := config.EmergencyShell
	shellOK := true
	if b.plan != nil {
		action = b.plan.Boot.Emergency
		shellOK = b.plan.Boot.Shell
	}
	c := b.env.Console
	switch action {
	case config.EmergencyReboot, config.EmergencyPoweroff, config.EmergencyHalt:
		b.log.Errorf("rd.emergency=%s: doing so now", action)
		if rerr := c.Reboot(action); rerr != nil {
			b.log.Errorf("rd.emergency=%s: %v", action, rerr)
		}
	}
	if shellOK {
		for {
			if serr := b.shell(c); serr != nil {
				// The shell's own hint (it cannot run), else how to add one.
				b.log.Errorf("%s", hint.Format(fail("no emergency shell", serr, "add one with netroot build -add /bin/busybox:/bin/sh")))
				break
			}
			b.log.Printf("emergency shell exited; starting another (the boot cannot continue)")
		}
	} else {
		b.log.Errorf("rd.shell=0: no emergency shell; the machine waits here")
	}
	c.Forever()
}

// breakpoint stops at an rd.break point with a shell, resuming the boot
// when the shell exits.
func (b *Boot) breakpoint(p *config.Plan, point string, c Console) error {
	for _, bp := range p.Boot.Breaks {
		if bp == point || (bp == "" && point == "pre-pivot") {
			b.log.Printf("rd.break=%s: starting a shell; exit it to continue the boot", point)
			if err := b.shell(c); err != nil {
				return fail("rd.break", err, "add /bin/sh to the initramfs (netroot build -add /bin/busybox:/bin/sh)")
			}
		}
	}
	return nil
}

// shell runs a shell on the console, keeping the log off the console
// while it runs.
func (b *Boot) shell(c Console) error {
	release := b.log.HoldConsole()
	defer release()
	return c.Shell(shellEnv(b.opts.Environ))
}

// shellError is an emergency shell that is there but cannot run: it is
// dynamically linked and its loader is not in the initramfs.
type shellError struct {
	shell, loader string
	err           error // the exec's
}

func (e *shellError) Error() string {
	return fmt.Sprintf("%s exists but cannot run (dynamically linked? its loader %s is missing)", e.shell, e.loader)
}

func (e *shellError) Unwrap() error { return e.err }

func (e *shellError) Hint() string {
	return "use a static busybox (Debian's busybox-static): netroot build -add /bin/busybox:/bin/sh"
}

// bbDir is where a u-root busybox image (mkuimage) keeps its commands.
const bbDir = "/bbin"

// handedEnv is the environment /init hands on, to the real init and the
// emergency shell: its own without what can carry a CHAP secret (the
// kernel put netroot=, iscsi_password=… there), with HOME, TERM and PATH
// defaults.
func handedEnv(environ []string) []string {
	return switchroot.Env(config.DropSecretEnv(environ))
}

// shellEnv is the emergency shell's environment: handedEnv's, with a
// prompt naming netroot and bbDir at the end of PATH so that a u-root
// image's commands (ls, ip, dmesg…) are found.
func shellEnv(environ []string) []string {
	env := handedEnv(append(slices.Clip(environ), "PS1=netroot:\\w# "))
	for i, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok && !slices.Contains(filepath.SplitList(p), bbDir) {
			env[i] = kv + string(filepath.ListSeparator) + bbDir
		}
	}
	return env
}
