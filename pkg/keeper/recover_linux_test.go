package keeper

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/iscsi"
)

// recoverEnv is the env of recoverOne over the fake kernel.
func recoverEnv(k *fakeKernel) env {
	return env{t: k, events: k.events, state: k.state, links: make(chan LinkEvent),
		resolve: func(context.Context, string) ([]netip.Addr, error) { return nil, context.Canceled },
		route:   func(netip.Addr) (int, error) { return 7, nil }}
}

// TestRecoverOne: /init's recovery of a session that failed before the
// keeper took it is the keeper's own: stop, bind, login through the
// kernel, parameters (the digests again: the stop cleared them), start.
func TestRecoverOne(t *testing.T) {
	k := newFakeKernel(t)
	p, port := portal(t)
	k.portals[port] = func(req *iscsi.LoginRequest) *iscsi.LoginResponse { return agree(req, true) }
	s := testSession(p)
	s.Params = []iscsi.KeyValue{{Key: "HeaderDigest", Value: "CRC32C,None"}, {Key: "DataDigest", Value: "CRC32C,None"}}
	k.conn = "failed"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := recoverOne(ctx, testHandle, s, Options{Logf: t.Logf, InitialBackoff: 20 * time.Millisecond}, recoverEnv(k))
	if res.err != nil {
		t.Fatal(res.err)
	}
	calls, _ := k.callsOf("")
	if got := strings.Join(calls, ","); !strings.HasPrefix(got, "stop,bind") || !strings.HasSuffix(got, "login "+strconv.Itoa(port)+",start") {
		t.Errorf("calls %s, want stop, bind, login, start", got)
	}
	if k.param(iscsi.ParamHdrDgstEn) != "1" || k.param(iscsi.ParamDataDgstEn) != "1" || k.connState() != "up" {
		t.Errorf("after the recovery: digests %q/%q, connection %s; want 1/1, up",
			k.param(iscsi.ParamHdrDgstEn), k.param(iscsi.ParamDataDgstEn), k.connState())
	}
	if r := res.recovered(s); r.Portal != p || r.Attempts != 1 || len(r.Session.Params) != 2 {
		t.Errorf("recovered %+v", r)
	}
}

// TestRecoverOneEndsWithItsContext: a target that never comes back ends
// the recovery at the caller's deadline, with the reason.
func TestRecoverOneEndsWithItsContext(t *testing.T) {
	k := newFakeKernel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := recoverOne(ctx, testHandle, testSession(closedPortal(t)), Options{InitialBackoff: 20 * time.Millisecond}, recoverEnv(k))
	if res.err == nil || time.Since(start) > 2*time.Second || res.attempts == 0 || res.last == nil {
		t.Fatalf("err %v after %v and %d attempts, the last %v", res.err, time.Since(start), res.attempts, res.last)
	}
}

// TestRunRetriesWithDigests: a target that requires digests since the
// boot (LIO fails the login 0x0200) gets them offered from the keeper's
// next attempt on, and from then on in every recovery.
func TestRunRetriesWithDigests(t *testing.T) {
	k := newFakeKernel(t)
	p, port := portal(t)
	var offers []string
	k.portals[port] = requireDigests(&offers)
	h := start(t, k, testSession(p), Options{}, env{})
	k.fail()
	eventually(t, 3*time.Second, "recovered", k.recovered(1))
	if !h.logged("offering digests (CRC32C,None) from now on") || k.param(iscsi.ParamHdrDgstEn) != "1" {
		t.Errorf("digests after the recovery: %q; logged: %v", k.param(iscsi.ParamHdrDgstEn), h.logs)
	}
	k.fail()
	eventually(t, 3*time.Second, "recovered again", k.recovered(2))
	k.mu.Lock()
	got := strings.Join(offers, " | ")
	k.mu.Unlock()
	if got != "None | CRC32C,None | CRC32C,None" {
		t.Errorf("HeaderDigest offers %q: want None, then CRC32C,None in the retry and in the next recovery", got)
	}
}
