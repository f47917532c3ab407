package iscsi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// Hints printed with login failures. They name the kernel command line
// parameters an operator would fix.
const (
	hintCredentials   = "check rd.iscsi.username/password"
	hintInCredentials = "check rd.iscsi.in.username/in.password"
	hintTargetName    = "check the target IQN in netroot="
	hintNoCredentials = "target requires authentication: set rd.iscsi.username/password"
	// A 0x0200 answer carries no reason; the target logs one.
	hintInitiatorError = "the target refused something in the login request; its log says what (LIO: the kernel log; tgt: tgtd's output)"
	// Class 3 answers (and 0x0206) are retried until a limit ends the
	// attempts; Connect adds to the hint which one, to raise.
	hintTargetTrouble = "the target's own trouble: " + hintTargetLog
	// A target that refused the login answered: it is up and reachable,
	// and its log says more than its status.
	hintTargetLog     = "its log says why (LIO: the kernel log; tgt: tgtd's output)"
	hintUnknownStatus = "the target refused the login with a status RFC 7143 does not define: " + hintTargetLog
	hintBadRedirect   = "the target redirected the login without a valid TargetAddress: check the redirection in its configuration; " + hintTargetLog
	hintOldSession    = "an old session of this initiator may still be open on the target until it times out"
)

// configError is a login configuration refused before any traffic, and
// what to check; a LoginError carries its hint.
type configError struct{ msg, hint string }

func (e *configError) Error() string { return e.msg }

// configHint is err's configError's hint, "" when it has none.
func configHint(err error) string {
	if ce, ok := errors.AsType[*configError](err); ok {
		return ce.hint
	}
	return ""
}

// LoginError describes a failed login: either a non-zero status in a Login
// Response, a failure detected on our side (mutual CHAP, protocol
// violation), or a network failure. Its message names the portal and target
// and carries a hint, never a secret.
type LoginError struct {
	// Portal is the "host:port" we logged in to.
	Portal string
	// Target is the target IQN.
	Target string
	// StatusClass and StatusDetail are the login status reported by the
	// target; both zero when the failure was detected on our side.
	StatusClass, StatusDetail uint8
	// Reason says what happened, e.g. "authentication failure".
	Reason string
	// Hint tells the operator what to check; may be empty.
	Hint string
	// Redirect is the "host:port" the target redirected us to (status class
	// 0x01); empty otherwise.
	Redirect string
	// Err is the underlying cause, if any (network errors, parse errors).
	Err error

	temporary bool
	// digestKeys are the digest keys (HeaderDigest, DataDigest) the
	// failure may be about: the target refused our offer of them, or
	// failed the operational stage with 0x0200 while we offered them
	// without CRC32C (RetryWithDigests).
	digestKeys []string
	// chapAlg is the CHAP algorithm other than MD5 after whose response
	// the target failed the login with 0x0200 (RetryWithMD5).
	chapAlg CHAPAlgorithm
}

// Status returns the 16-bit status class/detail (0 when not target-reported).
func (e *LoginError) Status() uint16 {
	return uint16(e.StatusClass)<<8 | uint16(e.StatusDetail)
}

// Error formats the failure, e.g.
// "iscsi: login to 10.0.0.1:3260 iqn.x:root: target reports 0x0201 authentication failure — check rd.iscsi.username/password".
func (e *LoginError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "iscsi: login to %s %s: ", e.Portal, e.Target)
	if e.StatusClass != 0 || e.StatusDetail != 0 {
		fmt.Fprintf(&b, "target reports 0x%04x %s", e.Status(), e.Reason)
	} else {
		b.WriteString(e.Reason)
	}
	if e.Redirect != "" {
		fmt.Fprintf(&b, " to %s", e.Redirect)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, " — %s", e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *LoginError) Unwrap() error { return e.Err }

// Temporary reports whether retrying the login may succeed (target errors,
// network failures). Authentication, authorization and not-found failures
// are permanent: retrying would only delay the boot failure.
func (e *LoginError) Temporary() bool { return e.temporary }

// IsRedirect reports whether the target redirected us (status class 0x01).
func (e *LoginError) IsRedirect() bool { return e.StatusClass == 0x01 && e.Redirect != "" }

// statusMeaning maps a login status to its RFC 7143 §11.13.5 meaning, a hint
// and whether a retry may help.
func statusMeaning(class, detail uint8, haveCreds bool) (reason, hint string, temporary bool) {
	switch class {
	case 0x01:
		switch detail {
		case 0x01:
			return "target moved temporarily", "", true
		case 0x02:
			return "target moved permanently", "", true
		}
		return fmt.Sprintf("redirection (detail 0x%02x)", detail), "", true
	case 0x02:
		switch detail {
		case 0x00:
			return "initiator error", hintInitiatorError, false
		case 0x01:
			if !haveCreds {
				return "authentication failure", hintNoCredentials, false
			}
			return "authentication failure", hintCredentials, false
		case 0x02:
			return "authorization failure (initiator not allowed)", "check the target's ACL for this initiator name", false
		case 0x03:
			return "target not found", hintTargetName, false
		case 0x04:
			return "target removed", hintTargetName, false
		case 0x05:
			return "unsupported version", "the target speaks no iSCSI version this initiator offers (RFC 7143's): check its configuration; " + hintTargetLog, false
		case 0x06:
			return "too many connections", hintOldSession, true
		case 0x07:
			return "missing parameter", "the target requires a key this login request lacks: its log says which (LIO: the kernel log; tgt: tgtd's output)", false
		case 0x08:
			return "can't include in session", "the target would not add this connection to the session (its MaxConnections, or no session spanning to this address): " + hintTargetLog, false
		case 0x09:
			return "session type not supported", "the target offers no Normal session to this initiator: check its configuration; " + hintTargetLog, false
		case 0x0a:
			return "session does not exist", "reinstatement with a stale TSIH; log in with TSIH 0", false
		case 0x0b:
			return "invalid request during login", "the target refused a request of the login as out of place: " + hintTargetLog, false
		}
		return fmt.Sprintf("initiator error (detail 0x%02x)", detail), hintUnknownStatus, false
	case 0x03:
		switch detail {
		case 0x00:
			return "target error", hintTargetTrouble, true
		case 0x01:
			return "service unavailable", hintTargetTrouble, true
		case 0x02:
			return "out of resources", hintTargetTrouble, true
		}
		return fmt.Sprintf("target error (detail 0x%02x)", detail), hintTargetTrouble, true
	}
	return fmt.Sprintf("unknown status class 0x%02x", class), hintUnknownStatus, false
}

// dialHint is what to check when a connect to portal failed with err: a
// refusal comes from the host, so the network is fine and the target
// service or the port is not; no route or no answer is the network's.
func dialHint(portal, device string, err error) string {
	port := "3260"
	if _, p, serr := net.SplitHostPort(portal); serr == nil {
		port = p
	}
	var ne net.Error
	var be *BindError
	switch {
	case errors.As(err, &be):
		return "netroot='s <netdev_name> binds the login to " + be.Device + ": is that the interface's name here (ip link)?"
	case device != "" && (errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EADDRNOTAVAIL)):
		return "the login is bound to " + device + " (netroot='s <netdev_name>): it needs an address there (its ip=) and a route from it to the portal"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the host answered, but nothing listens on port " + port + ": is the target service running there (LIO: target.service; tgt: tgtd), and is the port in netroot= right?"
	case errors.Is(err, syscall.ENETUNREACH):
		return "no route to the portal: check the address, netmask and gateway of ip= (or the DHCP lease) and the portal address"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "nothing answered ARP (or a router said the host is unreachable): check the cable or VLAN, the netmask, and the portal address"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout(), errors.Is(err, syscall.ETIMEDOUT):
		return "no answer to the connect: check the network path (a firewall dropping port " + port + "?) and the portal address"
	}
	return "check the network and the portal address"
}

// isTemporaryNetErr reports whether a network error is worth a retry.
func isTemporaryNetErr(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	// No such interface, or none to bind to: a name to correct, not a
	// network to wait for.
	if _, ok := errors.AsType[*BindError](err); ok {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, syscall.ECONNREFUSED, syscall.ECONNRESET,
		syscall.ECONNABORTED, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT,
		syscall.EPIPE, syscall.ENETDOWN, syscall.EHOSTDOWN, syscall.EADDRNOTAVAIL} {
		if errors.Is(err, e) {
			return true
		}
	}
	var oe *net.OpError
	return errors.As(err, &oe) // other socket-level errors: retry within the deadline
}
