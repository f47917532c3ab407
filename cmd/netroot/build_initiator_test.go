package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/config"
	"github.com/netroot/netroot/pkg/initramfs"
)

func TestBakeInitiator(t *testing.T) {
	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := file("good", "## DO NOT EDIT\nInitiatorName=iqn.1993-08.org.debian:01:abc\n")
	generate := file("generate", "GenerateName=yes\n")
	plan, err := config.Parse(config.Source{Name: "-cmdline", Text: "rd.iscsi.initiator=iqn.2010-01.org.example:c root=LABEL=r"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		o     buildOptions
		plan  *config.Plan
		baked string // the file's content, "" for none
		note  string
		err   string
	}{
		{"file", buildOptions{InitiatorFile: good}, nil, "InitiatorName=iqn.1993-08.org.debian:01:abc\n",
			"initiator name iqn.1993-08.org.debian:01:abc (from " + good + ") baked as /etc/iscsi/initiatorname.iscsi: every machine", ""},
		{"host's file", buildOptions{InitiatorFile: good, InitiatorDefault: true}, plan, "InitiatorName=iqn.1993-08.org.debian:01:abc\n",
			"(this host's)", ""},
		{"the cmdline's name first", buildOptions{InitiatorFile: good}, plan, "InitiatorName=iqn.1993-08.org.debian:01:abc\n",
			"the baked -cmdline's rd.iscsi.initiator=iqn.2010-01.org.example:c comes first", ""},
		{"-initiator", buildOptions{InitiatorName: "iqn.2010-01.org.example:x"}, nil, "InitiatorName=iqn.2010-01.org.example:x\n", "(from -initiator)", ""},
		{"none", buildOptions{}, nil, "", "", ""},
		{"host's file never generated", buildOptions{InitiatorFile: generate, InitiatorDefault: true}, nil, "", "no initiator name baked: " + generate + " (this host's): ", ""},
		{"file never generated", buildOptions{InitiatorFile: generate}, nil, "", "", "-initiator-name-file " + generate + ": missing parameter: GenerateName=yes"},
		{"missing file", buildOptions{InitiatorFile: filepath.Join(dir, "nope")}, nil, "", "", "no such file"},
		{"bad name", buildOptions{InitiatorName: "iqn.a b"}, nil, "", "", "white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := initramfs.New()
			note, err := bakeInitiator(a, tc.o, tc.plan)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(note, tc.note) || (tc.note == "") != (note == "") {
				t.Errorf("note %q, want %q", note, tc.note)
			}
			if has := a.Has("etc/iscsi/initiatorname.iscsi"); has != (tc.baked != "") {
				t.Errorf("baked: %v, want %q", has, tc.baked)
			}
		})
	}
}

func TestRunBuildInitiatorFlags(t *testing.T) {
	var out, errb strings.Builder
	code := runBuild([]string{"-o", filepath.Join(t.TempDir(), "x.img"), "-initiator", "iqn.x:y", "-initiator-name-file", "/f"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "-initiator and -initiator-name-file exclude each other") {
		t.Errorf("code %d, stderr %q", code, errb.String())
	}
}
