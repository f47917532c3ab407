package iscsi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// NegotiatedParams are the operational parameters in force after login, in
// the form the kernel hand-off needs.
type NegotiatedParams struct {
	HeaderDigest string // "None" or "CRC32C"
	DataDigest   string // "None" or "CRC32C"
	// MaxRecvDataSegmentLength is what we declared: the largest data segment
	// the target may send us.
	MaxRecvDataSegmentLength uint32
	// MaxXmitDataSegmentLength is what the target declared: the largest data
	// segment we may send.
	MaxXmitDataSegmentLength uint32
	MaxBurstLength           uint32
	FirstBurstLength         uint32
	InitialR2T               bool
	ImmediateData            bool
	MaxConnections           uint32
	DefaultTime2Wait         uint32
	DefaultTime2Retain       uint32
	MaxOutstandingR2T        uint32
	DataPDUInOrder           bool
	DataSequenceInOrder      bool
	ErrorRecoveryLevel       uint32
}

type keyKind int

const (
	kindList        keyKind = iota // responder picks one of the offered values
	kindMin                        // numeric, result is the minimum
	kindMax                        // numeric, result is the maximum
	kindOr                         // boolean OR
	kindAnd                        // boolean AND
	kindDeclarative                // each side declares its own value
)

type keyDef struct {
	kind     keyKind
	rfcDef   string // RFC 7143 default, used when the target does not answer
	ours     string // what we offer by default
	min, max uint64 // numeric range (RFC 7143)
	// oursOnlyZero: we may offer only 0, though the RFC allows more
	// (what the kernel implements).
	oursOnlyZero bool
	values       []string // allowed list items
}

// operationalKey returns the definition of a negotiable operational key.
func operationalKey(key string) (keyDef, bool) {
	const maxLen = 1<<24 - 1
	switch key {
	case "HeaderDigest", "DataDigest":
		return keyDef{kind: kindList, rfcDef: "None", ours: "None", values: []string{"None", "CRC32C"}}, true
	case "MaxRecvDataSegmentLength":
		return keyDef{kind: kindDeclarative, rfcDef: "8192", ours: "262144", min: 512, max: maxLen}, true
	case "MaxBurstLength":
		return keyDef{kind: kindMin, rfcDef: "262144", ours: "16776192", min: 512, max: maxLen}, true
	case "FirstBurstLength":
		return keyDef{kind: kindMin, rfcDef: "65536", ours: "262144", min: 512, max: maxLen}, true
	case "InitialR2T":
		return keyDef{kind: kindOr, rfcDef: "Yes", ours: "No"}, true
	case "ImmediateData":
		return keyDef{kind: kindAnd, rfcDef: "Yes", ours: "Yes"}, true
	case "MaxConnections":
		return keyDef{kind: kindMin, rfcDef: "1", ours: "1", min: 1, max: 65535}, true
	case "DefaultTime2Wait":
		return keyDef{kind: kindMax, rfcDef: "2", ours: "2", min: 0, max: 3600}, true
	case "DefaultTime2Retain":
		return keyDef{kind: kindMin, rfcDef: "20", ours: "0", min: 0, max: 3600}, true
	case "MaxOutstandingR2T":
		return keyDef{kind: kindMin, rfcDef: "1", ours: "1", min: 1, max: 65535}, true
	case "DataPDUInOrder":
		return keyDef{kind: kindOr, rfcDef: "Yes", ours: "Yes"}, true
	case "DataSequenceInOrder":
		return keyDef{kind: kindOr, rfcDef: "Yes", ours: "Yes"}, true
	case "ErrorRecoveryLevel":
		// RFC 7143 allows 0..2, and a target may offer 2 (the minimum
		// wins); the Linux iscsi_tcp driver implements ERL 0 only, so we
		// never offer more.
		return keyDef{kind: kindMin, rfcDef: "0", ours: "0", min: 0, max: 2, oursOnlyZero: true}, true
	case "IFMarker", "OFMarker":
		// Obsolete (RFC 7143 removed markers); answer No if a target asks.
		return keyDef{kind: kindAnd, rfcDef: "No", ours: "No"}, true
	}
	return keyDef{}, false
}

// offerOrder is the order of keys in our operational offer.
func offerOrder() []string {
	return []string{"HeaderDigest", "DataDigest", "MaxRecvDataSegmentLength", "MaxBurstLength",
		"FirstBurstLength", "InitialR2T", "ImmediateData", "MaxConnections", "DefaultTime2Wait",
		"DefaultTime2Retain", "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder",
		"ErrorRecoveryLevel"}
}

// declarativeTargetKey reports keys the target declares about itself, which
// need no answer.
func declarativeTargetKey(key string) bool {
	switch key {
	case "TargetAlias", "TargetPortalGroupTag", "TargetAddress":
		return true
	}
	return false
}

func parseBool(s string) (bool, error) {
	switch s {
	case "Yes":
		return true, nil
	case "No":
		return false, nil
	}
	return false, fmt.Errorf("%q is not Yes or No", s)
}

func formatBool(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// parseNumber parses an RFC 7143 §6.1 numerical value: a decimal
// constant or a hex constant ("0x2000"). It fits in 32 bits here: no
// operational key is larger.
func parseNumber(s string) (uint64, error) {
	var (
		v   uint64
		err error
	)
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		v, err = strconv.ParseUint(s[2:], 16, 32)
	} else {
		v, err = strconv.ParseUint(s, 10, 32)
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", truncateForError([]byte(s)))
	}
	return v, nil
}

func (d keyDef) parseNum(s string) (uint64, error) {
	v, err := parseNumber(s)
	if err != nil {
		return 0, err
	}
	if v < d.min || v > d.max {
		return 0, fmt.Errorf("%d is outside %d..%d", v, d.min, d.max)
	}
	return v, nil
}

// validate checks a value for the key (a list for kindList).
func (d keyDef) validate(v string) error {
	switch d.kind {
	case kindList:
		items := splitList(v)
		if len(items) == 0 {
			return fmt.Errorf("empty list")
		}
		for _, it := range items {
			if !slices.Contains(d.values, it) {
				return fmt.Errorf("%q is not one of %v", it, d.values)
			}
		}
	case kindMin, kindMax, kindDeclarative:
		n, err := d.parseNum(v)
		if err == nil && d.oursOnlyZero && n != 0 {
			return fmt.Errorf("%d: the kernel's iscsi_tcp implements only 0", n)
		}
		return err
	case kindOr, kindAnd:
		_, err := parseBool(v)
		return err
	}
	return nil
}

// answer computes our answer to a value the target offered for key, given
// our own preference.
func (d keyDef) answer(ours, theirs string) (string, error) {
	switch d.kind {
	case kindList:
		offered := splitList(theirs)
		for _, o := range splitList(ours) {
			if slices.Contains(offered, o) {
				return o, nil
			}
		}
		return valueReject, nil
	case kindMin, kindMax:
		a, err := d.parseNum(ours)
		if err != nil {
			return "", err
		}
		b, err := d.parseNum(theirs)
		if err != nil {
			return "", err
		}
		if (d.kind == kindMin) == (b < a) {
			a = b
		}
		return strconv.FormatUint(a, 10), nil
	case kindOr, kindAnd:
		a, err := parseBool(ours)
		if err != nil {
			return "", err
		}
		b, err := parseBool(theirs)
		if err != nil {
			return "", err
		}
		if d.kind == kindOr {
			return formatBool(a || b), nil
		}
		return formatBool(a && b), nil
	}
	return ours, nil
}

// checkAnswer validates the target's answer to our offer and returns the
// resulting value.
func (d keyDef) checkAnswer(ours, theirs string) (string, error) {
	switch d.kind {
	case kindList:
		if len(splitList(theirs)) != 1 || !slices.Contains(splitList(ours), theirs) {
			return "", fmt.Errorf("answer %q is not one of our offer %q", theirs, ours)
		}
		return theirs, nil
	case kindMin, kindMax:
		want, err := d.answer(ours, theirs)
		if err != nil {
			return "", err
		}
		if got, _ := d.parseNum(theirs); strconv.FormatUint(got, 10) != want {
			return "", fmt.Errorf("answer %q is inconsistent with our offer %q (expected %q)", theirs, ours, want)
		}
		return want, nil
	case kindOr, kindAnd:
		want, err := d.answer(ours, theirs)
		if err != nil {
			return "", err
		}
		if want != theirs {
			return "", fmt.Errorf("answer %q is inconsistent with our offer %q (expected %q)", theirs, ours, want)
		}
		return theirs, nil
	}
	return theirs, nil
}

// negotiator tracks the operational text negotiation of one login.
type negotiator struct {
	prefs    map[string]string // our preferred value per key (defaults + overrides)
	offers   []KeyValue        // keys we offer, in order
	pending  map[string]bool   // offered keys not yet answered
	results  map[string]string // negotiated values
	declined map[string]string // key -> Reject/Irrelevant/NotUnderstood
	targetRD string            // target's declared MaxRecvDataSegmentLength
}

// newNegotiator builds our offer from the defaults and per-call overrides
// (e.g. from rd.iscsi.param=). Overrides must name operational keys and
// carry valid values.
func newNegotiator(overrides []KeyValue) (*negotiator, error) {
	n := &negotiator{
		prefs:    map[string]string{},
		pending:  map[string]bool{},
		results:  map[string]string{},
		declined: map[string]string{},
	}
	order := offerOrder()
	for _, k := range order {
		d, _ := operationalKey(k)
		n.prefs[k] = d.ours
	}
	for _, kv := range overrides {
		d, ok := operationalKey(kv.Key)
		if !ok {
			return nil, fmt.Errorf("iscsi: parameter %s cannot be overridden (not an operational key)", kv.Key)
		}
		if err := d.validate(kv.Value); err != nil {
			return nil, fmt.Errorf("iscsi: parameter %s=%s: %v", kv.Key, kv.Value, err)
		}
		if !slices.Contains(order, kv.Key) {
			order = append(order, kv.Key)
		}
		n.prefs[kv.Key] = kv.Value
	}
	for _, k := range order {
		n.offers = append(n.offers, KeyValue{Key: k, Value: n.prefs[k]})
		n.pending[k] = true
	}
	return n, nil
}

// handle processes the target's keys from one (possibly multi-PDU) login
// response and returns the answers we owe it. Unknown keys are answered
// NotUnderstood; keys this negotiator does not own (security, declarative)
// must be filtered out by the caller or are ignored when declarative.
func (n *negotiator) handle(kvs []KeyValue) ([]KeyValue, error) {
	var (
		replies []KeyValue
		refused []refusedDigest
	)
	for _, kv := range kvs {
		if declarativeTargetKey(kv.Key) {
			continue
		}
		d, known := operationalKey(kv.Key)
		if !known {
			if !isSpecialAnswer(kv.Value) {
				replies = append(replies, KeyValue{Key: kv.Key, Value: valueNotUnderstood})
			}
			continue
		}
		if d.kind == kindDeclarative {
			if isSpecialAnswer(kv.Value) {
				n.declined[kv.Key] = kv.Value
				delete(n.pending, kv.Key)
				continue
			}
			v, err := d.parseNum(kv.Value)
			if err != nil {
				return nil, fmt.Errorf("iscsi: target declared %s: %v", kv.Key, err)
			}
			n.targetRD = strconv.FormatUint(v, 10)
			delete(n.pending, kv.Key) // target's declaration also acknowledges ours
			continue
		}
		if n.pending[kv.Key] {
			delete(n.pending, kv.Key)
			if isSpecialAnswer(kv.Value) {
				// A digest refused is not a digest left at its default:
				// a target that answers Reject may go on to run the
				// connection with digests (RFC 7143 leaves it open), and
				// a session whose two ends disagree on them dies at its
				// first command.
				if isDigestKey(kv.Key) && (kv.Value == valueReject || !slices.Contains(splitList(n.prefs[kv.Key]), "None")) {
					refused = append(refused, refusedDigest{key: kv.Key, offer: n.prefs[kv.Key], answer: kv.Value})
					continue
				}
				n.declined[kv.Key] = kv.Value
				continue
			}
			res, err := d.checkAnswer(n.prefs[kv.Key], kv.Value)
			if err != nil && isDigestKey(kv.Key) {
				refused = append(refused, refusedDigest{key: kv.Key, offer: n.prefs[kv.Key], answer: kv.Value})
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("iscsi: target answered %s: %v", kv.Key, err)
			}
			n.results[kv.Key] = res
			continue
		}
		// The target offers a key we did not offer (or re-offers one).
		if isSpecialAnswer(kv.Value) {
			continue
		}
		ours, ok := n.prefs[kv.Key]
		if !ok {
			ours = d.ours
		}
		ans, err := d.answer(ours, kv.Value)
		if err != nil {
			ans = valueReject
		}
		if ans != valueReject {
			n.results[kv.Key] = ans
		}
		replies = append(replies, KeyValue{Key: kv.Key, Value: ans})
	}
	if len(refused) > 0 {
		return nil, &digestRefusal{refused}
	}
	return replies, nil
}

// isDigestKey reports whether key is HeaderDigest or DataDigest.
func isDigestKey(key string) bool { return slices.Contains(digestKeys, key) }

// refusedDigest is a target's answer to our digest offer that leaves no
// agreed digest: Reject, or a value we did not offer.
type refusedDigest struct{ key, offer, answer string }

// digestRefusal is the digests a target refused in one response.
type digestRefusal struct{ refused []refusedDigest }

func (e *digestRefusal) Error() string {
	parts := make([]string, len(e.refused))
	for i, r := range e.refused {
		parts[i] = fmt.Sprintf("%s=%s (answered %s)", r.key, r.offer, truncateForError([]byte(r.answer)))
	}
	return "target refused " + strings.Join(parts, ", ")
}

// keys are the refused digests we offered without CRC32C: a retry may
// offer it.
func (e *digestRefusal) keys() []string {
	var out []string
	for _, r := range e.refused {
		if !slices.Contains(splitList(r.offer), "CRC32C") {
			out = append(out, r.key)
		}
	}
	return out
}

// hint says what to set, given what we offered.
func (e *digestRefusal) hint() string {
	if keys := e.keys(); len(keys) > 0 {
		return digestHint(keys, true)
	}
	r := e.refused[0]
	if !slices.Contains(splitList(r.offer), "None") {
		return "the target may not run digests: accept None too, " + digestSetting(r.key, DigestOffer)
	}
	return "check the target's " + r.key + " setting"
}

func isSpecialAnswer(v string) bool {
	return v == valueReject || v == valueIrrelevant || v == valueNotUnderstood
}

// value returns the negotiated value of key, or the RFC default when the
// target did not answer or declined. A Boolean we offered with the value
// that decides the result by itself (No for AND, Yes for OR) needs no
// answer (RFC 7143 §6.2.2): it is the result.
func (n *negotiator) value(key string) string {
	if v, ok := n.results[key]; ok {
		return v
	}
	d, _ := operationalKey(key)
	if _, declined := n.declined[key]; !declined && n.offered(key) {
		switch ours := n.prefs[key]; {
		case d.kind == kindAnd && ours == "No", d.kind == kindOr && ours == "Yes":
			return ours
		}
	}
	return d.rfcDef
}

// offered reports whether key was in our offer.
func (n *negotiator) offered(key string) bool {
	for _, kv := range n.offers {
		if kv.Key == key {
			return true
		}
	}
	return false
}

// params computes the parameters in force.
func (n *negotiator) params() (NegotiatedParams, error) {
	num := func(key string) (uint32, error) {
		d, _ := operationalKey(key)
		v, err := d.parseNum(n.value(key))
		if err != nil {
			return 0, fmt.Errorf("iscsi: negotiated %s: %v", key, err)
		}
		return uint32(v), nil
	}
	boolean := func(key string) (bool, error) {
		v, err := parseBool(n.value(key))
		if err != nil {
			return false, fmt.Errorf("iscsi: negotiated %s: %v", key, err)
		}
		return v, nil
	}
	var (
		p    NegotiatedParams
		errs []error
		err  error
	)
	set := func(e error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	p.HeaderDigest = n.value("HeaderDigest")
	p.DataDigest = n.value("DataDigest")
	d, _ := operationalKey("MaxRecvDataSegmentLength")
	v, err := d.parseNum(n.prefs["MaxRecvDataSegmentLength"])
	set(err)
	p.MaxRecvDataSegmentLength = uint32(v)
	xmit := d.rfcDef
	if n.targetRD != "" {
		xmit = n.targetRD
	}
	v, err = d.parseNum(xmit)
	set(err)
	p.MaxXmitDataSegmentLength = uint32(v)
	p.MaxBurstLength, err = num("MaxBurstLength")
	set(err)
	p.FirstBurstLength, err = num("FirstBurstLength")
	set(err)
	p.InitialR2T, err = boolean("InitialR2T")
	set(err)
	p.ImmediateData, err = boolean("ImmediateData")
	set(err)
	p.MaxConnections, err = num("MaxConnections")
	set(err)
	p.DefaultTime2Wait, err = num("DefaultTime2Wait")
	set(err)
	p.DefaultTime2Retain, err = num("DefaultTime2Retain")
	set(err)
	p.MaxOutstandingR2T, err = num("MaxOutstandingR2T")
	set(err)
	p.DataPDUInOrder, err = boolean("DataPDUInOrder")
	set(err)
	p.DataSequenceInOrder, err = boolean("DataSequenceInOrder")
	set(err)
	p.ErrorRecoveryLevel, err = num("ErrorRecoveryLevel")
	set(err)
	if len(errs) > 0 {
		return p, errs[0]
	}
	if p.FirstBurstLength > p.MaxBurstLength {
		// RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength.
		p.FirstBurstLength = p.MaxBurstLength
	}
	return p, nil
}
