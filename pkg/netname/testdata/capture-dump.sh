#!/bin/sh
# dump.sh: prints the sysfs entries udev's net_id reads for every NIC, one per
# line: "d PATH" (a directory), "l PATH TARGET" (a symlink), "f PATH HEX" (a
# readable file's first bytes, hex). Paths are relative to /sys.
emit() {
	local p=$1 s=/sys/$1 max=${2:-256}
	if [ -L "$s" ]; then
		echo "l $p $(readlink "$s")"
	elif [ -f "$s" ] && cat "$s" > /tmp/attr 2>/dev/null; then
		echo "f $p $(head -c "$max" /tmp/attr | od -An -v -tx1 | tr -d ' \n')"
	fi
}
for n in /sys/class/net/*; do
	name=${n##*/}
	[ "$name" = lo ] && continue
	emit class/net/$name
	d=$(cd -P "$n" && pwd -P); d=${d#/sys/}
	echo "d $d"
	for a in uevent ifindex iflink type addr_assign_type address dev_port dev_id phys_port_name name_assign_type subsystem device of_node; do
		emit $d/$a
	done
	p=${d%/*}
	while [ "$p" != devices ] && [ -n "$p" ]; do
		echo "d $p"
		for a in uevent subsystem modalias acpi_index index label ari_enabled function_id physfn; do
			emit $p/$a
		done
		emit $p/config 64
		for v in /sys/$p/virtfn*; do [ -L "$v" ] && emit "${v#/sys/}"; done
		if [ -L /sys/$p/firmware_node ]; then
			emit $p/firmware_node
			fw=$(cd -P /sys/$p/firmware_node && pwd -P); fw=${fw#/sys/}
			echo "d $fw"
			emit $fw/sun
		fi
		p=${p%/*}
	done
done
echo "d bus/pci/slots"
for s in /sys/bus/pci/slots/*; do
	[ -d "$s" ] || continue
	echo "d ${s#/sys/}"
	emit "${s#/sys/}/address"
done
