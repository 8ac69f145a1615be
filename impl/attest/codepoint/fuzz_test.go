package codepoint

import "testing"

// FuzzOverride: any spec either fails or yields a valid table that its own
// Spec reproduces; Override never panics.
func FuzzOverride(f *testing.F) {
	for _, s := range []string{
		"", "poc.evidence_proposal=101", "ta-07.attestation_evidence=60,ta-07.attestation=0xE1",
		`{"ea-07.attestation_failed": 250}`, "x=1", "poc.evidence_proposal=0x", "a=b=c", Default().Spec(),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := Default().Override(spec)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Override(%q) returned an invalid table: %v", spec, err)
		}
		back, err := Table{}.Override(got.Spec())
		if err != nil || back != got {
			t.Fatalf("Spec round trip of %q: %v", spec, err)
		}
	})
}
