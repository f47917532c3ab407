package bond

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestAttrsMatchUnix(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ours, sys uint16
	}{
		{"IFLA_BOND_MODE", iflaBondMode, unix.IFLA_BOND_MODE},
		{"IFLA_BOND_MIIMON", iflaBondMiimon, unix.IFLA_BOND_MIIMON},
		{"IFLA_BOND_UPDELAY", iflaBondUpdelay, unix.IFLA_BOND_UPDELAY},
		{"IFLA_BOND_DOWNDELAY", iflaBondDowndelay, unix.IFLA_BOND_DOWNDELAY},
		{"IFLA_BOND_USE_CARRIER", iflaBondUseCarrier, unix.IFLA_BOND_USE_CARRIER},
		{"IFLA_BOND_ARP_INTERVAL", iflaBondArpInterval, unix.IFLA_BOND_ARP_INTERVAL},
		{"IFLA_BOND_ARP_IP_TARGET", iflaBondArpIPTarget, unix.IFLA_BOND_ARP_IP_TARGET},
		{"IFLA_BOND_ARP_VALIDATE", iflaBondArpValidate, unix.IFLA_BOND_ARP_VALIDATE},
		{"IFLA_BOND_ARP_ALL_TARGETS", iflaBondArpAllTargets, unix.IFLA_BOND_ARP_ALL_TARGETS},
		{"IFLA_BOND_PRIMARY_RESELECT", iflaBondPrimaryReselect, unix.IFLA_BOND_PRIMARY_RESELECT},
		{"IFLA_BOND_FAIL_OVER_MAC", iflaBondFailOverMac, unix.IFLA_BOND_FAIL_OVER_MAC},
		{"IFLA_BOND_XMIT_HASH_POLICY", iflaBondXmitHashPolicy, unix.IFLA_BOND_XMIT_HASH_POLICY},
		{"IFLA_BOND_RESEND_IGMP", iflaBondResendIgmp, unix.IFLA_BOND_RESEND_IGMP},
		{"IFLA_BOND_NUM_PEER_NOTIF", iflaBondNumPeerNotif, unix.IFLA_BOND_NUM_PEER_NOTIF},
		{"IFLA_BOND_ALL_SLAVES_ACTIVE", iflaBondAllSlavesActive, unix.IFLA_BOND_ALL_SLAVES_ACTIVE},
		{"IFLA_BOND_MIN_LINKS", iflaBondMinLinks, unix.IFLA_BOND_MIN_LINKS},
		{"IFLA_BOND_LP_INTERVAL", iflaBondLpInterval, unix.IFLA_BOND_LP_INTERVAL},
		{"IFLA_BOND_PACKETS_PER_SLAVE", iflaBondPacketsPerSlave, unix.IFLA_BOND_PACKETS_PER_SLAVE},
		{"IFLA_BOND_AD_LACP_RATE", iflaBondAdLacpRate, unix.IFLA_BOND_AD_LACP_RATE},
		{"IFLA_BOND_AD_SELECT", iflaBondAdSelect, unix.IFLA_BOND_AD_SELECT},
		{"IFLA_BOND_AD_ACTOR_SYS_PRIO", iflaBondAdActorSysPrio, unix.IFLA_BOND_AD_ACTOR_SYS_PRIO},
		{"IFLA_BOND_AD_USER_PORT_KEY", iflaBondAdUserPortKey, unix.IFLA_BOND_AD_USER_PORT_KEY},
		{"IFLA_BOND_AD_ACTOR_SYSTEM", iflaBondAdActorSystem, unix.IFLA_BOND_AD_ACTOR_SYSTEM},
		{"IFLA_BOND_TLB_DYNAMIC_LB", iflaBondTlbDynamicLb, unix.IFLA_BOND_TLB_DYNAMIC_LB},
		{"IFLA_BOND_PEER_NOTIF_DELAY", iflaBondPeerNotifDelay, unix.IFLA_BOND_PEER_NOTIF_DELAY},
		{"IFLA_BOND_AD_LACP_ACTIVE", iflaBondAdLacpActive, unix.IFLA_BOND_AD_LACP_ACTIVE},
		{"IFLA_BOND_MISSED_MAX", iflaBondMissedMax, unix.IFLA_BOND_MISSED_MAX},
		{"IFLA_BOND_NS_IP6_TARGET", iflaBondNsIP6Target, unix.IFLA_BOND_NS_IP6_TARGET},
		{"IFLA_BOND_COUPLED_CONTROL", iflaBondCoupledControl, unix.IFLA_BOND_COUPLED_CONTROL},
	} {
		if tc.ours != tc.sys {
			t.Errorf("%s = %d, the kernel's is %d", tc.name, tc.ours, tc.sys)
		}
	}
}
