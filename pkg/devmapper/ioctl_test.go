package devmapper

import (
	"encoding/binary"
	"errors"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestLayoutMatchesKernelHeaders checks our encoding against the structs
// x/sys/unix generates from <linux/dm-ioctl.h>.
func TestLayoutMatchesKernelHeaders(t *testing.T) {
	if headerSize != unix.SizeofDmIoctl || targetSpecSize != unix.SizeofDmTargetSpec {
		t.Fatalf("sizes %d/%d, kernel %d/%d", headerSize, targetSpecSize, unix.SizeofDmIoctl, unix.SizeofDmTargetSpec)
	}
	var d unix.DmIoctl
	if offName != unsafe.Offsetof(d.Name) || offUUID != unsafe.Offsetof(d.Uuid) || len(d.Name) != nameLen || len(d.Uuid) != uuidLen {
		t.Fatalf("name/uuid offsets %d/%d, kernel %d/%d", offName, offUUID, unsafe.Offsetof(d.Name), unsafe.Offsetof(d.Uuid))
	}
	for _, c := range []struct {
		ours, kernel uint32
	}{
		{FlagReadOnly, unix.DM_READONLY_FLAG}, {FlagSuspend, unix.DM_SUSPEND_FLAG},
		{FlagPersistentDev, unix.DM_PERSISTENT_DEV_FLAG}, {FlagStatusTable, unix.DM_STATUS_TABLE_FLAG},
		{FlagActivePresent, unix.DM_ACTIVE_PRESENT_FLAG}, {FlagInactive, unix.DM_INACTIVE_PRESENT_FLAG},
		{FlagBufferFull, unix.DM_BUFFER_FULL_FLAG}, {FlagSkipLockfs, unix.DM_SKIP_LOCKFS_FLAG},
		{FlagNoFlush, unix.DM_NOFLUSH_FLAG}, {FlagUeventDone, unix.DM_UEVENT_GENERATED_FLAG},
		{FlagDataOut, unix.DM_DATA_OUT_FLAG}, {FlagDeferredRemove, unix.DM_DEFERRED_REMOVE},
	} {
		if c.ours != c.kernel {
			t.Errorf("flag %#x, kernel %#x", c.ours, c.kernel)
		}
	}

	h := header{Version: [3]uint32{4, 1, 2}, DataSize: 1000, DataStart: 312, TargetCount: 3, OpenCount: -1,
		Flags: FlagNoFlush | FlagSuspend, EventNr: 77, Dev: unix.Mkdev(253, 4), Name: "3600140512", UUID: "mpath-3600140512"}
	b := make([]byte, headerSize)
	h.marshal(b)
	k := (*unix.DmIoctl)(unsafe.Pointer(&b[0]))
	if k.Version != h.Version || k.Data_size != 1000 || k.Data_start != 312 || k.Target_count != 3 || k.Open_count != -1 ||
		k.Flags != h.Flags || k.Event_nr != 77 || k.Dev != h.Dev || cString(k.Name[:]) != h.Name || cString(k.Uuid[:]) != h.UUID {
		t.Errorf("kernel view of our header: %+v", *k)
	}
	back, err := parseHeader(b)
	if err != nil || back != h {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if _, err := parseHeader(b[:100]); err == nil {
		t.Error("short header parsed")
	}
}

func TestEncodeTargets(t *testing.T) {
	ts := []Target{
		{Start: 0, Length: 2048, Type: "multipath", Params: "1 queue_if_no_path 0 1 1 service-time 0 2 1 8:16 1 8:32 1"},
		{Start: 2048, Length: 8, Type: "zero"},
	}
	b, err := encodeTargets(ts)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for i, want := range ts {
		spec := (*unix.DmTargetSpec)(unsafe.Pointer(&b[off]))
		if spec.Sector_start != want.Start || spec.Length != want.Length || cString(spec.Target_type[:]) != want.Type || spec.Status != 0 {
			t.Errorf("target %d: %+v", i, *spec)
		}
		if spec.Next%8 != 0 || int(spec.Next) < targetSpecSize+len(want.Params)+1 {
			t.Errorf("target %d: next %d for %d bytes of params", i, spec.Next, len(want.Params))
		}
		if got := cString(b[off+targetSpecSize:]); got != want.Params {
			t.Errorf("target %d params %q", i, got)
		}
		off += int(spec.Next)
	}
	if off != len(b) {
		t.Errorf("encoded %d bytes, specs cover %d", len(b), off)
	}
	for _, bad := range []Target{
		{Length: 1, Type: ""},
		{Length: 1, Type: "a-type-name-too-long"},
		{Length: 1, Type: "linear", Params: "8:16\x000"},
		{Length: 0, Type: "linear", Params: "8:16 0"},
	} {
		if _, err := encodeTargets([]Target{bad}); err == nil {
			t.Errorf("%+v encoded", bad)
		}
	}
}

// statusAnswer lays targets out as the kernel's retrieve_status does: each
// spec's next counted from the start of the data.
func statusAnswer(ts []Target) []byte {
	b := make([]byte, 4096)
	data := b[headerSize:]
	off := 0
	for _, tgt := range ts {
		s := data[off:]
		binary.NativeEndian.PutUint64(s[0:], tgt.Start)
		binary.NativeEndian.PutUint64(s[8:], tgt.Length)
		copy(s[24:], tgt.Type)
		copy(s[targetSpecSize:], tgt.Params)
		off = align8(off + targetSpecSize + len(tgt.Params) + 1)
		binary.NativeEndian.PutUint32(s[20:], uint32(off))
	}
	h := header{Version: [3]uint32{4, 47, 0}, DataSize: uint32(headerSize + off), DataStart: headerSize, TargetCount: uint32(len(ts)),
		Flags: FlagActivePresent, Name: "x"}
	h.marshal(b)
	return b
}

func TestDecodeTargets(t *testing.T) {
	ts := []Target{
		{0, 204800, "multipath", "2 0 0 0 1 1 A 0 2 2 8:16 A 0 0 1 8:32 F 1 0 1"},
		{204800, 100, "linear", ""},
		{204900, 1, "error", "x"},
	}
	b := statusAnswer(ts)
	h, _ := parseHeader(b)
	got, err := decodeTargets(b, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != ts[0] || got[1] != ts[1] || got[2] != ts[2] {
		t.Errorf("decoded %+v", got)
	}
	if s := got[0].String(); s != "0 204800 multipath 2 0 0 0 1 1 A 0 2 2 8:16 A 0 0 1 8:32 F 1 0 1" {
		t.Errorf("String = %q", s)
	}
	for name, mutate := range map[string]func(h *header, b []byte){
		"buffer full":              func(h *header, b []byte) { h.Flags |= FlagBufferFull },
		"more targets":             func(h *header, b []byte) { h.TargetCount = 40 },
		"next backwards":           func(h *header, b []byte) { binary.NativeEndian.PutUint32(b[headerSize+20:], 0) },
		"next beyond":              func(h *header, b []byte) { binary.NativeEndian.PutUint32(b[headerSize+20:], 1<<30) },
		"data start too far":       func(h *header, b []byte) { h.DataStart = 1 << 20 },
		"data size too big":        func(h *header, b []byte) { h.DataSize = 1 << 20 },
		"data start in the header": func(h *header, b []byte) { h.DataStart = 8 },
	} {
		b := statusAnswer(ts)
		h, _ := parseHeader(b)
		mutate(&h, b)
		if got, err := decodeTargets(b, h); err == nil {
			t.Errorf("%s: decoded %+v", name, got)
		}
	}
}

func TestMessageAndNames(t *testing.T) {
	b, err := encodeMessage(0, "fail_path 8:16")
	if err != nil || len(b)%8 != 0 || binary.NativeEndian.Uint64(b) != 0 || cString(b[8:]) != "fail_path 8:16" {
		t.Errorf("encodeMessage = %q, %v", b, err)
	}
	if _, err := encodeMessage(0, ""); err == nil {
		t.Error("empty message encoded")
	}
	// A kernel answer to a message.
	ans := request(header{Name: "m", Flags: FlagDataOut}, []byte("queue_mode bio\x00"), 0)
	h, _ := parseHeader(ans)
	if got := messageAnswer(ans, h); got != "queue_mode bio" {
		t.Errorf("messageAnswer = %q", got)
	}
	h.Flags = 0
	if got := messageAnswer(ans, h); got != "" {
		t.Errorf("answer without DATA_OUT: %q", got)
	}

	for _, bad := range []string{"", ".", "..", "a/b", "a\x00b", strings.Repeat("x", 128)} {
		if checkName(bad) == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if err := checkName(strings.Repeat("3", 127)); err != nil {
		t.Error(err)
	}
	if checkUUID(strings.Repeat("u", 129)) == nil || checkUUID(strings.Repeat("u", 128)) != nil {
		t.Error("uuid limit")
	}
	// A request carries name, flags and payload where the kernel reads them.
	r := request(header{Name: "mp", UUID: "mpath-1", Flags: FlagNoFlush, EventNr: 9}, []byte{1, 2, 3}, 1000)
	k := (*unix.DmIoctl)(unsafe.Pointer(&r[0]))
	if len(r) != 1000 || k.Data_size != 1000 || k.Data_start != headerSize || k.Version != [3]uint32{4, 0, 0} ||
		cString(k.Name[:]) != "mp" || k.Flags != FlagNoFlush || k.Event_nr != 9 || r[headerSize+2] != 3 {
		t.Errorf("request: %+v", *k)
	}
}

func TestErrorHints(t *testing.T) {
	for _, c := range []struct {
		op   string
		err  error
		want string
	}{
		{"load table", syscall.EINVAL, "dmesg"},
		{"load table", syscall.ENODEV, "dmesg"},
		{"remove", syscall.EBUSY, "in use"},
		{"create", syscall.EBUSY, "exists"},
		{"info", syscall.ENXIO, "no such"},
		{"open control", syscall.ENOENT, "dm_mod"},
	} {
		e := opError(c.op, "mp", c.err)
		if !strings.Contains(e.Error(), c.want) || !errors.Is(e, c.err) {
			t.Errorf("%s %v: %q", c.op, c.err, e)
		}
	}
}

func FuzzDecodeTargets(f *testing.F) {
	seed := func(ts []Target) []byte {
		b := statusAnswer(ts)
		h, _ := parseHeader(b)
		return b[headerSize:h.DataSize]
	}
	f.Add(seed([]Target{{0, 8, "multipath", "0 0 1 1 A 0 1 0 8:16 A 0"}}), uint8(1), uint16(0))
	f.Add(seed([]Target{{0, 8, "linear", "8:16 0"}, {8, 8, "zero", ""}}), uint8(2), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, count uint8, slack uint16) {
		// What the kernel wrote after the header, with a header that
		// may claim more targets or data than there are.
		b := make([]byte, headerSize+len(data))
		copy(b[headerSize:], data)
		h := header{DataStart: headerSize, DataSize: uint32(len(b)) + uint32(slack%64), TargetCount: uint32(count % 32)}
		ts, err := decodeTargets(b, h)
		if err == nil && len(ts) != int(h.TargetCount) {
			t.Fatalf("%d targets for a count of %d", len(ts), h.TargetCount)
		}
	})
}
