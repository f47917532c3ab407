package bond

// The bond's netlink attributes (IFLA_BOND_*, linux/if_link.h): the
// kernel's ABI, here rather than from x/sys/unix so that the options parse
// on any OS (netroot check); attrs_linux_test.go holds them equal.
const (
	iflaBondMode            = 1
	iflaBondMiimon          = 3
	iflaBondUpdelay         = 4
	iflaBondDowndelay       = 5
	iflaBondUseCarrier      = 6
	iflaBondArpInterval     = 7
	iflaBondArpIPTarget     = 8
	iflaBondArpValidate     = 9
	iflaBondArpAllTargets   = 10
	iflaBondPrimaryReselect = 12
	iflaBondFailOverMac     = 13
	iflaBondXmitHashPolicy  = 14
	iflaBondResendIgmp      = 15
	iflaBondNumPeerNotif    = 16
	iflaBondAllSlavesActive = 17
	iflaBondMinLinks        = 18
	iflaBondLpInterval      = 19
	iflaBondPacketsPerSlave = 20
	iflaBondAdLacpRate      = 21
	iflaBondAdSelect        = 22
	iflaBondAdActorSysPrio  = 24
	iflaBondAdUserPortKey   = 25
	iflaBondAdActorSystem   = 26
	iflaBondTlbDynamicLb    = 27
	iflaBondPeerNotifDelay  = 28
	iflaBondAdLacpActive    = 29
	iflaBondMissedMax       = 30
	iflaBondNsIP6Target     = 31
	iflaBondCoupledControl  = 32
)
