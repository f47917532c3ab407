package boot

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/netroot/netroot/pkg/hint"
	"github.com/netroot/netroot/pkg/sysfs"
)

// LACP is an 802.3ad bond's state as sysfs shows it.
type LACP struct {
	// Aggregator is the active aggregator's ID, "" when none.
	Aggregator string
	// Ports is the number of its ports that carry traffic.
	Ports int
	// Partner is its LACP partner's MAC.
	Partner string
	// NoSpeed are the slaves without a known speed and duplex (virtual
	// NICs often): 802.3ad cannot aggregate them, and they are not
	// counted in Ports.
	NoSpeed []string
}

// readLACP reads an 802.3ad bond's active aggregator from sysfs. Ports
// counts the slaves in it that may transmit: bonding_slave/state
// "active" with mii_status "up", and a known speed and duplex. The kernel
// activates the ports of an aggregator without a partner too (so a bond
// works against a switch without LACP), and may activate a port whose
// speed or duplex it cannot read, but only until the bond's next link
// check takes it down ("failed to get link speed/duplex"): such a port
// does not count.
func readLACP(sys sysfs.FS, bond string) LACP {
	dir := "class/net/" + bond + "/bonding/"
	l := LACP{Aggregator: sys.Value(dir + "ad_aggregator"), Partner: sys.Value(dir + "ad_partner_mac")}
	for _, s := range strings.Fields(sys.Value(dir + "slaves")) {
		if !knownSpeed(sys, s) {
			l.NoSpeed = append(l.NoSpeed, s)
			continue
		}
		sd := "class/net/" + s + "/bonding_slave/"
		if l.Aggregator != "" && sys.Value(sd+"ad_aggregator_id") == l.Aggregator &&
			sys.Value(sd+"state") == "active" && sys.Value(sd+"mii_status") == "up" {
			l.Ports++
		}
	}
	return l
}

// knownSpeed reports whether the NIC reports a speed and a duplex, as
// bonding asks of an 802.3ad port (bond_update_speed_duplex).
func knownSpeed(sys sysfs.FS, nic string) bool {
	speed, err := strconv.Atoi(sys.Value("class/net/" + nic + "/speed"))
	d := sys.Value("class/net/" + nic + "/duplex")
	return err == nil && speed > 0 && (d == "full" || d == "half")
}

// Usable reports whether the active aggregator has a port to carry
// traffic. With min_links=0 the kernel raises the bond's carrier on an
// active aggregator with no port at all (ports whose speed or duplex is
// unknown cannot aggregate), so carrier alone does not mean "up".
func (l LACP) Usable() bool { return l.Aggregator != "" && l.Ports > 0 }

// Negotiated reports whether the active aggregator has an LACP partner.
// Against a switch that does not speak LACP the kernel may still activate
// an aggregator, but its partner stays 00:00:00:00:00:00.
func (l LACP) Negotiated() bool {
	return l.Usable() && l.Partner != "" && l.Partner != "00:00:00:00:00:00"
}

// lacpVerdict judges an 802.3ad bond after waiting for its partner: LACP
// negotiated (a line to log); no partner, but a port to run on (the kernel
// runs on one partnerless aggregator: it works, but it is not the
// aggregate that was configured — a warning); or no port at all (an
// error).
func lacpVerdict(name string, l LACP, waited time.Duration) (info, warning string, err error) {
	switch {
	case l.Negotiated():
		return fmt.Sprintf("bond: %s 802.3ad: LACP negotiated: aggregator %s with %d port(s), partner %s", name, l.Aggregator, l.Ports, l.Partner), "", nil
	case !l.Usable():
		noSpeed := ""
		if len(l.NoSpeed) > 0 {
			noSpeed = "; " + strings.Join(l.NoSpeed, ", ") + " report no speed or duplex, which 802.3ad needs"
		}
		return "", "", hint.Errorf("the switch ports must be in an LACP port-channel (or the switch may need LACP fallback); ports need a known speed and full duplex",
			"%s 802.3ad: no port in an active aggregator after %s (aggregator %s, partner %s): LACP did not negotiate%s",
			name, waited, orNone(l.Aggregator), orNone(l.Partner), noSpeed)
	}
	return "", fmt.Sprintf("bond: %s 802.3ad: LACP did not negotiate within %s (aggregator %s with %d port(s) has no partner, partner MAC %s); running on that aggregator alone — the switch may need LACP configured on these ports, or LACP fallback",
		name, waited, l.Aggregator, l.Ports, orNone(l.Partner)), nil
}
