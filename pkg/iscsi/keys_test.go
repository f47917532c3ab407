package iscsi

import "testing"

func TestLoginKeys(t *testing.T) {
	keys := LoginKeys()
	byName := map[string]LoginKey{}
	for _, k := range keys {
		byName[k.Name] = k
		// The default the login offers passes its own check.
		if err := CheckLoginParams([]KeyValue{{Key: k.Name, Value: k.Default}}); err != nil {
			t.Errorf("%s=%s: %v", k.Name, k.Default, err)
		}
	}
	if len(keys) != len(offerOrder())+2 {
		t.Errorf("%d keys", len(keys))
	}
	if k := byName["MaxBurstLength"]; k.Type != LoginKeyNumber || k.Min != 512 || k.Max != 1<<24-1 {
		t.Errorf("MaxBurstLength: %+v", k)
	}
	if k := byName["HeaderDigest"]; k.Type != LoginKeyList || len(k.Values) != 2 {
		t.Errorf("HeaderDigest: %+v", k)
	}
	if k := byName["ImmediateData"]; k.Type != LoginKeyBoolean {
		t.Errorf("ImmediateData: %+v", k)
	}
	// RFC 7143 numbers may be written in hex.
	if err := CheckLoginParams([]KeyValue{{Key: "MaxBurstLength", Value: "0x200"}}); err != nil {
		t.Errorf("MaxBurstLength=0x200: %v", err)
	}
	if k := byName["ErrorRecoveryLevel"]; k.Max != 0 {
		t.Errorf("ErrorRecoveryLevel: %+v", k)
	}
	for _, bad := range [][]KeyValue{{{"ErrorRecoveryLevel", "1"}}, {{"MaxBurstLength", "0x1ff"}}, {{"TargetName", "x"}}, {{"InitialR2T", "yes"}}} {
		if CheckLoginParams(bad) == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestCHAPAlgorithmByName(t *testing.T) {
	for _, n := range CHAPAlgorithmNames() {
		a, err := CHAPAlgorithmByName(n)
		if err != nil || !a.Valid() {
			t.Errorf("%s: %v %v", n, a, err)
		}
	}
	if a, _ := CHAPAlgorithmByName("SHA256"); a != CHAPSHA256 {
		t.Errorf("SHA256 = %v", a)
	}
	if _, err := CHAPAlgorithmByName("SHA-256"); err == nil {
		t.Error("SHA-256 (not open-iscsi's spelling) accepted")
	}
}
