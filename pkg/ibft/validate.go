package ibft

import (
	"fmt"
	"strings"
)

// Validate checks what the layout alone does not: text fields that fit
// the ACPI header, strings without NULs (Linux would cut them there),
// unique NIC and target indexes (Linux refuses a table that repeats one),
// 6-byte MACs, prefix lengths that fit the address, known CHAP types, and
// that a valid target (BlockValid) carries the names and secrets its CHAP
// type needs. Parse, ReadSysfs and Marshal call it.
func (t *Table) Validate() error {
	if t.Signature != "" && !knownSignature(t.Signature) {
		return formatErr("ACPI header", -1, "signature %q, want \"iBFT\" (or \"IBFT\", \"BIFT\")", t.Signature)
	}
	for _, f := range []struct {
		name string
		v    string
		max  int
	}{{"OEM ID", t.OEMID, 6}, {"OEM table ID", t.OEMTableID, 8}, {"creator ID", t.CreatorID, 4}} {
		if len(f.v) > f.max {
			return formatErr("ACPI header", -1, "%s is %d bytes, longer than its %d-byte field", f.name, len(f.v), f.max)
		}
		if err := noNUL("ACPI header "+f.name, f.v); err != nil {
			return err
		}
	}
	if in := t.Initiator; in != nil {
		if err := noNUL("initiator name", in.Name); err != nil {
			return err
		}
	}
	seen := map[uint8]bool{}
	for i := range t.NICs {
		n := &t.NICs[i]
		where := fmt.Sprintf("NIC %d", n.Index)
		if err := repeated(seen, where, "NICs", n.Index); err != nil {
			return err
		}
		if len(n.MAC) != 6 {
			return formatErr(where, -1, "MAC address of %d bytes, want 6", len(n.MAC))
		}
		bits := 128
		if n.IP.Is4() {
			bits = 32
		}
		if int(n.PrefixLen) > bits {
			return formatErr(where, -1, "prefix length %d, more than the address's %d bits", n.PrefixLen, bits)
		}
		if err := noNUL(where+" hostname", n.Hostname); err != nil {
			return err
		}
	}
	clear(seen)
	for i := range t.Targets {
		g := &t.Targets[i]
		where := fmt.Sprintf("target %d", g.Index)
		if err := repeated(seen, where, "targets", g.Index); err != nil {
			return err
		}
		if g.CHAP > CHAPMutual {
			return formatErr(where, -1, "unknown CHAP type %d (want 0 none, 1 CHAP, 2 mutual CHAP)", g.CHAP)
		}
		for _, s := range []struct{ name, v string }{
			{"name", g.Name}, {"CHAP name", g.CHAPName}, {"CHAP secret", g.CHAPSecret.v},
			{"reverse CHAP name", g.ReverseCHAPName}, {"reverse CHAP secret", g.ReverseCHAPSecret.v},
		} {
			if err := noNUL(where+" "+s.name, s.v); err != nil {
				return err
			}
		}
		if !g.Flags.Has(BlockValid) {
			continue
		}
		// The kernel shows a secret only with its name: a secret
		// without one would be lost.
		if g.CHAP >= CHAPOneWay && (g.CHAPName == "" || g.CHAPSecret.IsZero()) {
			return formatErr(where, -1, "%v without a CHAP name and secret", g.CHAP)
		}
		if g.CHAP == CHAPMutual && (g.ReverseCHAPName == "" || g.ReverseCHAPSecret.IsZero()) {
			return formatErr(where, -1, "mutual CHAP without a reverse CHAP name and secret")
		}
	}
	return nil
}

func noNUL(where, s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return formatErr(where, -1, "NUL byte at %d of %d (Linux would cut the string there)", i, len(s))
	}
	return nil
}

// repeated records index in seen, failing when it is there already: the
// kernel names the directories by index and refuses a second one.
func repeated(seen map[uint8]bool, where, kind string, index uint8) error {
	if seen[index] {
		return formatErr(where, -1, "two %s have index %d (Linux's iscsi_ibft refuses the table)", kind, index)
	}
	seen[index] = true
	return nil
}
