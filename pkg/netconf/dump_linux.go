package netconf

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// maxDumps bounds the tries of one dump.
const maxDumps = 5

// Dump runs a netlink dump (netlink.LinkList, AddrList, RouteList…), again
// while the kernel reports it interrupted: its table changed while the
// answer spanned several messages — NIC drivers registering links, IPv6
// addresses coming and going — so the answer may lack entries or hold
// stale ones. netroot's one handling of netlink.ErrDumpInterrupted: after
// maxDumps tries the last answer is returned with that error.
func Dump[T any](dump func() ([]T, error)) ([]T, error) {
	var out []T
	var err error
	for range maxDumps {
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return out, err
}

// Addrs is netlink.AddrList through Dump: link's addresses of family
// (every link's when link is nil).
func Addrs(link netlink.Link, family int) ([]netlink.Addr, error) {
	return Dump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, family) })
}
