package dhcp6

import (
	"context"
	"errors"
	"fmt"
)

// EitherResult is what answered first for Either: a DHCPv6 lease (to
// Apply) or stateless autoconfiguration (already in place).
type EitherResult struct {
	Lease *Lease
	SLAAC *SLAACResult
}

// Either is ip=either6: it enables router advertisements on the interface,
// then runs WaitSLAAC and Acquire at once and returns whichever succeeds
// first, cancelling the other; it fails when both fail. dracut runs the
// two in turn (auto6, and DHCPv6 only after auto6's wait, 40 s by
// default, has run out); running them together gives the same answer on
// a network that offers one of them, and sooner on a DHCPv6-only one.
// d configures DHCPv6, s the SLAAC wait; their interfaces must agree.
func Either(ctx context.Context, d Options, s SLAACOptions) (*EitherResult, error) {
	if s.Interface == "" {
		s.Interface = d.Interface
	}
	if s.Interface != d.Interface {
		return nil, fmt.Errorf("either6: DHCPv6 on %s but SLAAC on %s", d.Interface, s.Interface)
	}
	if _, err := EnableRA(d.Interface); err != nil {
		return nil, fmt.Errorf("either6: %s: %w", d.Interface, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slaac := make(chan error, 1)
	var sr *SLAACResult
	go func() {
		r, err := WaitSLAAC(ctx, s)
		if err == nil {
			sr = r
			cancel() // the prefixes came first: DHCPv6 stops
		}
		slaac <- err
	}()
	// DHCPv6 runs on the caller's goroutine: it parses what the LAN
	// sends, and a panic there must reach the caller's recover (in /init,
	// its step's task), not end the process.
	l, dhcpErr := Acquire(ctx, d)
	if dhcpErr == nil {
		cancel()
		<-slaac // nothing of SLAAC's wait outlives the call
		return &EitherResult{Lease: l}, nil
	}
	slaacErr := <-slaac
	if slaacErr == nil {
		return &EitherResult{SLAAC: sr}, nil
	}
	return nil, fmt.Errorf("either6: %s: neither SLAAC nor DHCPv6 configured it: %w", d.Interface, errors.Join(dhcpErr, slaacErr))
}
