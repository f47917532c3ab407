package boot

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/netroot/netroot/pkg/dhcp6"
	"github.com/netroot/netroot/pkg/netname/netnametest"
)

// fakeNICs is a sysfs tree (one of pkg/netname's captured layouts, maybe
// with an iBFT) that renames change as the kernel's would, with NICs that
// appear only after some link events (a driver still probing).
type fakeNICs struct {
	t  *testing.T
	mu sync.Mutex
	fs fstest.MapFS
	// later are interfaces (class/net/<name> entries) taken out of the
	// tree, put back one per link event.
	later   []string
	hidden  map[string]*fstest.MapFile
	renames []string
	reads   int   // Sys calls
	cur     fs.FS // view's cache, nil after a change
}

// layoutNICs loads pkg/netname's testdata/<layout>.sysfs; the NICs in
// later appear only after link events, in order.
func layoutNICs(t *testing.T, layout string, later ...string) *fakeNICs {
	t.Helper()
	m, err := netnametest.Load("../../pkg/netname/testdata/" + layout + ".sysfs")
	if err != nil {
		t.Fatal(err)
	}
	m["class/net"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755} // there even without NICs
	f := &fakeNICs{t: t, fs: m, hidden: map[string]*fstest.MapFile{}}
	for _, n := range later {
		k := "class/net/" + n
		if m[k] == nil {
			t.Fatalf("%s has no %s", layout, k)
		}
		f.hidden[n] = m[k]
		delete(m, k)
		f.later = append(f.later, n)
	}
	return f
}

// add puts files into the tree (an iBFT's).
func (f *fakeNICs) add(files fstest.MapFS) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range files {
		f.fs[k] = v
	}
	f.cur = nil
}

func (f *fakeNICs) Sys() fs.FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return liveFS{f}
}

// view is the tree as it is now, indexed (netnametest.Fast); the tree
// is copied, so a rename does not change what a reader walks.
func (f *fakeNICs) view() fs.FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil {
		c := make(fstest.MapFS, len(f.fs))
		for k, v := range f.fs {
			c[k] = v
		}
		f.cur = netnametest.Fast(c)
	}
	return f.cur
}

// liveFS reads the tree as it is at each call.
type liveFS struct{ f *fakeNICs }

func (l liveFS) Open(name string) (fs.File, error) { return l.f.view().Open(name) }
func (l liveFS) ReadFile(name string) ([]byte, error) {
	return fs.ReadFile(l.f.view(), name)
}
func (l liveFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(l.f.view(), name) }
func (l liveFS) Stat(name string) (fs.FileInfo, error)      { return fs.Stat(l.f.view(), name) }
func (l liveFS) Lstat(name string) (fs.FileInfo, error)     { return fs.Lstat(l.f.view(), name) }
func (l liveFS) ReadLink(name string) (string, error)       { return fs.ReadLink(l.f.view(), name) }

// WatchLinks checks, then lets the next hidden NIC appear (a link event),
// until check is done or nothing more will come.
func (f *fakeNICs) WatchLinks(ctx context.Context, check func() (bool, error)) error {
	for {
		if done, err := check(); done || err != nil {
			return err
		}
		f.mu.Lock()
		if len(f.later) == 0 {
			f.mu.Unlock()
			<-ctx.Done()
			return ctx.Err()
		}
		n := f.later[0]
		f.later = f.later[1:]
		f.fs["class/net/"+n] = f.hidden[n]
		f.cur = nil
		f.mu.Unlock()
	}
}

// RenameLink moves the interface's sysfs directory, as the kernel does,
// and marks its name as set by userspace.
func (f *fakeNICs) RenameLink(from, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	link := f.fs["class/net/"+from]
	if link == nil || link.Mode&fs.ModeSymlink == 0 {
		return fmt.Errorf("no interface %s", from)
	}
	if f.fs["class/net/"+to] != nil {
		return fmt.Errorf("%s exists", to)
	}
	dev := path.Clean(path.Join("class/net", string(link.Data)))
	moved := path.Join(path.Dir(dev), to)
	for k, v := range f.fs {
		if k == dev || strings.HasPrefix(k, dev+"/") {
			delete(f.fs, k)
			f.fs[moved+strings.TrimPrefix(k, dev)] = v
		}
	}
	f.fs[moved+"/name_assign_type"] = &fstest.MapFile{Data: []byte("4\n"), Mode: 0o444}
	delete(f.fs, "class/net/"+from)
	f.fs["class/net/"+to] = &fstest.MapFile{Data: []byte(path.Join(path.Dir(string(link.Data)), to)), Mode: fs.ModeSymlink | 0o777}
	f.renames = append(f.renames, from+" "+to)
	f.cur = nil
	return nil
}

// ifaces lists the tree's interfaces with their MACs.
func (f *fakeNICs) ifaces() map[string]string {
	v := f.view()
	out := map[string]string{}
	es, _ := fs.ReadDir(v, "class/net")
	for _, e := range es {
		if mac, err := fs.ReadFile(v, "class/net/"+e.Name()+"/address"); err == nil {
			out[e.Name()] = strings.TrimSpace(string(mac))
		}
	}
	return out
}

// sysLinks are the machine's Links over a fakeNICs tree: interfaces and
// MACs are the tree's.
type sysLinks struct {
	*machine
	nics *fakeNICs
}

// withNICs makes the machine's NICs those of nics.
func (m *machine) withNICs(nics *fakeNICs) {
	prev := m.envHook
	m.envHook = func(e Env) Env {
		if prev != nil {
			e = prev(e)
		}
		e.Links, e.NICs = sysLinks{m, nics}, nics
		return e
	}
}

func (l sysLinks) WaitMAC(ctx context.Context, mac net.HardwareAddr) (string, error) {
	for n, a := range l.nics.ifaces() {
		if a == mac.String() {
			return n, nil
		}
	}
	return "", fmt.Errorf("no interface has MAC %s", mac)
}

func (l sysLinks) HardwareAddr(name string) (net.HardwareAddr, error) {
	a, ok := l.nics.ifaces()[name]
	if !ok {
		return nil, fmt.Errorf("no interface %s", name)
	}
	return net.ParseMAC(a)
}

func (l sysLinks) WaitLinks(ctx context.Context, names []string) error {
	l.record("wait links %s", strings.Join(names, " "))
	have := l.nics.ifaces()
	for _, n := range names {
		if _, ok := have[n]; !ok {
			return fmt.Errorf("no interface %s", n)
		}
	}
	return nil
}

func (l sysLinks) FreeNICs(ctx context.Context) ([]string, error) {
	var out []string
	for n := range l.nics.ifaces() {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// fakeIPv6 answers every IPv6 method at once, recording the calls.
type fakeIPv6 struct {
	m *machine
	// lease is what DHCPv6 grants (its Interface set per call); nil: no
	// answer (until ctx ends).
	lease *dhcp6.Lease
	// slaac is SLAAC's address; invalid: no router advertisement.
	slaac netip.Prefix
}

func (v *fakeIPv6) withLease(l *dhcp6.Lease) *fakeIPv6 { v.lease = l; return v }

func (m *machine) withIPv6(v *fakeIPv6) *fakeIPv6 {
	v.m = m
	prev := m.envHook
	m.envHook = func(e Env) Env {
		if prev != nil {
			e = prev(e)
		}
		e.IPv6 = v
		return e
	}
	return v
}

func (v *fakeIPv6) AcquireDHCP6(ctx context.Context, o dhcp6.Options) (*dhcp6.Lease, error) {
	v.m.record("dhcp6 %s", o.Interface)
	if v.lease == nil {
		<-ctx.Done()
		return nil, fmt.Errorf("%s: no DHCPv6 lease: %w", o.Interface, ctx.Err())
	}
	l := *v.lease
	l.Interface = o.Interface
	return &l, nil
}

func (v *fakeIPv6) ApplyLease6(ctx context.Context, l *dhcp6.Lease) error {
	v.m.record("apply lease6 %s %s", l.Interface, l.Address)
	return nil
}

func (v *fakeIPv6) WaitSLAAC(ctx context.Context, o dhcp6.SLAACOptions) (*dhcp6.SLAACResult, error) {
	v.m.record("slaac %s reach=%s", o.Interface, o.Reach)
	if !v.slaac.IsValid() {
		<-ctx.Done()
		return nil, fmt.Errorf("%s: no router advertisement: %w", o.Interface, ctx.Err())
	}
	return &dhcp6.SLAACResult{Interface: o.Interface, Addresses: []netip.Prefix{v.slaac}}, nil
}

func (v *fakeIPv6) Either6(ctx context.Context, d dhcp6.Options, s dhcp6.SLAACOptions) (*dhcp6.EitherResult, error) {
	v.m.record("either6 %s", d.Interface)
	if v.slaac.IsValid() {
		return &dhcp6.EitherResult{SLAAC: &dhcp6.SLAACResult{Interface: d.Interface, Addresses: []netip.Prefix{v.slaac}}}, nil
	}
	l, err := v.AcquireDHCP6(ctx, d)
	if err != nil {
		return nil, err
	}
	return &dhcp6.EitherResult{Lease: l}, nil
}

func (v *fakeIPv6) LinkLocal6(ctx context.Context, iface string) (netip.Addr, error) {
	v.m.record("link6 %s", iface)
	return netip.MustParseAddr("fe80::5054:ff:fe77:110"), nil
}

func (v *fakeIPv6) WaitRoute6(ctx context.Context, iface string, dst netip.Addr) error {
	v.m.record("route6 %s %s", iface, dst)
	return nil
}
