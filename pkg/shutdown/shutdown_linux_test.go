package shutdown

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netroot/netroot/pkg/keeper"
	"github.com/netroot/netroot/pkg/sysfs"
)

func TestBounded(t *testing.T) {
	if r, ok := bounded(time.Second, func() string { return "done" }); !ok || r != "done" {
		t.Errorf("quick step: %q %v", r, ok)
	}
	block := make(chan struct{})
	defer close(block)
	start := time.Now()
	if _, ok := bounded(50*time.Millisecond, func() string { <-block; return "" }); ok || time.Since(start) > 2*time.Second {
		t.Errorf("a stuck step was not left behind in time")
	}
	if r, ok := bounded(time.Second, func() string { panic("boom") }); !ok || !strings.Contains(r, "boom") {
		t.Errorf("panicking step: %q %v", r, ok)
	}
}

func TestSysfsSessions(t *testing.T) {
	sys := sysfs.FS{Root: t.TempDir()}
	for _, d := range []string{
		"class/iscsi_connection/connection1:0", "class/iscsi_connection/connection7:0",
		"class/iscsi_connection/connectionX:0", "class/iscsi_connection/connection2", // not sessions
		"class/iscsi_session/session1", "class/iscsi_session/session7",
	} {
		if err := os.MkdirAll(sys.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(sys.Path("class/iscsi_session/session1/targetname"), []byte("iqn.2010-01.org.example:root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := sysfsSessions(sys)
	slices.SortFunc(got, func(a, b keeper.SessionRef) int { return int(a.SID) - int(b.SID) })
	// Session 7 has no target name file: listed all the same, for the logout.
	want := []keeper.SessionRef{{SID: 1, CID: 0, Target: "iqn.2010-01.org.example:root"}, {SID: 7, CID: 0}}
	if !slices.Equal(got, want) {
		t.Errorf("sysfsSessions = %+v, want %+v", got, want)
	}
	if got := sysfsSessions(sysfs.FS{Root: filepath.Join(sys.Root, "absent")}); len(got) != 0 {
		t.Errorf("no sysfs: %+v", got)
	}
}
