// Package multipath builds device-mapper multipath maps the way
// multipath-tools (multipathd 0.9.4, Debian 12) builds them, so that the
// real system's multipathd adopts a map an initramfs made: the same name
// and UUID, a table it would load itself.
//
// Naming (user_friendly_names no, Debian's default): the map is named by
// the WWID of its paths (udev's ID_SERIAL, blockdev.Device.WWID) and its
// device-mapper UUID is "mpath-<WWID>"; a partition of it is
// "<WWID>-part<N>" with UUID "part<N>-mpath-<WWID>", as kpartx names them.
//
// The table (libmultipath's assemble_map):
//
//	<features> <hardware handler> <#groups> <first group> then per group:
//	<selector> <#paths> 1 then per path: <major:minor> <rr_min_io_rq>
//
// e.g. "1 queue_if_no_path 1 alua 1 1 service-time 0 2 1 8:16 1 8:32 1"
// for a LIO LUN on two portals.
//
// # Handing the map to the real system's multipathd (0.9.4, read in its source)
//
//   - multipathd counts a device as its map when the UUID starts with
//     "mpath-" and the table is one "multipath" target (dm_is_mpath); it
//     reloads the table with its own choice (features, handler, selector,
//     groups) where that differs (select_action).
//   - udev's 60-multipath.rules ("multipath -u", at coldplug after
//     switch_root) claim a path (ID_FS_TYPE=mpath_member, SYSTEMD_READY=0,
//     so nothing mounts sdX itself) when its WWID is in /etc/multipath/wwids
//     or a map with UUID "mpath-<WWID>" exists — and multipathd runs or is
//     enabled.
//   - With find_multipaths "strict", Debian 12's default, multipathd makes
//     maps only of WWIDs listed in /etc/multipath/wwids (lines "/<WWID>/";
//     "multipath -a <WWID>" adds one); a map in use is kept all the same
//     (below).
//   - udev's 55-dm.rules take a dm device's coldplug "add" event as
//     activated only if the udev database (/run/udev/data/b<major>:<minor>)
//     says DM_UDEV_PRIMARY_SOURCE_FLAG=1; an initramfs without udev leaves
//     none, so the map would get no /dev/mapper and /dev/disk/by-* links
//     and systemd would see it not ready: UdevDBEntry is that entry, which
//     /init writes for each map it makes.
//   - multipathd does not need the map's WWID in /etc/multipath/wwids to
//     keep it: with find_multipaths "strict" and the WWID not listed, its
//     start-up tries to flush the map, fails because the root holds it
//     open ("map in use", "unable to flush devmap"), keeps it, and then
//     adds the WWID to the file (coalesce_maps, remember_wwid).
package multipath
