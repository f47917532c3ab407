package writelog

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func records(n int, start time.Time, step func(i int) time.Duration) []byte {
	var b bytes.Buffer
	t := start
	for i := 0; i < n; i++ {
		if i > 0 {
			t = t.Add(step(i))
		}
		b.Write(Record(i, t))
	}
	return b.Bytes()
}

func TestVerify(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	every := func(int) time.Duration { return 100 * time.Millisecond }
	stall := func(i int) time.Duration {
		if i == 5 {
			return 40 * time.Second
		}
		return 100 * time.Millisecond
	}
	good := records(10, t0, every)
	swapped := append([]byte{}, good...)
	copy(swapped[2*Size:], Record(3, t0.Add(300*time.Millisecond)))
	zeroed := append([]byte{}, good...)
	copy(zeroed[4*Size:5*Size], make([]byte, Size))
	for _, tc := range []struct {
		name    string
		data    []byte
		records int
		bad     int
		maxGap  time.Duration
		badText string
	}{
		{"empty", nil, 0, 0, 0, ""},
		{"ten", good, 10, 0, 100 * time.Millisecond, ""},
		{"stall", records(10, t0, stall), 10, 0, 40 * time.Second, ""},
		{"partial tail", append(append([]byte{}, good...), "netroot-rec 0000"...), 10, 1, 100 * time.Millisecond, "partial record of 16 bytes"},
		{"out of order", swapped, 9, 1, 200 * time.Millisecond, "record 2: numbered 3"},
		{"zeroed block", zeroed, 9, 1, 200 * time.Millisecond, "record 4: not a 64-byte line"},
		{"garbage", bytes.Repeat([]byte("x"), 2*Size), 0, 2, 0, "not a 64-byte line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Verify(tc.data)
			if r.Records != tc.records || r.BadCount != tc.bad || r.MaxGap != tc.maxGap {
				t.Errorf("Verify = %v, want records=%d bad=%d max_gap=%v", r, tc.records, tc.bad, tc.maxGap)
			}
			if tc.badText != "" && !strings.Contains(strings.Join(r.Bad, ";"), tc.badText) {
				t.Errorf("Bad = %q, want %q in it", r.Bad, tc.badText)
			}
			if r.OK() != (tc.bad == 0) {
				t.Errorf("OK() = %v with %d bad", r.OK(), tc.bad)
			}
		})
	}
}

func TestBetween(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	r := Verify(records(10, t0, func(int) time.Duration { return time.Second }))
	if got := r.Between(t0.Add(2*time.Second), t0.Add(5*time.Second)); got != 3 {
		t.Errorf("Between = %d, want 3", got)
	}
	if r.First != t0 || r.Last != t0.Add(9*time.Second) {
		t.Errorf("First/Last = %v/%v", r.First, r.Last)
	}
}

func TestRecordSize(t *testing.T) {
	for _, seq := range []int{0, 99999999, 123456789} {
		if r := Record(seq, time.Now()); len(r) != Size || r[Size-1] != '\n' {
			t.Errorf("Record(%d) = %q: want %d bytes ending in a newline", seq, r, Size)
		}
	}
}

// FuzzVerify: a file read back from a damaged root must give a report,
// never a panic.
func FuzzVerify(f *testing.F) {
	f.Add(Record(0, time.Unix(1, 0)))
	f.Add(append(Record(0, time.Unix(5, 0)), Record(1, time.Unix(4, 0))...))
	f.Add([]byte("netroot-rec -1 -5 " + strings.Repeat(".", 45) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Verify(data)
		if r.Records+r.BadCount < len(data)/Size {
			t.Errorf("%d records and %d bad for %d bytes", r.Records, r.BadCount, len(data))
		}
	})
}
