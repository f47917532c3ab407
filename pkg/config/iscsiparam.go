package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/netroot/netroot/pkg/iscsi"
)

// Session is what rd.iscsi.param= asks of every iSCSI session, validated
// against what netroot's initiator (pkg/iscsi) and the kernel accept.
// The zero value asks for nothing: the initiator's defaults.
type Session struct {
	// LoginKeys are the RFC 7143 operational keys to offer at login, each
	// once (a key given again takes the later value, in the place of the
	// first), with canonical names and numbers in decimal: pass them as
	// iscsi.LoginConfig.Params.
	LoginKeys []iscsi.KeyValue
	// CHAPAlgorithms are node.session.auth.chap_algs in preference
	// order, nil when not given (the initiator's default): pass them as
	// iscsi.LoginConfig.CHAPAlgorithms.
	CHAPAlgorithms []iscsi.CHAPAlgorithm
	// The kernel session's settings; nil when not given (KernelOptions).
	//
	// ReplacementTimeout is node.session.timeo.replacement_timeout in
	// seconds; negative keeps I/O queued until the session returns.
	ReplacementTimeout *int
	// NoopOutInterval and NoopOutTimeout are node.conn[0].timeo.
	// noop_out_interval and noop_out_timeout in seconds; 0 turns the
	// kernel's NOP-Out pings off.
	NoopOutInterval, NoopOutTimeout *int
	// CmdsMax is node.session.cmds_max, QueueDepth
	// node.session.queue_depth.
	CmdsMax, QueueDepth *int
	// LoginTimeout is node.conn[0].timeo.login_timeout in seconds: the
	// bound of one dial and login (iscsi.ConnectOptions.AttemptTimeout).
	LoginTimeout *int
	// ScanManual is node.session.scan=manual: only the LUN netroot= names
	// is scanned. Unset (auto, open-iscsi's default) every LUN of a
	// session's target appears, as after dracut's login: /init waits for
	// the named LUN's disk and scans the rest beside the mount.
	ScanManual bool
}

// KernelOptions returns base with the kernel settings of rd.iscsi.param=
// applied (those given; the others keep base's).
func (s Session) KernelOptions(base iscsi.KernelOptions) iscsi.KernelOptions {
	o := base
	if s.ReplacementTimeout != nil {
		o.RecoveryTimeoutSec = *s.ReplacementTimeout
		o.RecoveryTimeoutSet = true
	}
	if s.NoopOutInterval != nil {
		o.NoopIntervalSec = *s.NoopOutInterval
	}
	if s.NoopOutTimeout != nil {
		o.NoopTimeoutSec = *s.NoopOutTimeout
	}
	if s.CmdsMax != nil {
		o.CmdsMax = uint16(*s.CmdsMax)
	}
	if s.QueueDepth != nil {
		o.QueueDepth = uint16(*s.QueueDepth)
	}
	return o
}

// NoopGiven reports whether rd.iscsi.param= set either NOP-Out setting,
// which then wins over /init's own choice.
func (s Session) NoopGiven() bool { return s.NoopOutInterval != nil || s.NoopOutTimeout != nil }

// IsZero reports whether rd.iscsi.param= asked for nothing.
func (s Session) IsZero() bool {
	return len(s.LoginKeys) == 0 && s.CHAPAlgorithms == nil && s.ReplacementTimeout == nil &&
		!s.NoopGiven() && s.CmdsMax == nil && s.QueueDepth == nil && s.LoginTimeout == nil && !s.ScanManual
}

// iscsiParamKind is what netroot does with an open-iscsi setting.
type iscsiParamKind int

const (
	// ipLogin: an RFC 7143 operational key offered at login.
	ipLogin iscsiParamKind = iota
	// ipKernel: a kernel session setting (Session's pointers).
	ipKernel
	// ipCHAPAlgs: node.session.auth.chap_algs.
	ipCHAPAlgs
	// ipLoginRetry: node.session.initial_login_retry_max, which is what
	// dracut turns rd.iscsi.login_retry_max into.
	ipLoginRetry
	// ipAuthMethod: node.session.auth.authmethod, None or CHAP, which
	// must agree with the credentials given (netroot uses CHAP exactly
	// when they are).
	ipAuthMethod
	// ipScan: node.session.scan, auto or manual.
	ipScan
	// ipFixed: netroot always behaves one way; only that value is taken.
	ipFixed
	// ipRefused: netroot cannot honour it.
	ipRefused
)

// iscsiParam is one entry of the rd.iscsi.param= table.
type iscsiParam struct {
	Key  string
	kind iscsiParamKind
	// login is the RFC 7143 key of an ipLogin entry.
	login string
	// fixed is the one value an ipFixed entry takes.
	fixed string
	// min and max bound an ipKernel or ipLoginRetry number.
	min, max int
	// why says why an ipFixed or ipRefused entry is limited.
	why string
}

const (
	whyCredentials = "give CHAP credentials with rd.iscsi.username=/rd.iscsi.password= (rd.iscsi.in.*) or in netroot=iscsi:<user>:<password>@…, which netroot keeps out of its logs"
	whyTarget      = "the target is netroot='s (or rd.iscsi.target.*'s)"
	whyIscsid      = "a setting of iscsid's session recovery; netroot's keeper recovers the root's sessions after switch_root"
	whySocket      = "netroot's initiator does not set TCP socket options"
)

// iscsiParams is every node.* setting open-iscsi documents (etc/iscsid.conf,
// its README, the node fields of usr/idbm_fields.h) with what netroot does
// with it. node.session.iscsi.<key> and node.conn[0].iscsi.<key> are
// added for every RFC 7143 key the login negotiates (iscsiParamTable).
var iscsiParams = []iscsiParam{
	{Key: "node.name", kind: ipRefused, why: whyTarget},
	{Key: "node.tpgt", kind: ipRefused, why: "the target reports its portal group at login"},
	{Key: "node.startup", kind: ipRefused, why: "/init logs in to every target of the command line at boot"},
	{Key: "node.leading_login", kind: ipRefused, why: "a setting of iscsid's iface logins; netroot logs in once per target"},
	{Key: "node.discovery_address", kind: ipRefused, why: "discovery is not supported"},
	{Key: "node.discovery_port", kind: ipRefused, why: "discovery is not supported"},
	{Key: "node.discovery_type", kind: ipRefused, why: "discovery is not supported"},
	{Key: "node.boot_lun", kind: ipRefused, why: "the LUN is netroot='s <LUN> field"},
	{Key: "node.session.initial_cmdsn", kind: ipRefused, why: "netroot's initiator numbers commands itself"},
	{Key: "node.session.initial_login_retry_max", kind: ipLoginRetry, min: 0, max: 10000},
	{Key: "node.session.cmds_max", kind: ipKernel, min: 16, max: 2048},
	{Key: "node.session.queue_depth", kind: ipKernel, min: 1, max: 1024},
	{Key: "node.session.xmit_thread_priority", kind: ipRefused, why: "netroot does not change the kernel's transmit work queue's priority (open-iscsi no longer can on 6.x kernels either)"},
	{Key: "node.session.nr_sessions", kind: ipFixed, fixed: "1", why: "netroot opens one session per target"},
	{Key: "node.session.auth.authmethod", kind: ipAuthMethod, why: "netroot uses CHAP exactly when credentials are given (" + whyCredentials + ")"},
	{Key: "node.session.auth.username", kind: ipRefused, why: whyCredentials},
	{Key: "node.session.auth.password", kind: ipRefused, why: whyCredentials},
	{Key: "node.session.auth.password_length", kind: ipRefused, why: whyCredentials},
	{Key: "node.session.auth.username_in", kind: ipRefused, why: whyCredentials},
	{Key: "node.session.auth.password_in", kind: ipRefused, why: whyCredentials},
	{Key: "node.session.auth.password_in_length", kind: ipRefused, why: whyCredentials},
	{Key: "node.session.auth.chap_algs", kind: ipCHAPAlgs},
	{Key: "node.session.timeo.replacement_timeout", kind: ipKernel, min: -1, max: 1<<31 - 1},
	{Key: "node.session.err_timeo.abort_timeout", kind: ipFixed, fixed: "15", why: "netroot's kernel hand-off always sets open-iscsi's default"},
	{Key: "node.session.err_timeo.lu_reset_timeout", kind: ipFixed, fixed: "30", why: "netroot's kernel hand-off always sets open-iscsi's default"},
	{Key: "node.session.err_timeo.tgt_reset_timeout", kind: ipFixed, fixed: "30", why: "netroot's kernel hand-off always sets open-iscsi's default"},
	{Key: "node.session.err_timeo.host_reset_timeout", kind: ipRefused, why: "netroot's kernel hand-off does not set it"},
	{Key: "node.session.iscsi.FastAbort", kind: ipFixed, fixed: "Yes", why: "netroot's kernel hand-off always sets FastAbort"},
	{Key: "node.session.iscsi.ERL", kind: ipLogin, login: "ErrorRecoveryLevel"},
	{Key: "node.session.scan", kind: ipScan},
	{Key: "node.session.reopen_max", kind: ipRefused, why: whyIscsid},
	{Key: "node.session.sess_reopen_log_freq", kind: ipRefused, why: whyIscsid},
	{Key: "node.conn[0].address", kind: ipRefused, why: "the portal is netroot='s <servername>"},
	{Key: "node.conn[0].port", kind: ipRefused, why: "the portal is netroot='s <port>"},
	{Key: "node.conn[0].startup", kind: ipRefused, why: "/init logs in to every target of the command line at boot"},
	{Key: "node.conn[0].tcp.window_size", kind: ipRefused, why: whySocket},
	{Key: "node.conn[0].tcp.type_of_service", kind: ipRefused, why: whySocket},
	{Key: "node.conn[0].tcp.congestion_control", kind: ipRefused, why: whySocket},
	{Key: "node.conn[0].timeo.logout_timeout", kind: ipRefused, why: "netroot never logs out of the root's session"},
	{Key: "node.conn[0].timeo.login_timeout", kind: ipKernel, min: 1, max: 3600},
	{Key: "node.conn[0].timeo.auth_timeout", kind: ipRefused, why: "the login's authentication is bounded by node.conn[0].timeo.login_timeout"},
	{Key: "node.conn[0].timeo.noop_out_interval", kind: ipKernel, min: 0, max: 3600},
	{Key: "node.conn[0].timeo.noop_out_timeout", kind: ipKernel, min: 0, max: 3600},
	{Key: "node.conn[0].iscsi.MaxXmitDataSegmentLength", kind: ipFixed, fixed: "0", why: "netroot sends data segments as large as the target's MaxRecvDataSegmentLength, which is open-iscsi's 0"},
}

// connKeys are the RFC 7143 keys of connection scope (node.conn[0].iscsi.*
// in open-iscsi); the others are session-wide (node.session.iscsi.*).
var connKeys = map[string]bool{"HeaderDigest": true, "DataDigest": true, "MaxRecvDataSegmentLength": true, "IFMarker": true, "OFMarker": true}

// nonOperationalKeys are RFC 7143 keys a login sets itself.
var nonOperationalKeys = map[string]string{
	"AuthMethod":               "netroot uses CHAP exactly when credentials are given",
	"SessionType":              "netroot logs in to Normal sessions",
	"TargetName":               whyTarget,
	"InitiatorName":            "the initiator is rd.iscsi.initiator=",
	"InitiatorAlias":           "not sent by netroot",
	"TargetAlias":              "declared by the target",
	"TargetAddress":            "declared by the target (redirection)",
	"TargetPortalGroupTag":     "declared by the target",
	"SendTargets":              "discovery is not supported",
	"OFMarkInt":                "markers are obsolete (RFC 7143); netroot answers No to them",
	"IFMarkInt":                "markers are obsolete (RFC 7143); netroot answers No to them",
	"TaskReporting":            "not negotiated by netroot's initiator",
	"iSCSIProtocolLevel":       "not negotiated by netroot's initiator",
	"MaxXmitDataSegmentLength": "not an RFC 7143 key: use node.conn[0].iscsi.MaxXmitDataSegmentLength",
}

// iscsiParamTable returns every setting rd.iscsi.param= knows, keyed by
// name: iscsiParams plus, for each RFC 7143 key the login negotiates, its
// bare name and its open-iscsi name (node.session.iscsi.<key> or
// node.conn[0].iscsi.<key>).
func iscsiParamTable() map[string]iscsiParam {
	t := map[string]iscsiParam{}
	for _, p := range iscsiParams {
		t[p.Key] = p
	}
	for _, k := range iscsi.LoginKeys() {
		t[k.Name] = iscsiParam{Key: k.Name, kind: ipLogin, login: k.Name}
		right, wrong := "node.session.iscsi.", "node.conn[0].iscsi."
		if connKeys[k.Name] {
			right, wrong = wrong, right
		}
		if _, ok := t[right+k.Name]; !ok {
			t[right+k.Name] = iscsiParam{Key: right + k.Name, kind: ipLogin, login: k.Name}
		}
		if _, ok := t[wrong+k.Name]; !ok {
			t[wrong+k.Name] = iscsiParam{Key: wrong + k.Name, kind: ipRefused, why: "write " + right + k.Name}
		}
	}
	for k, why := range nonOperationalKeys {
		if _, ok := t[k]; !ok {
			t[k] = iscsiParam{Key: k, kind: ipRefused, why: why}
		}
	}
	return t
}

// ISCSIParams lists every setting rd.iscsi.param= knows with what netroot
// does with it ("applied", or "only <value>: why", or "refused: why"),
// sorted by name, for the reference documentation.
func ISCSIParams() [][2]string {
	t := iscsiParamTable()
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		p := t[k]
		var v string
		switch {
		case sessionOnly[k] && !supportSession:
			v = "refused for now: " + whyGated
		case p.kind == ipLogin:
			v = "applied: login key " + p.login
			if note := loginKeyNotes[p.login]; note != "" {
				v += " (" + note + ")"
			}
		case p.kind == ipKernel:
			v = fmt.Sprintf("applied: kernel session setting (%d-%d)", p.min, p.max)
		case p.kind == ipCHAPAlgs:
			v = "applied: CHAP algorithms offered, in order (" + strings.Join(iscsi.CHAPAlgorithmNames(), ", ") +
				"); unset, netroot offers SHA256,MD5 and logs in once more with MD5 alone when a target fails the SHA-256 response (tgt does)"
		case p.kind == ipLoginRetry:
			v = "applied: login attempts per target, as rd.iscsi.login_retry_max"
		case p.kind == ipAuthMethod:
			v = "checked: None or CHAP, as the credentials given say (" + p.why + ")"
		case p.kind == ipScan:
			v = "applied: auto (the default, as open-iscsi's: every LUN of the target appears — /init waits for the LUN netroot= names and scans the others beside the mount) or manual (only that LUN is scanned)"
		case p.kind == ipFixed:
			v = "only " + p.fixed + ": " + p.why
		default:
			v = "refused: " + p.why
		}
		out = append(out, [2]string{k, v})
	}
	return out
}

// loginKeyNotes say what netroot does with a login key left unset.
var loginKeyNotes = map[string]string{
	"HeaderDigest": digestNote,
	"DataDigest":   digestNote,
}

const digestNote = "netroot offers None; unset, a target that requires digests gets a second login offering CRC32C,None, " +
	"set, it is offered as given; CRC32C,None asks for digests (LIO runs them, tgt only when set to CRC32C): docs/interop.md"

// iscsiSession accumulates rd.iscsi.param= into a Session.
type iscsiSession struct {
	s     Session
	table map[string]iscsiParam
	// retry is node.session.initial_login_retry_max; setRetry says it
	// was given.
	retry    int
	setRetry bool
	// gated refuses the settings only Session carries while /init does
	// not apply it (supportSession).
	gated bool
	// authMethod is node.session.auth.authmethod ("None" or "CHAP"),
	// "" when not given: finishISCSI checks it against the credentials.
	authMethod string
}

// whyGated says why a sessionOnly setting is refused for now.
const whyGated = "/init does not apply it yet (it reads the settings an older plan format can carry)"

// add applies one rd.iscsi.param=key=value, returning why it is refused.
// It never echoes a value of a credential setting.
func (is *iscsiSession) add(key, value string) error {
	if is.table == nil {
		is.table = iscsiParamTable()
	}
	p, ok := is.table[key]
	if !ok {
		return unknownISCSIParam(key, is.table)
	}
	if is.gated && sessionOnly[key] {
		return fmt.Errorf("%w: %s cannot be applied: %s", ErrUnsupported, key, whyGated)
	}
	switch p.kind {
	case ipRefused:
		return fmt.Errorf("%w: %s cannot be applied: %s", ErrUnsupported, key, p.why)
	case ipFixed:
		if value != p.fixed && !(p.fixed == "Yes" && strings.EqualFold(value, "yes")) {
			return fmt.Errorf("%w: %s can only be %s: %s", ErrUnsupported, key, p.fixed, p.why)
		}
		return nil
	case ipAuthMethod:
		switch {
		case strings.EqualFold(value, "None"):
			is.authMethod = "None"
		case strings.EqualFold(value, "CHAP"):
			is.authMethod = "CHAP"
		default:
			return fmt.Errorf("%w: %s=%s: want None or CHAP", ErrSyntax, key, value)
		}
		return nil
	case ipScan:
		switch value {
		case "auto", "manual":
			is.s.ScanManual = value == "manual"
		default:
			return fmt.Errorf("%w: %s=%s: want auto or manual", ErrSyntax, key, value)
		}
		return nil
	case ipLoginRetry:
		n, err := parseUint(value, p.min, p.max)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		is.retry, is.setRetry = n, true
		return nil
	case ipKernel:
		n, err := parseInt(value, p.min, p.max)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		switch key {
		case "node.session.timeo.replacement_timeout":
			is.s.ReplacementTimeout = &n
		case "node.session.cmds_max":
			if n&(n-1) != 0 {
				return fmt.Errorf("%w: %s=%d: want a power of two from 16 to 2048 (the kernel refuses others)", ErrSyntax, key, n)
			}
			is.s.CmdsMax = &n
		case "node.session.queue_depth":
			is.s.QueueDepth = &n
		case "node.conn[0].timeo.noop_out_interval":
			is.s.NoopOutInterval = &n
		case "node.conn[0].timeo.noop_out_timeout":
			is.s.NoopOutTimeout = &n
		case "node.conn[0].timeo.login_timeout":
			is.s.LoginTimeout = &n
		}
		return nil
	case ipCHAPAlgs:
		var algs []iscsi.CHAPAlgorithm
		for _, name := range strings.Split(value, ",") {
			a, err := iscsi.CHAPAlgorithmByName(strings.TrimSpace(name))
			if err != nil {
				return fmt.Errorf("%w: %s: %q is not one of %s", ErrSyntax, key, name, strings.Join(iscsi.CHAPAlgorithmNames(), ", "))
			}
			for _, o := range algs {
				if o == a {
					return fmt.Errorf("%w: %s: %s is listed twice", ErrSyntax, key, name)
				}
			}
			algs = append(algs, a)
		}
		is.s.CHAPAlgorithms = algs
		return nil
	}
	v, err := loginValue(p.login, value)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	for i, kv := range is.s.LoginKeys {
		if kv.Key == p.login {
			is.s.LoginKeys[i].Value = v
			return nil
		}
	}
	is.s.LoginKeys = append(is.s.LoginKeys, iscsi.KeyValue{Key: p.login, Value: v})
	return nil
}

// unknownISCSIParam says a key is unknown, with the nearest known one.
func unknownISCSIParam(key string, table map[string]iscsiParam) error {
	switch {
	case strings.HasPrefix(key, "discovery."):
		return fmt.Errorf("%w: %s: discovery is not supported", ErrUnsupported, key)
	case strings.HasPrefix(key, "iface."):
		return fmt.Errorf("%w: %s: iface records are not supported", ErrUnsupported, key)
	case strings.HasPrefix(key, "node.conn[") && !strings.HasPrefix(key, "node.conn[0]"):
		return fmt.Errorf("%w: %s: netroot's sessions have one connection (node.conn[0])", ErrUnsupported, key)
	}
	names := make([]string, 0, len(table))
	for k := range table {
		names = append(names, k)
	}
	hint := ""
	if c := closestFold(key, names); c != "" {
		hint = " (did you mean " + c + "?)"
	}
	return fmt.Errorf("%w: %s is not an open-iscsi setting or RFC 7143 key netroot knows%s", ErrSyntax, key, hint)
}

// closestFold is closest ignoring ASCII case (open-iscsi's names mix it).
func closestFold(s string, candidates []string) string {
	low := strings.ToLower(s)
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(low, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// loginValue validates an RFC 7143 key's value against what the login's
// negotiator takes (iscsi.LoginKeys) and returns it in canonical form:
// numbers in decimal (RFC 7143 §6.1 allows 0x hex too), Yes/No, list
// items spelt as the RFC does.
func loginValue(key, value string) (string, error) {
	var k iscsi.LoginKey
	for _, lk := range iscsi.LoginKeys() {
		if lk.Name == key {
			k = lk
		}
	}
	switch k.Type {
	case iscsi.LoginKeyNumber:
		n, err := parseRFCNumber(value)
		if err != nil {
			return "", err
		}
		if n < k.Min || n > k.Max {
			if k.Min == k.Max {
				return "", fmt.Errorf("%w: %s=%s: only %d (the kernel's iscsi_tcp implements ErrorRecoveryLevel 0 only)", ErrUnsupported, key, value, k.Min)
			}
			return "", fmt.Errorf("%w: %s=%s is outside %d-%d", ErrSyntax, key, value, k.Min, k.Max)
		}
		return strconv.FormatUint(n, 10), nil
	case iscsi.LoginKeyBoolean:
		switch strings.ToLower(value) {
		case "yes":
			return "Yes", nil
		case "no":
			return "No", nil
		}
		return "", fmt.Errorf("%w: %s=%q: want Yes or No", ErrSyntax, key, value)
	}
	var items []string
	for _, it := range strings.Split(value, ",") {
		found := ""
		for _, v := range k.Values {
			if strings.EqualFold(strings.TrimSpace(it), v) {
				found = v
			}
		}
		if found == "" {
			return "", fmt.Errorf("%w: %s=%q: want a list of %s", ErrSyntax, key, value, strings.Join(k.Values, ","))
		}
		for _, o := range items {
			if o == found {
				return "", fmt.Errorf("%w: %s=%q lists %s twice", ErrSyntax, key, value, found)
			}
		}
		items = append(items, found)
	}
	return strings.Join(items, ","), nil
}

// parseRFCNumber parses an RFC 7143 numerical value: decimal, or
// hexadecimal with 0x (§6.1), at most 64 bits.
func parseRFCNumber(s string) (uint64, error) {
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		n, err := strconv.ParseUint(h, 16, 64)
		if err != nil || h == "" || strings.HasPrefix(h, "+") {
			return 0, fmt.Errorf("%w: %q is not a hexadecimal number", ErrSyntax, s)
		}
		return n, nil
	}
	if !isDigits(s) {
		return 0, fmt.Errorf("%w: %q is not a number (decimal, or hexadecimal with 0x)", ErrSyntax, s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s is too large", ErrSyntax, s)
	}
	return n, nil
}

// parseInt parses a decimal number, possibly negative, in [min, max].
func parseInt(s string, min, max int) (int, error) {
	neg := strings.HasPrefix(s, "-")
	n, err := parseUint(strings.TrimPrefix(s, "-"), 0, 1<<31-1)
	if err != nil {
		return 0, err
	}
	if neg {
		n = -n
	}
	if n < min || n > max {
		return 0, fmt.Errorf("%w: %d is out of range %d-%d", ErrSyntax, n, min, max)
	}
	return n, nil
}

// legacyParams returns the accepted rd.iscsi.param= entries in the
// spelling of Plan.ISCSI.Params (see there).
func (is *iscsiSession) legacyParams() []KV {
	s := is.s
	var out []KV
	for _, kv := range s.LoginKeys {
		out = append(out, KV{Key: kv.Key, Value: kv.Value})
	}
	num := func(key string, p *int) {
		if p != nil {
			out = append(out, KV{Key: key, Value: strconv.Itoa(*p)})
		}
	}
	num("node.session.timeo.replacement_timeout", s.ReplacementTimeout)
	num("node.conn[0].timeo.noop_out_interval", s.NoopOutInterval)
	num("node.conn[0].timeo.noop_out_timeout", s.NoopOutTimeout)
	num("node.session.cmds_max", s.CmdsMax)
	num("node.session.queue_depth", s.QueueDepth)
	num("node.conn[0].timeo.login_timeout", s.LoginTimeout)
	if s.CHAPAlgorithms != nil {
		names := make([]string, len(s.CHAPAlgorithms))
		for i, a := range s.CHAPAlgorithms {
			for _, n := range iscsi.CHAPAlgorithmNames() {
				if b, _ := iscsi.CHAPAlgorithmByName(n); b == a {
					names[i] = n
				}
			}
		}
		out = append(out, KV{Key: "node.session.auth.chap_algs", Value: strings.Join(names, ",")})
	}
	return out
}
