package rig

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// OpenISCSIFiles returns Debian's open-iscsi daemon and tool (sbin/iscsid,
// sbin/iscsiadm), its default etc/iscsi/iscsid.conf and every library the
// two load (resolved with ldd; the host's glibc), as paths in a root (no
// leading slash) mapped to host files. The packages are fetched once with
// apt-get download into the cache.
func OpenISCSIFiles(ctx context.Context) (map[string]string, error) {
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "open-iscsi")
	root := filepath.Join(dir, "root")
	if _, err := os.Stat(filepath.Join(root, "sbin", "iscsid")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if out, err := runIn(ctx, dir, "apt-get", "download", "open-iscsi", "libopeniscsiusr", "libisns0"); err != nil {
			return nil, fmt.Errorf("rig: fetching open-iscsi: %w\n%s", err, out)
		}
		debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
		for _, d := range debs {
			if _, err := run(ctx, "dpkg", "-x", d, root); err != nil {
				return nil, err
			}
		}
	}
	files := map[string]string{"etc/iscsi/iscsid.conf": filepath.Join(root, "etc/iscsi/iscsid.conf")}
	libPath := filepath.Join(root, "lib/x86_64-linux-gnu") + ":" + filepath.Join(root, "usr/lib/x86_64-linux-gnu")
	for _, bin := range []string{"sbin/iscsid", "sbin/iscsiadm"} {
		src := filepath.Join(root, bin)
		files[bin] = src
		cmd := exec.CommandContext(ctx, "ldd", src)
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+libPath)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("rig: ldd %s: %w", src, err)
		}
		for _, lib := range lddPaths(out.String()) {
			// Libraries from the extracted packages go where the
			// package puts them; the rest are the host's.
			dst := strings.TrimPrefix(strings.TrimPrefix(lib, root), "/")
			host := lib
			if real, err := filepath.EvalSymlinks(lib); err == nil {
				host = real
			}
			files[dst] = host
		}
	}
	return files, nil
}

// lddPaths returns the absolute library paths in ldd's output.
func lddPaths(out string) []string {
	var libs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		var lib string
		switch {
		case len(f) >= 3 && f[1] == "=>":
			lib = f[2]
		case len(f) >= 1:
			lib = f[0]
		}
		if filepath.IsAbs(lib) {
			libs = append(libs, lib)
		}
	}
	return libs
}

// OpenISCSIAccounts are the etc/passwd and etc/group iscsid needs: it
// accepts iscsiadm's requests only from a uid it can name.
var OpenISCSIAccounts = map[string]string{
	"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
	"etc/group":  "root:x:0:\n",
}
