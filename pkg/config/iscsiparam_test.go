package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/iscsi"
)

func parseParams(t *testing.T, params ...string) (*Plan, error) {
	t.Helper()
	cl := "root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t"
	for _, p := range params {
		cl += " rd.iscsi.param=" + p
	}
	return Parse(proc(cl))
}

// sessionOf applies rd.iscsi.param= settings as Parse does once /init
// applies Plan.ISCSI.Session (supportSession).
func sessionOf(t *testing.T, params ...string) (*iscsiSession, error) {
	t.Helper()
	is := &iscsiSession{}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if err := is.add(k, v); err != nil {
			return is, err
		}
	}
	return is, nil
}

func TestISCSIParamSession(t *testing.T) {
	params := []string{
		"node.session.iscsi.FirstBurstLength=0x10000", "MaxBurstLength=0X40000", "node.conn[0].iscsi.HeaderDigest=crc32c,none",
		"DataDigest=None", "node.session.iscsi.ERL=0", "node.session.iscsi.InitialR2T=yes", "node.session.iscsi.FirstBurstLength=8192",
		"node.session.timeo.replacement_timeout=-1", "node.conn[0].timeo.noop_out_interval=0", "node.conn[0].timeo.noop_out_timeout=10",
		"node.session.initial_login_retry_max=7", "node.session.nr_sessions=1", "node.session.iscsi.FastAbort=Yes",
		"node.session.err_timeo.abort_timeout=15", "node.conn[0].iscsi.MaxXmitDataSegmentLength=0"}
	sessionOnly := []string{"node.session.cmds_max=64", "node.session.queue_depth=16", "node.conn[0].timeo.login_timeout=5",
		"node.session.auth.chap_algs=SHA3-256,SHA256,SHA1,MD5"}
	p, err := parseParams(t, params...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseParams(t, sessionOnly...); (err == nil) != supportSession {
		t.Errorf("settings only Session carries: err = %v with supportSession %v", err, supportSession)
	}
	wantKeys := []iscsi.KeyValue{{Key: "FirstBurstLength", Value: "8192"}, {Key: "MaxBurstLength", Value: "262144"},
		{Key: "HeaderDigest", Value: "CRC32C,None"}, {Key: "DataDigest", Value: "None"}, {Key: "ErrorRecoveryLevel", Value: "0"},
		{Key: "InitialR2T", Value: "Yes"}}
	if got := p.ISCSI.Session.LoginKeys; !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("LoginKeys = %v\nwant %v", got, wantKeys)
	}
	if err := iscsi.CheckLoginParams(p.ISCSI.Session.LoginKeys); err != nil {
		t.Errorf("the login refuses them: %v", err)
	}
	if p.ISCSI.LoginRetryMax != 7 || !p.ISCSI.Session.NoopGiven() {
		t.Errorf("session %+v, retries %d", p.ISCSI.Session, p.ISCSI.LoginRetryMax)
	}
	// The deprecated list holds what the /init of before Session parses.
	for _, want := range []KV{{"FirstBurstLength", "8192"}, {"node.session.timeo.replacement_timeout", "-1"}, {"node.conn[0].timeo.noop_out_timeout", "10"}} {
		found := false
		for _, kv := range p.ISCSI.Params {
			found = found || kv == want
		}
		if !found {
			t.Errorf("Params %v lacks %v", p.ISCSI.Params, want)
		}
	}

	is, err := sessionOf(t, append(params, sessionOnly...)...)
	if err != nil {
		t.Fatal(err)
	}
	s := is.s
	if want := []iscsi.CHAPAlgorithm{iscsi.CHAPSHA3256, iscsi.CHAPSHA256, iscsi.CHAPSHA1, iscsi.CHAPMD5}; !reflect.DeepEqual(s.CHAPAlgorithms, want) {
		t.Errorf("CHAPAlgorithms = %v", s.CHAPAlgorithms)
	}
	k := s.KernelOptions(iscsi.KernelOptions{RecoveryTimeoutSec: 5, IfaceName: "x"})
	if k.RecoveryTimeoutSec != -1 || k.NoopIntervalSec != 0 || k.NoopTimeoutSec != 10 || k.CmdsMax != 64 || k.QueueDepth != 16 || k.IfaceName != "x" {
		t.Errorf("KernelOptions = %+v", k)
	}
	if *s.LoginTimeout != 5 || s.IsZero() {
		t.Errorf("session %+v", s)
	}
	if kv := is.legacyParams(); kv[len(kv)-1] != (KV{"node.session.auth.chap_algs", "SHA3-256,SHA256,SHA1,MD5"}) {
		t.Errorf("legacy params %v", kv)
	}
	// initial_login_retry_max wins over rd.iscsi.login_retry_max, as in dracut.
	p = mustParse(t, proc("root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t rd.iscsi.login_retry_max=3 rd.iscsi.param=node.session.initial_login_retry_max=9"))
	if p.ISCSI.LoginRetryMax != 9 || p.ISCSI.LoginRetryLimit() != "rd.iscsi.param=node.session.initial_login_retry_max=9" {
		t.Errorf("LoginRetryMax = %d (%s)", p.ISCSI.LoginRetryMax, p.ISCSI.LoginRetryLimit())
	}
	p = mustParse(t, proc("root=LABEL=r netroot=iscsi:10.0.0.1::::iqn.2015-01.com.example:t rd.iscsi.login_retry_max=3"))
	if p.ISCSI.LoginRetryMax != 3 || p.ISCSI.LoginRetryLimit() != "rd.iscsi.login_retry_max=3" {
		t.Errorf("rd.iscsi.login_retry_max alone: LoginRetryMax = %d (%s)", p.ISCSI.LoginRetryMax, p.ISCSI.LoginRetryLimit())
	}
	if p := mustParse(t, proc("root=LABEL=r")); !p.ISCSI.Session.IsZero() || p.ISCSI.Session.NoopGiven() || p.ISCSI.LoginRetryLimit() != "" {
		t.Errorf("no rd.iscsi.param: %+v, %q", p.ISCSI.Session, p.ISCSI.LoginRetryLimit())
	}
	// The waits' limits, as the command line writes them.
	p = mustParse(t, proc("root=LABEL=r rd.timeout=60"))
	if got := p.Boot.RetryLimit() + " " + p.Boot.TimeoutLimit(); got != "rd.retry=180 rd.timeout=60" {
		t.Errorf("limits %q", got)
	}
}

func TestISCSIParamRefused(t *testing.T) {
	for _, tc := range []struct{ param, want string }{
		{"node.session.iscsi.FirstBurstLength=511", "outside 512-16777215"},
		{"node.session.iscsi.FirstBurstLength=0x", "not a hexadecimal number"},
		{"node.session.iscsi.FirstBurstLength=-1", "not a number"},
		{"node.session.iscsi.ERL=1", "ErrorRecoveryLevel 0 only"},
		{"node.session.iscsi.InitialR2T=maybe", "want Yes or No"},
		{"node.conn[0].iscsi.DataDigest=MD5", "want a list of None,CRC32C"},
		{"node.conn[0].iscsi.DataDigest=None,None", "twice"},
		{"node.session.iscsi.HeaderDigest=None", "write node.conn[0].iscsi.HeaderDigest"},
		{"node.conn[0].iscsi.MaxBurstLength=512", "write node.session.iscsi.MaxBurstLength"},
		{"node.session.timeo.replacement_timeout=ten", "not a decimal number"},
		{"node.session.cmds_max=100", "power of two"},
		{"node.session.cmds_max=8", "out of range 16-2048"},
		{"node.session.queue_depth=0", "out of range 1-1024"},
		{"node.session.auth.chap_algs=SHA512", "not one of MD5, SHA1, SHA256, SHA3-256"},
		{"node.session.auth.chap_algs=MD5,MD5", "twice"},
		{"node.session.nr_sessions=2", "can only be 1"},
		{"node.session.err_timeo.abort_timeout=20", "can only be 15"},
		{"node.session.iscsi.FastAbort=No", "can only be Yes"},
		{"node.conn[0].iscsi.MaxXmitDataSegmentLength=8192", "can only be 0"},
		{"node.startup=automatic", "cannot be applied"},
		{"node.conn[0].tcp.window_size=1000", "socket options"},
		{"node.conn[1].iscsi.HeaderDigest=None", "one connection"},
		{"discovery.sendtargets.auth.authmethod=CHAP", "discovery is not supported"},
		{"iface.net_ifacename=eth0", "iface records"},
		{"TargetName=iqn.x", "cannot be applied"},
		{"node.session.iscsi.FirstBurstLenght=65536", "did you mean node.session.iscsi.FirstBurstLength?"},
		{"node.session.timeo.replacment_timeout=10", "did you mean node.session.timeo.replacement_timeout?"},
		{"frobnicate=1", "not an open-iscsi setting"},
		{"noequals", "not key=value"},
		{"node.session.auth.password=hunter2", "rd.iscsi.password"},
	} {
		k, _, _ := strings.Cut(tc.param, "=")
		if sessionOnly[k] {
			_, err := sessionOf(t, tc.param)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err = %v, want it to mention %q", tc.param, err, tc.want)
			}
			continue
		}
		_, err := parseParams(t, tc.param)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "rd.iscsi.param") {
			t.Errorf("rd.iscsi.param=%s: err = %v, want it to mention %q", tc.param, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}

// TestISCSIParamTable: every setting of the table is either applied
// (a sample value is accepted) or refused naming the key; every key the
// login negotiates is reachable by its bare name.
func TestISCSIParamTable(t *testing.T) {
	samples := map[iscsiParamKind]string{ipKernel: "32", ipLoginRetry: "3", ipCHAPAlgs: "MD5", ipAuthMethod: "None", ipScan: "manual"}
	table := iscsiParamTable()
	for _, row := range ISCSIParams() {
		key := row[0]
		p := table[key]
		value := samples[p.kind]
		switch p.kind {
		case ipFixed:
			value = p.fixed
		case ipLogin:
			for _, k := range iscsi.LoginKeys() {
				if k.Name == p.login {
					value = k.Default
				}
			}
		}
		_, err := parseParams(t, key+"="+value)
		if sessionOnly[key] && !supportSession {
			if err == nil || !strings.Contains(err.Error(), "does not apply it yet") || !strings.HasPrefix(row[1], "refused for now") {
				t.Errorf("%s: err = %v, table %q", key, err, row[1])
			}
			_, err = sessionOf(t, key+"="+value)
		}
		switch {
		case p.kind == ipRefused:
			if err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), key) {
				t.Errorf("%s: err = %v", key, err)
			}
		case err != nil:
			t.Errorf("%s=%s: %v", key, value, err)
		}
		if strings.HasPrefix(row[1], "refused") != (p.kind == ipRefused || sessionOnly[key] && !supportSession) {
			t.Errorf("%s: %q", key, row[1])
		}
	}
	for _, k := range iscsi.LoginKeys() {
		if p, ok := table[k.Name]; !ok || p.kind != ipLogin {
			t.Errorf("login key %s is not in the table", k.Name)
		}
	}
	// Every node.* setting open-iscsi's iscsid.conf documents is in it.
	for _, k := range []string{"node.startup", "node.leading_login", "node.session.auth.authmethod", "node.session.auth.chap_algs",
		"node.session.auth.username", "node.session.auth.password", "node.session.auth.username_in", "node.session.auth.password_in",
		"node.session.timeo.replacement_timeout", "node.conn[0].timeo.login_timeout", "node.conn[0].timeo.logout_timeout",
		"node.conn[0].timeo.noop_out_interval", "node.conn[0].timeo.noop_out_timeout", "node.session.err_timeo.abort_timeout",
		"node.session.err_timeo.lu_reset_timeout", "node.session.err_timeo.tgt_reset_timeout", "node.session.err_timeo.host_reset_timeout",
		"node.session.initial_login_retry_max", "node.session.cmds_max", "node.session.queue_depth", "node.session.xmit_thread_priority",
		"node.session.iscsi.InitialR2T", "node.session.iscsi.ImmediateData", "node.session.iscsi.FirstBurstLength",
		"node.session.iscsi.MaxBurstLength", "node.conn[0].iscsi.MaxRecvDataSegmentLength", "node.conn[0].iscsi.MaxXmitDataSegmentLength",
		"node.conn[0].iscsi.HeaderDigest", "node.conn[0].iscsi.DataDigest", "node.conn[0].tcp.window_size",
		"node.conn[0].tcp.congestion_control", "node.session.nr_sessions", "node.session.reopen_max", "node.session.sess_reopen_log_freq",
		"node.session.iscsi.FastAbort", "node.session.scan"} {
		if _, ok := table[k]; !ok {
			t.Errorf("%s is missing", k)
		}
	}
}

func FuzzISCSIParam(f *testing.F) {
	for _, s := range []string{"node.session.iscsi.FirstBurstLength=0x10000", "HeaderDigest=CRC32C,None", "node.session.auth.chap_algs=SHA1",
		"node.session.timeo.replacement_timeout=-5", "node.session.cmds_max=2048", "x=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return
		}
		var is iscsiSession
		if err := is.add(k, v); err != nil {
			return
		}
		if err := iscsi.CheckLoginParams(is.s.LoginKeys); err != nil {
			t.Fatalf("%q accepted, but the login refuses it: %v", s, err)
		}
		for _, a := range is.s.CHAPAlgorithms {
			if !a.Valid() {
				t.Fatalf("%q: CHAP algorithm %v", s, a)
			}
		}
	})
}

// TestAuthMethodParam: node.session.auth.authmethod= that says what the
// credentials say is taken (iscsistart's own choice, written out); one
// that disagrees is refused, naming the setting. It was refused always.
func TestAuthMethodParam(t *testing.T) {
	const base = "root=LABEL=r ip=dhcp netroot=iscsi:10.0.0.1::::iqn.2000-01.x:y "
	const creds = "rd.iscsi.username=u rd.iscsi.password=secret-123456 "
	for _, tc := range []struct{ cl, err string }{
		{base + creds + "rd.iscsi.param=node.session.auth.authmethod=CHAP", ""},
		{base + "rd.iscsi.param=node.session.auth.authmethod=None", ""},
		{base + "rd.iscsi.param=node.session.auth.authmethod=chap " + creds, ""},
		{"root=LABEL=r ip=dhcp netroot=dhcp " + creds + "rd.iscsi.param=node.session.auth.authmethod=CHAP", ""},
		{base + "rd.iscsi.param=node.session.auth.authmethod=CHAP", "node.session.auth.authmethod=CHAP, but no CHAP credentials are given"},
		{base + creds + "rd.iscsi.param=node.session.auth.authmethod=None", "node.session.auth.authmethod=None, but CHAP credentials are given"},
		{base + "rd.iscsi.param=node.session.auth.authmethod=KRB5", "want None or CHAP"},
		{"root=LABEL=r ip=dhcp netroot=iscsi:u:secret-123456@10.0.0.1::::iqn.2000-01.x:y netroot=iscsi:10.0.0.2::::iqn.2000-01.x:z rd.iscsi.param=node.session.auth.authmethod=CHAP",
			"no CHAP credentials are given"},
	} {
		_, err := Parse(proc(tc.cl))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.cl, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: err = %v, want %q", tc.cl, err, tc.err)
		case err != nil && strings.Contains(err.Error(), "secret-123456"):
			t.Errorf("%s: the error shows the secret: %v", tc.cl, err)
		}
	}
}

// TestScanParam: node.session.scan= is auto (open-iscsi's default: every
// LUN of the target appears) or manual (only the LUN netroot= names); it
// was refused always.
func TestScanParam(t *testing.T) {
	const base = "root=LABEL=r ip=dhcp netroot=iscsi:10.0.0.1::::iqn.2000-01.x:y "
	for _, tc := range []struct {
		cl     string
		manual bool
		err    string
	}{
		{base, false, ""},
		{base + "rd.iscsi.param=node.session.scan=auto", false, ""},
		{base + "rd.iscsi.param=node.session.scan=manual", true, ""},
		{base + "rd.iscsi.param=node.session.scan=manual rd.iscsi.param=node.session.scan=auto", false, ""},
		{base + "rd.iscsi.param=node.session.scan=Manual", false, "want auto or manual"},
		{base + "rd.iscsi.param=node.session.scan=", false, "want auto or manual"},
	} {
		p, err := Parse(proc(tc.cl))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.cl, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: err = %v, want %q", tc.cl, err, tc.err)
		case err == nil && p.ISCSI.Session.ScanManual != tc.manual:
			t.Errorf("%s: ScanManual = %v, want %v", tc.cl, p.ISCSI.Session.ScanManual, tc.manual)
		}
	}
}
