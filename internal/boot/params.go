package boot

import (
	"net"
	"net/netip"
	"time"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/iscsi"
)

// loginSettings is what one target's login and its kernel session are
// given: the plan's rd.iscsi.param= settings (config's typed Session), the
// target and its credentials, and the keeper's NOP-Out default.
func loginSettings(p *config.Plan, initiator string, index int, t config.Target, creds iscsi.Credentials) (iscsi.LoginConfig, iscsi.KernelOptions, iscsi.ConnectOptions) {
	s := p.ISCSI.Session
	kopts := s.KernelOptions(iscsi.KernelOptions{})
	// A multipath map needs a dead path noticed even without the keeper.
	if (p.Boot.Keeper || p.ISCSI.Multipath) && !s.NoopGiven() {
		kopts.NoopIntervalSec, kopts.NoopTimeoutSec = defaultNoopSec, defaultNoopSec
	}
	if p.ISCSI.Multipath && s.ReplacementTimeout == nil {
		kopts.RecoveryTimeoutSec, kopts.RecoveryTimeoutSet = multipathReplacementSec, true
	}
	cfg := iscsi.LoginConfig{
		InitiatorName: initiator,
		TargetName:    t.Name,
		Portal:        t.Portal(),
		Device:        t.NetDev,
		// Stable across boots, and no wait for the kernel's entropy.
		ISID:           iscsi.StableISID(initiator, t.Name, uint16(index)),
		Credentials:    creds,
		Params:         s.LoginKeys,
		CHAPAlgorithms: s.CHAPAlgorithms,
	}
	copts := iscsi.ConnectOptions{
		Deadline:    p.Boot.Retry,
		MaxAttempts: p.ISCSI.LoginRetryMax,
		// The limits as the command line writes them, for the error
		// that remains when one runs out.
		DeadlineLimit:    p.Boot.RetryLimit(),
		MaxAttemptsLimit: p.ISCSI.LoginRetryLimit(),
	}
	if s.LoginTimeout != nil {
		copts.AttemptTimeout = time.Duration(*s.LoginTimeout) * time.Second
	}
	return cfg, kopts, copts
}

// resolvedPortal is, for a portal given as a host name, the address the
// login reached: the keeper falls back to it when it cannot resolve the
// name after switch_root (the initramfs's resolver files are gone then).
func resolvedPortal(t config.Target, conn net.Conn) map[string][]string {
	if _, err := netip.ParseAddr(t.Server); err == nil || conn == nil || conn.RemoteAddr() == nil {
		return nil
	}
	return map[string][]string{t.Portal(): {conn.RemoteAddr().String()}}
}
