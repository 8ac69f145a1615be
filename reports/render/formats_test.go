package render

import (
	"strings"
	"testing"

	"github.com/attested-tls/conformance/reports/results"
)

// A run with PSA and CCA cases says, per format, how its specs went and
// what the key binding means; a run without them says nothing of it.
func TestKeylessFormats(t *testing.T) {
	plain := synthetic()
	if md := string(renderMarkdown(t, plain)); strings.Contains(md, "name no key") {
		t.Error("a run without PSA or CCA specs has a formats section")
	}
	r := synthetic()
	base := r.Specs[0]
	for _, x := range []struct {
		id string
		o  results.Outcome
	}{
		{"ta-07/server-attests/bg+x509/evidence-psa-iot/mbedtls→go", results.Pass},
		{"ta-07/server-attests/bg+x509/appraises-psa-iot/go→mbedtls", results.Pass},
		{"ea-07/server-attests/bg+x509/rejects-cca-wrong-challenge/go→mbedtls", results.Fail},
		{"ta-07/server-attests/bg+x509/evidence-psa-iotx/mbedtls→go", results.Pass}, // no such format
	} {
		s := base
		s.ID, s.Outcome = x.id, x.o
		r.Specs = append(r.Specs, s)
	}
	md := string(renderMarkdown(t, r))
	for _, want := range []string{
		"## Evidence formats that name no key",
		"| psa-iot | ✅ 2 | A PSA token has no claim for the TLS key",
		"| cca | ❌ 1 | A CCA realm token",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	html := string(renderHTML(t, r))
	if !strings.Contains(html, `id="formats"`) || !strings.Contains(html, "<td>psa-iot</td><td>2 pass</td>") {
		t.Error("report.html lacks the formats table")
	}
}
