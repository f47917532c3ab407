package config

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/netroot/netroot/pkg/bond"
	"golang.org/x/sys/unix"
)

// updateDocs rewrites the generated tables of docs/parameters.md:
// go test ./pkg/config -run TestParametersDoc -update
var updateDocs = flag.Bool("update", false, "rewrite the generated tables of docs/parameters.md")

const parametersDoc = "../../docs/parameters.md"

// docTables renders the tables docs/parameters.md carries, by the name of
// the block that holds each.
func docTables() map[string]string {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	b.WriteString("| parameter | verdict | what netroot does |\n| --- | --- | --- |\n")
	for _, p := range Parameters() {
		name := "`" + p.Name + "`"
		if p.Repeat {
			name += " (repeatable)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, p.Verdict, cell(p.Doc))
	}
	params := b.String()

	b.Reset()
	b.WriteString("| setting | what netroot does |\n| --- | --- |\n")
	for _, row := range ISCSIParams() {
		fmt.Fprintf(&b, "| `%s` | %s |\n", row[0], cell(row[1]))
	}
	iscsiTable := b.String()

	b.Reset()
	b.WriteString("| option | values | modes | netlink attribute |\n| --- | --- | --- | --- |\n")
	specs := bond.Specs()
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	for _, s := range specs {
		var values string
		switch s.Kind {
		case bond.KindEnum:
			values = strings.Join(s.Names, ", ") + fmt.Sprintf(" (or 0-%d)", len(s.Names)-1)
		case bond.KindNumber:
			values = fmt.Sprintf("%d-%d", s.Min, s.Max)
			var named []string
			for n, v := range s.Named {
				named = append(named, fmt.Sprintf("%s=%d", n, v))
			}
			sort.Strings(named)
			if len(named) > 0 {
				values += " (" + strings.Join(named, ", ") + ")"
			}
		case bond.KindMAC:
			values = "a unicast MAC address"
		case bond.KindIPv4Targets:
			values = "up to 16 IPv4 addresses, ';'-separated"
		case bond.KindIPv6Targets:
			values = "up to 16 IPv6 addresses, ';'-separated (not expressible in bond=, whose fields ':' separates)"
		case bond.KindSlave:
			values = "one of the slaves"
		}
		if s.NeedsMIIMon {
			values += "; needs miimon > 0"
		}
		modes := s.ModesString()
		if modes == "" {
			modes = "all"
		}
		attr := "sysfs, once the slaves are enslaved"
		if s.Attr != 0 {
			attr = "`IFLA_BOND_" + iflaBondNames[s.Attr] + "`"
			if s.Attr >= unix.IFLA_BOND_PEER_NOTIF_DELAY {
				attr += " (sent after creation)"
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.Name, cell(values), modes, attr)
	}
	return map[string]string{"parameters": params, "iscsi-param": iscsiTable, "bond-options": b.String()}
}

// iflaBondNames are the names of the IFLA_BOND_* attributes, by number
// (include/uapi/linux/if_link.h).
var iflaBondNames = []string{"UNSPEC", "MODE", "ACTIVE_SLAVE", "MIIMON", "UPDELAY", "DOWNDELAY", "USE_CARRIER",
	"ARP_INTERVAL", "ARP_IP_TARGET", "ARP_VALIDATE", "ARP_ALL_TARGETS", "PRIMARY", "PRIMARY_RESELECT", "FAIL_OVER_MAC",
	"XMIT_HASH_POLICY", "RESEND_IGMP", "NUM_PEER_NOTIF", "ALL_SLAVES_ACTIVE", "MIN_LINKS", "LP_INTERVAL",
	"PACKETS_PER_SLAVE", "AD_LACP_RATE", "AD_SELECT", "AD_INFO", "AD_ACTOR_SYS_PRIO", "AD_USER_PORT_KEY",
	"AD_ACTOR_SYSTEM", "TLB_DYNAMIC_LB", "PEER_NOTIF_DELAY", "AD_LACP_ACTIVE", "MISSED_MAX", "NS_IP6_TARGET",
	"COUPLED_CONTROL"}

// blockRE finds a generated block: <!-- BEGIN name --> … <!-- END name -->.
var blockRE = regexp.MustCompile(`(?s)<!-- BEGIN ([a-z-]+) -->\n(.*?)<!-- END ([a-z-]+) -->`)

// docParamNames returns the parameter names of a markdown table whose
// rows start with | `name` |, with their verdict column.
func docParamNames(table string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		m := regexp.MustCompile("^\\| `([^`]+)`(?: \\(repeatable\\))? \\| ([^|]+) \\|").FindStringSubmatch(line)
		if m != nil {
			out[m[1]] = strings.TrimSpace(m[2])
		}
	}
	return out
}

// TestParametersDoc keeps docs/parameters.md in step with the parser: its
// table of parameters names exactly the parameters of Parameters() with
// their verdicts, and its rd.iscsi.param and bond option tables are the
// code's. The README's summary table names only parameters of the table,
// with the same verdicts.
func TestParametersDoc(t *testing.T) {
	if iflaBondNames[unix.IFLA_BOND_MIIMON] != "MIIMON" || iflaBondNames[unix.IFLA_BOND_COUPLED_CONTROL] != "COUPLED_CONTROL" {
		t.Fatal("iflaBondNames is out of step with if_link.h")
	}
	raw, err := os.ReadFile(parametersDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	want := docTables()
	if *updateDocs {
		doc = blockRE.ReplaceAllStringFunc(doc, func(m string) string {
			name := blockRE.FindStringSubmatch(m)[1]
			return "<!-- BEGIN " + name + " -->\n" + want[name] + "<!-- END " + name + " -->"
		})
		if err := os.WriteFile(parametersDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	for _, b := range blockRE.FindAllStringSubmatch(doc, -1) {
		got[b[1]] = b[2]
	}
	// Names first, for a readable failure.
	docNames := docParamNames(got["parameters"])
	for _, p := range Parameters() {
		v, ok := docNames[p.Name]
		switch {
		case !ok:
			t.Errorf("%s is in the parser's table but not in %s", p.Name, parametersDoc)
		case v != string(p.Verdict):
			t.Errorf("%s: the parser says %q, %s says %q", p.Name, p.Verdict, parametersDoc, v)
		}
		delete(docNames, p.Name)
	}
	for n := range docNames {
		t.Errorf("%s is in %s but not in the parser's table", n, parametersDoc)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("the %s table of %s is not the code's; run go test ./pkg/config -run TestParametersDoc -update", name, parametersDoc)
		}
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table := map[string]Verdict{}
	for _, p := range Parameters() {
		table[p.Name] = p.Verdict
	}
	m := regexp.MustCompile(`(?s)<!-- BEGIN readme-parameters -->(.*)<!-- END readme-parameters -->`).FindStringSubmatch(string(readme))
	if m == nil {
		t.Fatal("README.md has no parameter table (<!-- BEGIN readme-parameters -->)")
	}
	rows := docParamNames(m[1])
	if len(rows) < 10 {
		t.Errorf("README.md's parameter table has %d rows", len(rows))
	}
	for n, v := range rows {
		if pv, ok := table[n]; !ok {
			t.Errorf("README.md lists %s, which is not in the parser's table", n)
		} else if string(pv) != v {
			t.Errorf("README.md: %s is %q, the parser says %q", n, v, pv)
		}
	}
}
