package multipath

import (
	"fmt"
	"strconv"
	"strings"
)

// Status is a multipath map's state as the kernel reports it (dm-mpath's
// status line, dmsetup status).
type Status struct {
	// QueueIO is true while I/O is queued (no usable path and
	// queue_if_no_path, or a group being initialised).
	QueueIO bool
	// PGInitCount counts hardware handler initialisations.
	PGInitCount int
	// NextGroup is the 1-based group the next I/O goes to (0: none).
	NextGroup int
	Groups    []GroupStatus
}

// GroupStatus is one priority group.
type GroupStatus struct {
	// State is 'A' (active: carries the I/O), 'E' (enabled) or 'D'
	// (disabled: bypassed).
	State byte
	Paths []PathStatus
}

// PathStatus is one path.
type PathStatus struct {
	Dev string
	// Active is false for a failed path.
	Active bool
	// FailCount counts the path's failures.
	FailCount int
	// Selector is what the path selector adds (service-time: in-flight
	// bytes and relative throughput).
	Selector []string
}

// Path returns the status of the path dev ("8:16").
func (s *Status) Path(dev string) (PathStatus, bool) {
	for _, g := range s.Groups {
		for _, p := range g.Paths {
			if p.Dev == dev {
				return p, true
			}
		}
	}
	return PathStatus{}, false
}

// Active returns the devices of the paths that are up.
func (s *Status) Active() []string {
	var out []string
	for _, g := range s.Groups {
		for _, p := range g.Paths {
			if p.Active {
				out = append(out, p.Dev)
			}
		}
	}
	return out
}

// String formats the status for a log line, e.g.
// "group 1 A: 8:16 active, 8:32 failed (1 failures)".
func (s *Status) String() string {
	var b strings.Builder
	for i, g := range s.Groups {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "group %d %c:", i+1, g.State)
		for j, p := range g.Paths {
			if j > 0 {
				b.WriteByte(',')
			}
			state := "active"
			if !p.Active {
				state = "failed"
			}
			fmt.Fprintf(&b, " %s %s", p.Dev, state)
			if p.FailCount > 0 {
				fmt.Fprintf(&b, " (%d failures)", p.FailCount)
			}
		}
	}
	if s.QueueIO {
		b.WriteString("; queueing I/O")
	}
	return b.String()
}

// words is a cursor over the status line.
type words struct {
	f   []string
	i   int
	err error
}

func (w *words) word(what string) string {
	if w.err != nil {
		return ""
	}
	if w.i >= len(w.f) {
		w.err = fmt.Errorf("multipath status: ends before %s", what)
		return ""
	}
	w.i++
	return w.f[w.i-1]
}

func (w *words) num(what string, limit int) int {
	s := w.word(what)
	if w.err != nil {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > limit {
		w.err = fmt.Errorf("multipath status: %s %q is not a number in 0..%d", what, s, limit)
		return 0
	}
	return n
}

// skip reads a count and that many words.
func (w *words) counted(what string) []string {
	n := w.num(what, len(w.f))
	var out []string
	for range n {
		out = append(out, w.word(what))
	}
	return out
}

// ParseStatus parses dm-mpath's status line:
//
//	<#features> <queue_io> <pg_init_count> <#hw handler args> …
//	<#groups> <next group> then per group: <A|E|D> <#selector args> …
//	<#paths> <#selector path args> then per path:
//	<major:minor> <A|F> <fail count> <selector args…>
func ParseStatus(line string) (*Status, error) {
	w := &words{f: strings.Fields(line)}
	s := &Status{}
	feat := w.counted("feature count")
	if len(feat) >= 2 {
		s.QueueIO = feat[0] == "1"
		s.PGInitCount, _ = strconv.Atoi(feat[1])
	}
	w.counted("hardware handler")
	ng := w.num("group count", len(w.f))
	s.NextGroup = w.num("next group", ng)
	for range ng {
		if w.err != nil {
			break
		}
		g := GroupStatus{}
		st := w.word("group state")
		if len(st) != 1 || !strings.Contains("AED", st) {
			if w.err == nil {
				w.err = fmt.Errorf("multipath status: group state %q", st)
			}
			break
		}
		g.State = st[0]
		w.counted("group selector status")
		np := w.num("path count", len(w.f))
		na := w.num("selector args per path", len(w.f))
		for range np {
			p := PathStatus{Dev: w.word("path")}
			switch a := w.word("path state"); a {
			case "A":
				p.Active = true
			case "F":
			default:
				if w.err == nil {
					w.err = fmt.Errorf("multipath status: path %s state %q", p.Dev, a)
				}
			}
			p.FailCount = w.num("fail count", 1<<30)
			for range na {
				p.Selector = append(p.Selector, w.word("selector arg"))
			}
			if w.err != nil {
				break
			}
			if !validDev(p.Dev) {
				return nil, fmt.Errorf("multipath status: path %q is not major:minor", p.Dev)
			}
			g.Paths = append(g.Paths, p)
		}
		s.Groups = append(s.Groups, g)
	}
	if w.err != nil {
		return nil, w.err
	}
	if w.i != len(w.f) {
		return nil, fmt.Errorf("multipath status: %d words left over", len(w.f)-w.i)
	}
	return s, nil
}
