package boot

import (
	"context"
	"fmt"
	"strconv"

	"github.com/netroot/netroot/pkg/bond"
	"github.com/netroot/netroot/pkg/devmapper"
	"github.com/netroot/netroot/pkg/iscsi"
	"github.com/netroot/netroot/pkg/multipath"
	"github.com/netroot/netroot/pkg/sysfs"
)

func (linuxISCSI) Discover(ctx context.Context, cfg iscsi.DiscoveryConfig, o iscsi.ConnectOptions) ([]iscsi.DiscoveredTarget, error) {
	t, err := iscsi.DiscoverPortal(ctx, cfg, o)
	return t, unembedHint(err)
}

func (linuxLinks) BondPorts(name string) (string, []bond.Port, error) {
	return bond.ReadPorts(sysfs.Sys.ReadTrim, name)
}

func (linuxLinks) SetActiveSlave(name, slave string) error { return bond.SetActive(name, slave) }

// linuxDM is the kernel's device-mapper.
type linuxDM struct{}

func (linuxDM) OpenControl() (multipath.Control, error) {
	c, err := devmapper.Open()
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (linuxDM) Inquiry(disk string) (vendor, model string) {
	return sysfs.Sys.Value("class/block/" + disk + "/device/vendor"), sysfs.Sys.Value("class/block/" + disk + "/device/model")
}

func (linuxDM) PartitionExtent(part string) (start, sectors uint64, err error) {
	read := func(attr string) (uint64, error) {
		v, err := sysfs.Sys.ReadTrim("class/block/" + part + "/" + attr)
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("partition %s: %s %q: %w", part, attr, v, err)
		}
		return n, nil
	}
	if start, err = read("start"); err != nil {
		return 0, 0, err
	}
	sectors, err = read("size")
	return start, sectors, err
}
