package iscsi

import "fmt"

// LoginKeyType is how a login key's value is written (RFC 7143 §6).
type LoginKeyType int

// The value types of the operational keys the login negotiates.
const (
	// LoginKeyNumber is a decimal number in [Min, Max].
	LoginKeyNumber LoginKeyType = iota
	// LoginKeyBoolean is Yes or No.
	LoginKeyBoolean
	// LoginKeyList is a comma-separated list of Values, in preference
	// order.
	LoginKeyList
)

// LoginKey describes one operational key Login offers or answers: the
// keys LoginConfig.Params may override. It is what the login's own
// negotiator checks, so that a configuration can be validated before
// any network traffic (netroot check).
type LoginKey struct {
	Name string
	Type LoginKeyType
	// Min and Max bound a LoginKeyNumber.
	Min, Max uint64
	// Values are the items a LoginKeyList may hold.
	Values []string
	// Default is what the login offers when not overridden.
	Default string
}

// LoginKeys returns every key LoginConfig.Params may set, in the order of
// the login's offer (the obsolete IFMarker and OFMarker last).
func LoginKeys() []LoginKey {
	names := append(offerOrder(), "IFMarker", "OFMarker")
	out := make([]LoginKey, 0, len(names))
	for _, n := range names {
		d, _ := operationalKey(n)
		k := LoginKey{Name: n, Min: d.min, Max: d.max, Default: d.ours, Values: d.values}
		if d.oursOnlyZero {
			// A target may offer more, but we may offer only 0.
			k.Max = 0
		}
		switch d.kind {
		case kindList:
			k.Type = LoginKeyList
		case kindOr, kindAnd:
			k.Type = LoginKeyBoolean
		default:
			k.Type = LoginKeyNumber
		}
		out = append(out, k)
	}
	return out
}

// CheckLoginParams reports whether Login accepts params as
// LoginConfig.Params: the check Login itself makes before dialling.
func CheckLoginParams(params []KeyValue) error {
	_, err := newNegotiator(params)
	return err
}

// chapAlgorithmNames are open-iscsi's names for the CHAP algorithms
// (node.session.auth.chap_algs).
var chapAlgorithmNames = []struct {
	name string
	alg  CHAPAlgorithm
}{
	{"MD5", CHAPMD5}, {"SHA1", CHAPSHA1}, {"SHA256", CHAPSHA256}, {"SHA3-256", CHAPSHA3256},
}

// CHAPAlgorithmByName returns the CHAP algorithm open-iscsi's
// node.session.auth.chap_algs names MD5, SHA1, SHA256 or SHA3-256.
func CHAPAlgorithmByName(name string) (CHAPAlgorithm, error) {
	for _, a := range chapAlgorithmNames {
		if a.name == name {
			return a.alg, nil
		}
	}
	return 0, fmt.Errorf("iscsi: %q is not a CHAP algorithm (want MD5, SHA1, SHA256 or SHA3-256)", name)
}

// CHAPAlgorithmNames returns open-iscsi's names of the CHAP algorithms,
// strongest last.
func CHAPAlgorithmNames() []string {
	out := make([]string, len(chapAlgorithmNames))
	for i, a := range chapAlgorithmNames {
		out[i] = a.name
	}
	return out
}
