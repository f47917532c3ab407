package keeper

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// resolver looks host names up with the real root's /etc/hosts and DNS
// servers, read through proc (an open /proc) as PID 1 sees them, then
// with this process's own resolver (whose files are gone after
// switch_root, but not before). The real root's files are read without
// ever holding up a recovery (see rootFiles).
func resolver(proc *os.File) func(ctx context.Context, host string) ([]netip.Addr, error) {
	files := newRootFiles(func(rel string) ([]byte, error) { return readInRoot(proc, "1/root", rel) }, rootFileWait)
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		return resolveHost(ctx, host, func(rel string) ([]byte, error) { return files.get(ctx, rel) })
	}
}

// rootFileWait bounds the wait for a read of the real root's files: they
// are in the page cache, or the read waits for the disk the keeper is
// recovering.
const rootFileWait = 200 * time.Millisecond

// errRootStalled says a file of the real root could not be read in time.
var errRootStalled = errors.New("keeper: the real root does not answer (its disk is what is being recovered)")

// rootFiles reads the real root's files on behalf of the recoveries. The
// root's disk is the one being recovered: a read that misses the page
// cache blocks until the session is back, uninterruptibly. So each read
// runs on a goroutine of its own, at most one per file at a time; a
// caller waits for it only briefly and otherwise gets the content of the
// last read that completed (none: errRootStalled).
type rootFiles struct {
	read func(rel string) ([]byte, error)
	wait time.Duration

	mu       sync.Mutex
	last     map[string]fileRead
	inFlight map[string]chan struct{}
}

type fileRead struct {
	b   []byte
	err error
}

func newRootFiles(read func(string) ([]byte, error), wait time.Duration) *rootFiles {
	return &rootFiles{read: read, wait: wait, last: map[string]fileRead{}, inFlight: map[string]chan struct{}{}}
}

func (r *rootFiles) get(ctx context.Context, rel string) ([]byte, error) {
	r.mu.Lock()
	done, ok := r.inFlight[rel]
	if !ok {
		done = make(chan struct{})
		r.inFlight[rel] = done
		go func() {
			b, err := r.read(rel)
			r.mu.Lock()
			r.last[rel] = fileRead{b, err}
			delete(r.inFlight, rel)
			r.mu.Unlock()
			close(done)
		}()
	}
	r.mu.Unlock()
	t := time.NewTimer(r.wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if fr, ok := r.last[rel]; ok {
		return fr.b, fr.err
	}
	return nil, errRootStalled
}

func resolveHost(ctx context.Context, host string, realRootFile func(string) ([]byte, error)) ([]netip.Addr, error) {
	if b, err := realRootFile("etc/hosts"); err == nil {
		if addrs := lookupHosts(b, host); len(addrs) > 0 {
			return addrs, nil
		}
	}
	var errs []error
	if b, err := realRootFile("etc/resolv.conf"); err == nil {
		if c := parseResolvConf(b); len(c.servers) > 0 {
			addrs, err := lookupVia(ctx, c, host)
			if err == nil {
				return addrs, nil
			}
			errs = append(errs, err)
		}
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err == nil && len(addrs) > 0 {
		return addrs, nil
	}
	return nil, errors.Join(append(errs, err)...)
}

// lookupVia asks c's name servers for host.
func lookupVia(ctx context.Context, c resolvConf, host string) ([]netip.Addr, error) {
	var n atomic.Uint32
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, c.servers[int(n.Add(1)-1)%len(c.servers)])
	}}
	var err error
	for _, name := range queryNames(host, c) {
		var addrs []netip.Addr
		if addrs, err = r.LookupNetIP(ctx, "ip", name); err == nil && len(addrs) > 0 {
			return addrs, nil
		}
	}
	return nil, err
}
