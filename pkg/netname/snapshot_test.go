package netname

import (
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/netroot/netroot/pkg/netname/netnametest"
)

// countingFS counts the calls that reach a tree.
type countingFS struct {
	fs.FS
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingFS) count(op, name string) {
	c.mu.Lock()
	c.calls[op+" "+name]++
	c.mu.Unlock()
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.count("open", name)
	return c.FS.Open(name)
}
func (c *countingFS) Stat(name string) (fs.FileInfo, error) {
	c.count("stat", name)
	return fs.Stat(c.FS, name)
}
func (c *countingFS) Lstat(name string) (fs.FileInfo, error) {
	c.count("lstat", name)
	return fs.Lstat(c.FS, name)
}
func (c *countingFS) ReadLink(name string) (string, error) {
	c.count("readlink", name)
	return fs.ReadLink(c.FS, name)
}
func (c *countingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	c.count("readdir", name)
	return fs.ReadDir(c.FS, name)
}

// TestSnapshot: over a snapshot, every name of every tree and scheme is
// the same as over the tree, and each call reaches the tree once.
func TestSnapshot(t *testing.T) {
	trees, _ := filepath.Glob("testdata/*.sysfs")
	for _, tree := range trees {
		m, err := netnametest.Load(tree)
		if err != nil {
			t.Fatal(err)
		}
		c := &countingFS{FS: netnametest.Fast(m), calls: map[string]int{}}
		snap := Snapshot(c)
		ifs, err := Interfaces(snap)
		if err != nil {
			t.Fatal(err)
		}
		for _, ifname := range ifs {
			for _, s := range Schemes() {
				for _, p := range []Policy{DefaultPolicy(s), DebianPolicy(s)} {
					want, werr := Predictable(netnametest.Fast(m), ifname, s, p)
					got, gerr := Predictable(snap, ifname, s, p)
					if !reflect.DeepEqual(got, want) || (werr == nil) != (gerr == nil) {
						t.Errorf("%s %s %s: snapshot %+v, %v; tree %+v, %v", tree, ifname, s, got, gerr, want, werr)
					}
				}
			}
		}
		for call, n := range c.calls {
			if n > 1 {
				t.Errorf("%s: %s reached the tree %d times", tree, call, n)
			}
		}
		if len(c.calls) == 0 || !strings.Contains(strings.Join(keys(c.calls), " "), "open ") {
			t.Errorf("%s: the snapshot read nothing: %v", tree, c.calls)
		}
	}
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
