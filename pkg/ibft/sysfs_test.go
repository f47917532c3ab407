package ibft_test

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/netroot/netroot/pkg/ibft"
	"github.com/netroot/netroot/pkg/ibft/ibfttest"
)

func TestReadSysfs(t *testing.T) {
	for name, tab := range map[string]*ibft.Table{"full": full(), "minimal": minimal()} {
		t.Run(name, func(t *testing.T) {
			got, err := ibft.ReadSysfs(ibfttest.Sysfs(tab, nil))
			if err != nil {
				t.Fatal(err)
			}
			if want := ibfttest.Exported(tab); !reflect.DeepEqual(got, want) {
				t.Errorf("ReadSysfs =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// TestReadSysfsKernelForms reads the forms older kernels or odd tables
// give: no prefix-len (subnet-mask only, dotted or a number), no device
// link, no acpi_header, the reverse secret under rev-chap-secret, NICs
// listed out of order.
func TestReadSysfsKernelForms(t *testing.T) {
	tab := full()
	m := ibfttest.Sysfs(tab, nil)
	delete(m, "firmware/ibft/ethernet0/prefix-len")
	delete(m, "firmware/ibft/ethernet1/prefix-len")
	m["firmware/ibft/ethernet1/subnet-mask"] = &fstest.MapFile{Data: []byte("16\n")}
	delete(m, "firmware/ibft/ethernet1/device")
	for k := range m {
		if strings.HasPrefix(k, "firmware/ibft/acpi_header") {
			delete(m, k)
		}
	}
	m["firmware/ibft/target1/rev-chap-secret"] = m["firmware/ibft/target1/rev-chap-name-secret"]
	delete(m, "firmware/ibft/target1/rev-chap-name-secret")
	got, err := ibft.ReadSysfs(m)
	if err != nil {
		t.Fatal(err)
	}
	want := ibfttest.Exported(tab)
	want.Signature, want.OEMID, want.OEMTableID = "", "", ""
	want.NICs[1].PCI = 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadSysfs =\n%+v\nwant\n%+v", got, want)
	}
}

func TestReadSysfsFallback(t *testing.T) {
	tab := full()
	raw := mustMarshal(tab)
	for _, sig := range []string{"iBFT", "IBFT", "BIFT"} {
		tab.Signature = sig
		raw := mustMarshal(tab)
		got, err := ibft.ReadSysfs(fstest.MapFS{"firmware/acpi/tables/" + sig: {Data: raw}, "firmware/acpi/tables/DSDT": {}})
		if err != nil || !reflect.DeepEqual(got, tab) {
			t.Errorf("%s: ReadSysfs = %+v, %v; want the parsed table", sig, got, err)
		}
	}

	raw[len(raw)-1] ^= 1
	_, err := ibft.ReadSysfs(fstest.MapFS{"firmware/acpi/tables/iBFT": {Data: raw}})
	if !errors.Is(err, ibft.ErrChecksum) || !strings.Contains(err.Error(), "firmware/acpi/tables/iBFT") {
		t.Errorf("bad checksum: %v, want ErrChecksum naming the file", err)
	}

	// The kernel skipped every structure: the raw table says why.
	raw = mustMarshal(full())
	raw[ibft.StructureOffset(raw, ibft.SlotNIC0)+2] = 100
	ibft.FixChecksum(raw)
	_, err = ibft.ReadSysfs(fstest.MapFS{
		"firmware/ibft/acpi_header/signature": {Data: []byte("iBFT\n")},
		"firmware/acpi/tables/iBFT":           {Data: raw},
	})
	if err == nil || !strings.Contains(err.Error(), "NIC slot 0 at 0x00a0: length 100, want 102 (read from /sys/firmware/acpi/tables/iBFT)") {
		t.Errorf("empty firmware/ibft with a raw table: %v, want the raw table's verdict", err)
	}

	for name, sys := range map[string]fstest.MapFS{
		"nothing":       {"firmware/acpi/tables/DSDT": {}},
		"empty ibft":    {"firmware/ibft/acpi_header/signature": {Data: []byte("iBFT\n")}},
		"no firmware/":  {},
		"no acpi table": {"firmware/acpi/tables/FACP": {}},
	} {
		_, err := ibft.ReadSysfs(sys)
		if !errors.Is(err, ibft.ErrNoTable) {
			t.Errorf("%s: %v, want ErrNoTable", name, err)
		}
	}
	_, err = ibft.ReadSysfs(fstest.MapFS{})
	if err == nil || !strings.Contains(err.Error(), "is iscsi_ibft loaded?") {
		t.Errorf("no table: %v, want a hint", err)
	}
}

func TestReadSysfsGarbage(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, c := range []struct {
		name, want string
		edit       func(fstest.MapFS)
	}{
		{"index of another directory", "/sys/firmware/ibft/ethernet1/index: index 0 in directory ethernet1", func(m fstest.MapFS) {
			m["firmware/ibft/ethernet1/index"] = file("0\n")
		}},
		{"flags not a number", `target0/flags: "x" is not a 8-bit number`, func(m fstest.MapFS) {
			m["firmware/ibft/target0/flags"] = file("x\n")
		}},
		{"port too big", `target0/port: "70000" is not a 16-bit number`, func(m fstest.MapFS) {
			m["firmware/ibft/target0/port"] = file("70000\n")
		}},
		{"no index", "ethernet0/index: missing", func(m fstest.MapFS) { delete(m, "firmware/ibft/ethernet0/index") }},
		{"no MAC", "ethernet1/mac: missing", func(m fstest.MapFS) { delete(m, "firmware/ibft/ethernet1/mac") }},
		{"no LUN", "target1/lun: missing", func(m fstest.MapFS) { delete(m, "firmware/ibft/target1/lun") }},
		{"bad address", `ethernet0/gateway: "10.77.0.256" is not an IP address`, func(m fstest.MapFS) {
			m["firmware/ibft/ethernet0/gateway"] = file("10.77.0.256\n")
		}},
		{"zone", `is not an IP address`, func(m fstest.MapFS) { m["firmware/ibft/ethernet0/gateway"] = file("fe80::1%eth0\n") }},
		{"long MAC", "is not a 6-byte MAC address", func(m fstest.MapFS) {
			m["firmware/ibft/ethernet0/mac"] = file("00:00:00:00:fe:80:00:00:00:00:00:00:00:00:00:00:00:00:00:00\n")
		}},
		{"bad LUN", `target0/lun: "0x1000000": not hex digits`, func(m fstest.MapFS) {
			m["firmware/ibft/target0/lun"] = file("0x1000000\n")
		}},
		{"ambiguous LUN", "readings", func(m fstest.MapFS) {
			m["firmware/ibft/target0/lun"] = file("11111111111\n")
		}},
		{"huge attribute", "more than 4096 bytes", func(m fstest.MapFS) {
			m["firmware/ibft/target0/target-name"] = file(strings.Repeat("x", 5000))
		}},
		{"bad prefix", `prefix-len: "-1" is not a prefix length`, func(m fstest.MapFS) {
			m["firmware/ibft/ethernet0/prefix-len"] = file("-1\n")
		}},
		{"holey mask", `"255.0.255.0" is not a contiguous subnet mask`, func(m fstest.MapFS) {
			delete(m, "firmware/ibft/ethernet0/prefix-len")
			m["firmware/ibft/ethernet0/subnet-mask"] = file("255.0.255.0")
		}},
		{"device elsewhere", `ethernet0/device: link to "../../../devices/platform/serial8250", not a PCI device`, func(m fstest.MapFS) {
			m["firmware/ibft/ethernet0/device"] = &fstest.MapFile{Data: []byte("../../../devices/platform/serial8250"), Mode: fs.ModeSymlink}
		}},
		{"other PCI segment", "not a PCI device of segment 0", func(m fstest.MapFS) {
			m["firmware/ibft/ethernet0/device"] = &fstest.MapFile{Data: []byte("../../../devices/pci0001:00/0001:00:02.0"), Mode: fs.ModeSymlink}
		}},
		{"prefix beyond IPv4", "prefix length 33", func(m fstest.MapFS) { m["firmware/ibft/ethernet0/prefix-len"] = file("33\n") }},
		{"CHAP type", "unknown CHAP type 9", func(m fstest.MapFS) { m["firmware/ibft/target0/chap-type"] = file("9\n") }},
		{"NUL in a name", "NUL byte", func(m fstest.MapFS) { m["firmware/ibft/initiator/initiator-name"] = file("iqn\x00\n") }},
		{"unreadable", "/sys/firmware/ibft/target1/port: cannot read it", func(m fstest.MapFS) {
			m["firmware/ibft/target1/port"] = &fstest.MapFile{Mode: fs.ModeDir}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := ibfttest.Sysfs(full(), nil)
			c.edit(m)
			_, err := ibft.ReadSysfs(m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ReadSysfs: %v\nwant an error with %q", err, c.want)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}
