package config

// What netroot's /init implements of the features whose parameters Parse
// already reads into the plan. While a switch is false, Parse refuses (or
// warns about) the parameters that need the feature, so that netroot
// check accepts only what /init boots; the change that teaches /init the
// feature flips its switch (and the tests that pin the refusal).
const (
	// supportIPv6 is IPv6 address configuration: ip= methods dhcp6,
	// auto6, either6 and link6 (IPConfig.Method and MoreMethods).
	supportIPv6 = true
	// supportIPMAC is ip='s <macaddr> field: /init sets IPConfig.MAC on
	// the interface (ip link set address) before bringing it up.
	supportIPMAC = true
	// supportNetDev is netroot='s <netdev_name>: /init binds the
	// target's login to Target.NetDev (SO_BINDTODEVICE).
	supportNetDev = true
	// supportIfaceName is netroot='s <iscsi_iface_name>: /init passes
	// Target.IfaceName as iscsi.KernelOptions.IfaceName.
	supportIfaceName = false
	// supportDHCPRoot is root=dhcp (and root=/dev/root netroot=dhcp):
	// the root is the whole disk of the DHCP root-path's LUN, which /init
	// finds with Plan.RootSpec(the lease's target), the plan unchanged.
	supportDHCPRoot = true
	// supportTestRoute is rd.iscsi.testroute: /init skips a target whose
	// portal has no route (with a warning) instead of failing the boot.
	supportTestRoute = false
	// supportSession is /init applying Plan.ISCSI.Session (login keys,
	// CHAP algorithms, kernel options, login timeout) rather than parsing
	// the deprecated Plan.ISCSI.Params, which cannot carry
	// node.session.cmds_max, node.session.queue_depth,
	// node.session.auth.chap_algs and node.conn[0].timeo.login_timeout.
	supportSession = true
)

// sessionOnly are the rd.iscsi.param= settings only Plan.ISCSI.Session
// carries (see supportSession).
var sessionOnly = map[string]bool{
	"node.session.cmds_max": true, "node.session.queue_depth": true,
	"node.session.auth.chap_algs": true, "node.conn[0].timeo.login_timeout": true, "node.session.scan": true,
}
