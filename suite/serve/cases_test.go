package serve

import (
	"strings"
	"testing"

	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/peers/contract"
)

func TestTableCoversEveryModelAndRole(t *testing.T) {
	tb, err := NewTable(DefaultDomain)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	negatives := 0
	for _, e := range tb.Entries {
		seen[e.Model+"@"+string(e.VisitorRole)] = true
		if e.Misbehaviour != "" {
			negatives++
		}
		visitor, name, err := ParseServerName("someone"+VisitorSep+e.Name, DefaultDomain)
		if err != nil || visitor != "someone" || name != e.Name {
			t.Errorf("%s: ParseServerName gave %q, %q, %v", e.Name, visitor, name, err)
		}
		if got, ok := tb.Lookup(strings.ToUpper(name), e.VisitorRole); !ok || got.ID != e.ID {
			t.Errorf("%s: Lookup gave %s, %v, want %s", name, got.ID, ok, e.ID)
		}
		if got, ok := tb.Find(e.ID, e.VisitorRole); !ok || got.Name != e.Name {
			t.Errorf("Find(%s) gave %s, %v", e.ID, got.Name, ok)
		}
	}
	for _, m := range profile.Models() {
		for _, r := range []contract.Role{contract.Client, contract.Server} {
			if !seen[m.ID()+"@"+string(r)] {
				t.Errorf("no case for %s with the visitor as %s", m.ID(), r)
			}
		}
	}
	if negatives == 0 {
		t.Error("no negative cases")
	}
	t.Logf("%d cases, %d negative", len(tb.Entries), negatives)
}

func TestParseServerNameRejects(t *testing.T) {
	for _, sni := range []string{
		"", "example.com", "cases.attested.test", "-bad.cases.attested.test", "a..b.cases.attested.test",
		"--ta-07.cases.attested.test", "v--.cases.attested.test", "a--b--ta-07.cases.attested.test", "0---0.cases.attested.test", "sp ace.cases.attested.test",
		strings.Repeat("a", 64) + ".cases.attested.test", strings.Repeat("a.", 130) + "cases.attested.test",
	} {
		if v, n, err := ParseServerName(sni, DefaultDomain); err == nil {
			t.Errorf("ParseServerName(%q) = %q, %q, want an error", sni, v, n)
		}
	}
}

func TestNewTableRejectsBadDomain(t *testing.T) {
	for _, d := range []string{"", "a..b", "-x.test", "under_score.test"} {
		if _, err := NewTable(d); err == nil {
			t.Errorf("NewTable(%q): no error", d)
		}
	}
}

func FuzzParseServerName(f *testing.F) {
	f.Add("ta-07.server-attests.bg-x509.cases.attested.test")
	f.Add("v--ta-07.mutual.server-bg-x509.client-passport-x509.rejects-corrupt-finished.cases.attested.test")
	f.Add("--.cases.attested.test")
	f.Fuzz(func(t *testing.T, sni string) {
		v, name, err := ParseServerName(sni, DefaultDomain)
		if err != nil {
			return
		}
		if !strings.HasSuffix(name, "."+DefaultDomain) || strings.Contains(v, ".") || len(name) > 253 {
			t.Fatalf("ParseServerName(%q) = %q, %q", sni, v, name)
		}
		// A name it returns parses again to itself, with no visitor.
		if v2, n2, err := ParseServerName(name, DefaultDomain); err != nil || v2 != "" || n2 != name {
			t.Fatalf("ParseServerName(%q) = %q, %q, %v", name, v2, n2, err)
		}
	})
}
