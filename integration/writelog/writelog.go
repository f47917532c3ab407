// Package writelog is the record format of the root writer the real-root
// tests run in the guest (integration/cmd/rootwriter): fixed-size records,
// each naming its sequence number and the guest's wall-clock time, appended
// and fsynced one by one. Verify checks a file of them — read in the guest,
// or dumped from the LUN image after the guest powered off — and reports
// how many landed, whether any is damaged, and the longest gap between two
// (a stalled write).
package writelog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Size is the length of one record, newline included.
const Size = 64

// prefix starts every record.
const prefix = "netroot-rec"

// Record returns record seq stamped t: "netroot-rec <seq> <unix ns>",
// padded with dots to Size-1 bytes, then a newline.
func Record(seq int, t time.Time) []byte {
	r := fmt.Sprintf("%s %08d %d ", prefix, seq, t.UnixNano())
	return []byte(r + strings.Repeat(".", Size-1-len(r)) + "\n")
}

// parse returns the sequence number and time of one record.
func parse(rec []byte) (int, time.Time, error) {
	if len(rec) != Size || rec[Size-1] != '\n' {
		return 0, time.Time{}, fmt.Errorf("not a %d-byte line", Size)
	}
	f := strings.Fields(strings.TrimRight(string(rec[:Size-1]), "."))
	if len(f) != 3 || f[0] != prefix {
		return 0, time.Time{}, fmt.Errorf("not a record: %q", strings.TrimRight(string(rec), "\n\x00"))
	}
	seq, err := strconv.Atoi(f[1])
	if err != nil || seq < 0 {
		return 0, time.Time{}, fmt.Errorf("bad sequence number %q", f[1])
	}
	ns, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || ns <= 0 {
		return 0, time.Time{}, fmt.Errorf("bad time %q", f[2])
	}
	return seq, time.Unix(0, ns), nil
}

// Report is what Verify found.
type Report struct {
	// Records is the number of whole, valid records in order from 0.
	Records int `json:"records"`
	// Bad lists the first damaged or out-of-order records (at most 5) and
	// a partial record at the end; BadCount counts them all.
	Bad      []string `json:"bad,omitempty"`
	BadCount int      `json:"bad_count"`
	// First and Last are the times of the first and the last record.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// MaxGap is the longest time between two consecutive records, and
	// MaxGapAfter the time of the record before it.
	MaxGap      time.Duration `json:"max_gap"`
	MaxGapAfter time.Time     `json:"max_gap_after"`
	// Times are the records' times, in order.
	Times []time.Time `json:"-"`
}

// OK reports whether the file held only whole, valid records in order.
func (r Report) OK() bool { return r.BadCount == 0 }

// Between counts the records stamped in [from, to).
func (r Report) Between(from, to time.Time) int {
	n := 0
	for _, t := range r.Times {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

func (r Report) String() string {
	s := fmt.Sprintf("records=%d bad=%d max_gap=%.1fs", r.Records, r.BadCount, r.MaxGap.Seconds())
	if r.Records > 0 {
		s += fmt.Sprintf(" span=%.1fs", r.Last.Sub(r.First).Seconds())
	}
	if len(r.Bad) > 0 {
		s += " (" + strings.Join(r.Bad, "; ") + ")"
	}
	return s
}

// Verify checks data, the whole file the writer wrote: every record whole
// and valid, numbered 0, 1, 2, … with non-decreasing times.
func Verify(data []byte) Report {
	var r Report
	bad := func(format string, args ...any) {
		r.BadCount++
		if len(r.Bad) < 5 {
			r.Bad = append(r.Bad, fmt.Sprintf(format, args...))
		}
	}
	var prev time.Time
	for off := 0; off+Size <= len(data); off += Size {
		i := off / Size
		seq, t, err := parse(data[off : off+Size])
		switch {
		case err != nil:
			bad("record %d: %v", i, err)
			continue
		case seq != i:
			bad("record %d: numbered %d", i, seq)
			continue
		case !prev.IsZero() && t.Before(prev):
			bad("record %d: time goes back %v", i, prev.Sub(t))
		}
		if r.Records == 0 {
			r.First = t
		} else if gap := t.Sub(prev); gap > r.MaxGap {
			r.MaxGap, r.MaxGapAfter = gap, prev
		}
		r.Records++
		r.Times = append(r.Times, t)
		r.Last, prev = t, t
	}
	if rest := len(data) % Size; rest != 0 {
		bad("partial record of %d bytes at the end", rest)
	}
	return r
}
