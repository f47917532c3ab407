package iscsi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultLoginTimeout bounds a login whose context has no deadline.
const DefaultLoginTimeout = 30 * time.Second

// maxLoginPDUs bounds the number of requests in one login so a hostile
// target cannot keep us negotiating forever.
const maxLoginPDUs = 64

// defaultMaxSendDataSegment is the RFC 7143 default MaxRecvDataSegmentLength
// that applies to login PDUs.
const defaultMaxSendDataSegment = 8192

// LoginConfig describes one login attempt.
type LoginConfig struct {
	// InitiatorName is our IQN (required).
	InitiatorName string
	// InitiatorAlias is optional.
	InitiatorAlias string
	// TargetName is the target IQN (required).
	TargetName string
	// Portal is "host:port"; only used in error messages and the Session.
	Portal string
	// Device is the network interface the connection is bound to
	// (open-iscsi's iface.net_ifacename): Connect dials with it
	// (WithDevice). Empty: the routing table picks the interface.
	Device string
	// ISID identifies the session on our side. Keep it stable for the
	// lifetime of a session (reinstatement needs the same ISID); the zero
	// value means "generate a random one" (see NewISID).
	ISID ISID
	// TSIH is 0 for a leading login. RFC 7143 §6.3.5: to reinstate a
	// session after its connection was lost (ERL 0), log in again with the
	// same ISID and TSIH 0; the target then drops the old session. A
	// non-zero TSIH (the one the target assigned) adds a connection to a
	// live session; a target that no longer has it answers 0x020a.
	TSIH uint16
	// CID is the connection id (0 for the leading connection).
	CID uint16
	// Credentials enable CHAP when Username/Password are set.
	Credentials Credentials
	// CHAPAlgorithms to offer, in preference order; nil means
	// DefaultCHAPAlgorithms.
	CHAPAlgorithms []CHAPAlgorithm
	// Params override the operational keys we offer (rd.iscsi.param=).
	Params []KeyValue
	// Rand is the randomness source for ISIDs and CHAP challenges; nil means
	// crypto/rand.
	Rand io.Reader
	// MaxSendDataSegment splits our login text into PDUs of at most this
	// many bytes (C bit). 0 means 8192, the login default.
	MaxSendDataSegment int
}

// Session is the result of a successful login: everything the kernel
// hand-off and a later re-login (reinstatement) need.
type Session struct {
	Portal        string
	TargetName    string
	TargetAlias   string
	InitiatorName string
	// TPGT is the target portal group tag the target declared.
	TPGT uint16
	ISID ISID
	TSIH uint16
	CID  uint16
	// ITT is the initiator task tag used during login.
	ITT uint32
	// CmdSN is the next CmdSN to use (login does not advance it).
	CmdSN     uint32
	ExpCmdSN  uint32
	MaxCmdSN  uint32
	StatSN    uint32
	ExpStatSN uint32
	// AuthMethod is "None" or "CHAP".
	AuthMethod    string
	CHAPAlgorithm CHAPAlgorithm
	// Credentials are kept for the kernel hand-off (so iscsid may adopt
	// the session); they print redacted.
	Credentials Credentials
	Params      NegotiatedParams
	// Declined lists keys the target answered Reject, Irrelevant or
	// NotUnderstood (RFC defaults apply to them).
	Declined map[string]string
	// LoginParams are the operational keys this login offered beyond
	// the defaults: LoginConfig.Params, with what a retry of Connect
	// added (RetryWithDigests). A later login of the session (the
	// keeper's reinstatement) offers them again.
	LoginParams []KeyValue
}

// NewISID returns a random-type ISID (T=10b, RFC 7143 §11.12.5): byte 0 is
// 0x80, bytes 1-3 are random, bytes 4-5 hold qualifier.
func NewISID(r io.Reader, qualifier uint16) (ISID, error) {
	if r == nil {
		r = rand.Reader
	}
	var i ISID
	i[0] = 0x80
	if _, err := io.ReadFull(r, i[1:4]); err != nil {
		return ISID{}, fmt.Errorf("iscsi: generate ISID: %w", err)
	}
	i[4], i[5] = byte(qualifier>>8), byte(qualifier)
	return i, nil
}

// StableISID returns a random-type ISID whose "random" bytes are derived
// from the initiator and target names, so the same machine logging in to
// the same target after a reboot presents the same ISID and the target
// reinstates (and cleans up) its stale session at once, as it does for
// open-iscsi's fixed per-interface ISIDs. It needs no entropy, which
// matters at early boot, where crypto/rand blocks until the kernel's
// random pool is seeded (about a second under QEMU).
func StableISID(initiator, target string, qualifier uint16) ISID {
	h := sha256.Sum256([]byte(initiator + "\x00" + target))
	return ISID{0x80, h[0], h[1], h[2], byte(qualifier >> 8), byte(qualifier)}
}

// login holds the state of one login exchange.
type login struct {
	conn     net.Conn
	cfg      LoginConfig
	rnd      io.Reader
	isid     ISID
	itt      uint32
	cmdSN    uint32
	expStat  uint32
	sent     int
	firstPDU bool
	last     *LoginResponse
	sess     *Session
}

// Login performs the iSCSI login phase on conn up to full feature phase.
// Every read and write is bounded by ctx (DefaultLoginTimeout when ctx has
// no deadline). It does not close conn. Failures are *LoginError values.
func Login(ctx context.Context, conn net.Conn, cfg LoginConfig) (*Session, error) {
	if cfg.InitiatorName == "" || cfg.TargetName == "" {
		return nil, &LoginError{Portal: cfg.Portal, Target: cfg.TargetName, Reason: "invalid configuration",
			Err: errors.New("initiator and target names are required")}
	}
	if err := cfg.Credentials.validate(); err != nil {
		return nil, &LoginError{Portal: cfg.Portal, Target: cfg.TargetName, Reason: "invalid configuration", Err: err, Hint: configHint(err)}
	}
	neg, err := newNegotiator(cfg.Params)
	if err != nil {
		return nil, &LoginError{Portal: cfg.Portal, Target: cfg.TargetName, Reason: "invalid configuration", Err: err}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultLoginTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, &LoginError{Portal: cfg.Portal, Target: cfg.TargetName, Reason: "connection failed", Err: err, temporary: true}
	}
	// Interrupt blocked I/O as soon as ctx is cancelled.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if stop() {
			conn.SetDeadline(time.Time{})
		}
	}()

	l := &login{conn: conn, cfg: cfg, rnd: cfg.Rand, firstPDU: true}
	if l.rnd == nil {
		l.rnd = rand.Reader
	}
	l.isid = cfg.ISID
	if l.isid == (ISID{}) {
		if l.isid, err = NewISID(l.rnd, 0); err != nil {
			return nil, l.fail("invalid configuration", "", err, false)
		}
	}
	// The ITT need only be unique on this connection: math/rand, which
	// never blocks, unlike crypto/rand before the kernel's pool is seeded.
	l.itt = mrand.Uint32()
	if l.itt == 0xffffffff { // reserved value
		l.itt = 0
	}
	l.sess = &Session{
		Portal: cfg.Portal, TargetName: cfg.TargetName, InitiatorName: cfg.InitiatorName,
		ISID: l.isid, CID: cfg.CID, ITT: l.itt, AuthMethod: "None", Credentials: cfg.Credentials,
		LoginParams: slices.Clone(cfg.Params),
	}

	// Without credentials the security stage is skipped (RFC 7143 §6.3
	// allows starting in LoginOperationalNegotiation); a target that
	// insists on authentication answers 0x0201, reported with a hint.
	if cfg.Credentials.Enabled() {
		if err := l.security(ctx); err != nil {
			return nil, err
		}
	}
	if err := l.operational(ctx, neg); err != nil {
		return nil, err
	}
	params, err := neg.params()
	if err != nil {
		return nil, l.fail("negotiation failed", "", err, false)
	}
	l.sess.Params = params
	l.sess.Declined = neg.declined
	r := l.last
	l.sess.TSIH = r.TSIH
	l.sess.CmdSN = l.cmdSN
	l.sess.ExpCmdSN = r.ExpCmdSN
	l.sess.MaxCmdSN = r.MaxCmdSN
	l.sess.StatSN = r.StatSN
	l.sess.ExpStatSN = r.StatSN + 1
	return l.sess, nil
}

// fail builds a LoginError for a failure detected on our side.
func (l *login) fail(reason, hint string, err error, temporary bool) *LoginError {
	if hint == "" {
		hint = configHint(err)
	}
	return &LoginError{Portal: l.cfg.Portal, Target: l.cfg.TargetName, Reason: reason, Hint: hint, Err: err, temporary: temporary}
}

// protocol reports a target that broke the protocol.
func (l *login) protocol(format string, args ...any) *LoginError {
	return l.fail("protocol error", "", fmt.Errorf(format, args...), false)
}

// leadingKeys are sent in the first login request.
func (l *login) leadingKeys() []KeyValue {
	kvs := []KeyValue{{"InitiatorName", l.cfg.InitiatorName}}
	if l.cfg.InitiatorAlias != "" {
		kvs = append(kvs, KeyValue{"InitiatorAlias", l.cfg.InitiatorAlias})
	}
	return append(kvs, KeyValue{"SessionType", "Normal"}, KeyValue{"TargetName", l.cfg.TargetName})
}

// chapAnswer reads the target's CHAP_I and CHAP_C from got and returns our
// CHAP_N/CHAP_R for alg, with our own identifier and challenge appended
// for mutual CHAP, and the target's challenge (for verifyTarget).
func (l *login) chapAnswer(got []KeyValue, alg CHAPAlgorithm) (out []KeyValue, ourID uint8, ourChallenge, challenge []byte, err error) {
	creds := l.cfg.Credentials
	iStr, okI := lookup(got, "CHAP_I")
	cStr, okC := lookup(got, "CHAP_C")
	if !okI || !okC {
		return nil, 0, nil, nil, l.protocol("target sent no CHAP_I/CHAP_C")
	}
	id, err := parseCHAPIdentifier(iStr)
	if err != nil {
		return nil, 0, nil, nil, l.fail("protocol error", "", err, false)
	}
	challenge, err = DecodeCHAPBinary(cStr)
	if err != nil {
		return nil, 0, nil, nil, l.fail("protocol error", "", fmt.Errorf("CHAP_C: %w", err), false)
	}
	response, err := CHAPResponse(alg, id, []byte(creds.Password), challenge)
	if err != nil {
		return nil, 0, nil, nil, l.fail("protocol error", "", err, false)
	}
	out = []KeyValue{{"CHAP_N", creds.Username}, {"CHAP_R", encodeCHAPHex(response)}}
	if creds.Mutual() {
		buf := make([]byte, 1+alg.challengeLen())
		if _, err := io.ReadFull(l.rnd, buf); err != nil {
			return nil, 0, nil, nil, l.fail("CHAP failed", "", fmt.Errorf("generate challenge: %w", err), false)
		}
		ourID, ourChallenge = buf[0], buf[1:]
		if bytes.Equal(ourChallenge, challenge) {
			// RFC 7143 §12.1.3: a challenge reflected back is an attack.
			return nil, 0, nil, nil, l.fail("mutual CHAP refused: target challenge identical to ours (reflection)", "", nil, false)
		}
		out = append(out, KeyValue{"CHAP_I", strconv.Itoa(int(ourID))}, KeyValue{"CHAP_C", encodeCHAPHex(ourChallenge)})
	}
	return out, ourID, ourChallenge, challenge, nil
}

// security runs the SecurityNegotiation stage with CHAP and ends when the
// target transits to LoginOperationalNegotiation.
func (l *login) security(ctx context.Context) error {
	creds := l.cfg.Credentials
	algs := l.cfg.CHAPAlgorithms
	if len(algs) == 0 {
		algs = DefaultCHAPAlgorithms()
	}
	for _, a := range algs {
		if !a.Valid() {
			return l.fail("invalid configuration", "", fmt.Errorf("unsupported CHAP algorithm %d", uint8(a)), false)
		}
	}
	// Step 1: AuthMethod.
	kvs := append(l.leadingKeys(), KeyValue{"AuthMethod", "CHAP"})
	resp, got, err := l.exchange(ctx, false, StageSecurity, StageOperational, kvs)
	if err != nil {
		return err
	}
	switch am, _ := lookup(got, "AuthMethod"); am {
	case "CHAP":
	case "":
		return l.protocol("target did not answer AuthMethod")
	default:
		return l.fail(fmt.Sprintf("target refused CHAP (AuthMethod=%s)", am), hintCredentials, nil, false)
	}
	if resp.Transit {
		return l.protocol("target left the security stage before CHAP")
	}
	l.sess.AuthMethod = "CHAP"

	// Step 2: algorithm; the target answers with CHAP_A, CHAP_I, CHAP_C.
	_, got, err = l.exchange(ctx, false, StageSecurity, StageOperational,
		[]KeyValue{{"CHAP_A", formatCHAPAlgorithms(algs)}})
	if err != nil {
		return err
	}
	aStr, _ := lookup(got, "CHAP_A")
	aNum, err := parseNumber(aStr)
	alg := CHAPAlgorithm(aNum)
	if err != nil || aNum > 255 || !containsAlg(algs, alg) {
		return l.fail(fmt.Sprintf("target chose unsupported CHAP algorithm CHAP_A=%s", truncateForError([]byte(aStr))),
			"offered CHAP_A="+formatCHAPAlgorithms(algs), nil, false)
	}
	l.sess.CHAPAlgorithm = alg
	// Step 3: our response (and our challenge for mutual CHAP), asking to
	// transit to the operational stage.
	out, ourID, ourChallenge, challenge, err := l.chapAnswer(got, alg)
	if err != nil {
		return err
	}
	resp, got, err = l.exchange(ctx, true, StageSecurity, StageOperational, out)
	if le, ok := err.(*LoginError); ok && le.Status() == 0x0200 && alg != CHAPMD5 {
		// The target chose alg and then faults our response with no
		// reason given (tgt's mutual CHAP with SHA-256).
		le.chapAlg = alg
		le.Hint = fmt.Sprintf("the target chose CHAP_A=%d (%s) but may not implement it: offer MD5 with rd.iscsi.param=node.session.auth.chap_algs=MD5",
			uint8(alg), alg)
	}
	if err != nil {
		return err
	}
	if creds.Mutual() {
		if err := l.verifyTarget(got, alg, ourID, ourChallenge, challenge); err != nil {
			return err
		}
	}
	// The target may need further empty exchanges before it transits.
	for !resp.Transit {
		resp, _, err = l.exchange(ctx, true, StageSecurity, StageOperational, nil)
		if err != nil {
			return err
		}
	}
	if resp.NSG != StageOperational {
		return l.protocol("target transited from security stage to %v, want %v", resp.NSG, StageOperational)
	}
	return nil
}

func containsAlg(algs []CHAPAlgorithm, a CHAPAlgorithm) bool {
	for _, x := range algs {
		if x == a {
			return true
		}
	}
	return false
}

// verifyTarget checks the target's mutual CHAP answer.
func (l *login) verifyTarget(got []KeyValue, alg CHAPAlgorithm, id uint8, ourChallenge, theirChallenge []byte) error {
	creds := l.cfg.Credentials
	mutualFail := func(why string) error {
		return l.fail("target failed mutual CHAP verification ("+why+")", hintInCredentials, nil, false)
	}
	n, okN := lookup(got, "CHAP_N")
	r, okR := lookup(got, "CHAP_R")
	if !okN || !okR {
		return mutualFail("no CHAP_N/CHAP_R from target")
	}
	if subtle.ConstantTimeCompare([]byte(n), []byte(creds.InUsername)) != 1 {
		return mutualFail("wrong target user name")
	}
	theirResp, err := DecodeCHAPBinary(r)
	if err != nil {
		return mutualFail("malformed CHAP_R")
	}
	want, err := CHAPResponse(alg, id, []byte(creds.InPassword), ourChallenge)
	if err != nil {
		return mutualFail("unsupported algorithm")
	}
	if subtle.ConstantTimeCompare(theirResp, want) != 1 {
		return mutualFail("wrong response")
	}
	return nil
}

// operational runs LoginOperationalNegotiation until the target transits to
// full feature phase.
func (l *login) operational(ctx context.Context, neg *negotiator) error {
	kvs := neg.offers
	if l.firstPDU {
		kvs = append(l.leadingKeys(), kvs...)
	}
	for {
		resp, got, err := l.exchange(ctx, true, StageOperational, StageFullFeature, kvs)
		if le, ok := err.(*LoginError); ok && le.Status() == 0x0200 {
			// No reason given: LIO fails so a login that offers only
			// digests it does not accept.
			if keys := noCRC32C(kvs); len(keys) > 0 {
				le.digestKeys = keys
				le.Hint = digestHint(keys, false)
			}
		}
		if err != nil {
			return err
		}
		if v, ok := lookup(got, "AuthMethod"); ok && !isSpecialAnswer(v) {
			return l.protocol("target sent AuthMethod=%s in the operational stage", truncateForError([]byte(v)))
		}
		replies, err := neg.handle(got)
		if dr, ok := err.(*digestRefusal); ok {
			e := l.fail(dr.Error(), dr.hint(), nil, false)
			e.digestKeys = dr.keys()
			return e
		}
		if err != nil {
			return l.fail("negotiation failed", "", err, false)
		}
		if resp.Transit {
			if resp.NSG != StageFullFeature {
				return l.protocol("target transited to %v, want %v", resp.NSG, StageFullFeature)
			}
			if resp.TSIH == 0 {
				return l.protocol("target entered full feature phase with TSIH 0")
			}
			if l.cfg.TSIH != 0 && resp.TSIH != l.cfg.TSIH {
				return l.protocol("reinstatement of TSIH %d answered with TSIH %d", l.cfg.TSIH, resp.TSIH)
			}
			return nil
		}
		kvs = replies
	}
}

// recordDeclarations keeps what the target declares about itself.
func (l *login) recordDeclarations(kvs []KeyValue) error {
	if v, ok := lookup(kvs, "TargetPortalGroupTag"); ok {
		n, err := parseNumber(v)
		if err != nil || n > 0xffff {
			return l.protocol("bad TargetPortalGroupTag %q", truncateForError([]byte(v)))
		}
		l.sess.TPGT = uint16(n)
	}
	if v, ok := lookup(kvs, "TargetAlias"); ok {
		l.sess.TargetAlias = v
	}
	return nil
}

// exchange sends kvs as one logical login request (split into several PDUs
// with the C bit when needed), then reads the target's complete answer
// (asking for more while the target sets C), and returns the final response
// and its parsed text. A non-zero status becomes a *LoginError.
func (l *login) exchange(ctx context.Context, transit bool, csg, nsg Stage, kvs []KeyValue) (*LoginResponse, []KeyValue, error) {
	for _, kv := range kvs {
		if err := validKeyValue(kv); err != nil {
			return nil, nil, l.fail("invalid configuration", "", err, false)
		}
	}
	data := EncodeText(kvs)
	chunk := l.cfg.MaxSendDataSegment
	if chunk <= 0 {
		chunk = defaultMaxSendDataSegment
	}
	// Send all but the last chunk with C=1; the target acknowledges each
	// with an empty response.
	for len(data) > chunk {
		if _, err := l.roundTrip(ctx, false, true, csg, nsg, data[:chunk]); err != nil {
			return nil, nil, err
		}
		data = data[chunk:]
	}
	resp, err := l.roundTrip(ctx, transit, false, csg, nsg, data)
	if err != nil {
		return nil, nil, err
	}
	text := append([]byte(nil), resp.Data...)
	for resp.Continue {
		if resp, err = l.roundTrip(ctx, false, false, csg, nsg, nil); err != nil {
			return nil, nil, err
		}
		text = append(text, resp.Data...)
		if len(text) > MaxLoginDataSegment {
			return nil, nil, l.protocol("login text exceeds %d bytes", MaxLoginDataSegment)
		}
	}
	got, err := ParseText(text)
	if err != nil {
		return nil, nil, l.fail("protocol error", "", err, false)
	}
	if err := l.recordDeclarations(got); err != nil {
		return nil, nil, err
	}
	return resp, got, nil
}

// roundTrip sends one Login Request PDU and reads one Login Response,
// checking the response header.
func (l *login) roundTrip(ctx context.Context, transit, cont bool, csg, nsg Stage, data []byte) (*LoginResponse, error) {
	if l.sent >= maxLoginPDUs {
		return nil, l.protocol("login did not complete within %d PDUs", maxLoginPDUs)
	}
	l.sent++
	req := &LoginRequest{
		Transit: transit, Continue: cont, CSG: csg, NSG: nsg,
		ISID: l.isid, TSIH: l.cfg.TSIH, ITT: l.itt, CID: l.cfg.CID,
		CmdSN: l.cmdSN, ExpStatSN: l.expStat, Data: data,
	}
	l.firstPDU = false
	if err := WritePDU(l.conn, req.PDU()); err != nil {
		return nil, l.netErr(ctx, "send login request", err)
	}
	var p *PDU
	for {
		var err error
		p, err = ReadPDU(l.conn, MaxLoginDataSegment)
		if err != nil {
			return nil, l.netErr(ctx, "read login response", err)
		}
		if p.Opcode() != OpNOPIn && p.Opcode() != OpAsyncMessage {
			break
		}
		// Not expected during login; tolerate and keep reading (bounded
		// by the deadline and the PDU count).
		if l.sent++; l.sent > maxLoginPDUs {
			return nil, l.protocol("too many unexpected PDUs during login")
		}
	}
	if p.Opcode() == OpReject {
		rj, _ := ParseReject(p)
		return nil, l.fail("target rejected login request", "", fmt.Errorf("%s", RejectReason(rj.Reason)), false)
	}
	resp, err := ParseLoginResponse(p)
	if err != nil {
		return nil, l.fail("protocol error", "", err, false)
	}
	l.last = resp
	l.expStat = resp.StatSN + 1
	if resp.StatusClass != 0 || resp.StatusDetail != 0 {
		return nil, l.statusErr(resp)
	}
	switch {
	case resp.ITT != l.itt:
		return nil, l.protocol("login response ITT 0x%08x, want 0x%08x", resp.ITT, l.itt)
	case resp.VersionActive != 0:
		return nil, l.protocol("target speaks iSCSI version %d, we speak 0", resp.VersionActive)
	case resp.ISID != l.isid:
		return nil, l.protocol("login response ISID %v, want %v", resp.ISID, l.isid)
	case resp.CSG != csg:
		return nil, l.protocol("login response stage %v, want %v", resp.CSG, csg)
	case resp.Transit && !transit:
		return nil, l.protocol("target transited without our T bit")
	case resp.Transit && (resp.NSG <= csg || resp.NSG > nsg || resp.NSG == 2):
		return nil, l.protocol("target transited from %v to %v, we asked for %v", csg, resp.NSG, nsg)
	case cont && (len(resp.Data) != 0 || resp.Transit || resp.Continue):
		return nil, l.protocol("target answered a continued request with data or T/C")
	}
	return resp, nil
}

// netErr wraps an I/O error; it is temporary unless ctx was cancelled.
func (l *login) netErr(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
		return l.fail("connection failed", "", fmt.Errorf("%s: %w", step, err), errors.Is(ctx.Err(), context.DeadlineExceeded))
	}
	return l.fail("connection failed", "", fmt.Errorf("%s: %w", step, err), isTemporaryNetErr(err))
}

// statusErr converts a non-zero login status into a LoginError.
func (l *login) statusErr(resp *LoginResponse) *LoginError {
	reason, hint, temp := statusMeaning(resp.StatusClass, resp.StatusDetail, l.cfg.Credentials.Enabled())
	e := &LoginError{Portal: l.cfg.Portal, Target: l.cfg.TargetName, StatusClass: resp.StatusClass,
		StatusDetail: resp.StatusDetail, Reason: reason, Hint: hint, temporary: temp}
	if resp.StatusClass == 0x01 {
		kvs, err := ParseText(resp.Data)
		addr, _ := lookup(kvs, "TargetAddress")
		if err == nil && addr != "" {
			if portal, perr := ParseTargetAddress(addr); perr == nil {
				e.Redirect = portal
				return e
			}
		}
		e.Err = errors.New("redirect without a valid TargetAddress")
		e.Hint, e.temporary = hintBadRedirect, false
	}
	return e
}

// DefaultPort is the iSCSI well-known TCP port.
const DefaultPort = 3260

// ParseTargetAddress parses a TargetAddress value,
// "domainname[:port][,portal-group-tag]" with IPv6 addresses in brackets,
// into "host:port".
func ParseTargetAddress(s string) (string, error) {
	// The target's words: an error quotes them cut short.
	q := truncateForError([]byte(s))
	if i := strings.LastIndexByte(s, ','); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "", errors.New("iscsi: empty TargetAddress")
	}
	host, port := s, strconv.Itoa(DefaultPort)
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", fmt.Errorf("iscsi: TargetAddress %q: unterminated [", q)
		}
		host = s[1:end]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", fmt.Errorf("iscsi: TargetAddress %q: no IPv6 address in brackets", q)
		}
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", fmt.Errorf("iscsi: TargetAddress %q: junk after ]", q)
			}
			port = rest[1:]
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if strings.Count(s, ":") > 1 {
			return "", fmt.Errorf("iscsi: TargetAddress %q: IPv6 address needs brackets", q)
		}
		host, port = s[:i], s[i+1:]
	}
	if host == "" || strings.ContainsAny(host, " \x00/[],") {
		return "", fmt.Errorf("iscsi: TargetAddress %q: bad host", q)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("iscsi: TargetAddress %q: bad port", q)
	}
	return net.JoinHostPort(host, port), nil
}
