package render

import (
	"fmt"
	"strings"

	"github.com/attested-tls/conformance/reports/results"
)

// Evidence formats that name no key: a run whose specs exercised one
// says, beside its counts, what binding the TLS key through the
// challenge alone means for each profile's security (the roots-of-trust
// table of the README says the same).

// keylessFormat is one such format and what its binding means.
type keylessFormat struct {
	Name, Binding string
}

var keylessFormats = []keylessFormat{
	{"psa-iot", "A PSA token has no claim for the TLS key: its psa-nonce is SHA-256(label ‖ length ‖ binder or nonce ‖ SPKI of the TLS key), " +
		"so a relying party must know the key before it appraises. ta-07 with X.509, ea-07 and xp-03: the key and the handshake's binder " +
		"are one check, and a token relayed into another handshake fails it. ta-07 attestation-only and poc: the relying party has no key " +
		"to derive the challenge with, so the format cannot be used. Every profile: the token proves that software able to call the " +
		"device's attestation service named the key, not that the root of trust holds it; a signing oracle on the device defeats the binding."},
	{"cca", "A CCA realm token has no claim for the TLS key: its cca-realm-challenge is the same key-bound challenge, zero-padded to 64 bytes; " +
		"the platform token is bound to the realm key. The profiles fare as with psa-iot: ta-07 with X.509, ea-07 and xp-03 bind key and " +
		"handshake in one check; ta-07 attestation-only and poc cannot carry the format; the realm's attestation service, not the key's " +
		"holder, is what is proven."},
}

// formatRow is one keyless format's specs in a run.
type formatRow struct {
	keylessFormat
	Counts map[results.Outcome]int
}

// formatRows are the keyless formats the run's specs exercised (a case
// variant naming the format: evidence-, appraises-, rejects-<format>-…).
func (v *view) formatRows() []formatRow {
	var out []formatRow
	for _, f := range keylessFormats {
		row := formatRow{keylessFormat: f, Counts: map[results.Outcome]int{}}
		for _, s := range v.specs {
			for _, p := range []string{"/evidence-", "/appraises-", "/rejects-"} {
				if strings.Contains(s.ID, p+f.Name+"/") || strings.Contains(s.ID, p+f.Name+"-") {
					row.Counts[s.Outcome]++
					break
				}
			}
		}
		if len(row.Counts) > 0 {
			out = append(out, row)
		}
	}
	return out
}

// mdFormats writes the keyless formats' section.
func mdFormats(b *strings.Builder, v *view) {
	rows := v.formatRows()
	if len(rows) == 0 {
		return
	}
	b.WriteString("## Evidence formats that name no key\n\n| format | specs | what the binding means |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s | %s |\n", mdText(r.Name), mdCounts(r.Counts), mdText(r.Binding))
	}
	b.WriteString("\n")
}
