package bond

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestStandby(t *testing.T) {
	p := func(spec string) []Port {
		var out []Port
		for _, f := range strings.Fields(spec) {
			// name[+carrier][*active]
			out = append(out, Port{Name: strings.Trim(f, "+*"), Carrier: strings.Contains(f, "+"), Active: strings.Contains(f, "*")})
		}
		return out
	}
	for _, tc := range []struct {
		mode, ports, want string
	}{
		{"active-backup", "eth0+* eth1+", "eth1"},
		{"active-backup 1", "eth0+ eth1+*", "eth0"},
		{"active-backup", "eth0+* eth1 eth2+", "eth2"},  // eth1 has no carrier
		{"active-backup", "eth0+ eth1+* eth2+", "eth2"}, // the next in the bond's order
		{"active-backup", "eth0+ eth1+ eth2+*", "eth0"}, // round
		{"active-backup", "eth0 eth1+", "eth1"},         // no active slave: the first with carrier
		{"active-backup", "eth0+* eth1", ""},            // none with carrier
		{"active-backup", "eth0+*", ""},                 // alone
		{"balance-rr", "eth0+* eth1+", ""},              // no active slave to switch
		{"802.3ad 4", "eth0+ eth1+", ""},
	} {
		got, ok := Standby(tc.mode, p(tc.ports))
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Standby(%q, %s) = %q, %v; want %q", tc.mode, tc.ports, got, ok, tc.want)
		}
	}
}

func TestReadPorts(t *testing.T) {
	attrs := map[string]string{
		"class/net/bond0/bonding/mode":         "active-backup 1",
		"class/net/bond0/bonding/slaves":       "eth0 eth1",
		"class/net/bond0/bonding/active_slave": "eth0",
		"class/net/eth0/carrier":               "1",
		"class/net/eth1/carrier":               "1",
	}
	read := func(rel string) (string, error) {
		v, ok := attrs[rel]
		if !ok {
			return "", fmt.Errorf("%s: no such file", rel)
		}
		return v, nil
	}
	mode, ports, err := ReadPorts(read, "bond0")
	want := []Port{{"eth0", true, true}, {"eth1", true, false}}
	if err != nil || mode != "active-backup" || fmt.Sprint(ports) != fmt.Sprint(want) {
		t.Errorf("ReadPorts = %q %v %v", mode, ports, err)
	}
	if _, _, err := ReadPorts(read, "eth0"); err == nil || !strings.Contains(err.Error(), "eth0 is not a bond") {
		t.Errorf("ReadPorts of a NIC: %v", err)
	}
}

// fakeBond is an active-backup bond whose slaves all have carrier.
type fakeBond struct {
	mu     sync.Mutex
	mode   string
	slaves []string
	active string
	sets   []string
}

func (b *fakeBond) failover() *Failover {
	return &Failover{
		Bond: "bond0",
		Ports: func() (string, []Port, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			var ps []Port
			for _, s := range b.slaves {
				ps = append(ps, Port{Name: s, Carrier: true, Active: s == b.active})
			}
			return b.mode, ps, nil
		},
		SetActive: func(s string) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.active = s
			b.sets = append(b.sets, s)
			return nil
		},
	}
}

// TestFailoverSwitchesOnceForConnectsThatFailedTogether: connects begun
// on one slave that all time out switch the bond once; a later failure on
// the new slave switches again.
func TestFailoverSwitchesOnceForConnectsThatFailedTogether(t *testing.T) {
	b := &fakeBond{mode: "active-backup", slaves: []string{"eth0", "eth1"}, active: "eth0"}
	f := b.failover()
	gen := f.Generation()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var switched, stale int
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.Switch(gen)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				switched++
			case errors.Is(err, ErrSwitchedMeanwhile):
				stale++
			default:
				t.Errorf("Switch: %v", err)
			}
		}()
	}
	wg.Wait()
	if switched != 1 || stale != 3 || b.active != "eth1" {
		t.Errorf("%d switches, %d stale, active %s; want 1, 3, eth1", switched, stale, b.active)
	}
	sw, err := f.Switch(f.Generation())
	if err != nil || sw != (Switched{From: "eth1", To: "eth0"}) || f.Generation() != 2 {
		t.Errorf("second switch: %+v %v (generation %d)", sw, err, f.Generation())
	}
}

func TestFailoverWithoutStandby(t *testing.T) {
	for _, tc := range []struct {
		b    *fakeBond
		want string
	}{
		{&fakeBond{mode: "balance-rr 0", slaves: []string{"eth0", "eth1"}}, "bond0 is balance-rr 0, which has no active slave to switch"},
		{&fakeBond{mode: "active-backup", slaves: []string{"eth0"}, active: "eth0"}, "bond0 has no other slave"},
	} {
		f := tc.b.failover()
		_, err := f.Switch(0)
		var ns *NoStandbyError
		if !errors.As(err, &ns) || !strings.Contains(err.Error(), tc.want) || len(tc.b.sets) != 0 {
			t.Errorf("Switch: %v (sets %q), want %q", err, tc.b.sets, tc.want)
		}
		if f.ActiveBackup() {
			t.Errorf("ActiveBackup() true for %+v", tc.b)
		}
	}
}
