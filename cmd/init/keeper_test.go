package main

import (
	"reflect"
	"testing"

	"github.com/netroot/netroot/pkg/config"
)

func TestNoopExplicit(t *testing.T) {
	for _, tc := range []struct {
		kvs  []config.KV
		want bool
	}{
		{nil, false},
		{[]config.KV{{Key: "node.session.timeo.replacement_timeout", Value: "60"}}, false},
		{[]config.KV{{Key: "node.conn[0].timeo.noop_out_interval", Value: "0"}}, true},
		{[]config.KV{{Key: "MaxBurstLength", Value: "1"}, {Key: "node.conn[0].timeo.noop_out_timeout", Value: "3"}}, true},
	} {
		if got := noopExplicit(tc.kvs); got != tc.want {
			t.Errorf("noopExplicit(%v) = %v, want %v", tc.kvs, got, tc.want)
		}
	}
}

func TestRootInterfaces(t *testing.T) {
	p := &config.Plan{Net: config.Net{IP: []config.IPConfig{
		{Interface: "bond0", Method: config.IPStatic}, {Interface: "bond0.5", Method: config.IPDHCP},
		{Interface: "bond0", Method: config.IPDHCP6}, {Method: config.IPDHCP}, // every interface: no name
	}}}
	if got, want := rootInterfaces(p), []string{"bond0", "bond0.5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rootInterfaces = %q, want %q", got, want)
	}
}
