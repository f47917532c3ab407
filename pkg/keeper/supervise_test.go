package keeper

import (
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/backoff"
)

func TestRestarterDecisions(t *testing.T) {
	p := backoff.Policy{Initial: time.Second, Max: 4 * time.Second}
	ready := func(lived time.Duration) ending { return ending{ready: true, lived: lived} }
	for _, tc := range []struct {
		name   string
		role   Role
		armed  bool
		iscsid bool
		ends   []ending
		// want is, per end, the wait before the restart, or -1 for "end
		// this process too"; why must contain the last reason.
		want []time.Duration
		why  string
	}{
		{name: "keeper killed after a long life: at once", role: RoleGuard, armed: true,
			ends: []ending{ready(time.Hour)}, want: []time.Duration{0}, why: "without a word"},
		{name: "guard killed after a long life: at once", role: RoleKeeper,
			ends: []ending{ready(time.Hour)}, want: []time.Duration{0}, why: "the guard ended"},
		{name: "crash loop backs off to the cap", role: RoleGuard, armed: true,
			ends: []ending{{}, {}, {}, {}, {}, {}}, want: []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second},
			why: "soon after its start"},
		{name: "one early death: at once; ready but died early again: backs off", role: RoleGuard, armed: true,
			ends: []ending{ready(time.Second), ready(time.Second), ready(time.Second)}, want: []time.Duration{0, time.Second, 2 * time.Second}},
		{name: "a stable life resets the schedule", role: RoleGuard, armed: true,
			ends: []ending{{}, {}, {}, ready(time.Hour), {}, {}}, want: []time.Duration{0, time.Second, 2 * time.Second, 0, 0, time.Second}},
		{name: "keeper stopped on purpose: the guard ends", role: RoleGuard, armed: true,
			ends: []ending{{stopped: true, stop: "signal"}}, want: []time.Duration{-1}, why: "the keeper stopped (signal)"},
		{name: "guard stopped on purpose: the keeper ends", role: RoleKeeper,
			ends: []ending{{stopped: true, stop: "signal to the guard"}}, want: []time.Duration{-1}, why: "the guard stopped (signal to the guard)"},
		{name: "first keeper failed before ready: the guard ends", role: RoleGuard,
			ends: []ending{{}}, want: []time.Duration{-1}, why: "before it was ready"},
		{name: "the keeper never gives up on its guard", role: RoleKeeper,
			ends: []ending{{}, {}, {}, {}}, want: []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second}},
		{name: "iscsid took over: no new keeper", role: RoleGuard, armed: true, iscsid: true,
			ends: []ending{ready(time.Hour)}, want: []time.Duration{-1}, why: "iscsid is running"},
		{name: "iscsid does not stop the keeper restarting its guard", role: RoleKeeper, iscsid: true,
			ends: []ending{ready(time.Hour)}, want: []time.Duration{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRestarter(tc.role, p, time.Minute, func() bool { return tc.iscsid })
			r.armed = tc.armed
			var v verdict
			for i, e := range tc.ends {
				v = r.ended(e)
				got := v.wait
				if v.exit {
					got = -1
				}
				if got != tc.want[i] {
					t.Errorf("end %d (%+v): %+v, want wait %v", i, e, v, tc.want[i])
				}
			}
			if !strings.Contains(v.why, tc.why) {
				t.Errorf("why %q, want it to contain %q", v.why, tc.why)
			}
		})
	}
}

func TestControlMessages(t *testing.T) {
	for _, tc := range []struct {
		msg       []byte
		kind, arg string
	}{
		{[]byte(msgReady), msgReady, ""},
		{stopMessage("signal"), msgStop, "signal"},
		{stopMessage(""), msgStop, ""},
		{stopMessage("iscsid took over"), msgStop, "iscsid took over"},
		{[]byte("garbage from somewhere"), "garbage", "from somewhere"},
	} {
		kind, arg := parseMessage(tc.msg)
		if kind != tc.kind || arg != tc.arg {
			t.Errorf("parseMessage(%q) = %q, %q; want %q, %q", tc.msg, kind, arg, tc.kind, tc.arg)
		}
	}
}
