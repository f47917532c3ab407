package bond

import (
	"fmt"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// setExtra sends the bond options netlink.Bond lacks (Translation.Extra)
// to the bond with the given index, as a change of its IFLA_INFO_DATA,
// and checks that the kernel reports each back: a kernel older than an
// attribute ignores it silently (rtnetlink parses IFLA_INFO_DATA
// leniently), which would leave the option unset without a word.
func setExtra(index int, attrs []Attr) error {
	if len(attrs) == 0 {
		return nil
	}
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bond"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	for _, a := range attrs {
		if a.Nested != nil {
			n := data.AddRtAttr(int(a.Type), nil)
			for i, v := range a.Nested {
				n.AddRtAttr(i, v)
			}
			continue
		}
		data.AddRtAttr(int(a.Type), a.Value)
	}
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("%s: %w", optionNames(attrs), err)
	}
	have, err := bondAttrTypes(index)
	if err != nil {
		return fmt.Errorf("reading back %s: %w", optionNames(attrs), err)
	}
	var missing []Attr
	for _, a := range attrs {
		if !have[a.Type] {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("this kernel's bonding driver does not know %s (too old a kernel): remove it from bond=", optionNames(missing))
	}
	return nil
}

// bondAttrTypes returns the IFLA_BOND_* attribute types the kernel
// reports for the bond with the given index.
func bondAttrTypes(index int) (map[uint16]bool, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return nil, fmt.Errorf("empty answer")
	}
	return infoDataTypes(msgs[0][unix.SizeofIfInfomsg:])
}

// infoDataTypes returns the attribute types inside IFLA_LINKINFO's
// IFLA_INFO_DATA of a link message's attributes.
func infoDataTypes(b []byte) (map[uint16]bool, error) {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return nil, err
	}
	out := map[uint16]bool{}
	for _, a := range attrs {
		if a.Attr.Type&nl.NLA_TYPE_MASK != unix.IFLA_LINKINFO {
			continue
		}
		info, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return nil, err
		}
		for _, i := range info {
			if i.Attr.Type&nl.NLA_TYPE_MASK != nl.IFLA_INFO_DATA {
				continue
			}
			data, err := nl.ParseRouteAttr(i.Value)
			if err != nil {
				return nil, err
			}
			for _, d := range data {
				out[d.Attr.Type&nl.NLA_TYPE_MASK] = true
			}
		}
	}
	return out, nil
}

func optionNames(attrs []Attr) string {
	names := make([]string, len(attrs))
	for i, a := range attrs {
		names[i] = a.Option
	}
	return strings.Join(names, ", ")
}
