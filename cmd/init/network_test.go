package main

import (
	"reflect"
	"testing"

	"github.com/netroot/netroot/pkg/config"
)

func TestDHCPTargets(t *testing.T) {
	bond := config.Bond{Name: "bond0", Slaves: []string{"eth0", "eth1"}}
	nics := []string{"eth0", "eth1", "eth2"}
	for _, tt := range []struct {
		name   string
		net    config.Net
		ip     config.IPConfig
		bootif string
		want   []string
	}{
		{"named interface", config.Net{Bonds: []config.Bond{bond}, BootDev: "eth2"}, config.IPConfig{Interface: "bond0"}, "eth1", []string{"bond0"}},
		{"bootdev", config.Net{BootDev: "eth2"}, config.IPConfig{}, "eth1", []string{"eth2"}},
		{"PXE NIC is a bond slave", config.Net{Bonds: []config.Bond{bond}}, config.IPConfig{Implicit: true}, "eth1", []string{"bond0"}},
		{"PXE NIC alone", config.Net{Bonds: []config.Bond{bond}}, config.IPConfig{}, "eth2", []string{"eth2"}},
		{"created interfaces", config.Net{Bonds: []config.Bond{bond, {Name: "bond1", Slaves: []string{"eth2"}}},
			VLANs: []config.VLAN{{Name: "bond0.100", Parent: "bond0", ID: 100}}}, config.IPConfig{}, "", []string{"bond0.100", "bond1"}},
		{"every free NIC", config.Net{}, config.IPConfig{}, "", nics},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &config.Plan{Net: tt.net}
			if got := dhcpTargets(p, tt.ip, tt.bootif, nics); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIPMethods(t *testing.T) {
	for _, tt := range []struct {
		ip          config.IPConfig
		v4          bool
		unsupported []config.IPMethod
	}{
		{config.IPConfig{Method: config.IPDHCP}, true, nil},
		{config.IPConfig{Method: config.IPSingleDHCP}, true, nil},
		{config.IPConfig{Method: config.IPDHCP, MoreMethods: []config.IPMethod{config.IPDHCP6}}, true, []config.IPMethod{config.IPDHCP6}},
		{config.IPConfig{Method: config.IPAuto6}, false, []config.IPMethod{config.IPAuto6}},
		{config.IPConfig{Method: config.IPDHCP6, MoreMethods: []config.IPMethod{config.IPDHCP}}, true, []config.IPMethod{config.IPDHCP6}},
	} {
		v4, un := ipMethods(tt.ip)
		if v4 != tt.v4 || !reflect.DeepEqual(un, tt.unsupported) {
			t.Errorf("ipMethods(%v %v) = %v %v, want %v %v", tt.ip.Method, tt.ip.MoreMethods, v4, un, tt.v4, tt.unsupported)
		}
	}
}

func TestLACP(t *testing.T) {
	for _, tt := range []struct {
		l                  lacp
		usable, negotiated bool
	}{
		{lacp{}, false, false},
		{lacp{Aggregator: "1", Ports: 0, Partner: "00:00:00:00:00:00"}, false, false},
		{lacp{Aggregator: "1", Ports: 1, Partner: "00:00:00:00:00:00"}, true, false},
		{lacp{Aggregator: "1", Ports: 2, Partner: "aa:bb:cc:dd:ee:ff"}, true, true},
	} {
		if tt.l.Usable() != tt.usable || tt.l.Negotiated() != tt.negotiated {
			t.Errorf("%+v: usable %v negotiated %v, want %v %v", tt.l, tt.l.Usable(), tt.l.Negotiated(), tt.usable, tt.negotiated)
		}
	}
}
