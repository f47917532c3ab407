package dhcp6

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

var (
	testXID  = dhcpv6.TransactionID{0xa, 0xb, 0xc}
	testIAID = [4]byte{0, 0x77, 0, 0x10}
	srvDUID  = &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
)

func testExpect() Expect {
	d, _ := DUIDLL(testMAC)
	return Expect{XID: testXID, DUID: d, IAID: testIAID}
}

// reply builds a server message of type t for testExpect, granting addr
// with the lifetimes given, plus extra options.
func reply(t dhcpv6.MessageType, addr string, pref, valid time.Duration, extra ...dhcpv6.Option) *dhcpv6.Message {
	e := testExpect()
	m := &dhcpv6.Message{MessageType: t, TransactionID: e.XID}
	m.AddOption(dhcpv6.OptClientID(e.DUID))
	m.AddOption(dhcpv6.OptServerID(srvDUID))
	ia := &dhcpv6.OptIANA{IaId: e.IAID, T1: 1800 * time.Second, T2: 2880 * time.Second}
	if addr != "" {
		ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP(addr), PreferredLifetime: pref, ValidLifetime: valid})
	}
	m.AddOption(ia)
	for _, o := range extra {
		m.AddOption(o)
	}
	return m
}

// roundTrip encodes m and decodes it with ParseMessage, as the client does.
func roundTrip(t *testing.T, m *dhcpv6.Message) *dhcpv6.Message {
	t.Helper()
	got, _, err := ParseMessage(m.ToBytes())
	if err != nil {
		t.Fatalf("ParseMessage: %v", err)
	}
	return got
}

func TestFromReply(t *testing.T) {
	h, v := time.Hour, 2*time.Hour
	good := reply(dhcpv6.MessageTypeReply, "fd77::42", h, v,
		dhcpv6.OptDNS(net.ParseIP("fd77::1"), net.ParseIP("fd77::1"), net.ParseIP("fd77::2")),
		dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: []string{"example.org", "lab.example.org"}}),
		dhcpv6.OptBootFileURL("iscsi:[fd77::1]::3260:1:iqn.2010-01.org.example:root"),
		&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit},
		&dhcpv6.OptFQDN{Flags: 0, DomainName: &rfc1035label.Labels{Labels: []string{"node7.example.org"}}},
	)
	l, err := FromReply("eth0", roundTrip(t, good), testExpect())
	if err != nil {
		t.Fatal(err)
	}
	if l.Address != netip.MustParsePrefix("fd77::42/128") || l.PreferredLifetime != 3600 || l.ValidLifetime != 7200 ||
		l.T1 != 1800 || l.T2 != 2880 || !l.RapidCommit {
		t.Errorf("lease %+v", l)
	}
	if len(l.DNS) != 2 || l.DNS[0] != mustAddr("fd77::1") || l.DNS[1] != mustAddr("fd77::2") {
		t.Errorf("DNS %v (duplicates dropped)", l.DNS)
	}
	if strings.Join(l.Search, " ") != "example.org lab.example.org" || l.Hostname != "node7.example.org" {
		t.Errorf("search %q hostname %q", l.Search, l.Hostname)
	}
	if l.BootFileURL != "iscsi:[fd77::1]::3260:1:iqn.2010-01.org.example:root" || len(l.Ignored) != 0 {
		t.Errorf("boot file %q, ignored %q", l.BootFileURL, l.Ignored)
	}
	if l.ServerDUID.String() != "00:03:00:01:02:00:00:00:00:01" || l.ClientDUID.String() != "00:03:00:01:52:54:00:77:00:10" {
		t.Errorf("DUIDs %s %s", l.ServerDUID, l.ClientDUID)
	}

	wrongXID := reply(dhcpv6.MessageTypeReply, "fd77::42", h, v)
	wrongXID.TransactionID = dhcpv6.TransactionID{9, 9, 9}
	otherClient := reply(dhcpv6.MessageTypeReply, "fd77::42", h, v)
	otherClient.Options.Del(dhcpv6.OptionClientID)
	otherClient.AddOption(dhcpv6.OptClientID(srvDUID))
	noClient := reply(dhcpv6.MessageTypeReply, "fd77::42", h, v)
	noClient.Options.Del(dhcpv6.OptionClientID)
	twoServers := reply(dhcpv6.MessageTypeReply, "fd77::42", h, v, dhcpv6.OptServerID(srvDUID))
	otherIAID := reply(dhcpv6.MessageTypeReply, "fd77::42", h, v)
	otherIAID.Options.OneIANA().IaId = [4]byte{1, 1, 1, 1}
	iaRefused := reply(dhcpv6.MessageTypeReply, "", h, v)
	iaRefused.Options.OneIANA().Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail})
	msgRefused := reply(dhcpv6.MessageTypeReply, "fd77::42", h, v, &dhcpv6.OptStatusCode{StatusCode: iana.StatusUnspecFail, StatusMessage: "bad\nthing"})
	for _, tc := range []struct {
		name string
		m    *dhcpv6.Message
		want string
	}{
		{"advertise", reply(dhcpv6.MessageTypeAdvertise, "fd77::42", h, v), "not a Reply"},
		{"wrong xid", wrongXID, "transaction ID"},
		{"other client", otherClient, "is not ours"},
		{"no client id", noClient, "no client identifier"},
		{"two server ids", twoServers, "not exactly one server identifier"},
		{"other IAID", otherIAID, "no IA_NA with IAID"},
		{"no address", reply(dhcpv6.MessageTypeReply, "", h, v), "holds no address"},
		{"IA refused", iaRefused, "IA_NA status NoAddrsAvail"},
		{"message refused", msgRefused, `message status UnspecFail (1): "bad\nthing"`},
		{"multicast", reply(dhcpv6.MessageTypeReply, "ff02::1:2", h, v), "not a global or unique-local"},
		{"link-local", reply(dhcpv6.MessageTypeReply, "fe80::1", h, v), "not a global or unique-local"},
		{"loopback", reply(dhcpv6.MessageTypeReply, "::1", h, v), "not a global or unique-local"},
		{"unspecified", reply(dhcpv6.MessageTypeReply, "::", h, v), "not a global or unique-local"},
		{"v4-mapped", reply(dhcpv6.MessageTypeReply, "::ffff:10.0.0.1", h, v), "not an IPv6 address"},
		{"valid 0", reply(dhcpv6.MessageTypeReply, "fd77::42", 0, 0), "valid lifetime 0"},
		{"preferred > valid", reply(dhcpv6.MessageTypeReply, "fd77::42", v, h), "above valid lifetime"},
	} {
		_, err := FromReply("eth0", roundTrip(t, tc.m), testExpect())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}

	// Informational options that are bad are dropped and listed.
	const badBootFile = "iscsi:user:hunter2@[fd77::1]::3260:1:iqn.2010-01.org.example:root\n"
	bad := reply(dhcpv6.MessageTypeReply, "fd77::42", h, v,
		&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionDNSRecursiveNameServer, OptionData: []byte{1, 2, 3}},
		// A trailing newline makes a root path with credentials invalid;
		// it is not echoed.
		dhcpv6.OptBootFileURL(badBootFile),
		&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionBootfileParam, OptionData: []byte{0, 9, 'a'}},
		dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: []string{"ok.example", "bad_label!"}}),
		&dhcpv6.OptFQDN{DomainName: &rfc1035label.Labels{Labels: []string{"-bad-"}}},
	)
	m, notes, err := ParseMessage(bad.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 {
		t.Errorf("notes %q, want option 23's and 60's", notes)
	}
	l, err = FromReply("eth0", m, testExpect())
	if err != nil {
		t.Fatal(err)
	}
	if l.Address.Addr() != mustAddr("fd77::42") || l.BootFileURL != "" || len(l.DNS) != 0 || l.Hostname != "" ||
		len(l.BootFileParams) != 0 || strings.Join(l.Search, ",") != "ok.example" {
		t.Errorf("lease %+v", l)
	}
	ign := strings.Join(l.Ignored, "\n")
	for _, want := range []string{"option 23 (DNS): 3 bytes", fmt.Sprintf("option 59 (boot file URL) of %d bytes", len(badBootFile)), "option 60", `option 24 (search) "bad_label!"`, `option 39 (FQDN) "-bad-"`} {
		if !strings.Contains(ign, want) {
			t.Errorf("Ignored lacks %q:\n%s", want, ign)
		}
	}
	if strings.Contains(ign, "hunter2") {
		t.Errorf("Ignored echoes the boot file URL's CHAP secret:\n%s", ign)
	}
}

func TestParseMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than a DHCPv6 header"},
		{"runt", []byte{2, 1, 2}, "shorter than a DHCPv6 header"},
		{"relay", append([]byte{13}, make([]byte, 40)...), "unexpected RELAY-REPL"},
		{"truncated option", []byte{2, 1, 2, 3, 0, 1, 0, 9, 0}, "malformed ADVERTISE"},
		{"bad client id", []byte{2, 1, 2, 3, 0, 1, 0, 1, 0}, "option 1 (Client ID)"},
		{"bad IA_NA", []byte{2, 1, 2, 3, 0, 3, 0, 2, 0, 0}, "option 3 (IANA)"},
		{"bad status", []byte{2, 1, 2, 3, 0, 13, 0, 1, 0}, "option 13 (Status Code)"},
	} {
		_, _, err := ParseMessage(tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	m, notes, err := ParseMessage([]byte{2, 1, 2, 3, 0, 23, 0, 1, 0})
	if err != nil || len(notes) != 1 || m.Options.GetOne(23) == nil {
		t.Errorf("a malformed option 23 must be kept opaque and noted: %v %q %v", m, notes, err)
	}
}

func TestParseAdvertise(t *testing.T) {
	pref := &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionPreference, OptionData: []byte{200}}
	adv, err := ParseAdvertise(roundTrip(t, reply(dhcpv6.MessageTypeAdvertise, "fd77::42", time.Hour, time.Hour, pref)), testExpect())
	if err != nil {
		t.Fatal(err)
	}
	if adv.Preference != 200 || adv.Address != mustAddr("fd77::42") || adv.ServerID == nil {
		t.Errorf("advertise %+v", adv)
	}
	refused := reply(dhcpv6.MessageTypeAdvertise, "", 0, 0, &dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail})
	if _, err := ParseAdvertise(roundTrip(t, refused), testExpect()); err == nil || !strings.Contains(err.Error(), "NoAddrsAvail") {
		t.Errorf("NoAddrsAvail Advertise: %v", err)
	}
	if _, err := ParseAdvertise(roundTrip(t, reply(dhcpv6.MessageTypeReply, "fd77::42", time.Hour, time.Hour)), testExpect()); err == nil {
		t.Error("a Reply taken as an Advertise")
	}
}

// envLine is one safely quoted assignment.
var envLine = regexp.MustCompile(`^[a-z0-9_]+='([^']|'\\'')*'$`)

func TestRender(t *testing.T) {
	l, err := FromReply("eth0", roundTrip(t, reply(dhcpv6.MessageTypeReply, "fd77::42", time.Hour, time.Hour,
		dhcpv6.OptDNS(net.ParseIP("fd77::1")),
		dhcpv6.OptBootFileURL("iscsi:[fd77::1]::3260:1:iqn.2010-01.org.example:it's"))), testExpect())
	if err != nil {
		t.Fatal(err)
	}
	env := l.EnvFile()
	for _, want := range []string{"new_ip6_address='fd77::42'\n", "new_ip6_prefixlen='128'\n", "new_dhcp6_name_servers='fd77::1'\n",
		"new_max_life='3600'\n", `new_dhcp6_bootfile_url='iscsi:[fd77::1]::3260:1:iqn.2010-01.org.example:it'\''s'` + "\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("env file lacks %q:\n%s", want, env)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(env, "\n"), "\n") {
		if !envLine.MatchString(line) {
			t.Errorf("env line %q", line)
		}
	}
	b, err := l.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Lease
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("JSON does not read back: %v\n%s", err, b)
	}
	if back.Address != l.Address || back.ServerDUID.String() != l.ServerDUID.String() || back.BootFileURL != l.BootFileURL {
		t.Errorf("JSON round trip: %+v", back)
	}
	if s := l.String(); !strings.Contains(s, "fd77::42/128") || !strings.Contains(s, "valid 1h0m0s") {
		t.Errorf("String() = %q", s)
	}
}

// TestRenderRedactsCHAP: a boot file URL's CHAP passwords never reach
// the files under /run, which everyone can read.
func TestRenderRedactsCHAP(t *testing.T) {
	url := "iscsi:user:hunter2:tuser:tsecret@[fd77::1]::3260:1:iqn.2010-01.org.example:root"
	l := &Lease{Interface: "eth0", Address: netip.MustParsePrefix("fd77::42/128"), BootFileURL: url}
	j, err := l.JSON()
	if err != nil {
		t.Fatal(err)
	}
	env := l.EnvFile()
	// String is the step's log line (console, /dev/kmsg, timeline.json).
	for _, out := range []string{string(j), env, l.String(), fmt.Sprintf("%s %v", l, l)} {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "tsecret") {
			t.Errorf("a CHAP secret in\n%s", out)
		}
		if !strings.Contains(out, "iscsi:user:***:tuser:***@[fd77::1]::3260:1:iqn.2010-01.org.example:root") {
			t.Errorf("the redacted URL is missing:\n%s", out)
		}
	}
	if l.BootFileURL != url {
		t.Errorf("rendering changed the lease: %q", l.BootFileURL)
	}
}
