package rig

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPXELinuxConfig(t *testing.T) {
	got := PXELinuxConfig(" ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none root=LABEL=R ro console=ttyS0 ")
	want := "DEFAULT netroot\n" +
		"LABEL netroot\n" +
		"  KERNEL vmlinuz\n" +
		"  APPEND initrd=initrd.img ip=10.77.0.10::10.77.0.1:255.255.255.0:client:bond0:none root=LABEL=R ro console=ttyS0\n" +
		"  IPAPPEND 2\n"
	if got != want {
		t.Errorf("PXELinuxConfig:\n%s\nwant:\n%s", got, want)
	}
}

func TestIPXEScript(t *testing.T) {
	got := IPXEScript("root=LABEL=R ro")
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if lines[0] != "#!ipxe" || lines[len(lines)-1] != "boot" {
		t.Errorf("script must start with #!ipxe and end with boot:\n%s", got)
	}
	for _, want := range []string{
		"kernel tftp://${next-server}/vmlinuz initrd=initrd.img root=LABEL=R ro BOOTIF=01-${netX/mac:hexhyp}",
		"initrd tftp://${next-server}/initrd.img",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("script lacks line %q:\n%s", want, got)
		}
	}
}

func TestDnsmasqArgs(t *testing.T) {
	base := PXEServerConfig{Interface: "br0", ServerAddr: "10.77.0.1", TFTPRoot: "/t/tftp", Dir: "/t"}
	common := []string{
		"--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=br0", "--bind-interfaces",
		"--dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h", "--enable-tftp", "--tftp-root=/t/tftp",
		"--dhcp-leasefile=/t/dnsmasq.leases", "--pid-file=/t/dnsmasq.pid", "--log-dhcp",
	}
	for _, tc := range []struct {
		mode      PXEMode
		want, not []string
	}{
		{PXELinuxMode, []string{"--dhcp-boot=pxelinux.0,,10.77.0.1"}, []string{"--dhcp-match=set:ipxe,175"}},
		{IPXEScriptMode, []string{
			"--dhcp-match=set:ipxe,175",
			"--dhcp-boot=tag:!ipxe,undionly.kpxe,,10.77.0.1",
			"--dhcp-boot=tag:ipxe,boot.ipxe,,10.77.0.1",
		}, []string{"--dhcp-boot=pxelinux.0,,10.77.0.1"}},
	} {
		c := base
		c.Mode = tc.mode
		args := dnsmasqArgs(c)
		for _, w := range append(common, tc.want...) {
			if !slices.Contains(args, w) {
				t.Errorf("%v: dnsmasq args lack %q: %q", tc.mode, w, args)
			}
		}
		for _, n := range tc.not {
			if slices.Contains(args, n) {
				t.Errorf("%v: dnsmasq args have %q", tc.mode, n)
			}
		}
	}
}

func TestAssembleTFTPRoot(t *testing.T) {
	src := t.TempDir()
	kernel, initrd := filepath.Join(src, "k"), filepath.Join(src, "i")
	os.WriteFile(kernel, []byte("kernel"), 0o644)
	os.WriteFile(initrd, []byte("initrd"), 0o644)

	dir := filepath.Join(t.TempDir(), "tftp")
	if err := AssembleTFTPRoot(dir, IPXEScriptMode, kernel, initrd, "root=LABEL=R"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"vmlinuz": "kernel", "initrd.img": "initrd", "boot.ipxe": IPXEScript("root=LABEL=R")} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	if err := AssembleTFTPRoot(dir, IPXEScriptMode, filepath.Join(src, "absent"), initrd, ""); err == nil {
		t.Error("a missing kernel: want an error")
	}
	if err := AssembleTFTPRoot(dir, PXEMode(9), kernel, initrd, ""); err == nil {
		t.Error("an unknown mode: want an error")
	}
	if MissingPXE() != "" {
		t.Skipf("pxelinux mode: %s", MissingPXE())
	}
	dir = filepath.Join(t.TempDir(), "tftp")
	if err := AssembleTFTPRoot(dir, PXELinuxMode, kernel, initrd, "root=LABEL=R"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pxelinux.0", "ldlinux.c32", "pxelinux.cfg/default", "vmlinuz", "initrd.img"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("tftp root lacks %s: %v", name, err)
		}
	}
}
