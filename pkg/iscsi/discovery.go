package iscsi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/limit"
)

// SendTargets discovery (RFC 7143 §12.3 and appendix C): when
// netroot=iscsi:<server>::<port>:<lun>: names no target, the portal is
// asked which targets it has, through a discovery session — a login with
// SessionType=Discovery, one "SendTargets=All" text exchange, a logout.

// DiscoveryConfig describes a discovery session.
type DiscoveryConfig struct {
	// InitiatorName is our IQN (required).
	InitiatorName  string
	InitiatorAlias string
	// Portal is the "host:port" asked; it names the portal in errors and
	// is the address of a target the answer lists without any.
	Portal string
	// Device is the network interface the connection is bound to, as
	// LoginConfig's.
	Device string
	// ISID identifies the session; zero means a random one.
	ISID ISID
	// Credentials enable CHAP for the discovery session (open-iscsi's
	// discovery.sendtargets.auth.*).
	Credentials Credentials
	// CHAPAlgorithms to offer; nil means DefaultCHAPAlgorithms.
	CHAPAlgorithms []CHAPAlgorithm
	// Rand is the randomness for ISIDs and CHAP challenges; nil means
	// crypto/rand.
	Rand io.Reader
}

// DiscoveredTarget is one target a portal offers and where it is reached.
type DiscoveredTarget struct {
	Name    string
	Portals []TargetPortal
}

// TargetPortal is one address of a target.
type TargetPortal struct {
	// Addr is "host:port" (IPv6 in brackets), ready for net.Dial.
	Addr string
	// TPGT is the portal group tag, when HasTPGT.
	TPGT    uint16
	HasTPGT bool
}

func (p TargetPortal) String() string {
	if p.HasTPGT {
		return p.Addr + "," + strconv.Itoa(int(p.TPGT))
	}
	return p.Addr
}

// Limits on what a target may send us.
const (
	maxDiscoveryText = 1 << 20 // the whole SendTargets answer
	maxDiscoveryPDUs = 1024
	maxIQNLen        = 223 // RFC 7143 §4.2.7.1
	reservedTag      = 0xffffffff
)

// Caps on what a SendTargets answer may list. /init logs in to every
// target of an answer through every portal it lists (when netroot= names
// no target), each path a TCP login and, with rd.netroot.multipath=1, a
// kernel session: an answer the size cap lets through could list 65,000
// targets or 33,000 portals for one. open-iscsi and LIO count neither
// (LIO only splits its answer in Text Responses of 32 KiB); the caps are
// far above a real answer to one initiator — a few targets, a LUN on
// two to eight paths — and bound what one answer can start.
const (
	// MaxDiscoveredTargets bounds the targets of an answer.
	MaxDiscoveredTargets = 256
	// MaxTargetPortals bounds the portals of one target (portals with
	// another group tag count apart).
	MaxTargetPortals = 32
	// MaxDiscoveredPortals bounds the portals of all the targets
	// together: each is a path to log in on.
	MaxDiscoveredPortals = 256
)

// SendTargetsLimitError is an answer that lists more than a cap. It is
// refused whole rather than cut short: which target holds the root is
// not known here, and a list cut at a cap would boot or not by the order
// the target lists them in.
type SendTargetsLimitError struct {
	// What is what was counted: "targets", "portals for <target>" or
	// "portals in all".
	What         string
	Count, Limit int
}

func (e *SendTargetsLimitError) Error() string {
	return fmt.Sprintf("iscsi: SendTargets answer lists %d %s, more than %d", e.Count, e.What, e.Limit)
}

// discoveryTarget stands for the target in a discovery session's errors.
const discoveryTarget = "(SendTargets discovery)"

// DiscoveryError is a failure of the SendTargets exchange after the login
// (login failures are *LoginError values).
type DiscoveryError struct {
	Portal string
	Err    error

	temporary bool
}

func (e *DiscoveryError) Error() string {
	return fmt.Sprintf("iscsi: SendTargets discovery at %s: %s", e.Portal, strings.TrimPrefix(e.Err.Error(), "iscsi: "))
}

// Unwrap returns the cause.
func (e *DiscoveryError) Unwrap() error { return e.Err }

// Temporary reports whether asking again may work (the connection broke).
func (e *DiscoveryError) Temporary() bool { return e.temporary }

// temporary reports whether a discovery failure is worth a retry.
func temporary(err error) bool {
	var le *LoginError
	var de *DiscoveryError
	return errors.As(err, &le) && le.Temporary() || errors.As(err, &de) && de.Temporary()
}

// Discover runs a discovery session on conn (a connection to cfg.Portal):
// it logs in with SessionType=Discovery, asks SendTargets=All, logs out
// and returns the targets. Every read and write is bounded by ctx
// (DefaultLoginTimeout without a deadline). It does not close conn. Login
// failures are *LoginError values.
func Discover(ctx context.Context, conn net.Conn, cfg DiscoveryConfig) ([]DiscoveredTarget, error) {
	if cfg.InitiatorName == "" || conn == nil {
		return nil, &LoginError{Portal: cfg.Portal, Target: discoveryTarget, Reason: "invalid configuration",
			Err: errors.New("an initiator name and a connection are required")}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultLoginTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, &LoginError{Portal: cfg.Portal, Target: discoveryTarget, Reason: "connection failed", Err: err, temporary: true}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if stop() {
			conn.SetDeadline(time.Time{})
		}
	}()
	l, err := discoveryLogin(ctx, conn, cfg)
	if err != nil {
		return nil, err
	}
	data, err := sendTargets(ctx, l)
	if err != nil {
		return nil, err
	}
	// The answer is in; a failed logout changes nothing (the target
	// drops the session with the connection).
	_ = logout(l)
	targets, err := ParseSendTargets(data, cfg.Portal)
	if err != nil {
		return nil, &DiscoveryError{Portal: cfg.Portal, Err: err}
	}
	return targets, nil
}

// DiscoverPortal dials cfg.Portal and runs Discover, retrying temporary
// failures (network errors, a target busy) with Connect's backoff until
// ctx, opts.Deadline or opts.MaxAttempts ends it.
func DiscoverPortal(ctx context.Context, cfg DiscoveryConfig, opts ConnectOptions) ([]DiscoveredTarget, error) {
	opts.defaults()
	if opts.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = limit.WithTimeout(ctx, opts.Deadline, opts.DeadlineLimit)
		defer cancel()
	}
	a := &attempts{what: "discovery", opts: opts}
	for a.n = 1; ; a.n++ {
		targets, err := discoverOnce(ctx, cfg, opts)
		if err == nil {
			return targets, nil
		}
		a.failed(ctx, err)
		if ctx.Err() != nil {
			return nil, a.giveUp(ended(ctx, ctx.Err()))
		}
		if !temporary(err) {
			return nil, err
		}
		if err := a.wait(ctx, err); err != nil {
			return nil, err
		}
	}
}

func discoverOnce(ctx context.Context, cfg DiscoveryConfig, opts ConnectOptions) ([]DiscoveredTarget, error) {
	actx, cancel := context.WithTimeout(WithDevice(ctx, cfg.Device), opts.AttemptTimeout)
	defer cancel()
	conn, err := opts.Dial(actx, "tcp", cfg.Portal)
	if err != nil {
		return nil, &LoginError{Portal: cfg.Portal, Target: discoveryTarget, Reason: "connection failed", Err: err,
			temporary: ctx.Err() == nil && isTemporaryNetErr(err), Hint: dialHint(cfg.Portal, cfg.Device, err)}
	}
	defer conn.Close()
	return Discover(actx, conn, cfg)
}

// discoveryLogin logs in with SessionType=Discovery. It drives the same
// exchange as Login (login.exchange), with the discovery session's
// leading keys: no TargetName.
func discoveryLogin(ctx context.Context, conn net.Conn, cfg DiscoveryConfig) (*login, error) {
	lc := LoginConfig{InitiatorName: cfg.InitiatorName, InitiatorAlias: cfg.InitiatorAlias, TargetName: discoveryTarget,
		Portal: cfg.Portal, ISID: cfg.ISID, Credentials: cfg.Credentials, CHAPAlgorithms: cfg.CHAPAlgorithms, Rand: cfg.Rand}
	l := &login{conn: conn, cfg: lc, rnd: cfg.Rand, firstPDU: true}
	if l.rnd == nil {
		l.rnd = rand.Reader
	}
	if cfg.InitiatorName == "" {
		return nil, l.fail("invalid configuration", "", errors.New("the initiator name is required"), false)
	}
	if err := cfg.Credentials.validate(); err != nil {
		return nil, l.fail("invalid configuration", "", err, false)
	}
	neg, err := newNegotiator(nil)
	if err != nil {
		return nil, l.fail("invalid configuration", "", err, false)
	}
	if l.isid = cfg.ISID; l.isid == (ISID{}) {
		if l.isid, err = NewISID(l.rnd, 0); err != nil {
			return nil, l.fail("invalid configuration", "", err, false)
		}
	}
	// Login, text and logout use itt, itt+1 and itt+2, none the
	// reserved tag.
	l.itt = mrand.Uint32N(reservedTag - 2)
	l.sess = &Session{Portal: cfg.Portal, InitiatorName: cfg.InitiatorName, ISID: l.isid, ITT: l.itt, AuthMethod: "None"}
	leading := []KeyValue{{"InitiatorName", cfg.InitiatorName}}
	if cfg.InitiatorAlias != "" {
		leading = append(leading, KeyValue{"InitiatorAlias", cfg.InitiatorAlias})
	}
	leading = append(leading, KeyValue{"SessionType", "Discovery"})
	if cfg.Credentials.Enabled() {
		if err := discoverySecurity(ctx, l, leading); err != nil {
			return nil, err
		}
		leading = nil
	}
	// Operational keys a discovery session does not use are answered
	// Irrelevant; the negotiator takes that as declined.
	kvs := append(leading, neg.offers...)
	for {
		resp, got, err := l.exchange(ctx, true, StageOperational, StageFullFeature, kvs)
		if err != nil {
			return nil, err
		}
		replies, err := neg.handle(got)
		if err != nil {
			return nil, l.fail("negotiation failed", "", err, false)
		}
		if resp.Transit {
			if resp.NSG != StageFullFeature || resp.TSIH == 0 {
				return nil, l.protocol("target transited to %v with TSIH %d", resp.NSG, resp.TSIH)
			}
			p, err := neg.params()
			if err != nil {
				return nil, l.fail("negotiation failed", "", err, false)
			}
			l.sess.Params = p
			l.sess.TSIH = resp.TSIH
			return l, nil
		}
		kvs = replies
	}
}

// discoverySecurity runs CHAP (one-way or mutual) for a discovery
// session, as login.security does for a normal one.
func discoverySecurity(ctx context.Context, l *login, leading []KeyValue) error {
	creds := l.cfg.Credentials
	algs := l.cfg.CHAPAlgorithms
	if len(algs) == 0 {
		algs = DefaultCHAPAlgorithms()
	}
	resp, got, err := l.exchange(ctx, false, StageSecurity, StageOperational, append(leading, KeyValue{"AuthMethod", "CHAP"}))
	if err != nil {
		return err
	}
	if am, _ := lookup(got, "AuthMethod"); am != "CHAP" || resp.Transit {
		return l.fail(fmt.Sprintf("target refused CHAP for discovery (AuthMethod=%s)", truncateForError([]byte(am))), hintCredentials, nil, false)
	}
	l.sess.AuthMethod = "CHAP"
	_, got, err = l.exchange(ctx, false, StageSecurity, StageOperational, []KeyValue{{"CHAP_A", formatCHAPAlgorithms(algs)}})
	if err != nil {
		return err
	}
	aStr, _ := lookup(got, "CHAP_A")
	aNum, err := strconv.ParseUint(aStr, 10, 8)
	alg := CHAPAlgorithm(aNum)
	if err != nil || !containsAlg(algs, alg) {
		return l.fail(fmt.Sprintf("target chose unsupported CHAP algorithm CHAP_A=%s", truncateForError([]byte(aStr))),
			"offered CHAP_A="+formatCHAPAlgorithms(algs), nil, false)
	}
	out, ourID, ourChallenge, challenge, err := l.chapAnswer(got, alg)
	if err != nil {
		return err
	}
	resp, got, err = l.exchange(ctx, true, StageSecurity, StageOperational, out)
	if err != nil {
		return err
	}
	if creds.Mutual() {
		if err := l.verifyTarget(got, alg, ourID, ourChallenge, challenge); err != nil {
			return err
		}
	}
	for !resp.Transit {
		if resp, _, err = l.exchange(ctx, true, StageSecurity, StageOperational, nil); err != nil {
			return err
		}
	}
	if resp.NSG != StageOperational {
		return l.protocol("target transited from security stage to %v, want %v", resp.NSG, StageOperational)
	}
	return nil
}

// sendTargets asks SendTargets=All and gathers the answer, which may come
// in several Text Responses (C bit: a key=value continues; F clear: more
// pairs follow), each fetched with an empty Text Request carrying the
// target's transfer tag.
func sendTargets(ctx context.Context, l *login) ([]byte, error) {
	fail := func(temp bool, format string, args ...any) error {
		err := fmt.Errorf(format, args...)
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return &DiscoveryError{Portal: l.cfg.Portal, Err: err, temporary: temp && !errors.Is(ctx.Err(), context.Canceled)}
	}
	itt := l.itt + 1
	req := &TextRequest{Final: true, ITT: itt, TTT: reservedTag, CmdSN: l.cmdSN, ExpStatSN: l.expStat,
		Data: EncodeText([]KeyValue{{"SendTargets", "All"}})}
	var text []byte
	for n := 0; ; n++ {
		if n >= maxDiscoveryPDUs {
			return nil, fail(false, "answer not complete after %d Text Responses", n)
		}
		if err := WritePDU(l.conn, req.PDU()); err != nil {
			return nil, fail(true, "send Text Request: %w", err)
		}
		resp, temp, err := readTextResponse(l, itt)
		if err != nil {
			return nil, fail(temp, "%w", err)
		}
		if text = append(text, resp.Data...); len(text) > maxDiscoveryText {
			return nil, fail(false, "answer exceeds %d bytes", maxDiscoveryText)
		}
		if resp.Final {
			return text, nil
		}
		if resp.TTT == reservedTag {
			return nil, fail(false, "Text Response asks for more (F clear) without a transfer tag")
		}
		req = &TextRequest{Final: true, ITT: itt, TTT: resp.TTT, CmdSN: l.cmdSN, ExpStatSN: l.expStat}
	}
}

// readTextResponse reads the target's answer to our Text Request,
// skipping NOP-Ins. temp is true for a broken connection.
func readTextResponse(l *login, itt uint32) (resp *TextResponse, temp bool, err error) {
	for range maxDiscoveryPDUs {
		p, err := ReadPDU(l.conn, int(l.sess.Params.MaxRecvDataSegmentLength))
		if err != nil {
			return nil, isTemporaryNetErr(err), fmt.Errorf("read Text Response: %w", err)
		}
		switch p.Opcode() {
		case OpNOPIn:
			continue
		case OpReject:
			rj, _ := ParseReject(p)
			return nil, false, fmt.Errorf("target rejected the Text Request: %s", RejectReason(rj.Reason))
		case OpAsyncMessage:
			return nil, true, errors.New("target sent an asynchronous message (it is ending the session)")
		case OpTextResponse:
		default:
			return nil, false, fmt.Errorf("expected a Text Response, got %v", p.Opcode())
		}
		resp, err := ParseTextResponse(p)
		if err != nil {
			return nil, false, err
		}
		if resp.ITT != itt {
			return nil, false, fmt.Errorf("Text Response ITT 0x%08x, want 0x%08x", resp.ITT, itt)
		}
		l.expStat = resp.StatSN + 1
		return resp, false, nil
	}
	return nil, false, fmt.Errorf("no Text Response among %d PDUs", maxDiscoveryPDUs)
}

// logout closes the discovery session (reason 0: close the session) and
// waits for the Logout Response.
func logout(l *login) error {
	p := &PDU{}
	p.Header[0] = immediateBit | byte(OpLogoutRequest)
	p.Header[1] = finalBit // reason code 0
	binary.BigEndian.PutUint32(p.Header[16:], l.itt+2)
	binary.BigEndian.PutUint16(p.Header[20:], l.cfg.CID)
	binary.BigEndian.PutUint32(p.Header[24:], l.cmdSN)
	binary.BigEndian.PutUint32(p.Header[28:], l.expStat)
	if err := WritePDU(l.conn, p); err != nil {
		return err
	}
	for range 16 {
		r, err := ReadPDU(l.conn, int(l.sess.Params.MaxRecvDataSegmentLength))
		if err != nil {
			return err
		}
		if r.Opcode() == OpLogoutResponse {
			if r.Header[2] != 0 {
				return fmt.Errorf("logout response 0x%02x", r.Header[2])
			}
			return nil
		}
	}
	return errors.New("no Logout Response")
}

// ParseSendTargets parses a SendTargets answer: "TargetName=<iqn>"
// followed by the target's "TargetAddress=<host>[:<port>],<tpgt>" items
// (IPv6 hosts in brackets), NUL-terminated, names and addresses repeating.
// A target listed without an address is reached through portal, the one
// asked (when given). A name given twice collects the addresses of both.
// Other keys are ignored. An answer over MaxDiscoveredTargets,
// MaxTargetPortals or MaxDiscoveredPortals is a *SendTargetsLimitError.
// It never panics on any input.
func ParseSendTargets(data []byte, portal string) ([]DiscoveredTarget, error) {
	type listed struct {
		target int
		portal TargetPortal
	}
	var (
		out   []DiscoveredTarget
		index = map[string]int{}
		seen  = map[listed]bool{}
		cur   = -1
	)
	if len(data) > 0 && data[len(data)-1] != 0 {
		return nil, fmt.Errorf("iscsi: SendTargets answer %q is not NUL-terminated", truncateForError(data))
	}
	for _, item := range bytes.Split(data, []byte{0}) {
		if len(item) == 0 {
			continue
		}
		key, value, ok := strings.Cut(string(item), "=")
		if !ok {
			return nil, fmt.Errorf("iscsi: SendTargets item %q has no '='", truncateForError(item))
		}
		switch key {
		case "TargetName":
			if value == "" || len(value) > maxIQNLen || strings.ContainsAny(value, " \t\n,") {
				return nil, fmt.Errorf("iscsi: SendTargets: bad TargetName %q", truncateForError([]byte(value)))
			}
			i, seen := index[value]
			if !seen {
				i = len(out)
				index[value] = i
				out = append(out, DiscoveredTarget{Name: value})
			}
			cur = i
		case "TargetAddress":
			if cur < 0 {
				return nil, fmt.Errorf("iscsi: SendTargets: TargetAddress %q before any TargetName", truncateForError([]byte(value)))
			}
			p, err := parseTargetPortal(value)
			if err != nil {
				return nil, fmt.Errorf("iscsi: SendTargets for %s: %s", out[cur].Name, strings.TrimPrefix(err.Error(), "iscsi: "))
			}
			if k := (listed{cur, p}); !seen[k] {
				seen[k] = true
				out[cur].Portals = append(out[cur].Portals, p)
			}
		}
	}
	// The whole answer is read first so that the error gives the count.
	if len(out) > MaxDiscoveredTargets {
		return nil, &SendTargetsLimitError{What: "targets", Count: len(out), Limit: MaxDiscoveredTargets}
	}
	all := 0
	for i := range out {
		if len(out[i].Portals) == 0 && portal != "" {
			out[i].Portals = []TargetPortal{{Addr: portal}}
		}
		if n := len(out[i].Portals); n > MaxTargetPortals {
			return nil, &SendTargetsLimitError{What: "portals for " + out[i].Name, Count: n, Limit: MaxTargetPortals}
		}
		all += len(out[i].Portals)
	}
	if all > MaxDiscoveredPortals {
		return nil, &SendTargetsLimitError{What: "portals in all", Count: all, Limit: MaxDiscoveredPortals}
	}
	return out, nil
}

// parseTargetPortal parses "host[:port][,tpgt]".
func parseTargetPortal(s string) (TargetPortal, error) {
	var p TargetPortal
	addr := s
	if i := strings.LastIndexByte(s, ','); i >= 0 && i > strings.LastIndexByte(s, ']') {
		tag, err := strconv.ParseUint(s[i+1:], 10, 16)
		if err != nil {
			return p, fmt.Errorf("TargetAddress %q: bad portal group tag", truncateForError([]byte(s)))
		}
		p.TPGT, p.HasTPGT = uint16(tag), true
		addr = s[:i]
	}
	hp, err := ParseTargetAddress(addr)
	if err != nil {
		return p, err
	}
	// ParseTargetAddress lets a stray bracket through as a host name.
	if host, _, err := net.SplitHostPort(hp); err != nil || strings.ContainsAny(host, "[]") {
		return p, fmt.Errorf("TargetAddress %q: bad host", truncateForError([]byte(s)))
	}
	p.Addr = hp
	return p, nil
}
