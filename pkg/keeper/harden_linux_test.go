package keeper

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

func TestFileMappings(t *testing.T) {
	maps := []byte(`00400000-00a5c000 r-xp 00000000 00:02 1234                               /init (deleted)
00a5c000-0108b000 r--p 0065c000 00:02 1234                               /init (deleted)
0108b000-010c4000 rw-p 00c8b000 00:02 1234                               /init (deleted)
010c4000-010ff000 rw-p 00000000 00:00 0
c000000000-c004000000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--p 00000000 fd:01 1234                       /other-device-same-inode
7ffd5b5f2000-7ffd5b613000 rw-p 00000000 00:00 0                          [stack]
7ffd5b7c4000-7ffd5b7c6000 r-xp 00000000 00:00 0                          [vdso]
garbage line
`)
	got := fileMappings(maps, 0, 2, 1234)
	want := []addrRange{{0x400000, 0xa5c000}, {0xa5c000, 0x108b000}, {0x108b000, 0x10c4000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fileMappings = %x, want %x", got, want)
	}
	if got := fileMappings(maps, 0, 2, 99); got != nil {
		t.Errorf("another inode: %x", got)
	}
}

func TestPidfdPid(t *testing.T) {
	for in, want := range map[string]int{
		"pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nPid:\t4242\nNSpid:\t4242\n": 4242,
		"pos:\t0\nPid:\t-1\n": -1, // exited and reaped
		"":                    0,
	} {
		if got := pidfdPid([]byte(in)); got != want {
			t.Errorf("pidfdPid(%q) = %d, want %d", in, got, want)
		}
	}
}

// The real root's files are read on the side: a read stuck on the disk
// being recovered costs a caller rootFileWait at most, never starts a
// second read of the same file, and the last content read is served
// meanwhile.
func TestRootFilesNeverBlock(t *testing.T) {
	release := make(chan struct{})
	var reads atomic.Int32
	stuck := atomic.Bool{}
	r := newRootFiles(func(rel string) ([]byte, error) {
		reads.Add(1)
		if stuck.Load() {
			<-release
		}
		return []byte("content of " + rel), nil
	}, 50*time.Millisecond)
	ctx := context.Background()

	b, err := r.get(ctx, "etc/hosts")
	if err != nil || string(b) != "content of etc/hosts" {
		t.Fatalf("first read: %q, %v", b, err)
	}
	if _, err := r.get(ctx, "etc/resolv.conf"); err != nil {
		t.Fatal(err)
	}
	// The root stalls.
	stuck.Store(true)
	start := time.Now()
	for range 5 {
		b, err = r.get(ctx, "etc/hosts")
		if err != nil || string(b) != "content of etc/hosts" {
			t.Errorf("while stuck: %q, %v; want the last content", b, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("5 lookups while stuck took %v", d)
	}
	if n := reads.Load(); n != 3 {
		t.Errorf("%d reads, want 3 (two, then one stuck)", n)
	}
	// A file never read before: nothing to serve.
	if _, err := r.get(ctx, "etc/nsswitch.conf"); !errors.Is(err, errRootStalled) {
		t.Errorf("never read, stuck: %v, want errRootStalled", err)
	}
	// A cancelled caller does not wait at all.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	start = time.Now()
	r.get(cctx, "etc/hosts")
	if d := time.Since(start); d > 40*time.Millisecond {
		t.Errorf("a cancelled lookup waited %v", d)
	}
	stuck.Store(false)
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		n := len(r.inFlight)
		r.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if b, err := r.get(ctx, "etc/nsswitch.conf"); err != nil || string(b) != "content of etc/nsswitch.conf" {
		t.Errorf("after the root came back: %q, %v", b, err)
	}
}
