package modload

import (
	"slices"
	"strings"
	"testing"
)

// testIndex scans the small synthetic tree.
func testIndex(t *testing.T) *Index {
	t.Helper()
	x, err := ScanTree(writeTree(t, testMods, testBuiltin...))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustIndex(t *testing.T, mods []Module, builtin ...string) *Index {
	t.Helper()
	x, err := NewIndex("/test", mods, builtin, nil)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestScanTree(t *testing.T) {
	x := testIndex(t)
	if got := len(x.Names()); got != len(testMods) {
		t.Errorf("%d modules, want %d", got, len(testMods))
	}
	m, ok := x.Module("crc32c-intel")
	if !ok || m.Name != "crc32c_intel" || m.Path != "kernel/arch/x86/crypto/crc32c-intel.ko" {
		t.Errorf("Module(crc32c-intel) = %+v, %v", m, ok)
	}
	if !x.IsBuiltin("crc_t10dif") || !x.IsBuiltin("crc-t10dif") || x.IsBuiltin("ext4") {
		t.Error("builtin set wrong")
	}
}

func TestScanTreeErrors(t *testing.T) {
	dir := writeTree(t, testMods[:2])
	writeFile(t, dir, "kernel/bad.ko", []byte("not an ELF"))
	if _, err := ScanTree(dir); err == nil || !strings.Contains(err.Error(), "bad.ko") {
		t.Errorf("garbage module: err = %v", err)
	}
	dup := writeTree(t, []fakeMod{{path: "a/x.ko", name: "x"}, {path: "b/x.ko", name: "x"}})
	if _, err := ScanTree(dup); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate module: err = %v", err)
	}
}

func TestResolve(t *testing.T) {
	x := testIndex(t)
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{[]string{"ext4"}, []string{"crc16", "jbd2", "mbcache", "crc32c_generic", "crc32c_intel", "ext4"}},
		{[]string{"iscsi_tcp"}, []string{"scsi_common", "scsi_mod", "scsi_transport_iscsi", "libiscsi", "libiscsi_tcp", "iscsi_tcp"}},
		// crc_t10dif is builtin: dropped.
		{[]string{"sd_mod"}, []string{"scsi_common", "scsi_mod", "sd_mod"}},
		{[]string{"virtio-net", "virtio_pci"}, []string{"failover", "net_failover", "virtio", "virtio_ring", "virtio_net", "virtio_pci"}},
		// Aliases as names; the same module twice is listed once.
		{[]string{"fs-ext4", "ext4", "rtnl-link-bond"}, []string{"crc16", "jbd2", "mbcache", "crc32c_generic", "crc32c_intel", "ext4", "bonding"}},
		{[]string{"crc32c"}, []string{"crc32c_generic", "crc32c_intel"}},
		{[]string{"crc-t10dif", "sha256_generic"}, nil},
		{nil, nil},
	} {
		got, err := x.Resolve(tc.names...)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tc.names, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Resolve(%q) =\n %q\nwant\n %q", tc.names, got, tc.want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	x := testIndex(t)
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"ext5"}, `unknown module "ext5"`},
		{[]string{"bondingg"}, `did you mean "bonding"?`},
		{[]string{"ext4", "nosuch"}, `"nosuch"`},
	} {
		_, err := x.Resolve(tc.names...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%q): err = %v, want it to contain %q", tc.names, err, tc.want)
		}
	}

	missingDep := mustIndex(t, []Module{{Name: "a", Path: "a.ko", Depends: []string{"gone"}}})
	if _, err := missingDep.Resolve("a"); err == nil || !strings.Contains(err.Error(), "depends on gone") {
		t.Errorf("missing dependency: err = %v", err)
	}

	cycle := mustIndex(t, []Module{
		{Name: "a", Path: "a.ko", Depends: []string{"b"}},
		{Name: "b", Path: "b.ko", Depends: []string{"c"}},
		{Name: "c", Path: "c.ko", Depends: []string{"a"}},
	})
	if _, err := cycle.Resolve("a"); err == nil || !strings.Contains(err.Error(), "a → b → c → a") {
		t.Errorf("cycle: err = %v", err)
	}
}

func TestResolveSoftdeps(t *testing.T) {
	x := mustIndex(t, []Module{
		{Name: "m", Path: "m.ko", SoftPre: []string{"pre1", "absent"}, SoftPost: []string{"post1"}},
		{Name: "pre1", Path: "pre1.ko"},
		{Name: "post1", Path: "post1.ko"},
		// A soft cycle: s1 wants s2 before it, s2 wants s1 before it.
		{Name: "s1", Path: "s1.ko", SoftPre: []string{"s2"}},
		{Name: "s2", Path: "s2.ko", SoftPre: []string{"s1"}},
		// A post softdep on a hard dependency cannot be honoured.
		{Name: "h", Path: "h.ko", Depends: []string{"d"}, SoftPost: []string{"d"}},
		{Name: "d", Path: "d.ko"},
	})
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{[]string{"m"}, []string{"pre1", "m", "post1"}},
		{[]string{"post1", "m"}, []string{"pre1", "m", "post1"}},
		// Hard dependencies are visited before soft ones; the soft edge
		// closing the s1/s2 cycle is dropped.
		{[]string{"s1"}, []string{"s2", "s1"}},
		{[]string{"h"}, []string{"d", "h"}},
	} {
		got, err := x.Resolve(tc.names...)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tc.names, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Resolve(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}

func TestPlanBlacklist(t *testing.T) {
	x := testIndex(t)
	black := func(names ...string) func(string) bool {
		return func(m string) bool { return slices.Contains(names, m) }
	}
	for _, tc := range []struct {
		name      string
		names     []string
		blacklist []string
		order     []string
		errs      []string
	}{
		{"one provider of two", []string{"ext4"}, []string{"crc32c_intel"},
			[]string{"crc16", "jbd2", "mbcache", "crc32c_generic", "ext4"}, nil},
		{"softdep entirely blacklisted is dropped", []string{"ext4"}, []string{"crc32c_intel", "crc32c_generic"},
			[]string{"crc16", "jbd2", "mbcache", "ext4"}, nil},
		{"named module", []string{"bonding", "ext4"}, []string{"bonding"},
			[]string{"crc16", "jbd2", "mbcache", "crc32c_generic", "crc32c_intel", "ext4"}, []string{"module bonding is blacklisted"}},
		{"hard dependency", []string{"virtio_net", "bonding"}, []string{"failover"},
			[]string{"bonding"}, []string{"module failover is needed by net_failover but blacklisted"}},
		{"every alias provider", []string{"crc32c"}, []string{"crc32c_intel", "crc32c_generic"},
			nil, []string{"every module providing it is blacklisted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := x.plan(tc.names, black(tc.blacklist...), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.order, tc.order) {
				t.Errorf("order %q, want %q", p.order, tc.order)
			}
			if len(p.errs) != len(tc.errs) {
				t.Fatalf("errs %v, want %q", p.errs, tc.errs)
			}
			for i, e := range p.errs {
				if !strings.Contains(e.Error(), tc.errs[i]) {
					t.Errorf("err %q, want it to contain %q", e, tc.errs[i])
				}
			}
		})
	}
}

func TestMatchAliases(t *testing.T) {
	x := testIndex(t)
	for _, tc := range []struct {
		modalias string
		want     []string
	}{
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", []string{"virtio_pci"}},
		{"pci:v00008086d0000100Esv00008086sd00001E00bc02sc00i00", []string{"e1000"}},
		{"pci:v00001234d00001111sv00001AF4sd00001100bc03sc00i00", nil},
		{"virtio:d00000001v00001AF4", []string{"virtio_net"}},
		{"virtio:d00000002v00001AF4", nil},
		{"crypto-crc32c", []string{"crc32c_generic", "crc32c_intel"}},
		{"crypto_crc32c", []string{"crc32c_generic", "crc32c_intel"}},
		{"crc32c_generic", []string{"crc32c_generic"}},
		{"cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0094,00E3", []string{"crc32c_intel"}},
		{"", nil},
	} {
		if got := x.MatchAliases(tc.modalias); !slices.Equal(got, tc.want) {
			t.Errorf("MatchAliases(%q) = %q, want %q", tc.modalias, got, tc.want)
		}
	}
}

// TestMatchAliasesBuckets checks the prefix buckets against trying every
// pattern, with patterns whose literal prefix is empty or the whole string.
func TestMatchAliasesBuckets(t *testing.T) {
	var mods []Module
	patterns := []string{"*", "?ci:*", "pci:*", "pci:v1*", "[p]ci:v1", "pci:v1", "p*1", `pci\:v1`, "x*"}
	for i, p := range patterns {
		mods = append(mods, Module{Name: string(rune('a' + i)), Path: "m.ko", Aliases: []string{p}})
	}
	x := mustIndex(t, mods)
	for _, s := range []string{"pci:v1", "pci:v12", "xci:v1", "", "p1"} {
		var want []string
		for _, m := range mods {
			if globMatch(m.Aliases[0], s) {
				want = append(want, m.Name)
			}
		}
		if got := x.MatchAliases(s); !slices.Equal(got, want) {
			t.Errorf("MatchAliases(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestResolveBlacklisted resolves as the Loader does with a blacklist.
func TestResolveBlacklisted(t *testing.T) {
	x := testIndex(t)
	for _, tc := range []struct {
		blacklist, names []string
		want             []string
		err              string
	}{
		{[]string{"nouveau"}, []string{"iscsi_tcp"}, []string{"scsi_common", "scsi_mod", "scsi_transport_iscsi", "libiscsi", "libiscsi_tcp", "iscsi_tcp"}, ""},
		{[]string{"libiscsi"}, []string{"iscsi_tcp"}, nil, "module libiscsi is needed by"},
		{[]string{"iscsi-tcp"}, []string{"iscsi_tcp"}, nil, "module iscsi_tcp is blacklisted"},
		// One provider of an alias blacklisted: the other serves.
		{[]string{"crc32c_intel"}, []string{"crc32c"}, []string{"crc32c_generic"}, ""},
		{[]string{"crc32c_intel", "crc32c_generic"}, []string{"crc32c"}, nil, "every module providing it is blacklisted"},
	} {
		got, err := x.ResolveBlacklisted(tc.blacklist, tc.names...)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ResolveBlacklisted(%q, %q): err = %v, want %q", tc.blacklist, tc.names, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ResolveBlacklisted(%q, %q): %v", tc.blacklist, tc.names, err)
		case tc.err == "" && !slices.Equal(got, tc.want):
			t.Errorf("ResolveBlacklisted(%q, %q) = %q, want %q", tc.blacklist, tc.names, got, tc.want)
		}
	}
}
