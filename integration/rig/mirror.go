package rig

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Where apt's sources are configured; DebianMirror reads the deb822 file
// first, then the one-line lists.
var (
	deb822Sources  = "/etc/apt/sources.list.d/debian.sources"
	oneLineSources = []string{"/etc/apt/sources.list"}
)

// DebianMirror returns the URI of the Debian archive apt is configured
// with: the first "deb" source of the main archive (not -security, not
// -updates/-backports) with the main component. The real-root images and
// other suites' packages come from it, so the rig never reaches a host the
// machine's apt does not.
func DebianMirror() (string, error) {
	var tried []string
	if b, err := os.ReadFile(deb822Sources); err == nil {
		if uri := mirrorFromDeb822(string(b)); uri != "" {
			return uri, nil
		}
		tried = append(tried, deb822Sources)
	}
	lists := slices.Clone(oneLineSources)
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	for _, p := range append(lists, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if uri := mirrorFromOneLine(string(b)); uri != "" {
			return uri, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("rig: no Debian archive source (type deb, component main, a release suite) in [%s]", strings.Join(tried, ", "))
}

// archiveSuite reports whether suite is a release of the main archive
// (bookworm, stable, trixie), not bookworm-security, -updates, -backports.
func archiveSuite(suite string) bool {
	return suite != "" && !strings.Contains(suite, "-") && !strings.Contains(suite, "/")
}

// mirrorFromDeb822 returns the first URI of the first stanza of a deb822
// sources file that is a main-archive source with component main.
func mirrorFromDeb822(text string) string {
	var stanzas []map[string]string
	cur := map[string]string{}
	key := ""
	flush := func() {
		if len(cur) > 0 {
			stanzas = append(stanzas, cur)
		}
		cur, key = map[string]string{}, ""
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if key != "" { // a continuation line
				cur[key] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			key = strings.ToLower(strings.TrimSpace(k))
			cur[key] = strings.TrimSpace(v)
		}
	}
	flush()
	for _, s := range stanzas {
		if strings.EqualFold(s["enabled"], "no") || !slices.Contains(strings.Fields(s["types"]), "deb") ||
			!slices.Contains(strings.Fields(s["components"]), "main") ||
			!slices.ContainsFunc(strings.Fields(s["suites"]), archiveSuite) {
			continue
		}
		if uris := strings.Fields(s["uris"]); len(uris) > 0 {
			return strings.TrimRight(uris[0], "/")
		}
	}
	return ""
}

// mirrorFromOneLine does the same for a one-line sources.list:
// "deb [options] URI suite component…".
func mirrorFromOneLine(text string) string {
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if len(f) > 0 && strings.HasPrefix(f[0], "[") {
			// Options: up to the word that ends with "]".
			for len(f) > 0 {
				w := f[0]
				f = f[1:]
				if strings.HasSuffix(w, "]") {
					break
				}
			}
		}
		if len(f) >= 3 && archiveSuite(f[1]) && slices.Contains(f[2:], "main") {
			return strings.TrimRight(f[0], "/")
		}
	}
	return ""
}
