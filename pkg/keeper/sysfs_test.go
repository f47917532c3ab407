package keeper

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestReadSessionState(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ReadSessionState(root, 5, 0); errors.Is(err, fs.ErrNotExist) || err == nil {
		t.Errorf("without the iSCSI transport in sysfs: %v, want an error that does not say the session is gone", err)
	}
	write("class/iscsi_transport/tcp/handle", "18446744072099457088\n")
	write("class/iscsi_session/session3/state", "LOGGED_IN\n")
	write("class/iscsi_connection/connection3:0/state", "failed\n")
	write("class/iscsi_session/session4/state", "FAILED\n")
	for _, tc := range []struct {
		sid    uint32
		want   SessionState
		failed bool
	}{
		{3, SessionState{"LOGGED_IN", "failed"}, true},
		{4, SessionState{"FAILED", ""}, true}, // a kernel without connection state
	} {
		got, err := ReadSessionState(root, tc.sid, 0)
		if err != nil || got != tc.want || got.failed() != tc.failed {
			t.Errorf("session %d: %+v (failed %v), %v; want %+v", tc.sid, got, got.failed(), err, tc.want)
		}
	}
	if _, err := ReadSessionState(root, 5, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing session: %v", err)
	}
	for st, failed := range map[SessionState]bool{
		{"LOGGED_IN", "up"}: false, {"FAILED", "down"}: true, {"FAILED", "bound"}: true,
		{"LOGGED_IN", ""}: false, {"FREE", ""}: false,
	} {
		if st.failed() != failed {
			t.Errorf("%+v.failed() = %v", st, !failed)
		}
	}
}
