package boot

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/netroot/netroot/pkg/config"
)

// initiatorFile is dracut's record of the initiator name a boot used
// (iscsiroot.sh writes "InitiatorName=…" there). /run moves into the real
// root, so the OS can take the name over: its iscsid adopts the sessions
// with the name the kernel holds for each (open-iscsi reads the
// session's sysfs initiatorname), but logs in anew with
// /etc/iscsi/initiatorname.iscsi, which must hold the same name for the
// targets' ACLs (a link to this file, or the same file).
const initiatorFile = "/run/initiatorname.iscsi"

// initiator picks the initiator name in dracut's order —
// rd.iscsi.initiator=, the iBFT's, the initramfs's
// /etc/iscsi/initiatorname.iscsi (netroot build bakes it) — where dracut
// would then run the random iscsi-iname, one derived from the boot
// interface's MAC (config.DefaultInitiator). It logs which it used and
// leaves it in /run/initiatorname.iscsi.
func (b *Boot) initiator(p *config.Plan, net netResult, nics MACs, files Files) (string, error) {
	name, from := p.ISCSI.Initiator, "rd.iscsi.initiator"
	if name == "" {
		if name = net.firmware.initiator(); name != "" {
			from = "the iBFT"
		}
	}
	if name == "" {
		data, err := files.ReadFile(config.InitiatorNameFile)
		switch {
		case err == nil:
			if name, err = config.ParseInitiatorName(data); err != nil {
				b.log.Warnf("login: %s in the initramfs: %v; not using it", config.InitiatorNameFile, err)
			}
			from = config.InitiatorNameFile + " in the initramfs"
		case !errors.Is(err, fs.ErrNotExist):
			b.log.Warnf("login: reading %s: %v", config.InitiatorNameFile, err)
		}
	}
	if name == "" {
		var err error
		if name, err = derivedInitiator(p, net, nics); err != nil {
			return "", fail("login", err, "set rd.iscsi.initiator=, or bake a name: netroot build -initiator-name-file")
		}
		from = "derived from the boot MAC: no rd.iscsi.initiator, iBFT or " + config.InitiatorNameFile
	}
	b.log.Printf("login: initiator %s (%s)", name, from)
	if err := files.WriteFile(initiatorFile, []byte("InitiatorName="+name+"\n"), 0o644); err != nil {
		b.log.Warnf("login: %s: %v", initiatorFile, err)
	}
	return name, nil
}

// derivedInitiator is the initiator name derived from the boot
// interface's MAC (BOOTIF=), else the first NIC's the plan names or DHCP
// configured, else the iBFT's first NIC's.
func derivedInitiator(p *config.Plan, net netResult, nics MACs) (string, error) {
	mac := p.Net.BootIF
	ifaces := physicalInterfaces(p)
	for _, l := range net.leases {
		ifaces = append(ifaces, l.Interface)
	}
	for _, nic := range ifaces {
		if len(mac) > 0 {
			break
		}
		if hw, err := nics.HardwareAddr(nic); err == nil && len(hw) > 0 {
			mac = hw
		}
	}
	if len(mac) == 0 && net.firmware != nil && len(net.firmware.table.NICs) > 0 {
		mac = net.firmware.table.NICs[0].MAC
	}
	n := config.DefaultInitiator(mac)
	if n == "" {
		return "", fmt.Errorf("no initiator name: rd.iscsi.initiator= is unset, and there is no iBFT, no %s and no MAC to derive one from", config.InitiatorNameFile)
	}
	return n, nil
}
