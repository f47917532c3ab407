package iscsi

import (
	"errors"
	"slices"
	"strings"
)

// A login can fail because of what we offered by default rather than
// what the operator asked for: digests a target requires (LIO fails the
// login with 0x0200, others answer Reject), or a CHAP algorithm a target
// numbers but does not implement (tgt's mutual CHAP with SHA-256 fails
// with 0x0200). Connect and the keeper retry such a login once with the
// other offer — never overriding a setting the operator gave
// (rd.iscsi.param=) — and otherwise the error names the setting to give.

// digestKeys are the login keys of the digests.
var digestKeys = []string{"HeaderDigest", "DataDigest"}

// DigestOffer is the digest offer of a retry: CRC32C preferred, None
// accepted, as open-iscsi's iscsid.conf suggests.
const DigestOffer = "CRC32C,None"

// digestSetting is the rd.iscsi.param= setting of a digest key.
func digestSetting(key, value string) string {
	return "rd.iscsi.param=node.conn[0].iscsi." + key + "=" + value
}

// digestHint names the settings that make the login offer digests.
func digestHint(keys []string, certain bool) string {
	var ps []string
	for _, k := range keys {
		ps = append(ps, digestSetting(k, DigestOffer))
	}
	if certain {
		return "the target requires digests: set " + strings.Join(ps, " ")
	}
	return "a target that requires digests fails a login offering none this way (LIO does): if this one does, set " +
		strings.Join(ps, " ") + "; else " + hintInitiatorError
}

// pinned reports whether params set key.
func pinned(params []KeyValue, key string) bool {
	return slices.ContainsFunc(params, func(kv KeyValue) bool { return kv.Key == key })
}

// offersCRC32C reports whether params offer CRC32C for the digest key.
func offersCRC32C(params []KeyValue, key string) bool {
	for _, kv := range params {
		if kv.Key == key {
			return slices.Contains(splitList(kv.Value), "CRC32C")
		}
	}
	d, _ := operationalKey(key)
	return slices.Contains(splitList(d.ours), "CRC32C")
}

// noCRC32C returns the digest keys kvs offers without CRC32C.
func noCRC32C(kvs []KeyValue) []string {
	var out []string
	for _, k := range digestKeys {
		if v, ok := lookup(kvs, k); ok && !slices.Contains(splitList(v), "CRC32C") {
			out = append(out, k)
		}
	}
	return out
}

// RetryWithDigests returns cfg offering CRC32C,None for the digests err
// may be about, and true, when err is a failed login that a target
// requiring digests would cause and cfg.Params leaves those digests to
// the default (the operator did not choose them). Otherwise it returns cfg
// and false.
func RetryWithDigests(cfg LoginConfig, err error) (LoginConfig, bool) {
	le, ok := errors.AsType[*LoginError](err)
	if !ok || len(le.digestKeys) == 0 {
		return cfg, false
	}
	params := slices.Clone(cfg.Params)
	changed := false
	for _, k := range le.digestKeys {
		if pinned(cfg.Params, k) || offersCRC32C(cfg.Params, k) {
			continue
		}
		params = append(params, KeyValue{Key: k, Value: DigestOffer})
		changed = true
	}
	if !changed {
		return cfg, false
	}
	cfg.Params = params
	return cfg, true
}

// RetryWithMD5 returns cfg offering CHAP MD5 only, and true, when err is
// a login the target failed with 0x0200 right after our CHAP response
// with another algorithm, and the operator did not choose the algorithms
// (cfg.CHAPAlgorithms nil: node.session.auth.chap_algs not given).
func RetryWithMD5(cfg LoginConfig, err error) (LoginConfig, bool) {
	le, ok := errors.AsType[*LoginError](err)
	if !ok || le.chapAlg == 0 || cfg.CHAPAlgorithms != nil || !cfg.Credentials.Enabled() {
		return cfg, false
	}
	cfg.CHAPAlgorithms = []CHAPAlgorithm{CHAPMD5}
	return cfg, true
}

// DigestsOf names the digests a session runs, e.g. "header and data
// digests CRC32C", or "" without digests.
func DigestsOf(p NegotiatedParams) string {
	h, d := p.HeaderDigest == "CRC32C", p.DataDigest == "CRC32C"
	switch {
	case h && d:
		return "header and data digests CRC32C"
	case h:
		return "header digest CRC32C"
	case d:
		return "data digest CRC32C"
	}
	return ""
}
