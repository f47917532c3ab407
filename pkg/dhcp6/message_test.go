package dhcp6

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

var testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x10}

func TestDUIDLL(t *testing.T) {
	d, err := DUIDLL(testMAC)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 8415 11.4: type 3, hardware type 1, the MAC.
	if want := []byte{0, 3, 0, 1, 0x52, 0x54, 0x00, 0x77, 0x00, 0x10}; !bytes.Equal(d.ToBytes(), want) {
		t.Errorf("DUID-LL = % x, want % x", d.ToBytes(), want)
	}
	if ib, err := DUIDLL(make(net.HardwareAddr, 20)); err != nil || ib.HWType != 32 {
		t.Errorf("InfiniBand DUID: %v %v", ib, err)
	}
	for _, bad := range []net.HardwareAddr{nil, {1, 2, 3}} {
		if _, err := DUIDLL(bad); err == nil {
			t.Errorf("DUIDLL(%v): want an error", bad)
		}
	}
	if IAID(testMAC) != [4]byte{0x00, 0x77, 0x00, 0x10} || IAID(net.HardwareAddr{1, 2}) != [4]byte{1, 2} {
		t.Error("IAID is not the MAC's last four bytes")
	}
}

func TestMessages(t *testing.T) {
	duid, _ := DUIDLL(testMAC)
	p := MessageParams{XID: dhcpv6.TransactionID{1, 2, 3}, DUID: duid, IAID: IAID(testMAC), Elapsed: 1500 * time.Millisecond,
		Hostname: "node7", RapidCommit: true}
	sol, err := dhcpv6.MessageFromBytes(Solicit(p).ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if sol.MessageType != dhcpv6.MessageTypeSolicit || sol.TransactionID != p.XID {
		t.Errorf("Solicit header: %v", sol)
	}
	if !bytes.Equal(sol.Options.ClientID().ToBytes(), duid.ToBytes()) {
		t.Errorf("client ID %v", sol.Options.ClientID())
	}
	if ia := sol.Options.OneIANA(); ia == nil || ia.IaId != p.IAID {
		t.Errorf("IA_NA %v", ia)
	}
	if sol.Options.GetOne(dhcpv6.OptionRapidCommit) == nil {
		t.Error("no Rapid Commit")
	}
	if e := sol.Options.ElapsedTime(); e != 1500*time.Millisecond {
		t.Errorf("elapsed %s", e)
	}
	for _, c := range []dhcpv6.OptionCode{23, 24, 59} {
		if !sol.IsOptionRequested(c) {
			t.Errorf("option %d not requested", c)
		}
	}
	if f := sol.Options.FQDN(); f == nil || f.Flags != fqdnFlagS || f.DomainName.Labels[0] != "node7" {
		t.Errorf("FQDN %v", f)
	}
	// Elapsed time saturates at 0xffff hundredths.
	p.Elapsed = time.Hour
	p.RapidCommit, p.Hostname = false, ""
	sol2, _ := dhcpv6.MessageFromBytes(Solicit(p).ToBytes())
	if e := sol2.Options.ElapsedTime(); e != maxElapsed {
		t.Errorf("elapsed %s, want %s", e, maxElapsed)
	}
	if sol2.Options.GetOne(dhcpv6.OptionRapidCommit) != nil || sol2.Options.FQDN() != nil {
		t.Error("Rapid Commit or FQDN sent though not asked for")
	}

	srv, _ := DUIDLL(net.HardwareAddr{2, 0, 0, 0, 0, 1})
	adv := &Advertise{ServerID: srv, Address: mustAddr("fd77::42")}
	req, err := Request(p, adv)
	if err != nil {
		t.Fatal(err)
	}
	req, _ = dhcpv6.MessageFromBytes(req.ToBytes())
	if req.MessageType != dhcpv6.MessageTypeRequest || !bytes.Equal(req.Options.ServerID().ToBytes(), srv.ToBytes()) {
		t.Errorf("Request: %v", req.Summary())
	}
	ia := req.Options.OneIANA()
	if ia == nil || ia.IaId != p.IAID || ia.Options.OneAddress() == nil || !ia.Options.OneAddress().IPv6Addr.Equal(net.ParseIP("fd77::42")) {
		t.Errorf("Request IA_NA: %v", ia)
	}
	if _, err := Request(p, &Advertise{}); err == nil {
		t.Error("Request without a server ID: want an error")
	}
	if x, y := newXID(), newXID(); x == y && newXID() == x {
		t.Error("newXID keeps returning the same ID")
	}
}
