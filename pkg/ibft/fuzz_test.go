package ibft_test

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/netroot/netroot/pkg/ibft"
	"github.com/netroot/netroot/pkg/ibft/ibfttest"
)

// FuzzParse: Parse fails with a *FormatError or returns a table that
// Marshal writes back (unless its strings, shared in the input, no longer
// fit 64 KiB) and that parses again to itself. Each input is tried as
// given and with its checksum fixed, so the fuzzer gets past it.
func FuzzParse(f *testing.F) {
	f.Add(mustMarshal(full()))
	f.Add(mustMarshal(minimal()))
	f.Add(handBuilt())
	f.Add(mustMarshal(&ibft.Table{}))
	if raw, err := os.ReadFile("testdata/ipxe-sanhook.bin"); err == nil {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fixed := append([]byte(nil), data...)
		if len(fixed) >= ibft.HeaderLen {
			if n := binary.LittleEndian.Uint32(fixed[4:]); uint64(n) <= uint64(len(fixed)) && n >= ibft.HeaderLen {
				ibft.FixChecksum(fixed[:n])
			}
		}
		for _, raw := range [][]byte{data, fixed} {
			tab, err := ibft.Parse(raw)
			if err != nil {
				var fe *ibft.FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("Parse: %T %v, not a *FormatError", err, err)
				}
				continue
			}
			again, err := ibft.Marshal(tab)
			if err != nil {
				if !strings.Contains(err.Error(), "more than the 65535") {
					t.Fatalf("Parse succeeded, Marshal: %v", err)
				}
				continue
			}
			back, err := ibft.Parse(again)
			if err != nil || !reflect.DeepEqual(back, tab) {
				t.Fatalf("Parse(Marshal(Parse(raw))) = %+v, %v; want %+v", back, err, tab)
			}
		}
	})
}

// FuzzReadSysfs replaces two files (or device links) of the kernel's view
// of a full table: ReadSysfs must fail cleanly or give a valid table.
// Links go only where the kernel makes them: fstest.MapFS recurses without
// end on a link loop, which a real sysfs reports as ELOOP.
func FuzzReadSysfs(f *testing.F) {
	f.Add("target0/lun", []byte("01000000\n"), false, "ethernet1/device", []byte("../../../devices/pci0000:00/0000:00:03.0"), true)
	f.Add("ethernet0/subnet-mask", []byte("255.255.255.0"), false, "ethernet0/prefix-len", []byte("24\n"), false)
	f.Add("target1/chap-type", []byte("2\n"), false, "target1/rev-chap-name", []byte("x\n"), false)
	f.Add("ethernet2/index", []byte("2\n"), false, "initiator/isns-server", []byte("fe80:0000:0000:0000:0000:0000:0000:0001\n"), false)
	f.Fuzz(func(t *testing.T, name1 string, v1 []byte, link1 bool, name2 string, v2 []byte, link2 bool) {
		m := ibfttest.Sysfs(full(), nil)
		for _, e := range []struct {
			name string
			v    []byte
			link bool
		}{{name1, v1, link1}, {name2, v2, link2}} {
			p := "firmware/ibft/" + e.name
			if !fs.ValidPath(p) {
				continue
			}
			mf := &fstest.MapFile{Data: e.v}
			if e.link && path.Base(p) == "device" {
				mf.Mode = fs.ModeSymlink
			}
			m[p] = mf
		}
		tab, err := ibft.ReadSysfs(m)
		if err != nil {
			var fe *ibft.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("ReadSysfs: %T %v, not a *FormatError", err, err)
			}
			return
		}
		if err := tab.Validate(); err != nil {
			t.Fatalf("ReadSysfs gave a table that does not validate: %v", err)
		}
	})
}
