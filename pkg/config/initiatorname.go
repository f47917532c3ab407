package config

import (
	"fmt"
	"strings"
)

// InitiatorNameFile is where open-iscsi keeps the initiator name, and
// where netroot build puts the one it bakes into the initramfs.
const InitiatorNameFile = "/etc/iscsi/initiatorname.iscsi"

// ParseInitiatorName reads an open-iscsi initiatorname.iscsi file: lines
// of key=value, '#' comments, the name in InitiatorName= (the first one,
// as iscsid's cfg_get_string_param takes it; white space around the
// value is dropped). Debian's placeholder GenerateName=yes, which
// open-iscsi's startup-checks.sh replaces by a random name when iscsid
// first starts, holds no name and is an error, as is a name
// checkISCSIName refuses. The error never quotes the file.
func ParseInitiatorName(data []byte) (string, error) {
	generate := false
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		switch {
		case !ok:
			continue
		case k == "InitiatorName":
			v = strings.TrimSpace(v)
			if err := checkISCSIName("initiator name", v); err != nil {
				return "", fmt.Errorf("InitiatorName=: %w", err)
			}
			return v, nil
		case k == "GenerateName" && strings.EqualFold(strings.TrimSpace(v), "yes"):
			generate = true
		}
	}
	if generate {
		return "", fmt.Errorf("%w: GenerateName=yes: no name was generated yet (open-iscsi makes one when iscsid first starts)", ErrMissing)
	}
	return "", fmt.Errorf("%w: no InitiatorName= line", ErrMissing)
}
