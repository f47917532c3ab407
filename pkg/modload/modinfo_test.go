package modload

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

func TestParseModInfo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    []byte
		want    *ModInfo
		wantErr bool
	}{
		{
			name: "ext4",
			data: modinfoBytes("softdep=pre: crypto-crc32c", "license=GPL", "alias=fs-ext4", "alias=ext3",
				"depends=jbd2,mbcache,crc16", "name=ext4", "vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions ",
				"parm=debug:enable debugging"),
			want: &ModInfo{Name: "ext4", Depends: []string{"jbd2", "mbcache", "crc16"}, SoftPre: []string{"crypto-crc32c"},
				Aliases: []string{"fs-ext4", "ext3"}, Vermagic: "6.1.0-56-amd64 SMP preempt mod_unload modversions ",
				Params: []string{"debug:enable debugging"}},
		},
		{
			name: "dash names normalised, empty depends, padding",
			data: []byte("\x00\x00name=crc32c-intel\x00depends=\x00\x00softdep=pre: a post: b c\x00"),
			want: &ModInfo{Name: "crc32c_intel", SoftPre: []string{"a"}, SoftPost: []string{"b", "c"}},
		},
		{
			name: "malformed softdep like cifs",
			data: modinfoBytes("softdep=gcm", "name=cifs"),
			want: &ModInfo{Name: "cifs"},
		},
		{name: "no name", data: modinfoBytes("license=GPL"), wantErr: true},
		{name: "empty", data: nil, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseModInfo(tc.data)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseSoftdep(t *testing.T) {
	for _, tc := range []struct {
		in        string
		pre, post []string
	}{
		{"pre: crypto-crc32c", []string{"crypto-crc32c"}, nil},
		{"pre: a b post: c", []string{"a", "b"}, []string{"c"}},
		{"post: c pre: a", []string{"a"}, []string{"c"}},
		{"  pre:   a\tb  ", []string{"a", "b"}, nil},
		{"gcm", nil, nil},
		{"x pre: y", []string{"y"}, nil},
		{"", nil, nil},
	} {
		pre, post := ParseSoftdep(tc.in)
		if !reflect.DeepEqual(pre, tc.pre) || !reflect.DeepEqual(post, tc.post) {
			t.Errorf("ParseSoftdep(%q) = %q, %q; want %q, %q", tc.in, pre, post, tc.pre, tc.post)
		}
	}
}

func TestReadModInfoELF(t *testing.T) {
	img := synthELF(modinfoBytes("name=virtio_net", "depends=virtio_ring,virtio,net_failover", "alias=virtio:d00000001v*"))
	mi, err := ReadModInfo(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	want := &ModInfo{Name: "virtio_net", Depends: []string{"virtio_ring", "virtio", "net_failover"}, Aliases: []string{"virtio:d00000001v*"}}
	if !reflect.DeepEqual(mi, want) {
		t.Errorf("got %+v, want %+v", mi, want)
	}
}

func TestReadModInfoErrors(t *testing.T) {
	good := synthELF(modinfoBytes("name=x"))
	noModinfo := bytes.Replace(bytes.Clone(good), []byte(".modinfo"), []byte(".notinfo"), 1)
	truncated := good[:len(good)-100]
	hugeSection := bytes.Clone(good)
	// Section header 1's sh_size field: e_shoff + 64 + 32.
	shoff := int(good[40]) | int(good[41])<<8
	hugeSection[shoff+64+32+6] = 0x7f
	for _, tc := range []struct {
		name string
		data []byte
		is   error
	}{
		{"empty", nil, nil},
		{"not ELF", []byte("hello world, this is not an ELF file at all......................."), nil},
		{"no .modinfo", noModinfo, ErrNoModInfo},
		{"truncated", truncated, nil},
		{"section past EOF", hugeSection, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadModInfo(bytes.NewReader(tc.data), int64(len(tc.data)))
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
		})
	}
}

func TestReadModInfoFileCompressed(t *testing.T) {
	img := synthELF(modinfoBytes("name=bonding", "alias=rtnl-link-bond"))
	var gz, xzb, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(img)
	gw.Close()
	xw, err := xz.NewWriter(&xzb)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(img)
	xw.Close()
	zw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(img)
	zw.Close()
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"bonding.ko": img, "bonding.ko.gz": gz.Bytes(), "bonding.ko.xz": xzb.Bytes(), "bonding.ko.zst": zs.Bytes(),
	} {
		p := writeFile(t, dir, name, data)
		mi, err := ReadModInfoFile(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if mi.Name != "bonding" || len(mi.Aliases) != 1 {
			t.Errorf("%s: got %+v", name, mi)
		}
	}
	// A .xz that is not xz.
	p := writeFile(t, dir, "bad.ko.xz", img)
	if _, err := ReadModInfoFile(p); err == nil {
		t.Error("bad.ko.xz: no error")
	}
	if _, err := ReadModInfoFile(filepath.Join(dir, "missing.ko")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

// TestReadModInfoGCC checks a .modinfo section as a real compiler lays it
// out in a relocatable object, when gcc is installed.
func TestReadModInfoGCC(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed")
	}
	dir := t.TempDir()
	src := writeFile(t, dir, "m.c", []byte(`
static const char a[] __attribute__((section(".modinfo"), used, aligned(1))) = "alias=pci:v00001AF4d*sv*sd*bc*sc*i*";
static const char b[] __attribute__((section(".modinfo"), used, aligned(1))) = "depends=virtio_ring,virtio";
static const char c[] __attribute__((section(".modinfo"), used, aligned(1))) = "name=virtio_pci";
int f(void) { return 0; }
`))
	obj := filepath.Join(dir, "virtio_pci.ko")
	if out, err := exec.Command(gcc, "-c", "-o", obj, src).CombinedOutput(); err != nil {
		t.Skipf("gcc failed: %v\n%s", err, out)
	}
	mi, err := ReadModInfoFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	want := &ModInfo{Name: "virtio_pci", Depends: []string{"virtio_ring", "virtio"}, Aliases: []string{"pci:v00001AF4d*sv*sd*bc*sc*i*"}}
	if !reflect.DeepEqual(mi, want) {
		t.Errorf("got %+v, want %+v", mi, want)
	}
}

func FuzzReadModInfo(f *testing.F) {
	f.Add(synthELF(modinfoBytes("name=ext4", "depends=jbd2,mbcache", "softdep=pre: crc32c", "alias=fs-ext4")))
	f.Add(synthELF(nil))
	f.Add(synthELF(modinfoBytes("softdep=gcm post:", "name=a-b")))
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		mi, err := ReadModInfo(bytes.NewReader(data), int64(len(data)))
		if err == nil && (mi == nil || mi.Name == "") {
			t.Fatalf("no error but ModInfo %+v", mi)
		}
	})
}

func FuzzParseModInfo(f *testing.F) {
	f.Add(modinfoBytes("name=ext4", "depends=jbd2,,mbcache", "softdep=pre: a post: b", "alias=x"))
	f.Add([]byte("name=\x00depends=,\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mi, err := ParseModInfo(data)
		if err != nil {
			return
		}
		for _, d := range mi.Depends {
			if d == "" {
				t.Fatalf("empty dependency in %+v", mi)
			}
		}
	})
}
