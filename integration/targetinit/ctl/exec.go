package ctl

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Executor runs Ops against a configfs tree.
type Executor struct {
	// Root is configfs' mount point (a plain directory in tests).
	Root string
	// Listening reports the TCP sockets in LISTEN state (ProcListening
	// when nil).
	Listening func() ([]netip.AddrPort, error)
	// Wait bounds Listen and Unlisten (10 s when 0).
	Wait time.Duration
}

// Run runs ops in order and returns each op's result ("" unless Read or
// List). It stops at the first failing op, naming it.
func (e *Executor) Run(ops []Op) ([]string, error) {
	out := make([]string, 0, len(ops))
	for i, op := range ops {
		r, err := e.run(op)
		if err != nil {
			return out, fmt.Errorf("op %d (%s): %w", i+1, op, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (e *Executor) run(op Op) (string, error) {
	if op.Op == Listen || op.Op == Unlisten {
		ap, err := netip.ParseAddrPort(op.Value)
		if err != nil {
			return "", err
		}
		return "", e.waitListen(ap, op.Op == Listen)
	}
	rel, err := CleanPath(op.Path)
	if err != nil {
		return "", err
	}
	p := filepath.Join(e.Root, filepath.FromSlash(rel))
	missing := func(err error) bool { return op.IfExists && errors.Is(err, fs.ErrNotExist) }
	switch op.Op {
	case Mkdir:
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	case Rmdir:
		if err := os.Remove(p); err != nil && !missing(err) {
			return "", err
		}
	case Write:
		// One write, no O_TRUNC: a configfs attribute takes its value
		// whole from a single write.
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if missing(err) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		_, werr := f.Write([]byte(op.Value))
		cerr := f.Close()
		if werr != nil {
			return "", scrub(werr, op)
		}
		return "", cerr
	case Read:
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\n\x00"), nil
	case List:
		return list(p)
	case Symlink:
		target, err := CleanPath(op.Value)
		if err != nil {
			return "", err
		}
		if err := os.Symlink(filepath.Join(e.Root, filepath.FromSlash(target)), p); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	case Unlink:
		if err := os.Remove(p); err != nil && !missing(err) {
			return "", err
		}
	default:
		return "", fmt.Errorf("unknown op %q", op.Op)
	}
	return "", nil
}

// scrub drops a secret value from an error that might quote it.
func scrub(err error, op Op) error {
	if op.Secret && op.Value != "" && strings.Contains(err.Error(), op.Value) {
		return errors.New(strings.ReplaceAll(err.Error(), op.Value, "<secret>"))
	}
	return err
}

// list reads the regular files of dir as "name=value" lines, sorted;
// write-only or unreadable attributes are skipped.
func list(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, ent := range ents {
		if !ent.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			continue
		}
		v := strings.Join(strings.Fields(strings.TrimRight(string(b), "\x00")), " ")
		lines = append(lines, ent.Name()+"="+v)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}

func (e *Executor) waitListen(ap netip.AddrPort, want bool) error {
	listening := e.Listening
	if listening == nil {
		listening = ProcListening
	}
	wait := e.Wait
	if wait == 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		socks, err := listening()
		if err != nil {
			return err
		}
		found := false
		for _, s := range socks {
			if s == ap || (s.Port() == ap.Port() && s.Addr().IsUnspecified()) {
				found = true
			}
		}
		if found == want {
			return nil
		}
		if time.Now().After(deadline) {
			if want {
				return fmt.Errorf("nothing listens on %s after %v", ap, wait)
			}
			return fmt.Errorf("%s still listens after %v", ap, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ProcListening reads the listening IPv4 TCP sockets from /proc/net/tcp.
func ProcListening() ([]netip.AddrPort, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	return ParseProcNetTCP(b, "0A")
}

// ParseProcNetTCP returns the local addresses of the sockets of
// /proc/net/tcp (IPv4) in state (hex, e.g. "0A" for LISTEN, "01" for
// ESTABLISHED).
func ParseProcNetTCP(data []byte, state string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if first {
			first = false
			if len(f) > 0 && f[0] == "sl" {
				continue
			}
		}
		if len(f) < 4 {
			return nil, fmt.Errorf("/proc/net/tcp: short line %q", sc.Text())
		}
		if !strings.EqualFold(f[3], state) {
			continue
		}
		ap, err := parseHexAddr(f[1])
		if err != nil {
			return nil, err
		}
		out = append(out, ap)
	}
	return out, sc.Err()
}

// parseHexAddr parses "0200A8C0:0CBC": the IPv4 address as the kernel's
// 32-bit word in host (little-endian) order, then the port.
func parseHexAddr(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(a) != 8 || len(p) != 4 {
		return netip.AddrPort{}, fmt.Errorf("/proc/net/tcp: bad address %q", s)
	}
	ab, err := hex.DecodeString(a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("/proc/net/tcp: bad address %q", s)
	}
	pb, err := hex.DecodeString(p)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("/proc/net/tcp: bad port %q", s)
	}
	var ip [4]byte
	binary.BigEndian.PutUint32(ip[:], binary.LittleEndian.Uint32(ab))
	return netip.AddrPortFrom(netip.AddrFrom4(ip), binary.BigEndian.Uint16(pb)), nil
}
