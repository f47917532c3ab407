package iscsi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
	"github.com/netroot/netroot/pkg/limit"
)

// ConnectOptions control dialing and retrying in Connect. The zero value is
// usable: net.Dialer, 1s initial backoff doubling up to 30s (each wait
// jittered by ±50 %), a 15s per attempt login timeout, no attempt limit
// (only ctx bounds the retries).
type ConnectOptions struct {
	// Dial opens the TCP connection; nil means a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Deadline bounds all attempts together (rd.retry); 0 means only ctx.
	Deadline time.Duration
	// MaxAttempts bounds the number of login attempts
	// (rd.iscsi.login_retry_max); 0 means unlimited.
	MaxAttempts int
	// DeadlineLimit and MaxAttemptsLimit are the limits that set Deadline
	// and MaxAttempts as the command line writes them ("rd.retry=180",
	// "rd.iscsi.login_retry_max=3"): a login given up when one ran out
	// names it. ctx's own deadline is named by limit.WithTimeout.
	DeadlineLimit, MaxAttemptsLimit string
	// AttemptTimeout bounds one dial+login; 0 means 15s.
	AttemptTimeout time.Duration
	// InitialBackoff and MaxBackoff shape the exponential backoff; 0 means
	// 1s and 30s.
	InitialBackoff, MaxBackoff time.Duration
	// Logf receives progress lines; nil discards them. It never receives
	// secrets.
	Logf func(format string, args ...any)
	// Jitter returns a random float in [0,1) used to spread retries of many
	// machines booting together; nil means math/rand/v2.
	Jitter func() float64
	// Wait waits for d or until ctx is done; nil means WaitTimer. Tests
	// inject a fake clock here.
	Wait func(ctx context.Context, d time.Duration) error
}

func (o *ConnectOptions) defaults() {
	if o.Dial == nil {
		o.Dial = DialContext
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 15 * time.Second
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	if o.Wait == nil {
		o.Wait = WaitTimer
	}
}

// WaitTimer waits for d or ctx, whichever comes first (an event wait with
// a deadline, not a fixed sleep): ConnectOptions.Wait's default.
func WaitTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loginJitter spreads each login retry over ±50 % of its wait, so that
// machines booting together spread out.
const loginJitter = 0.5

// Connect dials cfg.Portal, logs in and returns the session and the
// logged-in connection (ready for the kernel hand-off). It follows one
// target redirect; logs in again once, logged, offering CHAP MD5 only
// (RetryWithMD5) or digests (RetryWithDigests) when a target fails what
// was offered by default and not chosen by the caller; and retries
// transient failures (network errors, target errors) with exponential
// backoff and jitter (pkg/backoff) until ctx, opts.Deadline or
// opts.MaxAttempts ends it. Authentication, authorization and not-found
// failures are returned at once.
func Connect(ctx context.Context, cfg LoginConfig, opts ConnectOptions) (*Session, net.Conn, error) {
	opts.defaults()
	if opts.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = limit.WithTimeout(ctx, opts.Deadline, opts.DeadlineLimit)
		defer cancel()
	}
	if cfg.ISID == (ISID{}) {
		// Keep one ISID across attempts so a half-open session from an
		// earlier attempt is reinstated, not duplicated.
		isid, err := NewISID(cfg.Rand, 0)
		if err != nil {
			return nil, nil, err
		}
		cfg.ISID = isid
	}
	origPortal := cfg.Portal
	redirected, md5Retried, digestsRetried := false, false, false
	a := &attempts{what: "login", opts: opts}
	for a.n = 1; ; a.n++ {
		sess, conn, err := connectOnce(ctx, cfg, opts)
		if err == nil {
			return sess, conn, nil
		}
		a.failed(ctx, err)
		var le *LoginError
		isLE := errors.As(err, &le)
		switch {
		case isLE && le.IsRedirect() && !redirected:
			opts.Logf("iscsi: %s redirects %s to %s", cfg.Portal, cfg.TargetName, le.Redirect)
			redirected = true
			cfg.Portal = le.Redirect
			a.n--
			continue
		case isLE && le.IsRedirect():
			again := *le
			again.Hint = "the target at " + cfg.Portal + " redirected the login again: check the redirections the targets are configured with (a loop?)"
			return nil, nil, fmt.Errorf("iscsi: not following a second redirect: %w", &again)
		}
		if c, ok := RetryWithMD5(cfg, err); ok && !md5Retried {
			opts.Logf("iscsi: login to %s %s: %s after our CHAP %s response; logging in again offering CHAP MD5 only (node.session.auth.chap_algs chooses)",
				cfg.Portal, cfg.TargetName, withoutHint(le), le.chapAlg)
			md5Retried, cfg = true, c
			a.n--
			continue
		}
		if c, ok := RetryWithDigests(cfg, err); ok && !digestsRetried {
			opts.Logf("iscsi: login to %s %s: %s, as when a target requires digests; logging in again offering %s",
				cfg.Portal, cfg.TargetName, withoutHint(le), offeredDigests(c.Params, le.digestKeys))
			digestsRetried, cfg = true, c
			a.n--
			continue
		}
		if ctx.Err() != nil && (!isLE || le.Temporary() || le.Reason == "connection failed") {
			return nil, nil, a.giveUp(ended(ctx, ctx.Err()))
		}
		if !isLE || !le.Temporary() {
			return nil, nil, err
		}
		if redirected && le.StatusClass != 0x01 {
			// A temporary redirect target that fails sends us back home.
			cfg.Portal = origPortal
			redirected = false
		}
		if err := a.wait(ctx, err); err != nil {
			return nil, nil, err
		}
	}
}

// attempts are the tries of Connect or DiscoverPortal (what: "login",
// "discovery"): it keeps the failure to give up with and decides, after
// a failure worth another try, whether to wait and try again.
type attempts struct {
	what string
	opts ConnectOptions
	n    int   // the try that failed last, from 1
	last error // the failure to give up with
}

// failed records the failure of try n. An attempt the deadline cut short
// says nothing of the target: the attempt before it does.
func (a *attempts) failed(ctx context.Context, err error) {
	if a.last == nil || !pastDeadline(ctx) {
		a.last = err
	}
}

// wait waits with backoff before the next try, or returns the error to
// give up with: opts.MaxAttempts reached, or ctx's end before the wait's.
func (a *attempts) wait(ctx context.Context, err error) error {
	if a.opts.MaxAttempts > 0 && a.n >= a.opts.MaxAttempts {
		end := stop{}
		if n := a.opts.MaxAttemptsLimit; n != "" {
			end = stop{why: n + " reached", raise: "raise " + n + " to try more often"}
		}
		return a.giveUp(end)
	}
	wait := backoff.Policy{Initial: a.opts.InitialBackoff, Max: a.opts.MaxBackoff, Jitter: loginJitter}.Wait(a.n-1, a.opts.Jitter())
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		return a.giveUp(ended(ctx, errDeadlineReached))
	}
	a.opts.Logf("iscsi: %s attempt %d failed: %v, retrying in %.1fs", a.what, a.n, err, wait.Seconds())
	if werr := a.opts.Wait(ctx, wait); werr != nil {
		return a.giveUp(ended(ctx, werr))
	}
	return nil
}

// stop is what ended Connect's attempts: why (empty: nothing to say) and
// how to allow more (empty: nothing the user set).
type stop struct{ why, raise string }

// errDeadlineReached ends the attempts when the deadline leaves no time
// for the next one.
var errDeadlineReached = errors.New("deadline reached")

// ended is the stop of attempts that ctx's end (err) ended: the limit
// whose deadline it was, when named, else err.
func ended(ctx context.Context, err error) stop {
	if n := limit.Of(ctx); n != "" && (errors.Is(err, context.DeadlineExceeded) || err == errDeadlineReached) {
		return stop{why: n + " ran out", raise: "raise " + n + " to wait longer"}
	}
	return stop{why: err.Error()}
}

// pastDeadline reports whether ctx has ended or its deadline has passed
// (a connection's I/O deadline, set from it, may end first).
func pastDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(dl)
}

// giveUp is the error of giving up after a.n tries, ended by end. A
// target's temporary refusal, which more time may see lifted, gets the
// advice to allow more in its hint.
func (a *attempts) giveUp(end stop) error {
	last := a.last
	if le, ok := last.(*LoginError); ok && end.raise != "" && le.temporary && le.StatusClass != 0 {
		c := *le
		c.Hint = strings.TrimPrefix(c.Hint+"; "+end.raise, "; ")
		last = &c
	}
	if end.why == "" {
		return fmt.Errorf("iscsi: giving up after %d %s attempts: %w", a.n, a.what, last)
	}
	return fmt.Errorf("iscsi: giving up after %d %s attempts (%s): %w", a.n, a.what, end.why, last)
}

// withoutHint is e's message after its portal and target, without its
// hint (a retry makes it moot), e.g. "target reports 0x0200 initiator
// error".
func withoutHint(e *LoginError) string {
	c := *e
	c.Hint = ""
	return strings.TrimPrefix(c.Error(), fmt.Sprintf("iscsi: login to %s %s: ", e.Portal, e.Target))
}

// offeredDigests renders the digest keys of params, e.g.
// "HeaderDigest=CRC32C,None DataDigest=CRC32C,None".
func offeredDigests(params []KeyValue, keys []string) string {
	var out []string
	for _, k := range keys {
		if v, ok := lookup(params, k); ok {
			out = append(out, k+"="+v)
		}
	}
	return strings.Join(out, " ")
}

// connectOnce dials and logs in once, closing the connection on failure.
func connectOnce(ctx context.Context, cfg LoginConfig, opts ConnectOptions) (*Session, net.Conn, error) {
	actx, cancel := context.WithTimeout(WithDevice(ctx, cfg.Device), opts.AttemptTimeout)
	defer cancel()
	conn, err := opts.Dial(actx, "tcp", cfg.Portal)
	if err != nil {
		return nil, nil, &LoginError{Portal: cfg.Portal, Target: cfg.TargetName, Reason: "connection failed",
			Err: err, temporary: ctx.Err() == nil && isTemporaryNetErr(err), Hint: dialHint(cfg.Portal, cfg.Device, err)}
	}
	sess, err := Login(actx, conn, cfg)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return sess, conn, nil
}
