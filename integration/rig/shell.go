package rig

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Shell types commands into a root shell on a guest's serial port and
// reads their output between markers.
//
// The port carries nothing but the shell: the kernel's and systemd's
// console is ttyS0, the shell runs on ttyS1 (Instrumentation's autologin
// getty), so kernel messages, systemd's status lines and /init's log can
// never land inside a command's output, whatever their level — and the
// console keeps all of them as evidence. Each command is framed by a begin
// and an end marker printed by the shell itself; the typed line spells the
// markers in two halves, so its echo never matches them.
type Shell struct {
	conn net.Conn
	log  *os.File

	mu      sync.Mutex
	buf     []byte
	changed chan struct{} // closed and replaced when buf grows or the port closes
	eof     error
	seq     int
}

// dialShell connects to the chardev socket of the shell's serial port,
// copying everything the guest sends to logPath.
func dialShell(ctx context.Context, sock, logPath string) (*Shell, error) {
	var conn net.Conn
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			conn = c
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("rig: shell port %s: %w", sock, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return newShell(conn, logPath)
}

// newShell reads conn in the background, copying it to logPath.
func newShell(conn net.Conn, logPath string) (*Shell, error) {
	f, err := os.Create(logPath)
	if err != nil {
		conn.Close()
		return nil, err
	}
	s := &Shell{conn: conn, log: f, changed: make(chan struct{})}
	go s.read()
	return s, nil
}

func (s *Shell) read() {
	b := make([]byte, 4096)
	for {
		n, err := s.conn.Read(b)
		s.mu.Lock()
		if n > 0 {
			s.buf = append(s.buf, b[:n]...)
			s.log.Write(b[:n])
		}
		if err != nil {
			s.eof = err
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if err != nil {
			s.log.Close()
			return
		}
	}
}

// Close disconnects from the port.
func (s *Shell) Close() { s.conn.Close() }

// mark returns the current end of the output.
func (s *Shell) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf)
}

// waitFor waits until the output after from contains needle and returns
// the offset just past it.
func (s *Shell) waitFor(ctx context.Context, from int, needle string) (int, error) {
	for {
		s.mu.Lock()
		i := bytes.Index(s.buf[from:], []byte(needle))
		changed, eof := s.changed, s.eof
		s.mu.Unlock()
		if i >= 0 {
			return from + i + len(needle), nil
		}
		if eof != nil {
			return 0, fmt.Errorf("rig: shell port closed (%v) before %q", eof, needle)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-changed:
		}
	}
}

// Tail returns the last n lines the shell port showed.
func (s *Shell) Tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tailLines(string(s.buf), n)
}

// Type sends text as typed, with no framing (for a command that does not
// return, e.g. systemctl poweroff).
func (s *Shell) Type(text string) error {
	_, err := s.conn.Write([]byte(text))
	return err
}

// marker spells "@@NR-<tag>@@" as two printf arguments, so the typed line
// (and its echo) never contains the marker itself.
func marker(tag string) (typed, printed string) {
	return "'@@NR-' '" + tag + "@@'", "@@NR-" + tag + "@@"
}

// Ready waits until a shell answers on the port, probing every few
// seconds (the getty starts late in the boot; text typed before it runs is
// dropped or read by the shell once it starts), then sets the shell up for
// the harness: no echo, no prompt, no pager, no colours.
func (s *Shell) Ready(ctx context.Context) error {
	for i := 0; ; i++ {
		typed, printed := marker("READY" + strconv.Itoa(i))
		from := s.mark()
		if err := s.Type("printf '\\n%s%s\\n' " + typed + "\n"); err != nil {
			return err
		}
		probe, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := s.waitFor(probe, from, printed)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("rig: no shell on the port: %w; it showed:\n%s", ctx.Err(), s.Tail(20))
		}
	}
	// Without line editing bash reads plain lines and the tty's echo,
	// turned off, is the only one.
	_, code, err := s.Run(ctx, "set +o emacs +o vi; stty -echo cols 1000; PS1=; PS2=; unset PROMPT_COMMAND; "+
		"export SYSTEMD_PAGER= SYSTEMD_COLORS=0 PAGER=cat TERM=dumb; bind 'set enable-bracketed-paste off' 2>/dev/null; true")
	if err == nil && code != 0 {
		err = fmt.Errorf("rig: setting up the shell exited %d", code)
	}
	return err
}

// Run types cmd, waits for it to finish and returns its output (stdout and
// stderr, "\r" removed) and exit status. cmd runs in braces with stdin
// from /dev/null, so it cannot read the harness's next commands. When ctx
// ends first, Run types ^C (a command stuck in the kernel ignores it) and
// returns ctx's error with the port's tail.
func (s *Shell) Run(ctx context.Context, cmd string) (string, int, error) {
	s.mu.Lock()
	s.seq++
	n := strconv.Itoa(s.seq)
	s.mu.Unlock()
	beginTyped, begin := marker("B" + n)
	// The end marker carries the exit status: @@NR-E<n>:<status>@@.
	end := "@@NR-E" + n + ":"
	from := s.mark()
	line := "printf '\\n%s%s\\n' " + beginTyped + "; { " + cmd + "\n} </dev/null 2>&1; " +
		"printf '\\n%s%s:%d@@\\n' '@@NR-' 'E" + n + "' $?\n"
	if err := s.Type(line); err != nil {
		return "", -1, err
	}
	start, err := s.waitFor(ctx, from, begin)
	var stop, after int
	if err == nil {
		stop, err = s.waitFor(ctx, start, end)
	}
	if err == nil {
		after, err = s.waitFor(ctx, stop, "@@")
	}
	if err != nil {
		if ctx.Err() != nil {
			s.Type("\x03")
		}
		return "", -1, fmt.Errorf("rig: %q: %w; shell port tail:\n%s", cmd, err, s.Tail(15))
	}
	s.mu.Lock()
	out := string(s.buf[start : stop-len(end)])
	status := string(s.buf[stop : after-2])
	s.mu.Unlock()
	code, err := strconv.Atoi(status)
	if err != nil {
		return "", -1, fmt.Errorf("rig: %q: bad end marker status %q", cmd, status)
	}
	// The markers' own newlines frame the output.
	out = strings.ReplaceAll(out, "\r", "")
	out = strings.TrimPrefix(out, "\n")
	out = strings.TrimSuffix(out, "\n")
	return out, code, nil
}

// tailLines returns the last n lines of text, "\r" removed.
func tailLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
