package rig

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fakeTTY plays a root shell behind a serial line with echo on: it echoes
// every typed line (with the tty's \r\n) and a prompt, and once a framed
// command is complete runs it — printing the begin marker, canned output
// in pieces, the end marker with the canned status.
func fakeTTY(t *testing.T, conn net.Conn, answers map[string]struct {
	out  string
	code int
}) {
	t.Helper()
	begin := regexp.MustCompile(`'@@NR-' '(B[0-9]+|READY[0-9]+)@@'`)
	end := regexp.MustCompile(`'@@NR-' '(E[0-9]+)' \$\?`)
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	go func() {
		r := bufio.NewReader(conn)
		var cmd strings.Builder
		var tag string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			fmt.Fprint(conn, crlf(line)+"root@debian:~# ")
			if m := begin.FindStringSubmatch(line); m != nil {
				if strings.HasPrefix(m[1], "READY") {
					fmt.Fprint(conn, crlf("\n@@NR-"+m[1]+"@@\n"))
					continue
				}
				tag = m[1][1:]
				_, rest, _ := strings.Cut(line, "{ ")
				cmd.Reset()
				cmd.WriteString(rest)
				continue
			}
			if m := end.FindStringSubmatch(line); m != nil && m[1] == "E"+tag {
				a := answers[strings.TrimSpace(cmd.String())]
				fmt.Fprint(conn, crlf("\n@@NR-B"+tag+"@@\n"))
				// Output in pieces, as a serial line delivers it.
				for _, piece := range strings.SplitAfter(crlf(a.out), "e") {
					fmt.Fprint(conn, piece)
				}
				fmt.Fprint(conn, crlf(fmt.Sprintf("\n@@NR-E%s:%d@@\n", tag, a.code)))
				continue
			}
			cmd.WriteString(line)
		}
	}()
}

func TestShellRun(t *testing.T) {
	host, guest := net.Pipe()
	defer guest.Close()
	answers := map[string]struct {
		out  string
		code int
	}{
		"systemctl is-system-running --wait": {"degraded\n", 1},
		"printf 'no newline'":                {"no newline", 0},
		"cat two-lines":                      {"line one\nline two\n\n", 0},
		"true":                               {"", 0},
		"echo '@@NR-' 'E99'":                 {"@@NR- E99\n", 3},
	}
	fakeTTY(t, guest, answers)
	s, err := newShell(host, filepath.Join(t.TempDir(), "shell.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	for cmd, want := range answers {
		out, code, err := s.Run(ctx, cmd)
		if err != nil || out != want.out || code != want.code {
			t.Errorf("Run(%q) = %q, %d, %v; want %q, %d", cmd, out, code, err, want.out, want.code)
		}
	}
}

func TestShellRunDeadline(t *testing.T) {
	host, guest := net.Pipe()
	defer guest.Close()
	// A shell that never answers (the root is gone): Run must end with the
	// context and say so.
	go func() {
		b := make([]byte, 256)
		for {
			if _, err := guest.Read(b); err != nil {
				return
			}
		}
	}()
	s, err := newShell(host, filepath.Join(t.TempDir(), "shell.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, code, err := s.Run(ctx, "sync"); err == nil || code != -1 || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("Run on a dead shell = %d, %v; want -1 and a deadline error", code, err)
	}
}

func TestTailLines(t *testing.T) {
	if got := tailLines("a\r\nb\r\nc\r\n", 2); got != "b\nc" {
		t.Errorf("tailLines = %q", got)
	}
}
