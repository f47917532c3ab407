package netname

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/netroot/netroot/pkg/netname/netnametest"
)

// checkNames runs Plan and Predictable over sys under v252 and v257 and
// checks what holds whatever sysfs says: a name starts with its type's
// prefix, and a rename is to a valid interface name net_id computed.
func checkNames(t *testing.T, m fstest.MapFS) {
	sys := netnametest.Fast(m)
	_, _ = Plan(sys, V257, DebianPolicy(V257))
	ifs, err := Interfaces(sys)
	if err != nil {
		return
	}
	for _, s := range []Scheme{V252, V257} {
		for _, ifname := range ifs {
			n, err := Predictable(sys, ifname, s, DefaultPolicy(s))
			if err != nil {
				continue
			}
			for _, v := range []string{n.Onboard, n.Slot, n.Path, n.MAC} {
				if v != "" && (n.Prefix == "" || !strings.HasPrefix(v, n.Prefix) || len(v) >= altIfNamSiz) {
					t.Fatalf("%s %s: name %q with prefix %q", s, ifname, v, n.Prefix)
				}
			}
			if n.Renamed() && (!validIfname(n.Name) || n.Name != n.kind(Onboard) && n.Name != n.kind(Slot) && n.Name != n.kind(Path)) {
				t.Fatalf("%s %s: renamed to %q of %+v", s, ifname, n.Name, n)
			}
		}
	}
}

// FuzzSysfsTree feeds whole sysfs trees (the testdata format): links that
// loop or leave the tree, files where directories belong, any content.
func FuzzSysfsTree(f *testing.F) {
	trees, _ := filepath.Glob("testdata/*.sysfs")
	for _, tree := range trees {
		b, err := os.ReadFile(tree)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("l class/net/eth0 ../../devices/a/net/eth0\nl devices/a ../devices/a\n")
	f.Add("l class/net/eth0 /sys/class/net/eth0\n")
	f.Fuzz(func(t *testing.T, text string) {
		sys, err := netnametest.Parse(text)
		if err != nil {
			return
		}
		checkNames(t, sys)
	})
}

// FuzzAttributes puts garbage in the attributes net_id parses, in a tree
// (which one: by the length of sysname) where every other entry is real.
func FuzzAttributes(f *testing.F) {
	f.Add("3\n", "0\n", "", "52:54:00:77:01:10\n", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00\n", "0000:00:02\n", "2\n", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80", "INTERFACE=eth0\nIFINDEX=2\n", "0000:00:02.0")
	f.Add("0x10", "0x1", "pf0vf3", "aabb.ccdd.eeff", "pci:sc04", "", "0", "", "IFINDEX=-1", "0000:00:1f.7")
	f.Add("-0", "99999999999999999999", "p\x01", "1:2:3:4:5:6", "", "0000", "4294967296", "\xff", "DEVTYPE=wlan\nIFINDEX=2", "ffff:ff:ff.999")
	f.Add("0b11", "0o17", "pf-1vf-2", "::1", "pci:s", "0000:00:02", "0x0", "\x00", "IFINDEX=0x2", "1-2:3")
	var bases []string
	for _, layout := range []string{"virtio-root", "sriov", "usb-net"} {
		b, err := os.ReadFile("testdata/" + layout + ".sysfs")
		if err != nil {
			f.Fatal(err)
		}
		bases = append(bases, string(b))
	}
	f.Fuzz(func(t *testing.T, acpiIndex, devPort, physPortName, address, modalias, slotAddr, sun, config, uevent, sysname string) {
		{
			sys, err := netnametest.Parse(bases[len(sysname)%len(bases)])
			if err != nil {
				t.Fatal(err)
			}
			set := func(suffix, v string) {
				for p, file := range sys {
					if strings.HasSuffix(p, suffix) && file.Mode.IsRegular() {
						file.Data = []byte(v)
					}
				}
			}
			set("/acpi_index", acpiIndex)
			set("/dev_port", devPort)
			set("/dev_id", devPort)
			set("/address", address)
			set("/modalias", modalias)
			set("/sun", sun)
			set("/config", config)
			set("/ifindex", uevent)
			set("/name_assign_type", sun)
			set("/addr_assign_type", devPort)
			set("/ari_enabled", sun)
			set("/function_id", acpiIndex)
			set("/label", physPortName)
			for p, file := range sys {
				switch {
				case strings.HasSuffix(p, "/net/eth0/uevent") || strings.HasSuffix(p, "/net/usb0/uevent"):
					file.Data = []byte(uevent)
				case strings.HasPrefix(p, "bus/pci/slots/") && strings.HasSuffix(p, "/address"):
					file.Data = []byte(slotAddr)
				}
			}
			sys["devices/pci0000:00/0000:00:02.0/virtio0/net/eth0/phys_port_name"] = &fstest.MapFile{Data: []byte(physPortName)}
			if sysname != "" && !strings.ContainsAny(sysname, "/") && sysname != "." && sysname != ".." {
				// Move the first NIC's PCI device to another name.
				moved := fstest.MapFS{}
				for p, file := range sys {
					moved[strings.ReplaceAll(p, "0000:00:02.0", sysname)] = file
					if file.Mode&fs.ModeSymlink != 0 {
						file.Data = []byte(strings.ReplaceAll(string(file.Data), "0000:00:02.0", sysname))
					}
				}
				sys = moved
			}
			checkNames(t, sys)
		}
		if b, ok := parseMAC(address); ok && len(b) != 4 && len(b) != 6 && len(b) != 16 && len(b) != 20 {
			t.Fatalf("parseMAC(%q) = %x", address, b)
		}
		if v, err := parseUint(devPort, 32); err == nil && v > 1<<32-1 {
			t.Fatalf("parseUint(%q) = %d", devPort, v)
		}
	})
}
