package boot

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyFile: the shutdown role's copy is byte for byte, for an empty
// file and one larger than a pipe's worth (sendfile works in chunks).
func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 3<<20 + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		srcPath := filepath.Join(dir, "src")
		if err := os.WriteFile(srcPath, data, 0o755); err != nil {
			t.Fatal(err)
		}
		src, err := os.Open(srcPath)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(dir, "dst"))
		if err != nil {
			t.Fatal(err)
		}
		if err := copyFile(dst, src); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		src.Close()
		dst.Close()
		got, err := os.ReadFile(filepath.Join(dir, "dst"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%d bytes: the copy differs (%d bytes)", size, len(got))
		}
	}
}
