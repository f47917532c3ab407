// Package initramfs writes a compressed newc cpio archive for the kernel to
// unpack as its initramfs, reproducibly: the same files give the same bytes
// (sorted paths, zero times and owners, sequential inode numbers).
// Records are encoded with u-root's pkg/cpio.
package initramfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/u-root/u-root/pkg/cpio"
	"github.com/ulikunitz/xz"
)

// Archive is a set of files to write. The zero value is not usable; call New.
type Archive struct {
	recs map[string]cpio.Record
}

// New returns an empty archive.
func New() *Archive {
	return &Archive{recs: map[string]cpio.Record{}}
}

func clean(name string) (string, error) {
	n := strings.TrimPrefix(path.Clean("/"+name), "/")
	if n == "" || n == "." {
		return "", fmt.Errorf("initramfs: %q is not a file path", name)
	}
	return n, nil
}

func (a *Archive) put(name string, r cpio.Record) error {
	n, err := clean(name)
	if err != nil {
		return err
	}
	r.Name = n
	a.recs[n] = r
	// Parents are created as directories unless given.
	for d := path.Dir(n); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := a.recs[d]; !ok {
			a.recs[d] = cpio.Directory(d, 0o755)
		}
	}
	return nil
}

// AddFile adds a regular file with the given permissions (e.g. 0o755).
func (a *Archive) AddFile(name string, data []byte, perm os.FileMode) error {
	return a.put(name, cpio.StaticRecord(data, cpio.Info{Mode: cpio.S_IFREG | uint64(perm.Perm())}))
}

// AddHostFile adds the host file src at name, keeping its permissions
// unless perm is non-zero.
func (a *Archive) AddHostFile(name, src string, perm os.FileMode) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s is not a regular file", src)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if perm == 0 {
		perm = st.Mode().Perm()
	}
	return a.AddFile(name, data, perm)
}

// AddDir adds a directory.
func (a *Archive) AddDir(name string, perm os.FileMode) error {
	return a.put(name, cpio.Directory(name, uint64(perm.Perm())))
}

// AddSymlink adds a symbolic link.
func (a *Archive) AddSymlink(name, target string) error {
	return a.put(name, cpio.Symlink(name, target))
}

// AddCharDev adds a character device node.
func (a *Archive) AddCharDev(name string, perm os.FileMode, major, minor uint64) error {
	return a.put(name, cpio.CharDev(name, uint64(perm.Perm()), major, minor))
}

// Chmod sets the permissions of entries already in the archive.
func (a *Archive) Chmod(names []string, perm os.FileMode) error {
	for _, name := range names {
		n, err := clean(name)
		if err != nil {
			return err
		}
		r, ok := a.recs[n]
		if !ok {
			return fmt.Errorf("initramfs: chmod %s: not in the archive", name)
		}
		r.Mode = r.Mode&^0o7777 | uint64(perm.Perm())
		a.recs[n] = r
	}
	return nil
}

// Has reports whether name is in the archive.
func (a *Archive) Has(name string) bool {
	n, err := clean(name)
	_, ok := a.recs[n]
	return err == nil && ok
}

// Names returns the archive's paths, sorted.
func (a *Archive) Names() []string {
	names := make([]string, 0, len(a.recs))
	for n := range a.recs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// WriteCPIO writes the uncompressed newc archive, trailer included.
func (a *Archive) WriteCPIO(w io.Writer) error {
	cw := cpio.Newc.Writer(w)
	for i, n := range a.Names() {
		r := cpio.MakeReproducible(a.recs[n])
		r.Ino = uint64(i + 1)
		r.NLink = 1
		if r.Mode&cpio.S_IFMT == cpio.S_IFDIR {
			r.NLink = 2
		}
		if err := cw.WriteRecord(r); err != nil {
			return fmt.Errorf("initramfs: writing %s: %w", n, err)
		}
	}
	return cpio.WriteTrailer(cw)
}

// Compressions lists the supported compressors; the kernel must have the
// matching CONFIG_RD_* (Debian's has them all).
var Compressions = []string{"gzip", "zstd", "xz", "lz4", "none"}

// Write writes the archive compressed with one of Compressions and returns
// the uncompressed size.
func (a *Archive) Write(w io.Writer, compression string) (int64, error) {
	return a.WriteTool(w, compression, "")
}

// ZstdToolArgs are the arguments WriteTool gives the zstd tool: its
// highest standard level, which makes an image about a tenth smaller than
// the built-in encoder's best (klauspost's, roughly zstd's level 11). The
// kernel unpacks either as fast: the frames differ in their matches, not
// their form, and level 19's window (8 MiB) is one the kernel's decoder
// allocates. One thread: the same input gives the same bytes.
var ZstdToolArgs = []string{"-19", "-T1", "-q", "-c", "--no-progress"}

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// WriteTool is Write with zstd's compression done by tool — the zstd
// command-line program's path, run with ZstdToolArgs — when tool is set
// and compression is "zstd".
func (a *Archive) WriteTool(w io.Writer, compression, tool string) (int64, error) {
	var raw bytes.Buffer
	if err := a.WriteCPIO(&raw); err != nil {
		return 0, err
	}
	size := int64(raw.Len())
	if compression == "zstd" && tool != "" {
		return size, runTool(w, &raw, tool, ZstdToolArgs, zstdMagic)
	}
	var (
		zw  io.WriteCloser
		err error
	)
	switch compression {
	case "gzip", "":
		zw, err = gzip.NewWriterLevel(w, gzip.BestCompression)
	case "zstd":
		zw, err = zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	case "xz":
		// The kernel's xz decoder wants CRC32 checks, not CRC64.
		zw, err = xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(w)
	case "lz4":
		// The kernel unpacks lz4's legacy format only (lz4 -l, as
		// dracut's --lz4 and initramfs-tools' COMPRESS=lz4 write it).
		lw := lz4.NewWriter(w)
		err = lw.Apply(lz4.LegacyOption(true), lz4.CompressionLevelOption(lz4.Level9))
		zw = lw
	case "none":
		_, err = raw.WriteTo(w)
		return size, err
	default:
		return 0, fmt.Errorf("initramfs: unknown compression %q (want one of %s)", compression, strings.Join(Compressions, ", "))
	}
	if err != nil {
		return 0, err
	}
	if _, err := raw.WriteTo(zw); err != nil {
		return 0, err
	}
	return size, zw.Close()
}

// runTool compresses in with the program tool and writes its output to w,
// once it has ended well and its output starts with magic.
func runTool(w io.Writer, in io.Reader, tool string, args []string, magic []byte) error {
	var out, stderr bytes.Buffer
	cmd := exec.Command(tool, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return fmt.Errorf("initramfs: %s %s: %w", tool, strings.Join(args, " "), err)
	}
	if !bytes.HasPrefix(out.Bytes(), magic) {
		return fmt.Errorf("initramfs: %s %s wrote no %x frame", tool, strings.Join(args, " "), magic)
	}
	_, err := out.WriteTo(w)
	return err
}

// FindZstdTool returns the zstd program on PATH, or "" when there is none.
func FindZstdTool() string {
	p, err := exec.LookPath("zstd")
	if err != nil {
		return ""
	}
	return p
}
